// Command secretstore serves a secretstore over the AWS Secrets Manager API,
// and works on one directly with the aws CLI's subcommands.
//
// Usage:
//
//	secretstore serve [flags]                 serve the Secrets Manager API over HTTP
//	secretstore <subcommand> [parameters]     call one Secrets Manager operation
//	secretstore version                       print the version
//
// The subcommands are those of "aws secretsmanager" (create-secret,
// put-secret-value, get-secret-value, ...), with the same parameters, and
// print the JSON that aws CLI v1 prints. They open the store themselves, so
// no server needs to run; several processes, servers and subcommands alike,
// may share a store directory. Secret values can come from a file
// (--secret-string file://PATH, --secret-binary fileb://PATH) or from
// standard input (--secret-string -), which keeps them out of shell history
// and the process list. A subcommand exits with 252 when its parameters are
// wrong, 254 when the store refuses the request and 255 on other errors, as
// aws CLI v2 does.
//
// By default serve and the subcommands keep the store in secretstore/store
// under the user cache directory (os.UserCacheDir). Values are encrypted
// under the keys of a keyring kept in the store, itself sealed under a
// 32-byte master key kept apart from the store, by default in
// secretstore/master.key under the user config directory (os.UserConfigDir).
// The first use creates the key file with 32 random bytes and mode 0600, in
// a directory of mode 0700; a subcommand creates it only together with a new
// store. --master-key-env takes the key from an environment variable
// (base64) instead, and --passphrase-file or --passphrase-env derive it from
// a passphrase with argon2id.
//
// The keyring commands (create-key, list-keys, rotate-key, rewrap,
// retire-key-version, ...) rotate keys without downtime: rotate-key makes a
// new key version that new values use at once, rewrap moves every existing
// value's data key to it (showing a progress bar; run it again to resume
// after an interruption), and retire-key-version then destroys the old
// version.
//
// --postgres DSN keeps the store in a PostgreSQL database instead (its
// schema chosen with --postgres-schema), so that servers and commands on
// several hosts share it; the keyring then lives in the database too, still
// sealed under the master key, which stays with each host. Give the
// database password through PGPASSWORD or ~/.pgpass rather than in the DSN,
// which the process list shows.
//
// SECURITY: without --credentials the server checks no signatures, and anyone
// who can reach it can read and change every secret. serve therefore refuses
// to listen on an address other than loopback without --credentials, unless
// --insecure is given.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/secretstore/secretstore/awsapi"
)

const (
	// shutdownTimeout bounds how long serve waits for requests in flight
	// when it is told to stop.
	shutdownTimeout = 10 * time.Second

	// maxCredentialsFile bounds the size of a --credentials file.
	maxCredentialsFile = 1 << 20
)

// version is the version string printed by "secretstore version". Release
// builds set it with -ldflags "-X main.version=...".
var version = ""

// usage begins the usage text of the command; printUsage adds the
// subcommands and usageTail.
const usage = `usage: secretstore <command> [flags]

commands:
  serve     serve the AWS Secrets Manager API over HTTP
  version   print the version
  help      print this text

Secrets Manager commands, as "aws secretsmanager <command>", on a store
directory (--dir, --master-key-file):
`

// keyUsage heads the key commands in the usage text.
const keyUsage = `
Commands on the keyring of a store directory (the keys that seal its values,
kept in the store under its master key):
`

