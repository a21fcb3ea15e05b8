package secretstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secretstore/secretstore/backend"
)

const (
	defaultMaxResults = 100
	maxNextTokenLen   = 4096
	maxFilters        = 10
	maxFilterValues   = 10
	maxFilterValueLen = 512
	maxBatchIDs       = 20
	listBatch         = 500
)

// pageToken is the decoded form of a NextToken: the position after which
// the next page starts, in the listing's order, so that pages stay right
// when entries come and go between calls. kind says which listing issued
// it.
type pageToken struct {
	kind  string
	sortK string // sort key of the last entry returned
	id    string // tie breaker: name or VersionId of the last entry
}

func (t pageToken) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.kind + "\x00" + t.sortK + "\x00" + t.id))
}

func decodePageToken(s, kind string) (pageToken, error) {
	if len(s) > maxNextTokenLen {
		return pageToken{}, errValidation("nextToken", "Member must have length between 1 and 4096")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 || parts[0] != kind {
		return pageToken{}, newError(CodeInvalidNextToken, msgInvalidNextToken)
	}
	return pageToken{kind: parts[0], sortK: parts[1], id: parts[2]}, nil
}

func validateMaxResults(n, limit int) error {
	if n < 0 || n > limit {
		return errValidation("maxResults", "Member must have value between 1 and "+strconv.Itoa(limit))
	}
	return nil
}

// timeKey renders a time so that keys sort like times: Unix nanoseconds
// shifted to be non-negative, in 20 zero-padded digits. The zero time sorts
// first.
func timeKey(t time.Time) string {
	var n uint64
	if !t.IsZero() {
		n = uint64(t.UnixNano()) ^ 1<<63
	}
	return fmt.Sprintf("%020d", n)
}

// ListSecretVersionIds lists a secret's versions, oldest first (SPEC §2.6).
// Versions without labels are listed only with IncludeDeprecated; rotation
// placeholders without a value are never listed. It works on secrets
// scheduled for deletion.
func (e *Engine) ListSecretVersionIds(ctx context.Context, in *ListSecretVersionIdsInput) (*ListSecretVersionIdsOutput, error) {
	out, err := e.listSecretVersionIds(ctx, in)
	if err != nil {
		return nil, annotate(err, "ListSecretVersionIds", in.SecretId)
	}
	return out, nil
}

func (e *Engine) listSecretVersionIds(ctx context.Context, in *ListSecretVersionIdsInput) (*ListSecretVersionIdsOutput, error) {
	if err := validateSecretID("secretId", in.SecretId); err != nil {
		return nil, err
	}
	if err := validateMaxResults(in.MaxResults, defaultMaxResults); err != nil {
		return nil, err
	}
	var after pageToken
	if in.NextToken != "" {
		t, err := decodePageToken(in.NextToken, "v")
		if err != nil {
			return nil, err
		}
		after = t
	}
	s, err := e.readLatest(ctx, in.SecretId, true)
	if err != nil {
		return nil, err
	}
	if len(s.Versions) > e.cfg.maxVersions {
		e.pruneIfOver(ctx, s)
		if s, err = e.readLatest(ctx, in.SecretId, true); err != nil {
			return nil, err
		}
	}
	limit := cmp.Or(in.MaxResults, defaultMaxResults)
	out := &ListSecretVersionIdsOutput{ARN: s.ARN, Name: s.Name, Versions: []SecretVersionsListEntry{}}
	start := 0
	if in.NextToken != "" {
		// Versions are kept in creation order. Continue after the version
		// the token names or, if it has been pruned since, after the
		// versions created no later than it.
		if _, i := findVersion(s.Versions, after.id); i >= 0 {
			start = i + 1
		} else {
			for start < len(s.Versions) && timeKey(s.Versions[start].Created) <= after.sortK {
				start++
			}
		}
	}
	for _, v := range s.Versions[start:] {
		stages := s.versionStages(v.ID)
		if v.Kind == kindNone || (stages == nil && !in.IncludeDeprecated) {
			continue
		}
		if len(out.Versions) == limit {
			last := out.Versions[len(out.Versions)-1]
			out.NextToken = pageToken{kind: "v", sortK: timeKey(last.CreatedDate), id: last.VersionId}.encode()
			break
		}
		keyID := v.KeyID
		if keyID == "" {
			keyID = DefaultKeyID
		}
		out.Versions = append(out.Versions, SecretVersionsListEntry{
			VersionId: v.ID, VersionStages: stages, CreatedDate: v.Created,
			LastAccessedDate: v.LastAccessed, KmsKeyIds: []string{keyID},
		})
	}
	return out, nil
}

// ListSecrets lists the secrets that match every filter, sorted by
// CreatedDate ascending unless SortBy and SortOrder say otherwise (SPEC
// §2.10). Secrets scheduled for deletion are listed only with
// IncludePlannedDeletion. Listing reads every secret's metadata (never a
// value).
func (e *Engine) ListSecrets(ctx context.Context, in *ListSecretsInput) (*ListSecretsOutput, error) {
	out, err := e.listSecrets(ctx, in, defaultMaxResults)
	if err != nil {
		return nil, annotate(err, "ListSecrets", "")
	}
	return out, nil
}

func (e *Engine) listSecrets(ctx context.Context, in *ListSecretsInput, maxResults int) (*ListSecretsOutput, error) {
	if err := validateMaxResults(in.MaxResults, maxResults); err != nil {
		return nil, err
	}
	if err := validateFilters(in.Filters); err != nil {
		return nil, err
	}
	sortBy := cmp.Or(in.SortBy, "created-date")
	if !slices.Contains([]string{"created-date", "last-accessed-date", "last-changed-date", "name"}, sortBy) {
		return nil, errValidation("sortBy", "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]")
	}
	order := cmp.Or(in.SortOrder, "asc")
	if order != "asc" && order != "desc" {
		return nil, errValidation("sortOrder", "Member must satisfy enum value set: [asc, desc]")
	}
	kind := "s" + sortBy + order
	var after pageToken
	if in.NextToken != "" {
		t, err := decodePageToken(in.NextToken, kind)
		if err != nil {
			return nil, err
		}
		after = t
	}
	now := e.now()
	type item struct {
		key  string
		meta *secretMeta
	}
	var items []item
	for cursor := ""; ; {
		recs, err := e.b.ListRecords(ctx, e.keyPrefix, cursor, listBatch)
		if err != nil {
			return nil, wrapInternal(err)
		}
		for _, r := range recs {
			s, err := decodeRecord(r.Data)
			if err != nil {
				return nil, wrapInternal(errors.Join(errCorruptRecord, errors.New("record "+r.Key)))
			}
			if s.purgeDue(now) || (s.scheduled() && !in.IncludePlannedDeletion) || !matchFilters(s, in.Filters) {
				continue
			}
			items = append(items, item{sortKey(s, sortBy), s})
		}
		if len(recs) < listBatch {
			break
		}
		cursor = recs[len(recs)-1].Key
	}
	compare := func(a, b item) int {
		return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(a.meta.Name, b.meta.Name))
	}
	if order == "desc" {
		slices.SortFunc(items, func(a, b item) int { return compare(b, a) })
	} else {
		slices.SortFunc(items, compare)
	}
	limit := cmp.Or(in.MaxResults, maxResults)
	out := &ListSecretsOutput{SecretList: []SecretListEntry{}}
	cursor := item{after.sortK, &secretMeta{secretInfo: &secretInfo{Name: after.id}}}
	for _, it := range items {
		if in.NextToken != "" {
			c := compare(it, cursor)
			if (order == "asc" && c <= 0) || (order == "desc" && c >= 0) {
				continue
			}
		}
		if len(out.SecretList) == limit {
			last := out.SecretList[len(out.SecretList)-1]
			out.NextToken = pageToken{kind: kind, sortK: sortKey(&secretMeta{
				secretInfo:  &secretInfo{Name: last.Name, Created: last.CreatedDate, LastAccessed: last.LastAccessedDate},
				LastChanged: last.LastChangedDate,
			}, sortBy), id: last.Name}.encode()
			break
		}
		out.SecretList = append(out.SecretList, listEntry(it.meta))
	}
	return out, nil
}

