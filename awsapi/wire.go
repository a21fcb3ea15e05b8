package awsapi

import (
	"strconv"
	"time"

	"github.com/secretstore/secretstore"
)

// Wire types of the Secrets Manager JSON 1.1 protocol. JSON member names are
// the Go field names, as in AWS's service model. Request optionals whose
// absence matters are pointers; response members AWS leaves out when unset
// are tagged omitempty/omitzero. omitzero (not omitempty) is used where an
// empty but non-nil slice or map must still be sent, as AWS sends "Tags": []
// after every tag was removed.

// epochTime is a timestamp sent as epoch seconds with a fractional part
// (milliseconds), such as 1700000000.123, as AWS's JSON protocols do.
type epochTime time.Time

func (t epochTime) IsZero() bool { return time.Time(t).IsZero() }

func (t epochTime) MarshalJSON() ([]byte, error) {
	return t.appendJSON(nil), nil
}

func (t epochTime) appendJSON(b []byte) []byte {
	ms := time.Time(t).UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	return append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

type wireTag struct {
	Key   string
	Value string
}

type wireFilter struct {
	Key    string
	Values []string
}

type wireRotationRules struct {
	AutomaticallyAfterDays *int64 `json:",omitempty"`
	Duration               string `json:",omitempty"`
	ScheduleExpression     string `json:",omitempty"`
}

func tagsIn(ts []wireTag) []secretstore.Tag {
	if ts == nil {
		return nil
	}
	out := make([]secretstore.Tag, len(ts))
	for i, t := range ts {
		out[i] = secretstore.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// tagsOut keeps nil nil and empty empty, so that omitzero tells them apart.
func tagsOut(ts []secretstore.Tag) []wireTag {
	if ts == nil {
		return nil
	}
	out := make([]wireTag, len(ts))
	for i, t := range ts {
		out[i] = wireTag{Key: t.Key, Value: t.Value}
	}
	return out
}

func filtersIn(fs []wireFilter) []secretstore.Filter {
	if fs == nil {
		return nil
	}
	out := make([]secretstore.Filter, len(fs))
	for i, f := range fs {
		out[i] = secretstore.Filter{Key: f.Key, Values: f.Values}
	}
	return out
}

func rulesIn(r *wireRotationRules) *secretstore.RotationRules {
	if r == nil {
		return nil
	}
	return &secretstore.RotationRules{
		AutomaticallyAfterDays: r.AutomaticallyAfterDays,
		Duration:               r.Duration,
		ScheduleExpression:     r.ScheduleExpression,
	}
}

func rulesOut(r *secretstore.RotationRules) *wireRotationRules {
	if r == nil {
		return nil
	}
	return &wireRotationRules{
		AutomaticallyAfterDays: r.AutomaticallyAfterDays,
		Duration:               r.Duration,
		ScheduleExpression:     r.ScheduleExpression,
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// intIn converts an optional wire integer to the int of the Go API, clamping
// values that do not fit (the engine rejects them as out of range).
func intIn(p *int64) int {
	if p == nil {
		return 0
	}
	n := *p
	const maxInt = int64(^uint(0) >> 1)
	const minInt = -maxInt - 1
	switch {
	case n > maxInt:
		return int(maxInt)
	case n < minInt:
		return int(minInt)
	}
	return int(n)
}

// Requests. Each reports the secret it names, for the access log.

type createSecretRequest struct {
	Name               string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	Description        *string
	KmsKeyId           *string
	Tags               []wireTag
}

type putSecretValueRequest struct {
	SecretId           string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

type updateSecretRequest struct {
	SecretId           string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	Description        *string
	KmsKeyId           *string
}

type getSecretValueRequest struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

type batchGetSecretValueRequest struct {
	SecretIdList []string
	Filters      []wireFilter
	MaxResults   *int64
	NextToken    string
}

type secretIDRequest struct {
	SecretId string
}

type listSecretVersionIdsRequest struct {
	SecretId          string
	MaxResults        *int64
	NextToken         string
	IncludeDeprecated *bool
}

type listSecretsRequest struct {
	Filters                []wireFilter
	MaxResults             *int64
	NextToken              string
	IncludePlannedDeletion *bool
	SortBy                 string
	SortOrder              string
}

type updateSecretVersionStageRequest struct {
	SecretId            string
	VersionStage        string
	RemoveFromVersionId string
	MoveToVersionId     string
}

type deleteSecretRequest struct {
	SecretId                   string
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery *bool
}

type tagResourceRequest struct {
	SecretId string
	Tags     []wireTag
}

type untagResourceRequest struct {
	SecretId string
	TagKeys  []string
}

type rotateSecretRequest struct {
	SecretId           string
	ClientRequestToken string
	RotationLambdaARN  string
	RotationRules      *wireRotationRules
	RotateImmediately  *bool
}

type getRandomPasswordRequest struct {
	PasswordLength          *int64
	ExcludeCharacters       string
	ExcludeNumbers          *bool
	ExcludePunctuation      *bool
	ExcludeUppercase        *bool
	ExcludeLowercase        *bool
	IncludeSpace            *bool
	RequireEachIncludedType *bool
}

// Responses.

type arnNameResponse struct {
	ARN  string
	Name string
}

type arnNameVersionResponse struct {
	ARN       string
	Name      string
	VersionId string `json:",omitempty"`
}

type putSecretValueResponse struct {
	ARN           string
	Name          string
	VersionId     string
	VersionStages []string `json:",omitzero"`
}

type getSecretValueResponse struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string   `json:",omitempty"`
	SecretBinary  []byte    `json:",omitempty"`
	VersionStages []string  `json:",omitzero"`
	CreatedDate   epochTime `json:",omitzero"`
}

type secretValueEntry struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string   `json:",omitempty"`
	SecretBinary  []byte    `json:",omitempty"`
	VersionStages []string  `json:",omitzero"`
	CreatedDate   epochTime `json:",omitzero"`
}

type apiErrorType struct {
	SecretId  string `json:",omitempty"`
	ErrorCode string `json:",omitempty"`
	Message   string `json:",omitempty"`
}

type batchGetSecretValueResponse struct {
	SecretValues []secretValueEntry
	Errors       []apiErrorType
	NextToken    string `json:",omitempty"`
}

type describeSecretResponse struct {
	ARN                string
	Name               string
	Description        string              `json:",omitempty"`
	KmsKeyId           string              `json:",omitempty"`
	RotationEnabled    *bool               `json:",omitempty"`
	RotationLambdaARN  string              `json:",omitempty"`
	RotationRules      *wireRotationRules  `json:",omitempty"`
	LastRotatedDate    epochTime           `json:",omitzero"`
	NextRotationDate   epochTime           `json:",omitzero"`
	LastChangedDate    epochTime           `json:",omitzero"`
	LastAccessedDate   epochTime           `json:",omitzero"`
	DeletedDate        epochTime           `json:",omitzero"`
	CreatedDate        epochTime           `json:",omitzero"`
	Tags               []wireTag           `json:",omitzero"`
	VersionIdsToStages map[string][]string `json:",omitzero"`
}

type secretListEntry struct {
	ARN                    string
	Name                   string
	Description            string              `json:",omitempty"`
	KmsKeyId               string              `json:",omitempty"`
	RotationEnabled        *bool               `json:",omitempty"`
	RotationLambdaARN      string              `json:",omitempty"`
	RotationRules          *wireRotationRules  `json:",omitempty"`
	LastRotatedDate        epochTime           `json:",omitzero"`
	NextRotationDate       epochTime           `json:",omitzero"`
	LastChangedDate        epochTime           `json:",omitzero"`
	LastAccessedDate       epochTime           `json:",omitzero"`
	DeletedDate            epochTime           `json:",omitzero"`
	CreatedDate            epochTime           `json:",omitzero"`
	Tags                   []wireTag           `json:",omitzero"`
	SecretVersionsToStages map[string][]string `json:",omitzero"`
}

type listSecretsResponse struct {
	SecretList []secretListEntry
	NextToken  string `json:",omitempty"`
}

type versionEntry struct {
	VersionId        string
	VersionStages    []string  `json:",omitzero"`
	CreatedDate      epochTime `json:",omitzero"`
	LastAccessedDate epochTime `json:",omitzero"`
	KmsKeyIds        []string  `json:",omitzero"`
}

type listSecretVersionIdsResponse struct {
	ARN       string
	Name      string
	Versions  []versionEntry
	NextToken string `json:",omitempty"`
}

type deleteSecretResponse struct {
	ARN          string
	Name         string
	DeletionDate epochTime `json:",omitzero"`
}

type emptyResponse struct{}

type getRandomPasswordResponse struct {
	RandomPassword string
}

// value returns the SecretString/SecretBinary pair of a response: exactly one
// is present on the wire. It points into s rather than copying it.
func value(s *string, b []byte) (*string, []byte) {
	if b != nil {
		return nil, b
	}
	return s, nil
}

func rotationEnabled(configured, enabled bool) *bool {
	if !configured {
		return nil
	}
	return &enabled
}