// usageTail ends the usage text.
const usageTail = `
Run "secretstore serve -h" for the flags of serve and "secretstore <command> -h"
for the parameters of a Secrets Manager command. Pass secret values as
--secret-string file://PATH or --secret-string - (standard input), not on the
command line, where shell history and the process list keep them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns the
// exit code: 0 on success, 2 on a usage error, 1 on any other error; the
// Secrets Manager subcommands use the aws CLI's codes instead (see
// runCommand). A server runs until ctx is done.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	if c := lookupCommand(args[0]); c != nil {
		return runCommand(ctx, c, args[1:], stdin, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "version":
		if len(args) > 1 {
			fmt.Fprintln(stderr, "secretstore: version takes no arguments")
			return 2
		}
		fmt.Fprintln(stdout, "secretstore", versionString())
		return 0
	case "help", "-h", "-help", "--help":
		if len(args) == 2 {
			if c := lookupCommand(args[1]); c != nil {
				c.printUsage(stdout)
				return 0
			}
		}
		printUsage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "secretstore: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
}

// printUsage writes the usage text of the command, with every subcommand.
func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(usage)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-28s %s\n", c.name, c.summary)
	}
	b.WriteString(keyUsage)
	for _, c := range keyCommands {
		fmt.Fprintf(&b, "  %-28s %s\n", c.name, c.summary)
	}
	b.WriteString(usageTail)
	io.WriteString(w, b.String())
}

// versionString returns the version of the binary: the one set at link
// time, else the module version recorded in the build, else "(devel)".
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// usageError is an error in the command line or the configuration it names:
// serve reports it and exits with code 2.
type usageError struct {
	msg     string
	printed bool // the flag package has printed it already
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// serveConfig is the parsed command line of serve.
type serveConfig struct {
	addr        string
	store       storeConfig
	allowReset  bool
	credentials string // file; "" for none
	insecure    bool
	region      string
}

// serve runs "secretstore serve args".
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseServe(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = runServer(ctx, cfg, stdout, stderr)
	}
	if err != nil {
		ue, isUsage := errors.AsType[*usageError](err)
		if !isUsage || !ue.printed {
			fmt.Fprintln(stderr, "secretstore serve:", err)
		}
		if isUsage {
			return 2
		}
		return 1
	}
	return 0
}

// parseServe parses the flags of serve and checks that they make sense
// together. Parse errors are printed to stderr by the flag package.
func parseServe(args []string, stderr io.Writer) (serveConfig, error) {
	var cfg serveConfig
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.StringVar(&cfg.addr, "addr", "127.0.0.1:4566", "`address` to listen on (port 0 picks a free port)")
	fset.StringVar(&cfg.store.dir, "dir", "", dirUsage)
	fset.StringVar(&cfg.store.postgres, "postgres", "", postgresUsage)
	fset.StringVar(&cfg.store.pgSchema, "postgres-schema", "", pgSchemaUsage)
	fset.BoolVar(&cfg.store.memory, "memory", false, "keep the store in memory only; it is lost when the server stops (not with --dir)")
	fset.StringVar(&cfg.store.keyFile, "master-key-file", "", keyFileUsage)
	fset.StringVar(&cfg.store.keyEnv, "master-key-env", "", keyEnvUsage)
	fset.StringVar(&cfg.store.passphraseFile, "passphrase-file", "", passphraseFileUsage)
	fset.StringVar(&cfg.store.passphraseEnv, "passphrase-env", "", passphraseEnvUsage)
	fset.BoolVar(&cfg.allowReset, "allow-reset", false, "enable POST /_secretstore/reset, which deletes every secret (not with --credentials)")
	fset.StringVar(&cfg.credentials, "credentials", "", "`file` of lines \"ACCESS_KEY_ID SECRET_ACCESS_KEY\" (# starts a comment); turns on SigV4 signature checking")
	fset.BoolVar(&cfg.insecure, "insecure", false, "allow listening on an address other than loopback without --credentials")
	fset.StringVar(&cfg.region, "region", "us-east-1", "`region` of requests that carry no SigV4 credential scope")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "usage: secretstore serve [flags]")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, &usageError{msg: err.Error(), printed: true}
	}
	if fset.NArg() > 0 {
		return cfg, usagef("unexpected argument %q", fset.Arg(0))
	}
	set := map[string]bool{}
	fset.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if cfg.store.memory && (set["dir"] || set["postgres"]) {
		return cfg, usagef("--memory cannot be used with --dir or --postgres")
	}
	if cfg.allowReset && cfg.credentials != "" {
		return cfg, usagef("--allow-reset cannot be used with --credentials: the reset endpoint is not authenticated")
	}
	if cfg.region == "" {
		return cfg, usagef("--region must not be empty")
	}
	if set["dir"] && cfg.store.dir == "" {
		return cfg, usagef("--dir must not be empty")
	}
	for _, f := range []string{"postgres", "postgres-schema", "master-key-file", "master-key-env", "passphrase-file", "passphrase-env"} {
		if set[f] && fset.Lookup(f).Value.String() == "" {
			return cfg, usagef("--%s must not be empty", f)
		}
	}
	loopback, err := isLoopback(cfg.addr)
	if err != nil {
		return cfg, err
	}
	if !loopback && cfg.credentials == "" && !cfg.insecure {
		return cfg, usagef("refusing to listen on %s, which is not a loopback address, without --credentials: "+
			"anyone who can reach it could read and change every secret; use --credentials FILE, "+
			"or --insecure to serve without authentication anyway", cfg.addr)
	}
	return cfg, cfg.store.resolve()
}

// isLoopback reports whether addr (host:port) listens on loopback only. An
// empty host means every interface. Host names other than "localhost" are
// not resolved and count as not loopback.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, usagef("bad --addr %q: %v", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// runServer serves the store that cfg names until ctx is done.
func runServer(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) (err error) {
	opts := []awsapi.Option{
		awsapi.WithDefaultRegion(cfg.region),
		awsapi.WithAllowReset(cfg.allowReset),
		awsapi.WithLogger(slog.New(slog.NewJSONHandler(stderr, nil))),
	}
	if cfg.credentials != "" {
		creds, warning, err := readCredentials(cfg.credentials)
		if err != nil {
			return err
		}
		if warning != "" {
			fmt.Fprintln(stderr, "secretstore serve: warning:", warning)
		}
		opts = append(opts, awsapi.WithCredentials(creds))
	}

	st, err := openStore(ctx, cfg.store, createKey)
	if err != nil {
		return err
	}
	opts = append(opts, awsapi.WithEngineOptions(st.opts...))
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	where := st.where

	h, err := awsapi.NewHandler(st.b, opts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(slog.NewJSONHandler(stderr, nil), slog.LevelError),
	}
	fmt.Fprintf(stdout, "secretstore: serving Secrets Manager on http://%s (%s)\n", ln.Addr(), where)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// readCredentials reads a --credentials file: one "ACCESS_KEY_ID
// SECRET_ACCESS_KEY" pair a line; blank lines and lines starting with # are
// skipped. It returns a warning if the file is readable by other users.
func readCredentials(path string) (creds map[string]string, warning string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("credentials: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("credentials: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("credentials file %s is not a regular file", path)
	}
	if fi.Size() > maxCredentialsFile {
		return nil, "", fmt.Errorf("credentials file %s is larger than %d bytes", path, maxCredentialsFile)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		warning = fmt.Sprintf("credentials file %s has mode %04o, which lets other users read it: chmod 600 it", path, perm)
	}
	creds = map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(f, maxCredentialsFile))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			// Never quote the line: it may hold a secret key.
			return nil, "", fmt.Errorf("credentials file %s, line %d: want \"ACCESS_KEY_ID SECRET_ACCESS_KEY\", got %d fields", path, n, len(fields))
		}
		id, secret := fields[0], fields[1]
		if strings.ContainsAny(id, "/,=") {
			return nil, "", fmt.Errorf("credentials file %s, line %d: access key ID holds '/', ',' or '='", path, n)
		}
		if _, dup := creds[id]; dup {
			return nil, "", fmt.Errorf("credentials file %s, line %d: access key ID %s appears twice", path, n, id)
		}
		creds[id] = secret
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("credentials file %s: %w", path, err)
	}
	if len(creds) == 0 {
		return nil, "", fmt.Errorf("credentials file %s holds no credentials", path)
	}
	return creds, warning, nil
}
