package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend/membackend"
)

const (
	msgNotFound       = "Secrets Manager can't find the specified secret."
	msgMarkedDeletion = "You can't perform this operation on the secret because it was marked for deletion."
	msgRecoveryWindow = "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
	msgTooManyVersion = "You have exceeded the maximum number of versions for this secret."
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// newServer serves an awsapi Handler over a fresh in-memory backend.
func newServer(t *testing.T, opts ...awsapi.Option) *httptest.Server {
	t.Helper()
	h, err := awsapi.NewHandler(membackend.New(), opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a real SDK client for region that talks to srv.
func newClient(srv *httptest.Server, region string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           region,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
	})
}

// setup returns a us-east-1 client against a fresh server.
func setup(t *testing.T, opts ...awsapi.Option) *secretsmanager.Client {
	t.Helper()
	return newClient(newServer(t, opts...), "us-east-1")
}

func create(t *testing.T, c *secretsmanager.Client, name, value string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	out, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		SecretString: aws.String(value),
	})
	require.NoError(t, err)
	return out
}

func put(t *testing.T, c *secretsmanager.Client, name, value string) *secretsmanager.PutSecretValueOutput {
	t.Helper()
	out, err := c.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(name),
		SecretString: aws.String(value),
	})
	require.NoError(t, err)
	return out
}

func describe(t *testing.T, c *secretsmanager.Client, name string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := c.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	require.NoError(t, err)
	return out
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func arnRE(region, name string) *regexp.Regexp {
	return regexp.MustCompile(`^arn:aws:secretsmanager:` + regexp.QuoteMeta(region) + `:\d{12}:secret:` + regexp.QuoteMeta(name) + `-[A-Za-z0-9]{6}$`)
}

func TestCreateSecret(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()

	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("app/db"),
		Description:  aws.String("database password"),
		SecretString: aws.String("s3cr3t"),
		Tags:         []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
	})
	require.NoError(t, err)
	assert.Equal(t, "app/db", aws.ToString(out.Name))
	assert.Regexp(t, arnRE("us-east-1", "app/db"), aws.ToString(out.ARN))
	require.NotNil(t, out.VersionId)
	assert.Regexp(t, uuidRE, *out.VersionId, "the SDK fills ClientRequestToken with a UUID")

	d := describe(t, c, "app/db")
	assert.Equal(t, "database password", aws.ToString(d.Description))
	assert.Equal(t, map[string]string{"env": "prod"}, tagMap(d.Tags))
	assert.Equal(t, map[string][]string{*out.VersionId: {"AWSCURRENT"}}, d.VersionIdsToStages)

	// Without a value: no version.
	empty, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")})
	require.NoError(t, err)
	assert.Nil(t, empty.VersionId)
	assert.Regexp(t, arnRE("us-east-1", "empty"), aws.ToString(empty.ARN))

	// With an explicit token: it becomes the VersionId.
	tok := "00000000-0000-4000-8000-000000000001"
	withTok, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String("tok"),
		SecretString:       aws.String("v"),
		ClientRequestToken: aws.String(tok),
	})
	require.NoError(t, err)
	assert.Equal(t, tok, aws.ToString(withTok.VersionId))
}

func TestPutSecretValueVersionStages(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	v1 := create(t, c, "s", "one").VersionId

	out, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:      aws.String("s"),
		SecretString:  aws.String("two"),
		VersionStages: []string{"AWSPENDING"},
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"AWSPENDING"}, out.VersionStages)
	assert.Equal(t, "s", aws.ToString(out.Name))
	assert.Regexp(t, arnRE("us-east-1", "s"), aws.ToString(out.ARN))
	v2 := aws.ToString(out.VersionId)

	// AWSCURRENT did not move.
	cur, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	assert.Equal(t, "one", aws.ToString(cur.SecretString))
	assert.Equal(t, aws.ToString(v1), aws.ToString(cur.VersionId))

	pend, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPENDING")})
	require.NoError(t, err)
	assert.Equal(t, "two", aws.ToString(pend.SecretString))
	assert.Equal(t, v2, aws.ToString(pend.VersionId))

	// Without VersionStages: AWSCURRENT moves, AWSPREVIOUS follows.
	v3 := put(t, c, "s", "three")
	assert.Equal(t, []string{"AWSCURRENT"}, v3.VersionStages)
	d := describe(t, c, "s")
	assert.Equal(t, map[string][]string{
		aws.ToString(v1):           {"AWSPREVIOUS"},
		v2:                         {"AWSPENDING"},
		aws.ToString(v3.VersionId): {"AWSCURRENT"},
	}, d.VersionIdsToStages)
}

