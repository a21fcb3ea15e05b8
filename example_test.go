package secretstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/membackend"
)

// Explicit ClientRequestTokens (32 to 64 characters) make the VersionIds in
// these examples predictable; real callers usually pass a fresh UUID, or none
// at all and let the engine generate one.
const (
	exTokenV1 = "11111111-1111-4111-8111-111111111111"
	exTokenV2 = "22222222-2222-4222-8222-222222222222"
	exTokenV3 = "33333333-3333-4333-8333-333333333333"
)

// exEpoch is the fake clock's starting time.
var exEpoch = time.Date(2025, time.January, 2, 15, 4, 5, 0, time.UTC)

// exStages formats a version's labels sorted, for deterministic output.
func exStages(labels []string) string {
	s := slices.Clone(labels)
	slices.Sort(s)
	return "[" + strings.Join(s, " ") + "]"
}

// exPrintVersions prints each labelled version of a secret and its labels,
// sorted by VersionId.
func exPrintVersions(ctx context.Context, store secretstore.Store, id string) {
	d, err := store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: id})
	if err != nil {
		log.Fatal(err)
	}
	ids := make([]string, 0, len(d.VersionIdsToStages))
	for v := range d.VersionIdsToStages {
		ids = append(ids, v)
	}
	slices.Sort(ids)
	for _, v := range ids {
		fmt.Printf("  %s %s\n", v[:8], exStages(d.VersionIdsToStages[v]))
	}
}

func Example() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}

	// Create a secret with a first value: that version gets AWSCURRENT.
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "prod/db/password",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String("hunter2"),
	}); err != nil {
		log.Fatal(err)
	}

	// Put a new value: it becomes AWSCURRENT.
	if _, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId:           "prod/db/password",
		ClientRequestToken: exTokenV2,
		SecretString:       secretstore.String("correct horse battery staple"),
	}); err != nil {
		log.Fatal(err)
	}

	// Read the current value.
	got, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "prod/db/password"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Name, got.SecretString)
	fmt.Println(got.VersionId == exTokenV2, exStages(got.VersionStages))
	// Output:
	// prod/db/password correct horse battery staple
	// true [AWSCURRENT]
}

func ExampleEngine_CreateSecret() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}

	out, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "prod/api/key",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String(`{"key":"demo"}`),
		Description:        "API key of the billing service",
		Tags:               []secretstore.Tag{{Key: "team", Value: "billing"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// The token became the first version's VersionId.
	fmt.Println(out.Name, out.VersionId == exTokenV1)
	fmt.Println(strings.HasPrefix(out.ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api/key-"))

	d, err := store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: out.ARN})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Description, d.Tags, d.CreatedDate.Format(time.RFC3339))
	exPrintVersions(ctx, store, out.Name)
	// Output:
	// prod/api/key true
	// true
	// API key of the billing service [{team billing}] 2025-01-02T15:04:05Z
	//   11111111 [AWSCURRENT]
}

func ExampleEngine_PutSecretValue() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "app/token",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String("first"),
	}); err != nil {
		log.Fatal(err)
	}

	// Without VersionStages the new version takes AWSCURRENT, and the
	// version that held it becomes AWSPREVIOUS.
	for _, p := range []struct{ token, value string }{{exTokenV2, "second"}, {exTokenV3, "third"}} {
		out, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
			SecretId:           "app/token",
			ClientRequestToken: p.token,
			SecretString:       secretstore.String(p.value),
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("put", out.VersionId[:8], exStages(out.VersionStages))
		exPrintVersions(ctx, store, "app/token")
	}
	// Output:
	// put 22222222 [AWSCURRENT]
	//   11111111 [AWSPREVIOUS]
	//   22222222 [AWSCURRENT]
	// put 33333333 [AWSCURRENT]
	//   22222222 [AWSPREVIOUS]
	//   33333333 [AWSCURRENT]
}

func ExampleEngine_PutSecretValue_versionStages() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "app/token",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String("live"),
	}); err != nil {
		log.Fatal(err)
	}

	// Stage a value under AWSPENDING: AWSCURRENT does not move.
	out, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId:           "app/token",
		ClientRequestToken: exTokenV2,
		SecretString:       secretstore.String("next"),
		VersionStages:      []string{secretstore.LabelPending},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("put", out.VersionId[:8], exStages(out.VersionStages))

	cur, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "app/token"})
	if err != nil {
		log.Fatal(err)
	}
	pending, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{
		SecretId:     "app/token",
		VersionStage: secretstore.LabelPending,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("current:", cur.SecretString)
	fmt.Println("pending:", pending.SecretString)
	exPrintVersions(ctx, store, "app/token")
	// Output:
	// put 22222222 [AWSPENDING]
	// current: live
	// pending: next
	//   11111111 [AWSCURRENT]
	//   22222222 [AWSPENDING]
}

