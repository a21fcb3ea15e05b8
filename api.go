package secretstore

import (
	"fmt"
	"log/slog"
	"time"
)

// The request and response types of the Store operations. Field names are
// those of the AWS API and of aws-sdk-go-v2's secretsmanager package, so code
// moves between the two with few changes. Optional inputs whose absence AWS
// tells apart from an empty value are pointers (see String, Int64 and
// Bool); timestamps that AWS omits when unset are zero time.Time values.
//
// Types that hold a secret value format as "[redacted]" in place of the value
// under every fmt verb and in log/slog, so that logging a request or response
// never leaks it. encoding/json is left alone: marshalling a response is a
// deliberate act (a CLI printing what the AWS CLI prints), not logging.

// String returns a pointer to s, for optional string inputs.
func String(s string) *string { return &s }

// Int64 returns a pointer to n, for optional integer inputs.
func Int64(n int64) *int64 { return &n }

// Bool returns a pointer to b, for optional boolean inputs.
func Bool(b bool) *bool { return &b }

// Tag is a key-value pair attached to a secret.
type Tag struct {
	Key   string
	Value string
}

// Filter selects secrets in ListSecrets and BatchGetSecretValue.
//
// Key is one of "description", "name", "tag-key", "tag-value",
// "primary-region", "owning-service" or "all". Values are ORed; separate
// filters are ANDed. A value starting with "!" negates it.
type Filter struct {
	Key    string
	Values []string
}

// RotationRules says when a secret is rotated.
type RotationRules struct {
	// AutomaticallyAfterDays is the number of days between rotations, 1 to 1000.
	AutomaticallyAfterDays *int64
	// Duration is the length of the rotation window, such as "3h".
	Duration string
	// ScheduleExpression is a cron() or rate() expression.
	ScheduleExpression string
}

// CreateSecretInput is the request of [Store.CreateSecret].
type CreateSecretInput struct {
	// Name is the secret's name: 1 to 512 characters from A-Z a-z 0-9 /_+=.@-.
	Name string
	// ClientRequestToken becomes the VersionId of the first version and makes
	// the call idempotent. Empty: the engine generates a UUIDv4, as the AWS
	// SDKs do (or fails, under WithStrictTokens).
	ClientRequestToken string
	// SecretString is a text value. At most one of SecretString and
	// SecretBinary may be set; with neither, the secret has no version.
	SecretString *string
	// SecretBinary is a binary value.
	SecretBinary []byte
	// Description is up to 2048 characters.
	Description string
	// KmsKeyId names the key that encrypts the secret's values; empty means
	// the default key.
	KmsKeyId string
	// Tags are attached to the new secret.
	Tags []Tag
}

// CreateSecretOutput is the response of [Store.CreateSecret].
type CreateSecretOutput struct {
	ARN  string
	Name string
	// VersionId is empty when the secret was created without a value.
	VersionId string
}

// PutSecretValueInput is the request of [Store.PutSecretValue].
type PutSecretValueInput struct {
	// SecretId is the secret's name, full ARN or partial ARN.
	SecretId string
	// ClientRequestToken becomes the new version's VersionId; see
	// CreateSecretInput.ClientRequestToken.
	ClientRequestToken string
	// SecretString or SecretBinary (exactly one) is the new value.
	SecretString *string
	SecretBinary []byte
	// VersionStages are the labels to attach to the new version (1 to 20).
	// Nil means AWSCURRENT.
	VersionStages []string
}

// PutSecretValueOutput is the response of [Store.PutSecretValue].
type PutSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	VersionStages []string
}

// UpdateSecretInput is the request of [Store.UpdateSecret].
type UpdateSecretInput struct {
	SecretId string
	// ClientRequestToken becomes the VersionId of the new version, if a value
	// is given.
	ClientRequestToken string
	// SecretString or SecretBinary, if set, becomes a new version that takes
	// AWSCURRENT.
	SecretString *string
	SecretBinary []byte
	// Description, if not nil, replaces the description ("" clears it).
	Description *string
	// KmsKeyId, if not nil, changes the key ("" is the default key).
	KmsKeyId *string
}

// UpdateSecretOutput is the response of [Store.UpdateSecret].
type UpdateSecretOutput struct {
	ARN  string
	Name string
	// VersionId is set only when the call stored a value.
	VersionId string
}

// GetSecretValueInput is the request of [Store.GetSecretValue]. With neither
// VersionId nor VersionStage it returns the AWSCURRENT version.
type GetSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

// GetSecretValueOutput is the response of [Store.GetSecretValue]. Exactly
// one of SecretString and SecretBinary is set (a stored string is never
// empty).
type GetSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  string
	SecretBinary  []byte
	VersionStages []string
	// CreatedDate is when the version was created.
	CreatedDate time.Time
}