func TestUpdateSecret(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	v1 := aws.ToString(create(t, c, "s", "one").VersionId)

	// Description only: no new version.
	out, err := c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{
		SecretId:    aws.String("s"),
		Description: aws.String("new description"),
	})
	require.NoError(t, err)
	assert.Nil(t, out.VersionId)
	assert.Equal(t, "s", aws.ToString(out.Name))
	assert.Regexp(t, arnRE("us-east-1", "s"), aws.ToString(out.ARN))

	// With a value: a new AWSCURRENT version.
	out, err = c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{
		SecretId:     aws.String("s"),
		SecretString: aws.String("two"),
	})
	require.NoError(t, err)
	require.NotNil(t, out.VersionId)
	v2 := *out.VersionId

	d := describe(t, c, "s")
	assert.Equal(t, "new description", aws.ToString(d.Description))
	assert.Equal(t, map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}, d.VersionIdsToStages)

	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	assert.Equal(t, "two", aws.ToString(got.SecretString))
}

func TestGetSecretValue(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	cr := create(t, c, "s", "one")
	v1 := aws.ToString(cr.VersionId)
	v2 := aws.ToString(put(t, c, "s", "two").VersionId)

	tests := []struct {
		name       string
		in         secretsmanager.GetSecretValueInput
		wantValue  string
		wantID     string
		wantStages []string
	}{
		{"default", secretsmanager.GetSecretValueInput{}, "two", v2, []string{"AWSCURRENT"}},
		{"stage current", secretsmanager.GetSecretValueInput{VersionStage: aws.String("AWSCURRENT")}, "two", v2, []string{"AWSCURRENT"}},
		{"stage previous", secretsmanager.GetSecretValueInput{VersionStage: aws.String("AWSPREVIOUS")}, "one", v1, []string{"AWSPREVIOUS"}},
		{"version id", secretsmanager.GetSecretValueInput{VersionId: aws.String(v1)}, "one", v1, []string{"AWSPREVIOUS"}},
		{"version id and stage", secretsmanager.GetSecretValueInput{VersionId: aws.String(v2), VersionStage: aws.String("AWSCURRENT")}, "two", v2, []string{"AWSCURRENT"}},
		{"by arn", secretsmanager.GetSecretValueInput{SecretId: cr.ARN}, "two", v2, []string{"AWSCURRENT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.SecretId == nil {
				in.SecretId = aws.String("s")
			}
			out, err := c.GetSecretValue(ctx, &in)
			require.NoError(t, err)
			assert.Equal(t, tt.wantValue, aws.ToString(out.SecretString))
			assert.Nil(t, out.SecretBinary)
			assert.Equal(t, tt.wantID, aws.ToString(out.VersionId))
			assert.Equal(t, tt.wantStages, out.VersionStages)
			assert.Equal(t, "s", aws.ToString(out.Name))
			assert.Equal(t, aws.ToString(cr.ARN), aws.ToString(out.ARN))
			assert.NotNil(t, out.CreatedDate)
		})
	}
}

func TestBatchGetSecretValue(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	a := create(t, c, "a", "alpha")
	create(t, c, "b", "beta")

	out, err := c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
		SecretIdList: []string{"a", "b", "missing"},
	})
	require.NoError(t, err)
	got := map[string]string{}
	for _, v := range out.SecretValues {
		got[aws.ToString(v.Name)] = aws.ToString(v.SecretString)
		assert.NotNil(t, v.VersionId)
		assert.Equal(t, []string{"AWSCURRENT"}, v.VersionStages)
	}
	assert.Equal(t, map[string]string{"a": "alpha", "b": "beta"}, got)
	for _, v := range out.SecretValues {
		if aws.ToString(v.Name) == "a" {
			assert.Equal(t, aws.ToString(a.ARN), aws.ToString(v.ARN))
		}
	}
	require.Len(t, out.Errors, 1)
	assert.Equal(t, "missing", aws.ToString(out.Errors[0].SecretId))
	assert.Equal(t, "ResourceNotFoundException", aws.ToString(out.Errors[0].ErrorCode))
	assert.Equal(t, msgNotFound, aws.ToString(out.Errors[0].Message))
}

