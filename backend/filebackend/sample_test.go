//go:build unix

package filebackend_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/backendtest"
	"github.com/secretstore/secretstore/backend/filebackend"
)

// fxUpdate regenerates the frozen sample store of the newest format
// version. Run it once per format version, never to make a test pass:
//
//	go test ./backend/filebackend/ -run TestSampleStoreV2 -update
var fxUpdate = flag.Bool("update", false, "regenerate testdata/store-v2, the frozen sample store of format version 2")

// fxSampleDirs are the frozen sample stores of on-disk format versions 1
// and 2, written once each by fxGenerateSample.
var fxSampleDirs = map[int]string{1: filepath.Join("testdata", "store-v1"), 2: filepath.Join("testdata", "store-v2")}

// The inputs that make the sample store reproducible, except for what is
// random by design (blob keys, revisions, data keys and nonces).
const (
	// fxSampleKeyHex is the sample store's master key (LocalKeys).
	fxSampleKeyHex = "3d9f2a6c81e47b05c2a8f1e6d7094b3a5e6f718293a4b5c6d7e8f90112233445"
	// fxSampleSeed seeds WithRand, which draws the ARN suffixes, for the
	// default region; fxSampleSeedEU for eu-west-1.
	fxSampleSeed   = "secretstore filebackend sample!!"
	fxSampleSeedEU = "secretstore filebackend sample-2"
)

// fxT0 is when the sample store's story starts.
var fxT0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// fxSampleID returns the n-th VersionId of the sample's ID generator.
func fxSampleID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// fxSampleBinary returns the 256 bytes 0, 1, ..., 255, or reversed.
func fxSampleBinary(reversed bool) []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
		if reversed {
			b[i] = byte(255 - i)
		}
	}
	return b
}

// fxSampleEngine returns an engine over b as the sample store is written and
// read: the sample master key, clock, ID generator (counting from *n) and
// random source for region.
func fxSampleEngine(t *testing.T, b *filebackend.Backend, clock secretstore.Clock, n *atomic.Int64, region string) *secretstore.Engine {
	t.Helper()
	master, err := hex.DecodeString(fxSampleKeyHex)
	require.NoError(t, err)
	keys, err := secretstore.NewLocalKeys(master)
	require.NoError(t, err)
	seed := fxSampleSeed
	if region != "us-east-1" {
		seed = fxSampleSeedEU
	}
	e, err := secretstore.New(b,
		secretstore.WithKeys(keys),
		secretstore.WithClock(clock),
		secretstore.WithRegion(region),
		secretstore.WithRand(rand.NewChaCha8([32]byte([]byte(seed)))),
		secretstore.WithIDGenerator(func() string { return fxSampleID(int(n.Add(1))) }),
	)
	require.NoError(t, err)
	return e
}