// BatchGetSecretValueInput is the request of [Store.BatchGetSecretValue]:
// either SecretIdList (1 to 20 ids) or Filters, not both.
type BatchGetSecretValueInput struct {
	SecretIdList []string
	Filters      []Filter
	// MaxResults (1 to 20) and NextToken page through the secrets Filters
	// select; they may not be used with SecretIdList.
	MaxResults int
	NextToken  string
}

// SecretValueEntry is one secret's value in a BatchGetSecretValueOutput.
type SecretValueEntry struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  string
	SecretBinary  []byte
	VersionStages []string
	CreatedDate   time.Time
}

// APIErrorType reports why one secret of a batch could not be read.
type APIErrorType struct {
	SecretId  string
	ErrorCode string
	Message   string
}

// BatchGetSecretValueOutput is the response of [Store.BatchGetSecretValue].
type BatchGetSecretValueOutput struct {
	SecretValues []SecretValueEntry
	Errors       []APIErrorType
	NextToken    string
}

// DescribeSecretInput is the request of [Store.DescribeSecret].
type DescribeSecretInput struct {
	SecretId string
}

// DescribeSecretOutput is the response of [Store.DescribeSecret]. Fields
// AWS leaves out are zero: Description, KmsKeyId (the default key), the dates
// not yet set, Tags (nil if the secret was never tagged, empty if every tag
// was removed) and VersionIdsToStages (nil if no version has a label).
type DescribeSecretOutput struct {
	ARN         string
	Name        string
	Description string
	KmsKeyId    string
	// RotationEnabled is meaningful only when RotationConfigured is true:
	// AWS omits it for a secret whose rotation was never set up.
	RotationEnabled    bool
	RotationConfigured bool
	RotationLambdaARN  string
	RotationRules      *RotationRules
	LastRotatedDate    time.Time
	NextRotationDate   time.Time
	LastChangedDate    time.Time
	LastAccessedDate   time.Time
	// DeletedDate is set while the secret is scheduled for deletion, to the
	// date it will be deleted (as moto reports it; AWS's documentation
	// disagrees with itself about this field).
	DeletedDate        time.Time
	CreatedDate        time.Time
	Tags               []Tag
	VersionIdsToStages map[string][]string
}

// ListSecretVersionIdsInput is the request of [Store.ListSecretVersionIds].
type ListSecretVersionIdsInput struct {
	SecretId string
	// MaxResults is 1 to 100; 0 means 100.
	MaxResults int
	NextToken  string
	// IncludeDeprecated lists versions that have no staging label too.
	IncludeDeprecated bool
}

// SecretVersionsListEntry describes one version.
type SecretVersionsListEntry struct {
	VersionId string
	// VersionStages is nil for a version without labels.
	VersionStages    []string
	CreatedDate      time.Time
	LastAccessedDate time.Time
	// KmsKeyIds names the key the value is sealed under; DefaultKeyID for the
	// default key.
	KmsKeyIds []string
}

// ListSecretVersionIdsOutput is the response of [Store.ListSecretVersionIds].
type ListSecretVersionIdsOutput struct {
	ARN       string
	Name      string
	Versions  []SecretVersionsListEntry
	NextToken string
}

// ListSecretsInput is the request of [Store.ListSecrets].
type ListSecretsInput struct {
	Filters []Filter
	// MaxResults is 1 to 100; 0 means 100.
	MaxResults int
	NextToken  string
	// IncludePlannedDeletion lists secrets scheduled for deletion too.
	IncludePlannedDeletion bool
	// SortBy is "created-date" (the default), "last-accessed-date",
	// "last-changed-date" or "name".
	SortBy string
	// SortOrder is "asc" (the default) or "desc".
	SortOrder string
}

// SecretListEntry describes one secret in a ListSecretsOutput; its fields
// mean what they mean in DescribeSecretOutput.
type SecretListEntry struct {
	ARN                    string
	Name                   string
	Description            string
	KmsKeyId               string
	RotationEnabled        bool
	RotationConfigured     bool
	RotationLambdaARN      string
	RotationRules          *RotationRules
	LastRotatedDate        time.Time
	NextRotationDate       time.Time
	LastChangedDate        time.Time
	LastAccessedDate       time.Time
	DeletedDate            time.Time
	CreatedDate            time.Time
	Tags                   []Tag
	SecretVersionsToStages map[string][]string
}

// ListSecretsOutput is the response of [Store.ListSecrets].
type ListSecretsOutput struct {
	SecretList []SecretListEntry
	NextToken  string
}