func TestDescribeSecret(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("s"),
		Description:  aws.String("desc"),
		SecretString: aws.String("one"),
		Tags: []types.Tag{
			{Key: aws.String("env"), Value: aws.String("prod")},
			{Key: aws.String("team"), Value: aws.String("core")},
		},
	})
	require.NoError(t, err)
	v1 := aws.ToString(out.VersionId)

	d := describe(t, c, "s")
	assert.Equal(t, aws.ToString(out.ARN), aws.ToString(d.ARN))
	assert.Equal(t, "s", aws.ToString(d.Name))
	assert.Equal(t, "desc", aws.ToString(d.Description))
	assert.Equal(t, map[string]string{"env": "prod", "team": "core"}, tagMap(d.Tags))
	assert.Equal(t, map[string][]string{v1: {"AWSCURRENT"}}, d.VersionIdsToStages)
	require.NotNil(t, d.CreatedDate)
	require.NotNil(t, d.LastChangedDate)
	assert.WithinDuration(t, time.Now(), *d.CreatedDate, time.Minute)
	assert.Nil(t, d.LastAccessedDate, "LastAccessedDate is omitted until the first read")
	assert.Nil(t, d.DeletedDate)
	assert.Nil(t, d.RotationEnabled, "RotationEnabled is omitted until rotation is configured")
	assert.Nil(t, d.LastRotatedDate)
	assert.Nil(t, d.NextRotationDate)

	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	d = describe(t, c, "s")
	require.NotNil(t, d.LastAccessedDate, "GetSecretValue sets LastAccessedDate")
	day := time.Now().UTC().Truncate(24 * time.Hour)
	assert.True(t, d.LastAccessedDate.Equal(day), "LastAccessedDate %v, want the day %v", d.LastAccessedDate.UTC(), day)

	v2 := aws.ToString(put(t, c, "s", "two").VersionId)
	d2 := describe(t, c, "s")
	assert.Equal(t, map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}, d2.VersionIdsToStages)
	assert.True(t, d2.CreatedDate.Equal(*d.CreatedDate), "CreatedDate never changes")
	assert.False(t, d2.LastChangedDate.Before(*d.LastChangedDate))

	// Scheduled for deletion: DeletedDate appears and versions stay.
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	d3 := describe(t, c, "s")
	assert.NotNil(t, d3.DeletedDate)
	assert.Equal(t, d2.VersionIdsToStages, d3.VersionIdsToStages)
}

func TestListSecretVersionIds(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	cr := create(t, c, "s", "one")
	v1 := aws.ToString(cr.VersionId)
	v2 := aws.ToString(put(t, c, "s", "two").VersionId)
	v3 := aws.ToString(put(t, c, "s", "three").VersionId) // v1 loses AWSPREVIOUS: deprecated

	stages := func(out *secretsmanager.ListSecretVersionIdsOutput) map[string][]string {
		m := map[string][]string{}
		for _, v := range out.Versions {
			m[aws.ToString(v.VersionId)] = v.VersionStages
			assert.NotNil(t, v.CreatedDate)
		}
		return m
	}

	out, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	assert.Equal(t, "s", aws.ToString(out.Name))
	assert.Equal(t, aws.ToString(cr.ARN), aws.ToString(out.ARN))
	assert.Nil(t, out.NextToken)
	assert.Equal(t, map[string][]string{v2: {"AWSPREVIOUS"}, v3: {"AWSCURRENT"}}, stages(out))

	out, err = c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{
		SecretId:          aws.String("s"),
		IncludeDeprecated: aws.Bool(true),
	})
	require.NoError(t, err)
	got := stages(out)
	require.Len(t, got, 3)
	assert.Contains(t, got, v1)
	assert.Empty(t, got[v1], "a deprecated version has no labels")
	assert.Equal(t, []string{"AWSPREVIOUS"}, got[v2])
	assert.Equal(t, []string{"AWSCURRENT"}, got[v3])

	// A deprecated version is still readable by VersionId.
	g, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(v1)})
	require.NoError(t, err)
	assert.Equal(t, "one", aws.ToString(g.SecretString))
	assert.Empty(t, g.VersionStages)
}