func sortKey(s *secretMeta, sortBy string) string {
	switch sortBy {
	case "name":
		return s.Name
	case "last-accessed-date":
		return timeKey(s.LastAccessed)
	case "last-changed-date":
		return timeKey(s.LastChanged)
	}
	return timeKey(s.Created)
}

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

// validateFilters checks ListSecrets filters the way AWS does.
func validateFilters(fs []Filter) error {
	if len(fs) > maxFilters {
		return errValidation("filters", "Member must have length less than or equal to 10")
	}
	for i, f := range fs {
		if f.Key == "" {
			return errInvalidParameter("Invalid filter key")
		}
		if !slices.Contains(filterKeys, f.Key) {
			return newError(CodeValidation, "1 validation error detected: Value '"+f.Key+"' at 'filters."+strconv.Itoa(i+1)+
				".member.key' failed to satisfy constraint: Member must satisfy enum value set: ["+strings.Join(filterKeys, ", ")+"]")
		}
		if len(f.Values) == 0 {
			return errInvalidParameter("Invalid filter values for key: " + f.Key)
		}
		if len(f.Values) > maxFilterValues {
			return errValidation("filters."+strconv.Itoa(i+1)+".member.values", "Member must have length between 1 and 10")
		}
		for _, v := range f.Values {
			if len(v) > maxFilterValueLen || !validFilterValue(v) {
				return errValidation("filters."+strconv.Itoa(i+1)+".member.values",
					"Member must have length less than or equal to 512 and satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$")
			}
		}
	}
	return nil
}

func validFilterValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(" :_@/+=.-!", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// matchFilters reports whether s passes every filter: filters are ANDed,
// the values of one filter ORed.
func matchFilters(s *secretMeta, fs []Filter) bool {
	for _, f := range fs {
		if !matchFilter(s, f) {
			return false
		}
	}
	return true
}

// matchFilter applies one filter. name, tag-key and tag-value are
// case-sensitive prefix matches; description and all match words, case
// insensitively: every word of the value must begin a word of the field. A
// value starting with "!" matches the secrets the rest does not match.
func matchFilter(s *secretMeta, f Filter) bool {
	var fields []string
	words := false
	switch f.Key {
	case "name":
		fields = []string{s.Name}
	case "description":
		fields, words = []string{s.Description}, true
	case "tag-key":
		for _, t := range s.Tags {
			fields = append(fields, t.Key)
		}
	case "tag-value":
		for _, t := range s.Tags {
			fields = append(fields, t.Value)
		}
	case "all":
		fields, words = []string{s.Name, s.Description}, true
		for _, t := range s.Tags {
			fields = append(fields, t.Key, t.Value)
		}
	case "primary-region", "owning-service":
		// Secrets here are never replicas and never managed by a service.
	}
	for _, v := range f.Values {
		pattern, negate := strings.CutPrefix(v, "!")
		hit := false
		for _, field := range fields {
			if (words && matchWords(pattern, field)) || (!words && strings.HasPrefix(field, pattern)) {
				hit = true
				break
			}
		}
		if hit != negate {
			return true
		}
	}
	return false
}

// matchWords reports whether every word of pattern begins some word of
// field, ignoring case.
func matchWords(pattern, field string) bool {
	pw := strings.Fields(strings.ToLower(pattern))
	fw := strings.Fields(strings.ToLower(field))
	if len(pw) == 0 || len(fw) == 0 {
		return false
	}
	for _, p := range pw {
		if !slices.ContainsFunc(fw, func(w string) bool { return strings.HasPrefix(w, p) }) {
			return false
		}
	}
	return true
}

// BatchGetSecretValue returns the AWSCURRENT values of up to 20 secrets,
// named by SecretIdList or selected by Filters. A secret that cannot be read
// is reported in Errors instead of failing the call.
func (e *Engine) BatchGetSecretValue(ctx context.Context, in *BatchGetSecretValueInput) (*BatchGetSecretValueOutput, error) {
	out, err := e.batchGetSecretValue(ctx, in)
	if err != nil {
		return nil, annotate(err, "BatchGetSecretValue", "")
	}
	return out, nil
}

func (e *Engine) batchGetSecretValue(ctx context.Context, in *BatchGetSecretValueInput) (*BatchGetSecretValueOutput, error) {
	switch {
	case in.SecretIdList != nil && in.Filters != nil:
		return nil, errInvalidParameter("Either 'SecretIdList' or 'Filters' must be provided, but not both.")
	case in.SecretIdList == nil && in.Filters == nil:
		return nil, errInvalidParameter("Either 'SecretIdList' or 'Filters' must be provided.")
	case in.SecretIdList != nil && (len(in.SecretIdList) == 0 || len(in.SecretIdList) > maxBatchIDs):
		return nil, errValidation("secretIdList", "Member must have length between 1 and 20")
	case in.SecretIdList != nil && (in.MaxResults != 0 || in.NextToken != ""):
		return nil, errInvalidParameter("'MaxResults' and 'NextToken' can be used only with 'Filters'.")
	}
	ids := in.SecretIdList
	out := &BatchGetSecretValueOutput{SecretValues: []SecretValueEntry{}, Errors: []APIErrorType{}}
	if in.Filters != nil {
		list, err := e.listSecrets(ctx, &ListSecretsInput{Filters: in.Filters, MaxResults: in.MaxResults, NextToken: in.NextToken}, maxBatchIDs)
		if err != nil {
			return nil, err
		}
		for _, s := range list.SecretList {
			ids = append(ids, s.ARN)
		}
		out.NextToken = list.NextToken
	}
	for _, id := range ids {
		v, err := e.getSecretValue(ctx, &GetSecretValueInput{SecretId: id})
		var ae *Error
		switch {
		case err == nil:
			out.SecretValues = append(out.SecretValues, SecretValueEntry{
				ARN: v.ARN, Name: v.Name, VersionId: v.VersionId, SecretString: v.SecretString,
				SecretBinary: v.SecretBinary, VersionStages: v.VersionStages, CreatedDate: v.CreatedDate,
			})
		case errors.As(err, &ae) && ae.Code != CodeInternalService:
			out.Errors = append(out.Errors, APIErrorType{SecretId: id, ErrorCode: string(ae.Code), Message: ae.Message})
		default:
			return nil, err
		}
	}
	return out, nil
}

// Sweep deletes blobs that no secret refers to and that are older than
// minAge, and returns how many it deleted. Blobs become orphans when a
// process stops between writing a value and committing the metadata that
// refers to it, or fails to delete the blobs of a pruned version. minAge
// must cover the longest write in flight (a minute is plenty) since a blob
// is written before the metadata that refers to it. Sweep reads every
// record of the backend, whatever its region.
func (e *Engine) Sweep(ctx context.Context, minAge time.Duration) (int, error) {
	referenced := map[string]bool{}
	for cursor := ""; ; {
		recs, err := e.b.ListRecords(ctx, "secret/", cursor, listBatch)
		if err != nil {
			return 0, wrapInternal(err)
		}
		for _, r := range recs {
			s, err := decodeRecord(r.Data)
			if err == nil {
				for _, c := range s.chunks {
					referenced[c.ref.Key] = true
				}
				err = e.resolveChunks(ctx, s, nil)
			}
			if err != nil {
				// Never delete a blob a record we cannot read might refer to.
				return 0, wrapInternal(errors.Join(err, errors.New("record "+r.Key)))
			}
			for _, v := range s.Versions {
				referenced[v.Blob] = true
			}
		}
		if len(recs) < listBatch {
			break
		}
		cursor = recs[len(recs)-1].Key
	}
	deleted := 0
	for cursor := ""; ; {
		keys, err := e.b.ListBlobs(ctx, cursor, listBatch)
		if err != nil {
			return deleted, wrapInternal(err)
		}
		for _, k := range keys {
			if referenced[k] || !blobOlderThan(k, e.now(), minAge) {
				continue
			}
			if err := e.b.DeleteBlob(ctx, k); err != nil && !errors.Is(err, backend.ErrNotFound) {
				return deleted, wrapInternal(err)
			}
			deleted++
		}
		if len(keys) < listBatch {
			break
		}
		cursor = keys[len(keys)-1]
	}
	return deleted, nil
}