func ExampleEngine_UpdateSecret() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "app/config",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String(`{"debug":false}`),
		Description:        "old description",
	}); err != nil {
		log.Fatal(err)
	}

	// A metadata-only update creates no version, so VersionId is empty.
	out, err := store.UpdateSecret(ctx, &secretstore.UpdateSecretInput{
		SecretId:    "app/config",
		Description: secretstore.String("service configuration"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("metadata update: VersionId=%q\n", out.VersionId)

	// An update with a value creates a version that takes AWSCURRENT.
	out, err = store.UpdateSecret(ctx, &secretstore.UpdateSecretInput{
		SecretId:           "app/config",
		ClientRequestToken: exTokenV2,
		SecretString:       secretstore.String(`{"debug":true}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("value update:", out.VersionId[:8])

	d, err := store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "app/config"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Description)
	exPrintVersions(ctx, store, "app/config")
	// Output:
	// metadata update: VersionId=""
	// value update: 22222222
	// service configuration
	//   11111111 [AWSPREVIOUS]
	//   22222222 [AWSCURRENT]
}

func ExampleEngine_GetSecretValue_byStage() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "app/token",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String("old"),
	}); err != nil {
		log.Fatal(err)
	}
	if _, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId:           "app/token",
		ClientRequestToken: exTokenV2,
		SecretString:       secretstore.String("new"),
	}); err != nil {
		log.Fatal(err)
	}

	// With neither VersionStage nor VersionId, GetSecretValue reads AWSCURRENT.
	for _, stage := range []string{"", secretstore.LabelCurrent, secretstore.LabelPrevious} {
		got, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{
			SecretId:     "app/token",
			VersionStage: stage,
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-13q -> %s %s %s\n", stage, got.SecretString, got.VersionId[:8], exStages(got.VersionStages))
	}

	// A label that no version holds is not found.
	_, err = store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{
		SecretId:     "app/token",
		VersionStage: secretstore.LabelPending,
	})
	fmt.Println(errors.Is(err, secretstore.ErrResourceNotFound))
	// Output:
	// ""            -> new 22222222 [AWSCURRENT]
	// "AWSCURRENT"  -> new 22222222 [AWSCURRENT]
	// "AWSPREVIOUS" -> old 11111111 [AWSPREVIOUS]
	// true
}

func ExampleEngine_UpdateSecretVersionStage() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "app/token",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String("good"),
	}); err != nil {
		log.Fatal(err)
	}
	if _, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId:           "app/token",
		ClientRequestToken: exTokenV2,
		SecretString:       secretstore.String("bad"),
	}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("before:")
	exPrintVersions(ctx, store, "app/token")

	// Revert to the previous value: move AWSCURRENT back to it. The version
	// AWSCURRENT leaves becomes AWSPREVIOUS.
	if _, err := store.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
		SecretId:            "app/token",
		VersionStage:        secretstore.LabelCurrent,
		MoveToVersionId:     exTokenV1,
		RemoveFromVersionId: exTokenV2,
	}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after:")
	exPrintVersions(ctx, store, "app/token")

	got, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "app/token"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("current:", got.SecretString)
	// Output:
	// before:
	//   11111111 [AWSPREVIOUS]
	//   22222222 [AWSCURRENT]
	// after:
	//   11111111 [AWSCURRENT]
	//   22222222 [AWSPREVIOUS]
	// current: good
}

func ExampleEngine_PutSecretValue_idempotentRetry() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "app/token",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String("v1"),
	}); err != nil {
		log.Fatal(err)
	}

	put := func(value string) (*secretstore.PutSecretValueOutput, error) {
		return store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
			SecretId:           "app/token",
			ClientRequestToken: exTokenV2,
			SecretString:       secretstore.String(value),
		})
	}
	// A retry with the same token and the same value, as after a timeout,
	// succeeds and changes nothing.
	first, err := put("v2")
	if err != nil {
		log.Fatal(err)
	}
	retry, err := put("v2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same VersionId:", first.VersionId == retry.VersionId)

	list, err := store.ListSecretVersionIds(ctx, &secretstore.ListSecretVersionIdsInput{SecretId: "app/token"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("versions:", len(list.Versions))

	// The same token with a different value is a conflict.
	_, err = put("something else")
	fmt.Println(secretstore.ErrorCode(err), errors.Is(err, secretstore.ErrResourceExists))
	// Output:
	// same VersionId: true
	// versions: 2
	// ResourceExistsException true
}

func Example_errors() {
	ctx := context.Background()
	store, err := secretstore.New(membackend.New(),
		secretstore.WithClock(secretstore.NewFakeClock(exEpoch)))
	if err != nil {
		log.Fatal(err)
	}

	_, err = store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "no/such/secret"})

	// Compare with the sentinels, never with strings.
	if errors.Is(err, secretstore.ErrResourceNotFound) {
		fmt.Println("not found")
	}
	// The *Error carries the AWS exception name and message, and where the
	// error happened.
	var e *secretstore.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code)
		fmt.Println(e.Message)
		fmt.Println(e.Op, e.Secret)
	}
	// Output:
	// not found
	// ResourceNotFoundException
	// Secrets Manager can't find the specified secret.
	// GetSecretValue no/such/secret
}

func ExampleFakeClock() {
	ctx := context.Background()
	clock := secretstore.NewFakeClock(exEpoch)
	store, err := secretstore.New(membackend.New(), secretstore.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:               "old/secret",
		ClientRequestToken: exTokenV1,
		SecretString:       secretstore.String("retired"),
	}); err != nil {
		log.Fatal(err)
	}

	// Schedule the secret for deletion in 7 days.
	del, err := store.DeleteSecret(ctx, &secretstore.DeleteSecretInput{
		SecretId:             "old/secret",
		RecoveryWindowInDays: secretstore.Int64(7),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deletion date:", del.DeletionDate.Format(time.RFC3339))

	// During the recovery window the secret can be described (and restored)
	// but not read.
	_, err = store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "old/secret"})
	fmt.Println("get:", secretstore.ErrorCode(err))
	d, err := store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "old/secret"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted date:", d.DeletedDate.Format(time.RFC3339))

	// Once the window has passed, the secret is gone.
	clock.Advance(7*24*time.Hour + time.Second)
	_, err = store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: "old/secret"})
	fmt.Println("describe:", secretstore.ErrorCode(err))
	// Output:
	// deletion date: 2025-01-09T15:04:05Z
	// get: InvalidRequestException
	// deleted date: 2025-01-09T15:04:05Z
	// describe: ResourceNotFoundException
}

// ExampleOpenKeyring keeps the keys of a store in the store itself, sealed
// under a passphrase, rotates a key and moves every value to the new key
// version.
func ExampleOpenKeyring() {
	ctx := context.Background()
	b := membackend.New() // or filebackend.Open(dir): the keyring is stored there too
	defer b.Close()

	// Real stores use secretstore.DefaultArgon2Params (or a key file, see
	// MasterKeyFromFile); these cheap parameters keep the example fast.
	master, err := secretstore.MasterKeyFromPassphrase([]byte("correct horse battery staple"),
		secretstore.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	keyring, err := secretstore.OpenKeyring(ctx, b, master)
	master.Clear()
	if err != nil {
		log.Fatal(err) // a wrong passphrase fails here, with ErrWrongMasterKey
	}
	defer keyring.Close()
	store, err := secretstore.New(b, secretstore.WithKeys(keyring))
	if err != nil {
		log.Fatal(err)
	}

	if _, err := keyring.CreateKey(ctx, "alias/payments", "keys of the payments service"); err != nil {
		log.Fatal(err)
	}
	_, err = store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name: "payments/api-key", KmsKeyId: "alias/payments", SecretString: secretstore.String("pk_live_51H"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// Rotate: new values use version 2 at once; Rewrap moves the old ones.
	if _, err := keyring.RotateKey(ctx, "alias/payments"); err != nil {
		log.Fatal(err)
	}
	err = keyring.RetireKeyVersion(ctx, "alias/payments", 1)
	fmt.Println("retire before Rewrap refused:", errors.Is(err, secretstore.ErrKeyVersionInUse))
	p, err := store.Rewrap(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("rewrapped %d of %d values\n", p.Rewrapped, p.Versions)
	if err := keyring.RetireKeyVersion(ctx, "alias/payments", 1); err != nil {
		log.Fatal(err)
	}
	out, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "payments/api-key"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("value still reads:", out.SecretString == "pk_live_51H")
	// Output:
	// retire before Rewrap refused: true
	// rewrapped 1 of 1 values
	// value still reads: true
}