func TestListSecrets(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	create(t, c, "app/db", "x")
	create(t, c, "app/web", "x")
	_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("other"),
		Description:  aws.String("the other one"),
		SecretString: aws.String("x"),
		Tags:         []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
	})
	require.NoError(t, err)
	create(t, c, "gone", "x")
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone")})
	require.NoError(t, err)

	names := func(in *secretsmanager.ListSecretsInput) []string {
		t.Helper()
		out, err := c.ListSecrets(ctx, in)
		require.NoError(t, err)
		var ns []string
		for _, e := range out.SecretList {
			ns = append(ns, aws.ToString(e.Name))
			assert.Regexp(t, arnRE("us-east-1", aws.ToString(e.Name)), aws.ToString(e.ARN))
			assert.NotNil(t, e.CreatedDate)
		}
		return ns
	}
	filter := func(key types.FilterNameStringType, values ...string) *secretsmanager.ListSecretsInput {
		return &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: key, Values: values}}}
	}

	assert.ElementsMatch(t, []string{"app/db", "app/web", "other"}, names(&secretsmanager.ListSecretsInput{}))
	assert.ElementsMatch(t, []string{"app/db", "app/web", "other", "gone"},
		names(&secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)}))
	assert.ElementsMatch(t, []string{"app/db", "app/web"}, names(filter(types.FilterNameStringTypeName, "app/")))
	assert.ElementsMatch(t, []string{"other"}, names(filter(types.FilterNameStringTypeTagKey, "env")))
	assert.ElementsMatch(t, []string{"other"}, names(filter(types.FilterNameStringTypeTagValue, "prod")))
	assert.ElementsMatch(t, []string{"other"}, names(filter(types.FilterNameStringTypeDescription, "the other")))
	assert.Empty(t, names(filter(types.FilterNameStringTypeName, "nothing")))

	// Entries carry the Describe fields.
	out, err := c.ListSecrets(ctx, filter(types.FilterNameStringTypeName, "other"))
	require.NoError(t, err)
	require.Len(t, out.SecretList, 1)
	e := out.SecretList[0]
	assert.Equal(t, "the other one", aws.ToString(e.Description))
	assert.Equal(t, map[string]string{"env": "prod"}, tagMap(e.Tags))
	assert.Len(t, e.SecretVersionsToStages, 1)
}

func TestUpdateSecretVersionStageRevert(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	v1 := aws.ToString(create(t, c, "s", "one").VersionId)
	v2 := aws.ToString(put(t, c, "s", "two").VersionId)

	out, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String("s"),
		VersionStage:        aws.String("AWSCURRENT"),
		MoveToVersionId:     aws.String(v1),
		RemoveFromVersionId: aws.String(v2),
	})
	require.NoError(t, err)
	assert.Equal(t, "s", aws.ToString(out.Name))
	assert.Regexp(t, arnRE("us-east-1", "s"), aws.ToString(out.ARN))

	d := describe(t, c, "s")
	assert.Equal(t, map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPREVIOUS"}}, d.VersionIdsToStages)
	g, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	assert.Equal(t, "one", aws.ToString(g.SecretString))

	// A custom label, moved and then removed.
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("s"), VersionStage: aws.String("blue"), MoveToVersionId: aws.String(v2),
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"AWSPREVIOUS", "blue"}, describe(t, c, "s").VersionIdsToStages[v2])
	_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("s"), VersionStage: aws.String("blue"), RemoveFromVersionId: aws.String(v2),
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"AWSPREVIOUS"}, describe(t, c, "s").VersionIdsToStages[v2])
}

