// Command quickstart is a tour of secretstore: it creates a secret in a
// store kept in files, rotates its value through the AWSPENDING,
// AWSCURRENT and AWSPREVIOUS staging labels, retries a write with the same
// ClientRequestToken, and handles a typed error.
//
// Run it from the repository root:
//
//	go run ./examples/quickstart
//
// The store lives in the directory named by the -dir flag, else by
// $SECRETSTORE_DIR, else in secretstore/quickstart under the user cache
// directory (os.UserCacheDir). Values are encrypted under a 32-byte master
// key kept apart from the store, in the file named by
// $SECRETSTORE_MASTER_KEY_FILE, else in secretstore/quickstart.key under the
// user config directory (os.UserConfigDir); the first run creates it with
// mode 0600. A key kept next to its ciphertext would protect nothing.
//
// The secret stays in the store when the tour ends. The next run finds it,
// reports it, and deletes it before it starts the tour again.
//
// The values it stores and prints are made-up demo values. Real code should
// never print a secret value.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/filebackend"
)

const secretName = "demo/db-password"

// config says where the quickstart keeps its store and its master key.
type config struct {
	Dir     string // directory of the store
	KeyFile string // file of the master key, outside Dir
}

func main() {
	dir := flag.String("dir", "", "directory of the store (default $SECRETSTORE_DIR, else secretstore/quickstart in the user cache directory)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: quickstart [-dir DIR]")
		fmt.Fprintln(flag.CommandLine.Output(), "The master key file is $SECRETSTORE_MASTER_KEY_FILE, else secretstore/quickstart.key in the user config directory.")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	cfg, err := configFrom(*dir)
	if err == nil {
		err = run(context.Background(), os.Stdout, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// configFrom returns the configuration for the -dir flag's value dirFlag
// and the environment.
func configFrom(dirFlag string) (config, error) {
	cfg := config{Dir: dirFlag, KeyFile: os.Getenv("SECRETSTORE_MASTER_KEY_FILE")}
	if cfg.Dir == "" {
		cfg.Dir = os.Getenv("SECRETSTORE_DIR")
	}
	if cfg.Dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return config{}, fmt.Errorf("no directory for the store: use -dir or set $SECRETSTORE_DIR (%w)", err)
		}
		cfg.Dir = filepath.Join(cache, "secretstore", "quickstart")
	}
	if cfg.KeyFile == "" {
		conf, err := os.UserConfigDir()
		if err != nil {
			return config{}, fmt.Errorf("no place for the master key: set $SECRETSTORE_MASTER_KEY_FILE (%w)", err)
		}
		cfg.KeyFile = filepath.Join(conf, "secretstore", "quickstart.key")
	}
	return cfg, nil
}

// run performs the tour on the store that cfg names, narrating each step to
// w.
func run(ctx context.Context, w io.Writer, cfg config) (err error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return err
	}
	keyFile, err := filepath.Abs(cfg.KeyFile)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(dir, keyFile); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("master key file %s is inside the store directory %s: keep the key apart from the data it protects", keyFile, dir)
	}
	master, keyCreated, err := secretstore.LoadKeyFile(keyFile, true)
	keyNote := "read"
	if keyCreated {
		keyNote = "created: 32 random bytes, mode 0600"
	}
	if err != nil {
		return err
	}
	mk, err := secretstore.MasterKeyFromBytes(master)
	clear(master)
	if err != nil {
		return err
	}
	defer mk.Clear()
	b, err := filebackend.Open(dir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	// The keyring (the store's keys, sealed under the master key) lives in
	// the store directory; the master key stays outside it.
	keyring, err := secretstore.OpenKeyring(ctx, b, mk)
	if err != nil {
		return err
	}
	defer keyring.Close()
	store, err := secretstore.New(b, secretstore.WithKeys(keyring))
	if err != nil {
		return err
	}
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	say("secretstore quickstart: a store kept in files; every value shown is a demo value, not a real secret.")
	say("   store directory: %s (-dir or $SECRETSTORE_DIR to change)", b.Dir())
	say("   master key file: %s (%s; $SECRETSTORE_MASTER_KEY_FILE to change)", keyFile, keyNote)

	// 0. The store outlives the process: a previous run left its secret.
	// Report it, then delete it at once so that the tour starts afresh.
	say("")
	say("0. DescribeSecret %q: is it left from a previous run?", secretName)
	prev, err := store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: secretName})
	switch {
	case errors.Is(err, secretstore.ErrResourceNotFound):
		say("   not in the store: this is the first run on it")
	case err != nil:
		return fmt.Errorf("describe: %w", err)
	default:
		n, err := countVersions(ctx, store)
		if err != nil {
			return err
		}
		current := ""
		for id, labels := range prev.VersionIdsToStages {
			if slices.Contains(labels, secretstore.LabelCurrent) {
				current = id
			}
		}
		say("   found from your last run: %d versions, AWSCURRENT on version %s", n, current)
		if _, err := store.DeleteSecret(ctx, &secretstore.DeleteSecretInput{
			SecretId:                   secretName,
			ForceDeleteWithoutRecovery: true,
		}); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		say("   DeleteSecret with ForceDeleteWithoutRecovery: deleted at once, every version with it")
	}

	// 1. Create the secret with a first value. Without a ClientRequestToken
	// the engine generates a UUID for the VersionId, as the AWS SDKs do.
	say("")
	say("1. CreateSecret %q with a first value", secretName)
	created, err := store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:         secretName,
		Description:  "quickstart demo secret",
		SecretString: secretstore.String("demo-password-1"),
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	v1 := created.VersionId
	say("   created version %s", short(v1))
	if err := printLabels(ctx, w, store); err != nil {
		return err
	}

	// 2. Stage the next value under AWSPENDING. AWSCURRENT stays where it
	// is, so readers keep getting the old value.
	say("")
	say("2. PutSecretValue with VersionStages=[AWSPENDING]: stage the next value")
	pending, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId:      secretName,
		SecretString:  secretstore.String("demo-password-2"),
		VersionStages: []string{secretstore.LabelPending},
	})
	if err != nil {
		return fmt.Errorf("put pending: %w", err)
	}
	v2 := pending.VersionId
	say("   staged version %s", short(v2))
	if err := printValue(ctx, w, store, ""); err != nil {
		return err
	}
	if err := printValue(ctx, w, store, secretstore.LabelPending); err != nil {
		return err
	}

	// 3. Promote the pending version: move AWSCURRENT to it. The version that
	// loses AWSCURRENT gets AWSPREVIOUS, which keeps the old value one call
	// away for a rollback.
	say("")
	say("3. UpdateSecretVersionStage: move AWSCURRENT from %s to %s", short(v1), short(v2))
	if _, err := store.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
		SecretId:            secretName,
		VersionStage:        secretstore.LabelCurrent,
		RemoveFromVersionId: v1,
		MoveToVersionId:     v2,
	}); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if err := printLabels(ctx, w, store); err != nil {
		return err
	}
	// AWSPENDING stays on the promoted version until it is removed; take it
	// off to mark the rotation finished.
	say("   UpdateSecretVersionStage: remove AWSPENDING from %s (rotation finished)", short(v2))
	if _, err := store.UpdateSecretVersionStage(ctx, &secretstore.UpdateSecretVersionStageInput{
		SecretId:            secretName,
		VersionStage:        secretstore.LabelPending,
		RemoveFromVersionId: v2,
	}); err != nil {
		return fmt.Errorf("remove pending: %w", err)
	}
	if err := printLabels(ctx, w, store); err != nil {
		return err
	}
	if err := printValue(ctx, w, store, ""); err != nil {
		return err
	}
	if err := printValue(ctx, w, store, secretstore.LabelPrevious); err != nil {
		return err
	}

	// 4. Retry a write with the same ClientRequestToken, as a client does
	// after a timeout: the retry returns the same version and stores nothing.
	say("")
	say("4. PutSecretValue twice with the same ClientRequestToken (a retry)")
	token := uuid.NewString()
	before, err := countVersions(ctx, store)
	if err != nil {
		return err
	}
	var ids []string
	for range 2 {
		out, err := store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
			SecretId:           secretName,
			ClientRequestToken: token,
			SecretString:       secretstore.String("demo-password-3"),
		})
		if err != nil {
			return fmt.Errorf("put with token: %w", err)
		}
		ids = append(ids, out.VersionId)
	}
	after, err := countVersions(ctx, store)
	if err != nil {
		return err
	}
	say("   first call: version %s, retry: version %s", short(ids[0]), short(ids[1]))
	if ids[0] != ids[1] || after != before+1 {
		return fmt.Errorf("retry was not idempotent: versions %s and %s, %d versions before, %d after", ids[0], ids[1], before, after)
	}
	say("   same version; %d versions before, %d after both calls: the retry stored nothing", before, after)

	// The same token with a different value is refused.
	_, err = store.PutSecretValue(ctx, &secretstore.PutSecretValueInput{
		SecretId:           secretName,
		ClientRequestToken: token,
		SecretString:       secretstore.String("demo-password-other"),
	})
	if !errors.Is(err, secretstore.ErrResourceExists) {
		return fmt.Errorf("same token, different value: got %v, want ResourceExistsException", err)
	}
	say("   same token with a different value: %s", secretstore.ErrorCode(err))

	// 5. Errors are typed: compare with the sentinels or read the code.
	say("")
	say("5. GetSecretValue on a secret that does not exist")
	_, err = store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "demo/missing"})
	if !errors.Is(err, secretstore.ErrResourceNotFound) {
		return fmt.Errorf("get missing: got %v, want ResourceNotFoundException", err)
	}
	say("   errors.Is(err, secretstore.ErrResourceNotFound) = true")
	say("   secretstore.ErrorCode(err) = %s", secretstore.ErrorCode(err))
	var e *secretstore.Error
	if errors.As(err, &e) {
		say("   message: %s", e.Message)
	}

	say("")
	say("Done. The secret stays in the store: run again and the next run finds it.")
	return nil
}