// UpdateSecretVersionStageInput is the request of
// [Store.UpdateSecretVersionStage]: move VersionStage from
// RemoveFromVersionId to MoveToVersionId.
type UpdateSecretVersionStageInput struct {
	SecretId            string
	VersionStage        string
	RemoveFromVersionId string
	MoveToVersionId     string
}

// UpdateSecretVersionStageOutput is the response of
// [Store.UpdateSecretVersionStage].
type UpdateSecretVersionStageOutput struct {
	ARN  string
	Name string
}

// DeleteSecretInput is the request of [Store.DeleteSecret].
type DeleteSecretInput struct {
	SecretId string
	// RecoveryWindowInDays is 7 to 30; nil means 30.
	RecoveryWindowInDays *int64
	// ForceDeleteWithoutRecovery deletes at once, without a recovery window.
	ForceDeleteWithoutRecovery bool
}

// DeleteSecretOutput is the response of [Store.DeleteSecret].
type DeleteSecretOutput struct {
	ARN          string
	Name         string
	DeletionDate time.Time
}

// RestoreSecretInput is the request of [Store.RestoreSecret].
type RestoreSecretInput struct {
	SecretId string
}

// RestoreSecretOutput is the response of [Store.RestoreSecret].
type RestoreSecretOutput struct {
	ARN  string
	Name string
}

// TagResourceInput is the request of [Store.TagResource].
type TagResourceInput struct {
	SecretId string
	Tags     []Tag
}

// TagResourceOutput is the (empty) response of [Store.TagResource].
type TagResourceOutput struct{}

// UntagResourceInput is the request of [Store.UntagResource].
type UntagResourceInput struct {
	SecretId string
	TagKeys  []string
}

// UntagResourceOutput is the (empty) response of [Store.UntagResource].
type UntagResourceOutput struct{}

// RotateSecretInput is the request of [Store.RotateSecret].
type RotateSecretInput struct {
	SecretId string
	// ClientRequestToken becomes the VersionId of the new version.
	ClientRequestToken string
	// RotationLambdaARN names the rotation function registered with
	// WithRotationFunc; empty keeps the stored one.
	RotationLambdaARN string
	RotationRules     *RotationRules
	// RotateImmediately defaults to true.
	RotateImmediately *bool
}

// RotateSecretOutput is the response of [Store.RotateSecret].
type RotateSecretOutput struct {
	ARN       string
	Name      string
	VersionId string
}

// CancelRotateSecretInput is the request of [Store.CancelRotateSecret].
type CancelRotateSecretInput struct {
	SecretId string
}

// CancelRotateSecretOutput is the response of [Store.CancelRotateSecret].
type CancelRotateSecretOutput struct {
	ARN  string
	Name string
	// VersionId is the version that holds AWSPENDING, if any.
	VersionId string
}

// GetRandomPasswordInput is the request of [Store.GetRandomPassword]. With no
// field set it returns 32 characters drawn from letters, digits and
// punctuation, with at least one of each.
type GetRandomPasswordInput struct {
	// PasswordLength is 1 to 4096; nil means 32.
	PasswordLength     *int64
	ExcludeCharacters  string
	ExcludeNumbers     bool
	ExcludePunctuation bool
	ExcludeUppercase   bool
	ExcludeLowercase   bool
	IncludeSpace       bool
	// RequireEachIncludedType defaults to true.
	RequireEachIncludedType *bool
}

// GetRandomPasswordOutput is the response of [Store.GetRandomPassword].
type GetRandomPasswordOutput struct {
	RandomPassword string
}

// Redaction. Each value-holding type prints its non-secret fields only.

const redacted = "[redacted]"

func formatRedacted(f fmt.State, verb rune, s string) {
	switch verb {
	case 'v', 's', 'q':
		fmt.Fprint(f, s)
	default:
		fmt.Fprintf(f, "%%!%c(%s)", verb, s)
	}
}

// String describes the request without its value.
func (in CreateSecretInput) String() string {
	return fmt.Sprintf("CreateSecretInput{Name:%q ClientRequestToken:%q Value:%s KmsKeyId:%q}",
		in.Name, in.ClientRequestToken, valueMark(in.SecretString, in.SecretBinary), in.KmsKeyId)
}

// GoString implements fmt.GoStringer without the value.
func (in CreateSecretInput) GoString() string { return in.String() }

// Format implements fmt.Formatter without the value.
func (in CreateSecretInput) Format(f fmt.State, verb rune) { formatRedacted(f, verb, in.String()) }

// LogValue implements slog.LogValuer without the value.
func (in CreateSecretInput) LogValue() slog.Value { return slog.StringValue(in.String()) }