func TestDeleteSecret(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()

	t.Run("default window", func(t *testing.T) {
		cr := create(t, c, "d30", "x")
		out, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("d30")})
		require.NoError(t, err)
		assert.Equal(t, aws.ToString(cr.ARN), aws.ToString(out.ARN))
		assert.Equal(t, "d30", aws.ToString(out.Name))
		require.NotNil(t, out.DeletionDate)
		assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), *out.DeletionDate, time.Minute)
	})
	t.Run("recovery window", func(t *testing.T) {
		create(t, c, "d7", "x")
		out, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
			SecretId:             aws.String("d7"),
			RecoveryWindowInDays: aws.Int64(7),
		})
		require.NoError(t, err)
		require.NotNil(t, out.DeletionDate)
		assert.WithinDuration(t, time.Now().Add(7*24*time.Hour), *out.DeletionDate, time.Minute)

		_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("d7")})
		var ire *types.InvalidRequestException
		require.ErrorAs(t, err, &ire)
		assert.Equal(t, msgMarkedDeletion, ire.ErrorMessage())
	})
	t.Run("force", func(t *testing.T) {
		cr := create(t, c, "force", "x")
		out, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
			SecretId:                   aws.String("force"),
			ForceDeleteWithoutRecovery: aws.Bool(true),
		})
		require.NoError(t, err)
		require.NotNil(t, out.DeletionDate)
		assert.WithinDuration(t, time.Now(), *out.DeletionDate, time.Minute)

		_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("force")})
		var rnf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &rnf)
		assert.Equal(t, msgNotFound, rnf.ErrorMessage())

		// The name is free again, with a new ARN.
		again := create(t, c, "force", "y")
		assert.NotEqual(t, aws.ToString(cr.ARN), aws.ToString(again.ARN))
	})
	t.Run("force after scheduling", func(t *testing.T) {
		create(t, c, "later", "x")
		_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("later")})
		require.NoError(t, err)
		_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
			SecretId: aws.String("later"), ForceDeleteWithoutRecovery: aws.Bool(true),
		})
		require.NoError(t, err)
		_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("later")})
		var rnf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &rnf)
	})
}

func TestRestoreSecret(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	cr := create(t, c, "s", "one")
	_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)

	out, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	assert.Equal(t, aws.ToString(cr.ARN), aws.ToString(out.ARN))
	assert.Equal(t, "s", aws.ToString(out.Name))

	d := describe(t, c, "s")
	assert.Nil(t, d.DeletedDate)
	assert.Equal(t, map[string][]string{aws.ToString(cr.VersionId): {"AWSCURRENT"}}, d.VersionIdsToStages)
	g, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	assert.Equal(t, "one", aws.ToString(g.SecretString))
}

func TestTagResource(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	cr := create(t, c, "s", "x")

	_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{
		SecretId: aws.String("s"),
		Tags: []types.Tag{
			{Key: aws.String("a"), Value: aws.String("1")},
			{Key: aws.String("b"), Value: aws.String("2")},
		},
	})
	require.NoError(t, err)
	// Tagging by ARN replaces a value and adds a key.
	_, err = c.TagResource(ctx, &secretsmanager.TagResourceInput{
		SecretId: cr.ARN,
		Tags: []types.Tag{
			{Key: aws.String("b"), Value: aws.String("two")},
			{Key: aws.String("c"), Value: aws.String("3")},
		},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "1", "b": "two", "c": "3"}, tagMap(describe(t, c, "s").Tags))
}

func TestUntagResource(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String("s"),
		SecretString: aws.String("x"),
		Tags: []types.Tag{
			{Key: aws.String("a"), Value: aws.String("1")},
			{Key: aws.String("b"), Value: aws.String("2")},
			{Key: aws.String("c"), Value: aws.String("3")},
		},
	})
	require.NoError(t, err)

	_, err = c.UntagResource(ctx, &secretsmanager.UntagResourceInput{
		SecretId: aws.String("s"),
		TagKeys:  []string{"a", "c", "absent"},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"b": "2"}, tagMap(describe(t, c, "s").Tags))
}

