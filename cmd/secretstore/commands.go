package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend/membackend"
)

// Exit codes of the Secrets Manager subcommands, those of aws CLI v2.
const (
	exitUsage   = 252 // the parameters are wrong
	exitService = 254 // the store refused the request (a Secrets Manager error)
	exitOther   = 255 // anything else, such as a store that cannot be opened
)

// A command is a Secrets Manager subcommand: an operation and the
// parameters that make its request.
type command struct {
	name    string // as the aws CLI names it: "get-secret-value"
	op      string // the operation: "GetSecretValue"
	summary string
	params  []param
	// output returns a new value to decode the response into; nil for an
	// operation whose response is empty and prints nothing.
	output func() any
	// noStore is set for an operation that reads no secret.
	noStore bool
	// local, if not nil, runs a command that is not a Secrets Manager
	// operation (the keyring's and Rewrap) on the opened store, with the
	// parsed parameters, instead of calling op.
	local func(ctx context.Context, st *openedStore, vals map[string]any, stdout, stderr io.Writer) error
}

// Parameters shared by several commands.
var (
	pSecretID = param{flag: "secret-id", member: "SecretId", kind: kindString, required: true,
		usage: "the secret's name or ARN"}
	pToken = param{flag: "client-request-token", member: "ClientRequestToken", kind: kindString,
		usage: "the new version's ID, which makes a retry safe (default: a random UUID)"}
	pSecretString = param{flag: "secret-string", member: "SecretString", kind: kindText,
		usage: "the text value: file://PATH, - (standard input) or the value itself"}
	pSecretBinary = param{flag: "secret-binary", member: "SecretBinary", kind: kindBinary,
		usage: "the binary value: fileb://PATH, - (standard input) or the value's bytes"}
	pDescription = param{flag: "description", member: "Description", kind: kindString,
		usage: "the secret's description"}
	pKmsKeyID = param{flag: "kms-key-id", member: "KmsKeyId", kind: kindString,
		usage: "the key that seals the secret's values"}
	pMaxResults = param{flag: "max-results", member: "MaxResults", kind: kindInt,
		usage: "the most entries a page holds"}
	pNextToken = param{flag: "next-token", member: "NextToken", kind: kindString,
		usage: "the NextToken of the previous page"}
	pFilters = param{flag: "filters", member: "Filters", kind: kindFilters,
		usage: "Key=KEY,Values=V1,V2 (KEY: name, description, tag-key, tag-value, primary-region, owning-service, all), or JSON"}
)

// storeParams are the parameters of every command that opens a store.
var storeParams = []param{
	{flag: "dir", kind: kindString, usage: "the store's directory (default secretstore/store in the user cache directory)"},
	{flag: "postgres", kind: kindString, usage: "the DSN of a PostgreSQL database holding the store, instead of --dir (password in PGPASSWORD or ~/.pgpass, not here)"},
	{flag: "postgres-schema", kind: kindString, usage: "the schema of the PostgreSQL store (default secretstore)"},
	{flag: "master-key-file", kind: kindString, usage: "the file of the store's master key (default secretstore/master.key in the user config directory)"},
	{flag: "master-key-env", kind: kindString, usage: "the environment variable holding the master key in base64, instead of a key file"},
	{flag: "passphrase-file", kind: kindString, usage: "the file holding a passphrase (less one trailing newline) that makes the master key, instead of a key file"},
	{flag: "passphrase-env", kind: kindString, usage: "the environment variable holding a passphrase that makes the master key, instead of a key file"},
	{flag: "region", kind: kindString, usage: "the region whose secrets to use, as serve's clients name it (default us-east-1)"},
}