// String describes the request without its value.
func (in PutSecretValueInput) String() string {
	return fmt.Sprintf("PutSecretValueInput{SecretId:%q ClientRequestToken:%q Value:%s VersionStages:%q}",
		in.SecretId, in.ClientRequestToken, valueMark(in.SecretString, in.SecretBinary), in.VersionStages)
}

// GoString implements fmt.GoStringer without the value.
func (in PutSecretValueInput) GoString() string { return in.String() }

// Format implements fmt.Formatter without the value.
func (in PutSecretValueInput) Format(f fmt.State, verb rune) { formatRedacted(f, verb, in.String()) }

// LogValue implements slog.LogValuer without the value.
func (in PutSecretValueInput) LogValue() slog.Value { return slog.StringValue(in.String()) }

// String describes the request without its value.
func (in UpdateSecretInput) String() string {
	return fmt.Sprintf("UpdateSecretInput{SecretId:%q ClientRequestToken:%q Value:%s}",
		in.SecretId, in.ClientRequestToken, valueMark(in.SecretString, in.SecretBinary))
}

// GoString implements fmt.GoStringer without the value.
func (in UpdateSecretInput) GoString() string { return in.String() }

// Format implements fmt.Formatter without the value.
func (in UpdateSecretInput) Format(f fmt.State, verb rune) { formatRedacted(f, verb, in.String()) }

// LogValue implements slog.LogValuer without the value.
func (in UpdateSecretInput) LogValue() slog.Value { return slog.StringValue(in.String()) }

// String describes the response without its value.
func (out GetSecretValueOutput) String() string {
	return fmt.Sprintf("GetSecretValueOutput{ARN:%q Name:%q VersionId:%q Value:%s VersionStages:%q}",
		out.ARN, out.Name, out.VersionId, redacted, out.VersionStages)
}

// GoString implements fmt.GoStringer without the value.
func (out GetSecretValueOutput) GoString() string { return out.String() }

// Format implements fmt.Formatter without the value.
func (out GetSecretValueOutput) Format(f fmt.State, verb rune) { formatRedacted(f, verb, out.String()) }

// LogValue implements slog.LogValuer without the value.
func (out GetSecretValueOutput) LogValue() slog.Value { return slog.StringValue(out.String()) }

// String describes the entry without its value.
func (e SecretValueEntry) String() string {
	return fmt.Sprintf("SecretValueEntry{ARN:%q Name:%q VersionId:%q Value:%s VersionStages:%q}",
		e.ARN, e.Name, e.VersionId, redacted, e.VersionStages)
}

// GoString implements fmt.GoStringer without the value.
func (e SecretValueEntry) GoString() string { return e.String() }

// Format implements fmt.Formatter without the value.
func (e SecretValueEntry) Format(f fmt.State, verb rune) { formatRedacted(f, verb, e.String()) }

// LogValue implements slog.LogValuer without the value.
func (e SecretValueEntry) LogValue() slog.Value { return slog.StringValue(e.String()) }

// String describes the batch without its values.
func (out BatchGetSecretValueOutput) String() string {
	names := make([]string, len(out.SecretValues))
	for i, v := range out.SecretValues {
		names[i] = v.Name
	}
	return fmt.Sprintf("BatchGetSecretValueOutput{SecretValues:%q Value:%s Errors:%+v NextToken:%q}",
		names, redacted, out.Errors, out.NextToken)
}

// GoString implements fmt.GoStringer without the values.
func (out BatchGetSecretValueOutput) GoString() string { return out.String() }

// Format implements fmt.Formatter without the values.
func (out BatchGetSecretValueOutput) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, out.String())
}

// LogValue implements slog.LogValuer without the values.
func (out BatchGetSecretValueOutput) LogValue() slog.Value { return slog.StringValue(out.String()) }

// String hides the password.
func (out GetRandomPasswordOutput) String() string {
	return "GetRandomPasswordOutput{RandomPassword:" + redacted + "}"
}

// GoString implements fmt.GoStringer without the password.
func (out GetRandomPasswordOutput) GoString() string { return out.String() }

// Format implements fmt.Formatter without the password.
func (out GetRandomPasswordOutput) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, out.String())
}

// LogValue implements slog.LogValuer without the password.
func (out GetRandomPasswordOutput) LogValue() slog.Value { return slog.StringValue(out.String()) }

// valueMark says which kind of value is set, without showing it.
func valueMark(s *string, b []byte) string {
	switch {
	case s != nil && b != nil:
		return "string+binary " + redacted
	case s != nil:
		return "string " + redacted
	case b != nil:
		return "binary " + redacted
	}
	return "none"
}