func TestGetRandomPassword(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()

	out, err := c.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{})
	require.NoError(t, err)
	assert.Len(t, aws.ToString(out.RandomPassword), 32, "default length")

	out, err = c.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{
		PasswordLength:     aws.Int64(40),
		ExcludePunctuation: aws.Bool(true),
		ExcludeCharacters:  aws.String("abc"),
	})
	require.NoError(t, err)
	pw := aws.ToString(out.RandomPassword)
	assert.Len(t, pw, 40)
	assert.Regexp(t, `^[A-Za-z0-9]+$`, pw)
	assert.NotContains(t, pw, "a")
	assert.NotContains(t, pw, "b")
	assert.NotContains(t, pw, "c")

	out, err = c.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{
		PasswordLength:     aws.Int64(20),
		ExcludeUppercase:   aws.Bool(true),
		ExcludeLowercase:   aws.Bool(true),
		ExcludePunctuation: aws.Bool(true),
	})
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9]{20}$`, aws.ToString(out.RandomPassword))
}

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	const lambda = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	rotator := func(ctx context.Context, store secretstore.Store, req secretstore.RotationRequest) error {
		switch req.Step {
		case secretstore.StepCreateSecret:
			_, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
				SecretId:           req.SecretId,
				ClientRequestToken: req.ClientRequestToken,
				SecretString:       secretstore.String("rotated"),
				VersionStages:      []string{secretstore.LabelPending},
			})
			return err
		case secretstore.StepFinishSecret:
			d, err := store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: req.SecretId})
			if err != nil {
				return err
			}
			for id, stages := range d.VersionIdsToStages {
				for _, s := range stages {
					if s == secretstore.LabelCurrent && id != req.ClientRequestToken {
						_, err := store.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
							SecretId:            req.SecretId,
							VersionStage:        secretstore.LabelCurrent,
							MoveToVersionId:     req.ClientRequestToken,
							RemoveFromVersionId: id,
						})
						return err
					}
				}
			}
			return fmt.Errorf("no AWSCURRENT version")
		}
		return nil
	}
	c := setup(t, awsapi.WithEngineOptions(secretstore.WithRotationFunc(lambda, rotator)))
	ctx := context.Background()
	v1 := aws.ToString(create(t, c, "s", "original").VersionId)

	out, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String("s"),
		RotationLambdaARN: aws.String(lambda),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	require.NoError(t, err)
	require.NotNil(t, out.VersionId)
	v2 := *out.VersionId
	assert.Equal(t, "s", aws.ToString(out.Name))

	g, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	assert.Equal(t, "rotated", aws.ToString(g.SecretString))
	assert.Equal(t, v2, aws.ToString(g.VersionId))

	d := describe(t, c, "s")
	assert.Equal(t, aws.Bool(true), d.RotationEnabled)
	assert.Equal(t, lambda, aws.ToString(d.RotationLambdaARN))
	require.NotNil(t, d.RotationRules)
	assert.Equal(t, int64(30), aws.ToInt64(d.RotationRules.AutomaticallyAfterDays))
	assert.NotNil(t, d.LastRotatedDate)
	assert.NotNil(t, d.NextRotationDate)
	assert.Equal(t, []string{"AWSPREVIOUS"}, d.VersionIdsToStages[v1])
	assert.Contains(t, d.VersionIdsToStages[v2], "AWSCURRENT")

	// An unregistered function: AccessDeniedException, which the SDK has no
	// modelled type for, so check the code.
	_, err = c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String("s"),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:unknown"),
	})
	var apiErr smithy.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "AccessDeniedException", apiErr.ErrorCode())
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ResourceNotFoundException", func(t *testing.T) {
		t.Parallel()
		c := setup(t)
		_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("missing")})
		var e *types.ResourceNotFoundException
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "ResourceNotFoundException", e.ErrorCode())
		assert.Equal(t, msgNotFound, e.ErrorMessage())
	})
	t.Run("ResourceExistsException", func(t *testing.T) {
		t.Parallel()
		c := setup(t)
		create(t, c, "dup", "x")
		_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("dup"), SecretString: aws.String("x")})
		var e *types.ResourceExistsException
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "The operation failed because the secret dup already exists.", e.ErrorMessage())
	})
	t.Run("InvalidRequestException", func(t *testing.T) {
		t.Parallel()
		c := setup(t)
		create(t, c, "del", "x")
		_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("del")})
		require.NoError(t, err)
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("del"), SecretString: aws.String("y")})
		var e *types.InvalidRequestException
		require.ErrorAs(t, err, &e)
		assert.Equal(t, msgMarkedDeletion, e.ErrorMessage())
	})
	t.Run("InvalidParameterException", func(t *testing.T) {
		t.Parallel()
		c := setup(t)
		create(t, c, "s", "x")
		_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(3)})
		var e *types.InvalidParameterException
		require.ErrorAs(t, err, &e)
		assert.Equal(t, msgRecoveryWindow, e.ErrorMessage())
	})
	t.Run("LimitExceededException", func(t *testing.T) {
		t.Parallel()
		c := setup(t, awsapi.WithEngineOptions(secretstore.WithMaxVersions(2)))
		create(t, c, "s", "one")
		put(t, c, "s", "two")
		// A third version would leave the first one unlabelled, but it is
		// too young to be pruned.
		_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("three")})
		var e *types.LimitExceededException
		require.ErrorAs(t, err, &e)
		assert.Equal(t, msgTooManyVersion, e.ErrorMessage())
	})
}

func TestBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}

	_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin})
	require.NoError(t, err)
	g, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	require.NoError(t, err)
	assert.True(t, bytes.Equal(bin, g.SecretBinary), "SecretBinary %x, want %x", g.SecretBinary, bin)
	assert.Nil(t, g.SecretString)

	rev := bytes.Clone(bin)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("bin"), SecretBinary: rev})
	require.NoError(t, err)
	b, err := c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"bin"}})
	require.NoError(t, err)
	require.Len(t, b.SecretValues, 1)
	assert.True(t, bytes.Equal(rev, b.SecretValues[0].SecretBinary))

	prev, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin"), VersionStage: aws.String("AWSPREVIOUS")})
	require.NoError(t, err)
	assert.True(t, bytes.Equal(bin, prev.SecretBinary))
}

func TestListSecretsPaginator(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("secret-%d", i)
		create(t, c, name, "x")
		want = append(want, name)
	}

	p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(2)})
	var got []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		pages++
		assert.LessOrEqual(t, len(out.SecretList), 2)
		for _, e := range out.SecretList {
			got = append(got, aws.ToString(e.Name))
		}
		require.Less(t, pages, 10, "paginator does not end")
	}
	assert.Equal(t, 3, pages)
	assert.ElementsMatch(t, want, got)
}

func TestListSecretVersionIdsPaginator(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	want := []string{aws.ToString(create(t, c, "s", "v0").VersionId)}
	for i := 1; i < 5; i++ {
		want = append(want, aws.ToString(put(t, c, "s", fmt.Sprintf("v%d", i)).VersionId))
	}

	p := secretsmanager.NewListSecretVersionIdsPaginator(c, &secretsmanager.ListSecretVersionIdsInput{
		SecretId:          aws.String("s"),
		IncludeDeprecated: aws.Bool(true),
		MaxResults:        aws.Int32(2),
	})
	var got []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		require.NoError(t, err)
		pages++
		assert.LessOrEqual(t, len(out.Versions), 2)
		for _, v := range out.Versions {
			got = append(got, aws.ToString(v.VersionId))
		}
		require.Less(t, pages, 10, "paginator does not end")
	}
	assert.Equal(t, 3, pages)
	assert.ElementsMatch(t, want, got)
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	create(t, c, "s", "zero")

	countVersions := func() int {
		out, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{
			SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true),
		})
		require.NoError(t, err)
		return len(out.Versions)
	}

	t.Run("explicit token replayed", func(t *testing.T) {
		tok := "11111111-1111-4111-8111-111111111111"
		in := &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("s"), SecretString: aws.String("one"), ClientRequestToken: aws.String(tok),
		}
		a, err := c.PutSecretValue(ctx, in)
		require.NoError(t, err)
		n := countVersions()
		b, err := c.PutSecretValue(ctx, in)
		require.NoError(t, err)
		assert.Equal(t, tok, aws.ToString(a.VersionId))
		assert.Equal(t, aws.ToString(a.VersionId), aws.ToString(b.VersionId))
		assert.Equal(t, n, countVersions(), "a replay adds no version")

		// Same token, different value.
		_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("s"), SecretString: aws.String("other"), ClientRequestToken: aws.String(tok),
		})
		var e *types.ResourceExistsException
		require.ErrorAs(t, err, &e)
		assert.True(t, strings.HasPrefix(e.ErrorMessage(), "You can't use ClientRequestToken "+tok), e.ErrorMessage())
	})
	t.Run("nil token gets a fresh UUID", func(t *testing.T) {
		n := countVersions()
		a := put(t, c, "s", "same")
		b := put(t, c, "s", "same")
		assert.Regexp(t, uuidRE, aws.ToString(a.VersionId))
		assert.Regexp(t, uuidRE, aws.ToString(b.VersionId))
		assert.NotEqual(t, aws.ToString(a.VersionId), aws.ToString(b.VersionId))
		assert.Equal(t, n+2, countVersions())
	})
}

func TestRegions(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	us := newClient(srv, "us-east-1")
	eu := newClient(srv, "eu-west-1")
	ctx := context.Background()

	usOut := create(t, us, "shared", "us-value")
	assert.Regexp(t, arnRE("us-east-1", "shared"), aws.ToString(usOut.ARN))

	_, err := eu.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("shared")})
	var rnf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &rnf, "eu-west-1 must not see a us-east-1 secret")
	_, err = eu.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: usOut.ARN})
	require.ErrorAs(t, err, &rnf, "eu-west-1 must not resolve a us-east-1 ARN")

	euOut := create(t, eu, "shared", "eu-value")
	assert.Regexp(t, arnRE("eu-west-1", "shared"), aws.ToString(euOut.ARN))

	for _, tc := range []struct {
		c    *secretsmanager.Client
		want string
		arn  string
	}{{us, "us-value", aws.ToString(usOut.ARN)}, {eu, "eu-value", aws.ToString(euOut.ARN)}} {
		g, err := tc.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("shared")})
		require.NoError(t, err)
		assert.Equal(t, tc.want, aws.ToString(g.SecretString))
		assert.Equal(t, tc.arn, aws.ToString(g.ARN))
		l, err := tc.c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
		require.NoError(t, err)
		require.Len(t, l.SecretList, 1)
		assert.Equal(t, tc.arn, aws.ToString(l.SecretList[0].ARN))
	}
}

// sigServer serves a handler that verifies SigV4 with one key pair.
func sigServer(t *testing.T) *httptest.Server {
	t.Helper()
	return newServer(t, awsapi.WithCredentials(map[string]string{"AKIDSIG": "sig-secret-key"}))
}

// sigClient returns a real SDK client for region that signs with akid and
// secret.
func sigClient(srv *httptest.Server, region, akid, secret string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:           region,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(akid, secret, ""),
		RetryMaxAttempts: 1,
	})
}

func TestSigV4SDKSigned(t *testing.T) {
	t.Parallel()
	srv := sigServer(t)
	ctx := context.Background()
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		c := sigClient(srv, region, "AKIDSIG", "sig-secret-key")
		out := create(t, c, "signed", "value with spaces  and\ttabs")
		assert.Regexp(t, arnRE(region, "signed"), aws.ToString(out.ARN))
		g, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("signed")})
		require.NoError(t, err)
		assert.Equal(t, "value with spaces  and\ttabs", aws.ToString(g.SecretString))
		p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)})
		for p.HasMorePages() {
			_, err := p.NextPage(ctx)
			require.NoError(t, err)
		}
	}
}

func TestSigV4SDKRejected(t *testing.T) {
	t.Parallel()
	srv := sigServer(t)
	ctx := context.Background()
	tests := []struct {
		name, akid, secret, code, message string
	}{
		{"wrong secret key", "AKIDSIG", "wrong-secret-key", "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{"unknown access key", "AKIDUNKNOWN", "sig-secret-key", "UnrecognizedClientException",
			"The security token included in the request is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := sigClient(srv, "us-east-1", tt.akid, tt.secret)
			_, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
			var ge *smithy.GenericAPIError
			require.ErrorAs(t, err, &ge)
			assert.Equal(t, tt.code, ge.ErrorCode())
			assert.Equal(t, tt.message, ge.ErrorMessage())
			assert.NotContains(t, err.Error(), tt.secret)
		})
	}

	// Nothing was written by the rejected client.
	_, err := sigClient(srv, "us-east-1", "AKIDSIG", "wrong-secret-key").CreateSecret(ctx,
		&secretsmanager.CreateSecretInput{Name: aws.String("nope"), SecretString: aws.String("x")})
	require.Error(t, err)
	l, err := sigClient(srv, "us-east-1", "AKIDSIG", "sig-secret-key").ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	require.NoError(t, err)
	assert.Empty(t, l.SecretList)
}