var commands = []*command{
	{name: "create-secret", op: "CreateSecret", summary: "create a secret, with a first value if one is given",
		params: []param{
			{flag: "name", member: "Name", kind: kindString, required: true, usage: "the new secret's name"},
			pToken, pDescription, pKmsKeyID, pSecretBinary, pSecretString,
			{flag: "tags", member: "Tags", kind: kindTags, usage: "Key=K,Value=V ..., or JSON"},
		},
		output: func() any { return new(arnNameVersionOutput) }},
	{name: "put-secret-value", op: "PutSecretValue", summary: "store a new value, which takes AWSCURRENT unless --version-stages says otherwise",
		params: []param{
			pSecretID, pToken, pSecretBinary, pSecretString,
			{flag: "version-stages", member: "VersionStages", kind: kindList, usage: "the labels the new version takes (default AWSCURRENT)"},
		},
		output: func() any { return new(putSecretValueOutput) }},
	{name: "update-secret", op: "UpdateSecret", summary: "change a secret's description or key, and with a value store a new AWSCURRENT version",
		params: []param{pSecretID, pToken, pDescription, pKmsKeyID, pSecretBinary, pSecretString},
		output: func() any { return new(arnNameVersionOutput) }},
	{name: "get-secret-value", op: "GetSecretValue", summary: "print a version's value (AWSCURRENT by default)",
		params: []param{
			pSecretID,
			{flag: "version-id", member: "VersionId", kind: kindString, usage: "the version to read"},
			{flag: "version-stage", member: "VersionStage", kind: kindString, usage: "the label of the version to read"},
		},
		output: func() any { return new(getSecretValueOutput) }},
	{name: "batch-get-secret-value", op: "BatchGetSecretValue", summary: "print the AWSCURRENT values of several secrets",
		params: []param{
			{flag: "secret-id-list", member: "SecretIdList", kind: kindList, usage: "the secrets' names or ARNs"},
			pFilters, pMaxResults, pNextToken,
		},
		output: func() any { return new(batchGetSecretValueOutput) }},
	{name: "describe-secret", op: "DescribeSecret", summary: "print a secret's metadata and labelled versions",
		params: []param{pSecretID},
		output: func() any { return new(describeSecretOutput) }},
	{name: "list-secret-version-ids", op: "ListSecretVersionIds", summary: "list a secret's versions",
		params: []param{
			pSecretID, pMaxResults, pNextToken,
			{flag: "include-deprecated", member: "IncludeDeprecated", kind: kindBool, usage: "list versions without labels too"},
		},
		output: func() any { return new(listSecretVersionIdsOutput) }},
	{name: "list-secrets", op: "ListSecrets", summary: "list secrets (every page, unless --max-results or --next-token is given)",
		params: []param{
			{flag: "include-planned-deletion", member: "IncludePlannedDeletion", kind: kindBool, usage: "list secrets scheduled for deletion too"},
			pMaxResults, pNextToken, pFilters,
			{flag: "sort-order", member: "SortOrder", kind: kindString, usage: "asc or desc"},
			{flag: "sort-by", member: "SortBy", kind: kindString, usage: "created-date, last-accessed-date, last-changed-date or name"},
		},
		output: func() any { return new(listSecretsOutput) }},
	{name: "update-secret-version-stage", op: "UpdateSecretVersionStage", summary: "move a label from one version to another",
		params: []param{
			pSecretID,
			{flag: "version-stage", member: "VersionStage", kind: kindString, required: true, usage: "the label to move"},
			{flag: "remove-from-version-id", member: "RemoveFromVersionId", kind: kindString, usage: "the version that holds the label now"},
			{flag: "move-to-version-id", member: "MoveToVersionId", kind: kindString, usage: "the version to give the label"},
		},
		output: func() any { return new(arnNameOutput) }},
	{name: "delete-secret", op: "DeleteSecret", summary: "schedule a secret for deletion, or delete it at once",
		params: []param{
			pSecretID,
			{flag: "recovery-window-in-days", member: "RecoveryWindowInDays", kind: kindInt, usage: "days before the deletion, 7 to 30 (default 30)"},
			{flag: "force-delete-without-recovery", member: "ForceDeleteWithoutRecovery", kind: kindBool, usage: "delete at once, beyond recovery"},
		},
		output: func() any { return new(deleteSecretOutput) }},
	{name: "restore-secret", op: "RestoreSecret", summary: "cancel a scheduled deletion",
		params: []param{pSecretID},
		output: func() any { return new(arnNameOutput) }},
	{name: "tag-resource", op: "TagResource", summary: "add or replace tags",
		params: []param{
			pSecretID,
			{flag: "tags", member: "Tags", kind: kindTags, required: true, usage: "Key=K,Value=V ..., or JSON"},
		}},
	{name: "untag-resource", op: "UntagResource", summary: "remove tags",
		params: []param{
			pSecretID,
			{flag: "tag-keys", member: "TagKeys", kind: kindList, required: true, usage: "the keys of the tags to remove"},
		}},
	{name: "rotate-secret", op: "RotateSecret", summary: "configure rotation and rotate (needs a rotation function registered in the library)",
		params: []param{
			pSecretID, pToken,
			{flag: "rotation-lambda-arn", member: "RotationLambdaARN", kind: kindString, usage: "the rotation function's ARN"},
			{flag: "rotation-rules", member: "RotationRules", kind: kindRules, usage: "AutomaticallyAfterDays=N,Duration=D,ScheduleExpression=E, or JSON"},
			{flag: "rotate-immediately", member: "RotateImmediately", kind: kindBool, usage: "rotate now (the default) or only at the next scheduled time (--no-rotate-immediately)"},
		},
		output: func() any { return new(arnNameVersionOutput) }},
	{name: "cancel-rotate-secret", op: "CancelRotateSecret", summary: "turn rotation off",
		params: []param{pSecretID},
		output: func() any { return new(arnNameVersionOutput) }},
	{name: "get-random-password", op: "GetRandomPassword", summary: "print a random password (opens no store)", noStore: true,
		params: []param{
			{flag: "password-length", member: "PasswordLength", kind: kindInt, usage: "1 to 4096 (default 32)"},
			{flag: "exclude-characters", member: "ExcludeCharacters", kind: kindString, usage: "characters to leave out"},
			{flag: "exclude-numbers", member: "ExcludeNumbers", kind: kindBool, usage: "leave out digits"},
			{flag: "exclude-punctuation", member: "ExcludePunctuation", kind: kindBool, usage: "leave out punctuation"},
			{flag: "exclude-uppercase", member: "ExcludeUppercase", kind: kindBool, usage: "leave out upper-case letters"},
			{flag: "exclude-lowercase", member: "ExcludeLowercase", kind: kindBool, usage: "leave out lower-case letters"},
			{flag: "include-space", member: "IncludeSpace", kind: kindBool, usage: "allow the space character"},
			{flag: "require-each-included-type", member: "RequireEachIncludedType", kind: kindBool, usage: "use every included kind of character at least once (the default)"},
		},
		output: func() any { return new(getRandomPasswordOutput) }},
}