// fxGenerateSample writes the sample store of format version into dir,
// replacing it. What it writes is what TestSampleStoreV1 and
// TestSampleStoreV2 expect, spelled out there by hand.
func fxGenerateSample(t *testing.T, dir string, version int) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, os.RemoveAll(dir))
	b, err := filebackend.Open(dir, filebackend.WithFormatVersion(version))
	require.NoError(t, err)
	if version == 1 {
		defer func() { require.NoError(t, b.Close()) }()
	} else {
		// What follows the checkpoint below stays in the log, as after
		// a crash, so that the sample has both logs and files.
		defer func() { require.NoError(t, filebackend.CloseWithoutCheckpoint(b)) }()
	}
	clock := secretstore.NewFakeClock(fxT0)
	var ids atomic.Int64
	e := fxSampleEngine(t, b, clock, &ids, "us-east-1")
	at := func(d time.Duration) { clock.Set(fxT0.Add(d)) }
	must := func(_ any, err error) {
		t.Helper()
		require.NoError(t, err)
	}

	// prod/db/password: string values, AWSPREVIOUS, AWSPENDING, a custom
	// label, tags and a non-ASCII description.
	at(0)
	must(e.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "prod/db/password",
		ClientRequestToken: "11111111-aaaa-4aaa-8aaa-000000000001",
		SecretString:       secretstore.String(`{"username":"admin","password":"correct horse battery staple"}`),
		Description:        "Primary database credentials — ünïcödé ✓",
		Tags:               []secretstore.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "payments"}},
	}))
	at(1 * time.Hour)
	must(e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{ // fxSampleID(1)
		SecretId: "prod/db/password", SecretString: secretstore.String(`{"username":"admin","password":"Tr0ub4dor&3"}`),
	}))
	at(2 * time.Hour)
	must(e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{ // fxSampleID(2)
		SecretId: "prod/db/password", SecretString: secretstore.String(`{"username":"admin","password":"pending-rotation"}`),
		VersionStages: []string{secretstore.LabelPending},
	}))
	at(3 * time.Hour)
	must(e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
		SecretId: "prod/db/password", VersionStage: "BLUE", MoveToVersionId: "11111111-aaaa-4aaa-8aaa-000000000001",
	}))
	must(e.TagResource(ctx, &secretstore.TagResourceInput{
		SecretId: "prod/db/password", Tags: []secretstore.Tag{{Key: "cost-center", Value: "4711"}},
	}))

	// prod/tls/key: binary values under a named key.
	at(4 * time.Hour)
	must(e.CreateSecret(ctx, &secretstore.CreateSecretInput{ // fxSampleID(3)
		Name: "prod/tls/key", SecretBinary: fxSampleBinary(false), KmsKeyId: "alias/sample-tls",
		Description: "TLS private key (binary)",
	}))
	at(5 * time.Hour)
	must(e.UpdateSecret(ctx, &secretstore.UpdateSecretInput{ // fxSampleID(4)
		SecretId: "prod/tls/key", SecretBinary: fxSampleBinary(true),
		Description: secretstore.String("TLS private key, rotated"),
	}))

	// old/api-token: scheduled for deletion.
	at(6 * time.Hour)
	must(e.CreateSecret(ctx, &secretstore.CreateSecretInput{ // fxSampleID(5)
		Name: "old/api-token", SecretString: secretstore.String("tok_3f9a7c2e"), Description: "Deprecated API token",
		Tags: []secretstore.Tag{{Key: "owner", Value: ""}},
	}))
	at(7 * time.Hour)
	must(e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "old/api-token", RecoveryWindowInDays: secretstore.Int64(7)}))

	// app/config/many: 40 versions, so that older entries live in chunks
	// (16 entries each) and only the newest in the head; custom labels on
	// versions in chunks; two versions read, which records their access
	// day and moves one entry from a chunk to the head.
	at(8 * time.Hour)
	must(e.CreateSecret(ctx, &secretstore.CreateSecretInput{ // fxSampleID(6)
		Name: "app/config/many", SecretString: secretstore.String("many-01"),
	}))
	for i := 2; i <= 40; i++ { // fxSampleID(5+i)
		at(8*time.Hour + time.Duration(i-1)*time.Minute)
		must(e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
			SecretId: "app/config/many", SecretString: secretstore.String(fmt.Sprintf("many-%02d", i)),
		}))
		switch i {
		case 5:
			must(e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: "app/config/many", VersionStage: "MILESTONE-A", MoveToVersionId: fxSampleID(10),
			}))
		case 20:
			must(e.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
				SecretId: "app/config/many", VersionStage: "MILESTONE-B", MoveToVersionId: fxSampleID(25),
			}))
		}
	}
	at(9 * time.Hour)
	must(e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "app/config/many", VersionId: fxSampleID(8)}))
	must(e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "app/config/many"}))

	// empty/no-value: a secret without any version.
	must(e.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name: "empty/no-value", Description: "Created without a value",
		Tags: []secretstore.Tag{{Key: "owner", Value: ""}},
	}))

	// gone/forced: deleted at once; nothing of it may remain.
	at(10 * time.Hour)
	must(e.CreateSecret(ctx, &secretstore.CreateSecretInput{ // fxSampleID(46)
		Name: "gone/forced", SecretString: secretstore.String("forgotten"),
	}))
	must(e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "gone/forced", ForceDeleteWithoutRecovery: true}))

	// restored/secret: deleted, then restored.
	at(11 * time.Hour)
	must(e.CreateSecret(ctx, &secretstore.CreateSecretInput{ // fxSampleID(47)
		Name: "restored/secret", SecretString: secretstore.String("restored-value"),
	}))
	must(e.DeleteSecret(ctx, &secretstore.DeleteSecretInput{SecretId: "restored/secret"}))
	at(12 * time.Hour)
	must(e.RestoreSecret(ctx, &secretstore.RestoreSecretInput{SecretId: "restored/secret"}))

	if version == 2 {
		require.NoError(t, filebackend.Checkpoint(b))
	}

	// prod/db/password again, in another region.
	at(13 * time.Hour)
	eu := fxSampleEngine(t, b, clock, &ids, "eu-west-1")
	must(eu.CreateSecret(ctx, &secretstore.CreateSecretInput{ // fxSampleID(48)
		Name: "prod/db/password", SecretString: secretstore.String(`{"region":"eu-west-1"}`),
	}))
	if version == 2 {
		t.Cleanup(func() { fxTrimLogs(t, dir) })
	}
	t.Logf("wrote the sample store in %s: commit every file under it", dir)
}

