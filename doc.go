// Package secretstore is an embeddable store of versioned secrets that
// behaves like AWS Secrets Manager: the same operations, the same staging
// labels, the same idempotency rules and the same errors, over storage you
// choose, with every value encrypted before it reaches that storage.
//
// A service or a test creates an engine over a backend and calls the
// Secrets Manager operations on it:
//
//	store, err := secretstore.New(membackend.New())
//	...
//	out, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
//		SecretId:     "db",
//		SecretString: secretstore.String(password),
//	})
//
// Code that depends on the [Store] interface can be handed an [Engine] in
// production and in tests alike. The request and response types carry the
// field names of the AWS API (and of aws-sdk-go-v2), so code moves between
// the SDK and this package with few changes.
//
// # Staging labels
//
// Each secret has versions; each version has an immutable value and a set of
// staging labels. A label is on at most one version of a secret at a time,
// and a secret carries at most 20 distinct labels. Three labels are
// reserved:
//
//   - AWSCURRENT marks the version GetSecretValue returns by default. Once a
//     secret has a value exactly one version holds it; it can be moved but
//     never removed.
//   - AWSPREVIOUS follows AWSCURRENT: whenever AWSCURRENT moves from version
//     W to another, AWSPREVIOUS moves to W.
//   - AWSPENDING marks the version a rotation is preparing. When a
//     PutSecretValue or UpdateSecret moves AWSCURRENT away from W, W also
//     loses AWSPENDING.
//
// [Engine.PutSecretValue] without VersionStages moves AWSCURRENT to the new
// version; with VersionStages it attaches exactly those labels (plus
// AWSCURRENT for a secret's first value) and leaves AWSCURRENT where it is
// unless it is named. [Engine.UpdateSecret] with a value always moves
// AWSCURRENT. [Engine.UpdateSecretVersionStage] moves one label; moving
// AWSCURRENT requires RemoveFromVersionId to name the version that holds it,
// and moves AWSPREVIOUS to that version, which is how a rotation is reverted.
// A version left without labels is deprecated: listings leave it out (unless
// asked) but GetSecretValue by VersionId still reads it until it is pruned.
//
// Where AWS's behaviour is not documented, the engine follows the choices
// recorded in the project's SPEC.md: custom labels on the version that loses
// AWSCURRENT stay on it; a request naming AWSPREVIOUS or AWSPENDING
// explicitly wins over the automatic moves; moving a label onto the version
// that already holds it succeeds without change.
//
// # Idempotency
//
// The ClientRequestToken of CreateSecret, PutSecretValue, UpdateSecret and
// RotateSecret becomes the new version's VersionId (32 to 64 characters).
// Repeating a call with a token that names an existing version succeeds and
// changes nothing if the value is the same (same kind, same bytes: plaintext
// is compared, not ciphertext), and fails with ResourceExistsException if it
// differs. A call without a token gets a fresh UUIDv4, as the AWS SDKs fill
// one in; [WithStrictTokens] makes it fail instead, as the raw API does.
//
// # Versions and pruning
//
// A secret keeps at most 100 versions ([WithMaxVersions]). A write that
// would exceed that removes the oldest versions that have no label and are
// at least 24 hours old ([WithPruneAge]); labelled and younger versions are
// never removed. If that does not make room, the write fails with
// LimitExceededException and changes nothing, which is AWS's warning against
// writing more often than every ten minutes or so made exact. Label-only
// calls and idempotent replays never fail on the quota.
//
// # Deletion
//
// [Engine.DeleteSecret] schedules deletion after a recovery window of 7 to 30
// days (30 by default). Meanwhile DescribeSecret still answers (with
// DeletedDate set to the date of deletion), RestoreSecret cancels the
// deletion, ListSecrets shows the secret only with IncludePlannedDeletion,
// and reads, writes and tag changes fail with InvalidRequestException. Once
// the window has passed, on the engine's clock, the secret is gone: every
// operation answers ResourceNotFoundException and the name can be used
// again, with a new ARN. The purge happens lazily, the next time the secret
// is touched. ForceDeleteWithoutRecovery deletes at once.
//
// # Encryption
//
// Every value is sealed with AES-256-GCM under a fresh random data key
// before it reaches the backend. The data key is wrapped by a
// key-encryption key that the secret's KmsKeyId selects, through the small
// [Keys] interface; the associated data binds the sealed value to the
// secret's ARN, the VersionId and the value's kind, so a sealed value copied
// to another secret or version fails to open (DecryptionFailure) instead of
// yielding a value. The sealed format is documented in crypto.go. Without
// [WithKeys] the engine uses [LocalKeys] under a random master key held in
// memory: right for tests and in-memory stores.
//
// A persistent store uses a [Keyring] ([OpenKeyring]): named keys with
// numbered versions, addressed as KmsKeyId addresses KMS keys (key ID,
// "alias/name" or ARN), stored in the backend itself and sealed under a
// master key from a file ([MasterKeyFromFile]), an environment variable
// ([MasterKeyFromEnv]) or a passphrase stretched with argon2id
// ([MasterKeyFromPassphrase]). [Keyring.RotateKey] starts a new key version
// for new values, [Engine.Rewrap] moves every existing data key to it
// without re-encrypting values, and [Keyring.RetireKeyVersion] then destroys
// the old version. To keep keys in a cloud KMS (AWS KMS, Google Cloud KMS,
// Azure Key Vault, Vault transit) instead, use the nested module
// github.com/secretstore/secretstore/keys/gocloudkeys.
//
// No value appears in an error message, and the request and response types
// that hold values print "[redacted]" in their place under every fmt verb
// and in log/slog.
//
// # Backends
//
// A backend stores metadata records (compare-and-swap on a revision) and
// immutable value blobs, and knows nothing of Secrets Manager: see package
// backend, and package backendtest for the conformance suite every backend
// should pass. Package membackend is the in-memory backend; package
// filebackend keeps a store in a directory, durable and shared safely by
// several processes. A secret is stored as one small record and, once it
// has many versions, immutable chunks of older version entries, so that a
// write does not grow with the number of versions. Records are
// stored in a versioned binary format (record.go): readers keep decoding
// every format version they have ever written, so a store written by one
// release opens with every later one.
//
// # Errors
//
// Every Secrets Manager condition is reported as an [*Error] whose Code is
// the AWS exception name and whose Message is AWS's text. Test for a
// condition with errors.Is and the sentinels ([ErrResourceNotFound],
// [ErrInvalidRequest], ...), or get the details with errors.As. Context
// cancellation is returned as the context's own error. A call that fails
// changes nothing.
//
// # Concurrency
//
// An Engine is safe for concurrent use. Writes to one secret are serialized
// within the engine; writes to different secrets, and all reads, run in
// parallel. Engines in other goroutines or processes that share the backend
// are kept consistent by the backend's compare-and-swap: a write that loses
// a race is retried from the start, so no acknowledged write is lost.
//
// # AWS compatibility
//
// Behaviour follows AWS Secrets Manager as recorded from the real service
// (see SPEC.md in the project). Differences an AWS user may notice: the
// deletion purge and ListSecrets are immediately consistent; rotation
// functions are Go functions registered with [WithRotationFunc] and run
// synchronously inside RotateSecret; replication, resource policies and
// OwningService are not modelled; timestamps keep nanoseconds.
package secretstore