// lookupCommand returns the command called name, or nil.
func lookupCommand(name string) *command {
	for _, list := range [][]*command{commands, keyCommands} {
		if i := slices.IndexFunc(list, func(c *command) bool { return c.name == name }); i >= 0 {
			return list[i]
		}
	}
	return nil
}

// allParams returns c's parameters followed by the store flags it takes.
func (c *command) allParams() []param {
	if c.noStore {
		return c.params
	}
	return append(slices.Clip(c.params), storeParams...)
}

// serviceError is a Secrets Manager error returned by the store.
type serviceError struct {
	op, code, message string
}

func (e *serviceError) Error() string {
	return fmt.Sprintf("An error occurred (%s) when calling the %s operation: %s", e.code, e.op, e.message)
}

// runCommand runs "secretstore <c.name> args" and returns the exit code.
func runCommand(ctx context.Context, c *command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		c.printUsage(stdout)
		return 0
	}
	err := c.run(ctx, args, stdin, stdout, stderr)
	var ue *usageError
	var se *serviceError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "secretstore %s: %v\nRun \"secretstore %s -h\" for its parameters.\n", c.name, err, c.name)
		return exitUsage
	case errors.As(err, &se):
		// The blank line first is the aws CLI's.
		fmt.Fprintf(stderr, "\n%v\n", se)
		return exitService
	default:
		fmt.Fprintf(stderr, "secretstore %s: %v\n", c.name, err)
		return exitOther
	}
}

// run parses args, calls the operation and prints its response.
func (c *command) run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	vals, err := parseArgs(args, c.allParams(), stdin)
	if err != nil {
		return err
	}
	region := "us-east-1"
	if r, ok := vals["region"].(string); ok {
		region = r
		// Check it before the store is opened, which may create it.
		if _, err := awsapi.NewHandler(membackend.New(), awsapi.WithDefaultRegion(region)); err != nil {
			return usagef("%v", err)
		}
	}
	var store storeConfig
	if c.noStore {
		store.memory = true
	} else {
		store.dir, _ = vals["dir"].(string)
		store.postgres, _ = vals["postgres"].(string)
		store.pgSchema, _ = vals["postgres-schema"].(string)
		store.keyFile, _ = vals["master-key-file"].(string)
		store.keyEnv, _ = vals["master-key-env"].(string)
		store.passphraseFile, _ = vals["passphrase-file"].(string)
		store.passphraseEnv, _ = vals["passphrase-env"].(string)
		for _, f := range []string{"dir", "postgres", "postgres-schema", "master-key-file", "master-key-env", "passphrase-file", "passphrase-env", "region"} {
			if v, ok := vals[f]; ok && v == "" {
				return usagef("--%s must not be empty", f)
			}
		}
		if err := store.resolve(); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, store, createKeyWithStore)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	if c.local != nil {
		return c.local(ctx, st, vals, stdout, stderr)
	}
	h, err := awsapi.NewHandler(st.b, awsapi.WithDefaultRegion(region), awsapi.WithEngineOptions(st.opts...))
	if err != nil {
		return usagef("%v", err)
	}
	cl := &client{h: h}

	req := map[string]any{}
	for _, p := range c.params {
		if v, ok := vals[p.flag]; ok && p.member != "" {
			req[p.member] = v
		}
	}
	if c.output == nil {
		return cl.call(ctx, c.op, req, nil)
	}
	out := c.output()
	if c.op == "ListSecrets" {
		err = cl.listAll(ctx, req, out.(*listSecretsOutput))
	} else {
		err = cl.call(ctx, c.op, req, out)
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, out)
}