// fxTrimLogs cuts the zeros that fill the logs under dir ahead of their
// end down to 4 KiB (a log may end anywhere after its entries), so that
// the sample's log is not a megabyte of zeros.
func fxTrimLogs(t *testing.T, dir string) {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "wal", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	for _, path := range logs {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		end := len(bytes.TrimRight(data, "\x00"))
		require.NoError(t, os.Truncate(path, int64(min(len(data), end+4096))))
	}
}

// fxCopyTree copies the regular files under src into a new temporary
// directory, as a git checkout would: files with mode 0644, directories
// created only to hold files, so that empty directories (tmp/) are not
// copied. It returns the copy.
func fxCopyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	n := 0
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		n++
		return out.Close()
	})
	require.NoError(t, err, "copying %s (the sample of the newest format version is written by: go test ./backend/filebackend/ -run TestSampleStoreV2 -update)", src)
	require.NotZero(t, n, "%s holds no file (generate it with -update)", src)
	return dst
}

// fxSampleVersion is what TestSampleStoreV1 expects of one version.
type fxSampleVersion struct {
	ID           string
	String       string // the value, if a string
	Binary       []byte // the value, if binary
	Stages       []string
	Created      time.Time
	LastAccessed time.Time
}

// fxSampleSecret is what TestSampleStoreV1 expects of one secret.
type fxSampleSecret struct {
	Name, ARN, Description, KmsKeyID string
	Tags                             []secretstore.Tag
	Created, LastChanged             time.Time
	LastAccessed, Deleted            time.Time
	// Versions, oldest first.
	Versions []fxSampleVersion
}