// printValue reads the secret by staging label (stage "" means the default,
// AWSCURRENT) and prints the demo value with its version.
func printValue(ctx context.Context, w io.Writer, store secretstore.Store, stage string) error {
	out, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: secretName, VersionStage: stage})
	if err != nil {
		return fmt.Errorf("get %s: %w", stage, err)
	}
	what := "GetSecretValue (default AWSCURRENT)"
	if stage != "" {
		what = "GetSecretValue VersionStage=" + stage
	}
	fmt.Fprintf(w, "   %s -> %q (demo value) from version %s\n", what, out.SecretString, short(out.VersionId))
	return nil
}

// printLabels prints which version holds which staging labels.
func printLabels(ctx context.Context, w io.Writer, store secretstore.Store) error {
	d, err := store.DescribeSecret(ctx, &secretstore.DescribeSecretInput{SecretId: secretName})
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	lines := make([]string, 0, len(d.VersionIdsToStages))
	for id, labels := range d.VersionIdsToStages {
		labels = slices.Clone(labels)
		slices.Sort(labels)
		lines = append(lines, fmt.Sprintf("   version %s: %s", short(id), strings.Join(labels, ", ")))
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// countVersions returns how many versions the secret has, labelled or not.
func countVersions(ctx context.Context, store secretstore.Store) (int, error) {
	n := 0
	in := &secretstore.ListSecretVersionIdsInput{SecretId: secretName, IncludeDeprecated: true}
	for {
		out, err := store.ListSecretVersionIds(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("list versions: %w", err)
		}
		n += len(out.Versions)
		if out.NextToken == "" {
			return n, nil
		}
		in.NextToken = out.NextToken
	}
}

// short abbreviates a VersionId for display.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