// client calls operations on an in-process awsapi endpoint: the CLI sends
// the request the aws CLI would send and so gets back exactly the response
// a server would send it, rendered by the same code.
type client struct {
	h http.Handler
}

// call calls op with the request members req and decodes the response into
// out (if not nil). A Secrets Manager error is a *serviceError.
func (cl *client) call(ctx context.Context, op string, req map[string]any, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://secretstore/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("X-Amz-Target", "secretsmanager."+op)
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	w := &responseRecorder{header: http.Header{}, status: http.StatusOK}
	cl.h.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(w.body.Bytes(), &e); err != nil || e.Type == "" {
			return fmt.Errorf("%s: HTTP status %d with no error code", op, w.status)
		}
		return &serviceError{op: op, code: e.Type, message: e.Message}
	}
	if out == nil {
		return nil
	}
	// A member this CLI does not know would be left out silently: refuse it,
	// so that the tests notice when the endpoint grows one.
	dec := json.NewDecoder(&w.body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

// listAll calls ListSecrets as the aws CLI does: with --max-results or
// --next-token it makes one call and prints its NextToken; without, it
// fetches every page and prints the secrets of all of them.
func (cl *client) listAll(ctx context.Context, req map[string]any, out *listSecretsOutput) error {
	_, max := req["MaxResults"]
	_, next := req["NextToken"]
	if max || next {
		return cl.call(ctx, "ListSecrets", req, out)
	}
	seen := map[string]bool{}
	for {
		var page listSecretsOutput
		if err := cl.call(ctx, "ListSecrets", req, &page); err != nil {
			return err
		}
		out.SecretList = append(out.SecretList, page.SecretList...)
		if out.SecretList == nil {
			out.SecretList = []secretListEntryOutput{}
		}
		if page.NextToken == "" {
			return nil
		}
		if seen[page.NextToken] {
			return fmt.Errorf("ListSecrets returned the same NextToken twice")
		}
		seen[page.NextToken] = true
		req["NextToken"] = page.NextToken
	}
}

// responseRecorder is the http.ResponseWriter of an in-process call.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseRecorder) Header() http.Header         { return w.header }
func (w *responseRecorder) Write(p []byte) (int, error) { return w.body.Write(p) }
func (w *responseRecorder) WriteHeader(status int)      { w.status = status }

// printUsage writes the usage text of c.
func (c *command) printUsage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: secretstore %s", c.name)
	for _, p := range c.params {
		if p.required {
			fmt.Fprintf(&b, " --%s %s", p.flag, p.metavar())
		}
	}
	b.WriteString(" [parameters]\n\n")
	if c.local != nil {
		fmt.Fprintf(&b, "%s%s.\n\nparameters:\n", strings.ToUpper(c.summary[:1]), c.summary[1:])
	} else {
		fmt.Fprintf(&b, "%s%s.\nCalls %s and prints the JSON that \"aws secretsmanager %s\" prints.\n\nparameters:\n",
			strings.ToUpper(c.summary[:1]), c.summary[1:], c.op, c.name)
	}
	writeParams(&b, c.params)
	if !c.noStore {
		b.WriteString("\nstore:\n")
		writeParams(&b, storeParams)
	}
	if slices.ContainsFunc(c.params, func(p param) bool { return p.kind == kindText }) {
		b.WriteString(valueHelp)
	}
	b.WriteString(exitHelp)
	io.WriteString(w, b.String())
}

func writeParams(b *strings.Builder, params []param) {
	for _, p := range params {
		flag := "--" + p.flag
		if p.kind == kindBool {
			flag += ", --no-" + p.flag
		} else {
			flag += " " + p.metavar()
		}
		if p.required {
			flag += " (required)"
		}
		fmt.Fprintf(b, "  %s\n        %s\n", flag, p.usage)
	}
}

// valueHelp explains the value sources.
const valueHelp = `
Values: prefer file://PATH (fileb://PATH for binary) or - (standard input) to a
value on the command line, which shell history and the process list keep.
  --secret-string file://PATH    the file's text, exactly
  --secret-string -              standard input, less one trailing newline
  --secret-binary fileb://PATH   the file's bytes
  --secret-binary -              standard input's bytes, exactly
  --secret-binary VALUE          VALUE's bytes (not base64, as in aws CLI v1)
`

// exitHelp lists the exit codes of the subcommands.
const exitHelp = `
Exit status: 0 done; 252 bad parameters; 254 an error from Secrets Manager
(printed as the aws CLI prints it); 255 any other error.
`