// fxSampleExpectations returns the content of the sample store, written out
// by hand: the compatibility promise for format version 1. Changing any of
// it breaks every store written by an earlier version of the package.
func fxSampleExpectations() (usEast1 []fxSampleSecret, euWest1 fxSampleSecret) {
	h := func(d time.Duration) time.Time { return fxT0.Add(d) }
	day0 := time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC) // access dates are days

	many := fxSampleSecret{
		Name:        "app/config/many",
		ARN:         "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/config/many-e3T4v1",
		Created:     h(8 * time.Hour),
		LastChanged: h(8*time.Hour + 39*time.Minute),
		// Reading a version records the day it was read.
		LastAccessed: day0,
	}
	for i := 1; i <= 40; i++ {
		v := fxSampleVersion{
			ID:      fxSampleID(5 + i),
			String:  fmt.Sprintf("many-%02d", i),
			Created: h(8*time.Hour + time.Duration(i-1)*time.Minute),
		}
		switch i {
		case 3, 40:
			v.LastAccessed = day0
		}
		switch i {
		case 5:
			v.Stages = []string{"MILESTONE-A"}
		case 20:
			v.Stages = []string{"MILESTONE-B"}
		case 39:
			v.Stages = []string{secretstore.LabelPrevious}
		case 40:
			v.Stages = []string{secretstore.LabelCurrent}
		}
		many.Versions = append(many.Versions, v)
	}

	usEast1 = []fxSampleSecret{
		{
			Name:        "prod/db/password",
			ARN:         "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db/password-oo3Jbo",
			Description: "Primary database credentials — ünïcödé ✓",
			Tags: []secretstore.Tag{
				{Key: "env", Value: "prod"}, {Key: "team", Value: "payments"}, {Key: "cost-center", Value: "4711"},
			},
			Created:     h(0),
			LastChanged: h(3 * time.Hour),
			Versions: []fxSampleVersion{
				{
					ID:      "11111111-aaaa-4aaa-8aaa-000000000001",
					String:  `{"username":"admin","password":"correct horse battery staple"}`,
					Stages:  []string{secretstore.LabelPrevious, "BLUE"},
					Created: h(0),
				},
				{
					ID:      fxSampleID(1),
					String:  `{"username":"admin","password":"Tr0ub4dor&3"}`,
					Stages:  []string{secretstore.LabelCurrent},
					Created: h(1 * time.Hour),
				},
				{
					ID:      fxSampleID(2),
					String:  `{"username":"admin","password":"pending-rotation"}`,
					Stages:  []string{secretstore.LabelPending},
					Created: h(2 * time.Hour),
				},
			},
		},
		{
			Name:        "prod/tls/key",
			ARN:         "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/tls/key-64ZG0e",
			Description: "TLS private key, rotated",
			KmsKeyID:    "alias/sample-tls",
			Created:     h(4 * time.Hour),
			LastChanged: h(5 * time.Hour),
			Versions: []fxSampleVersion{
				{ID: fxSampleID(3), Binary: fxSampleBinary(false), Stages: []string{secretstore.LabelPrevious}, Created: h(4 * time.Hour)},
				{ID: fxSampleID(4), Binary: fxSampleBinary(true), Stages: []string{secretstore.LabelCurrent}, Created: h(5 * time.Hour)},
			},
		},
		{
			Name:        "old/api-token",
			ARN:         "arn:aws:secretsmanager:us-east-1:123456789012:secret:old/api-token-6ZWyQ7",
			Description: "Deprecated API token",
			Tags:        []secretstore.Tag{{Key: "owner", Value: ""}},
			Created:     h(6 * time.Hour),
			LastChanged: h(7 * time.Hour),
			Deleted:     h(7*time.Hour + 7*24*time.Hour),
			Versions: []fxSampleVersion{
				{ID: fxSampleID(5), String: "tok_3f9a7c2e", Stages: []string{secretstore.LabelCurrent}, Created: h(6 * time.Hour)},
			},
		},
		many,
		{
			Name:        "empty/no-value",
			ARN:         "arn:aws:secretsmanager:us-east-1:123456789012:secret:empty/no-value-2fnPwg",
			Description: "Created without a value",
			Tags:        []secretstore.Tag{{Key: "owner", Value: ""}},
			Created:     h(9 * time.Hour),
			LastChanged: h(9 * time.Hour),
		},
		{
			Name:        "restored/secret",
			ARN:         "arn:aws:secretsmanager:us-east-1:123456789012:secret:restored/secret-Cl9bOz",
			Created:     h(11 * time.Hour),
			LastChanged: h(12 * time.Hour),
			Versions: []fxSampleVersion{
				{ID: fxSampleID(47), String: "restored-value", Stages: []string{secretstore.LabelCurrent}, Created: h(11 * time.Hour)},
			},
		},
	}
	euWest1 = fxSampleSecret{
		Name:        "prod/db/password",
		ARN:         "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db/password-dF0IFi",
		Created:     h(13 * time.Hour),
		LastChanged: h(13 * time.Hour),
		Versions: []fxSampleVersion{
			{ID: fxSampleID(48), String: `{"region":"eu-west-1"}`, Stages: []string{secretstore.LabelCurrent}, Created: h(13 * time.Hour)},
		},
	}
	return usEast1, euWest1
}

// TestSampleStoreV1 opens a copy of the frozen sample store of format
// version 1 and checks every secret, version, value, label, description,
// tag and date in it against expectations written out by hand. It is the
// compatibility promise of the package doc: a later version of the package
// must still read (and write) this store. fxGenerateSample wrote it with
// version 1, once; only the sample of the newest version is ever written
// again (-update), which only a new format version justifies.
func TestSampleStoreV1(t *testing.T) {
	t.Parallel()
	fxCheckSampleStore(t, 1)
}

// TestSampleStoreV2 is TestSampleStoreV1 for the frozen sample store of
// format version 2, whose newest changes are in its log, as a crash leaves
// them, and the others in record and blob files.
func TestSampleStoreV2(t *testing.T) {
	t.Parallel()
	if *fxUpdate {
		fxGenerateSample(t, fxSampleDirs[2], 2)
	}
	fxCheckSampleStore(t, 2)
}

// fxCheckSampleStore checks a copy of the frozen sample store of format
// version v.
func fxCheckSampleStore(t *testing.T, v int) {
	ctx := t.Context()
	dir := fxCopyTree(t, fxSampleDirs[v])
	b, err := filebackend.Open(dir)
	require.NoError(t, err, "opening a checkout of the sample store")
	defer func() { assert.NoError(t, b.Close()) }()
	// Two days in: before the scheduled deletion (7 days) is due.
	clock := secretstore.NewFakeClock(fxT0.Add(48 * time.Hour))
	var ids atomic.Int64
	ids.Store(1000)
	e := fxSampleEngine(t, b, clock, &ids, "us-east-1")
	eu := fxSampleEngine(t, b, clock, &ids, "eu-west-1")
	usEast1, euWest1 := fxSampleExpectations()

	// Metadata first: reading values changes access dates.
	list, err := e.ListSecrets(ctx, &secretstore.ListSecretsInput{IncludePlannedDeletion: true})
	require.NoError(t, err)
	var names []string
	for _, s := range list.SecretList {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"prod/db/password", "prod/tls/key", "old/api-token", "app/config/many", "empty/no-value", "restored/secret"},
		names, "ListSecrets(IncludePlannedDeletion), by creation date")
	for _, want := range usEast1 {
		fxCheckSampleMetadata(t, e, want)
	}
	fxCheckSampleMetadata(t, eu, euWest1)
	for _, id := range []string{"gone/forced", "never/existed"} {
		_, err = e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: id})
		assert.ErrorIs(t, err, secretstore.ErrResourceNotFound, "DescribeSecret(%s)", id)
	}

	// Values.
	for _, want := range append(slices.Clone(usEast1), euWest1) {
		eng := e
		if want.ARN == euWest1.ARN {
			eng = eu
		}
		fxCheckSampleValues(t, eng, want)
	}

	// The store is as usable as a new one: the scheduled secret can be
	// restored and read, a new version written, and Sweep finds no orphan.
	_, err = e.RestoreSecret(ctx, &secretstore.RestoreSecretInput{SecretId: "old/api-token"})
	require.NoError(t, err)
	got, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "old/api-token"})
	require.NoError(t, err)
	assert.Equal(t, "tok_3f9a7c2e", got.SecretString)
	put, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId: "app/config/many", SecretString: secretstore.String("many-41"),
	})
	require.NoError(t, err)
	got, err = e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "app/config/many"})
	require.NoError(t, err)
	assert.Equal(t, put.VersionId, got.VersionId)
	assert.Equal(t, "many-41", got.SecretString)
	n, err := e.Sweep(ctx, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "Sweep deleted blobs of the sample store")
	for _, want := range usEast1 {
		if want.Name != "app/config/many" && want.Name != "old/api-token" {
			fxCheckSampleValues(t, e, want)
		}
	}
}

// fxCheckSampleMetadata checks what DescribeSecret and ListSecretVersionIds
// report of a sample secret.
func fxCheckSampleMetadata(t *testing.T, e *secretstore.Engine, want fxSampleSecret) {
	t.Helper()
	ctx := t.Context()
	d, err := e.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: want.Name})
	if !assert.NoError(t, err, "DescribeSecret(%s)", want.Name) {
		return
	}
	assert.Equal(t, want.ARN, d.ARN, "%s: ARN", want.Name)
	assert.Equal(t, want.Name, d.Name, "%s: Name", want.Name)
	assert.Equal(t, want.Description, d.Description, "%s: Description", want.Name)
	assert.Equal(t, want.KmsKeyID, d.KmsKeyId, "%s: KmsKeyId", want.Name)
	assert.Equal(t, want.Tags, d.Tags, "%s: Tags", want.Name)
	assert.True(t, want.Created.Equal(d.CreatedDate), "%s: CreatedDate %v, want %v", want.Name, d.CreatedDate, want.Created)
	assert.True(t, want.LastChanged.Equal(d.LastChangedDate), "%s: LastChangedDate %v, want %v", want.Name, d.LastChangedDate, want.LastChanged)
	assert.True(t, want.LastAccessed.Equal(d.LastAccessedDate), "%s: LastAccessedDate %v, want %v", want.Name, d.LastAccessedDate, want.LastAccessed)
	assert.True(t, want.Deleted.Equal(d.DeletedDate), "%s: DeletedDate %v, want %v", want.Name, d.DeletedDate, want.Deleted)
	assert.False(t, d.RotationEnabled || d.RotationConfigured, "%s: rotation", want.Name)

	wantStages := map[string][]string{}
	for _, v := range want.Versions {
		if v.Stages != nil {
			wantStages[v.ID] = v.Stages
		}
	}
	if len(wantStages) == 0 {
		wantStages = nil
	}
	assert.Equal(t, wantStages, d.VersionIdsToStages, "%s: VersionIdsToStages", want.Name)

	versions, err := backendtest.ListVersions(ctx, e, want.Name, true)
	if !assert.NoError(t, err) {
		return
	}
	if !assert.Len(t, versions, len(want.Versions), "%s: ListSecretVersionIds(IncludeDeprecated)", want.Name) {
		return
	}
	for i, v := range versions {
		w := want.Versions[i]
		assert.Equal(t, w.ID, v.VersionId, "%s: version %d", want.Name, i)
		assert.Equal(t, w.Stages, v.VersionStages, "%s: version %s: VersionStages", want.Name, w.ID)
		assert.True(t, w.Created.Equal(v.CreatedDate), "%s: version %s: CreatedDate %v, want %v", want.Name, w.ID, v.CreatedDate, w.Created)
		assert.True(t, w.LastAccessed.Equal(v.LastAccessedDate), "%s: version %s: LastAccessedDate %v, want %v", want.Name, w.ID, v.LastAccessedDate, w.LastAccessed)
		wantKey := want.KmsKeyID
		if wantKey == "" {
			wantKey = secretstore.DefaultKeyID
		}
		assert.Equal(t, []string{wantKey}, v.KmsKeyIds, "%s: version %s: KmsKeyIds", want.Name, w.ID)
	}
}

// fxCheckSampleValues reads every version of a sample secret by VersionId
// and by each of its labels.
func fxCheckSampleValues(t *testing.T, e *secretstore.Engine, want fxSampleSecret) {
	t.Helper()
	ctx := t.Context()
	check := func(in *secretstore.GetSecretValueInput, w fxSampleVersion) {
		t.Helper()
		got, err := e.GetSecretValue(ctx, in)
		if !want.Deleted.IsZero() {
			assert.ErrorIs(t, err, secretstore.ErrInvalidRequest, "GetSecretValue(%+v) of a secret scheduled for deletion", *in)
			return
		}
		if !assert.NoError(t, err, "GetSecretValue(%+v)", *in) {
			return
		}
		assert.Equal(t, want.ARN, got.ARN)
		assert.Equal(t, w.ID, got.VersionId, "GetSecretValue(%+v)", *in)
		assert.Equal(t, w.String, got.SecretString, "GetSecretValue(%+v): SecretString", *in)
		assert.True(t, bytes.Equal(w.Binary, got.SecretBinary) && (w.Binary == nil) == (got.SecretBinary == nil),
			"GetSecretValue(%+v): SecretBinary %x, want %x", *in, got.SecretBinary, w.Binary)
		assert.Equal(t, w.Stages, got.VersionStages, "GetSecretValue(%+v): VersionStages", *in)
		assert.True(t, w.Created.Equal(got.CreatedDate), "GetSecretValue(%+v): CreatedDate %v, want %v", *in, got.CreatedDate, w.Created)
	}
	for _, v := range want.Versions {
		check(&secretstore.GetSecretValueInput{SecretId: want.Name, VersionId: v.ID}, v)
		for _, l := range v.Stages {
			check(&secretstore.GetSecretValueInput{SecretId: want.Name, VersionStage: l}, v)
		}
	}
	if len(want.Versions) == 0 {
		_, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: want.Name})
		assert.ErrorIs(t, err, secretstore.ErrResourceNotFound, "GetSecretValue(%s) of a secret without a value", want.Name)
	}
}
