package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/secretstore/secretstore"
)

// keyCommands manage the keyring of a file store: its keys, their rotation,
// the re-wrapping of every data key under the newest key versions, and the
// retirement of old versions. They are not Secrets Manager operations (AWS
// keeps keys in KMS), so they print their own JSON.
var keyCommands = []*command{
	{name: "create-key", summary: "add a key to the store's keyring",
		params: []param{
			{flag: "alias", kind: kindString, usage: "the key's alias, alias/NAME, by which a secret's --kms-key-id names it"},
			{flag: "description", kind: kindString, usage: "what the key is for"},
		},
		local: runCreateKey},
	{name: "describe-key", summary: "print a key's metadata: aliases, versions, the primary version",
		params: []param{pKeyID},
		local:  describeKey},
	{name: "list-keys", summary: "print the metadata of every key of the keyring",
		local: listKeys},
	{name: "rotate-key", summary: "give a key a new primary version; new values use it at once",
		params: []param{pKeyID},
		local:  rotateKey},
	{name: "rewrap", summary: "re-wrap every data key under its key's primary version, showing progress; run again to resume",
		local: rewrap},
	{name: "retire-key-version", summary: "destroy an old key version that no data key needs any more (after rewrap)",
		params: []param{
			pKeyID,
			{flag: "key-version", kind: kindInt, required: true, usage: "the version to retire"},
		},
		local: retireKeyVersion},
}

var pKeyID = param{flag: "key-id", kind: kindString,
	usage: "the key: its ID, alias/NAME or ARN (default: the default key, alias/aws/secretsmanager)"}

// keyOutput is the metadata of a key, as the key commands print it.
type keyOutput struct {
	KeyId          string
	Aliases        []string `json:",omitzero"`
	Description    string   `json:",omitempty"`
	CreationDate   json.Number
	PrimaryVersion uint32
	Versions       []keyVersionOutput
}

type keyVersionOutput struct {
	Version      uint32
	CreationDate json.Number
	Retired      bool
}

// epoch renders t as the endpoint renders timestamps: epoch seconds.
func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}

func keyJSON(m secretstore.KeyMetadata) keyOutput {
	out := keyOutput{KeyId: m.KeyID, Aliases: m.Aliases, Description: m.Description, CreationDate: epoch(m.CreationDate), PrimaryVersion: m.PrimaryVersion}
	for _, v := range m.Versions {
		out.Versions = append(out.Versions, keyVersionOutput{Version: v.Version, CreationDate: epoch(v.CreationDate), Retired: v.Retired})
	}
	return out
}

// keyring returns the store's keyring, or an error for a store without one.
func keyring(st *openedStore) (*secretstore.Keyring, error) {
	if st.keyring == nil {
		return nil, errors.New("this store has no keyring")
	}
	return st.keyring, nil
}

func runCreateKey(ctx context.Context, st *openedStore, vals map[string]any, stdout, _ io.Writer) error {
	kr, err := keyring(st)
	if err != nil {
		return err
	}
	alias, _ := vals["alias"].(string)
	desc, _ := vals["description"].(string)
	m, err := kr.CreateKey(ctx, alias, desc)
	if err != nil {
		return err
	}
	return printJSON(stdout, keyJSON(m))
}

func describeKey(ctx context.Context, st *openedStore, vals map[string]any, stdout, _ io.Writer) error {
	kr, err := keyring(st)
	if err != nil {
		return err
	}
	id, _ := vals["key-id"].(string)
	m, err := kr.DescribeKey(ctx, id)
	if err != nil {
		return err
	}
	return printJSON(stdout, keyJSON(m))
}

func listKeys(ctx context.Context, st *openedStore, _ map[string]any, stdout, _ io.Writer) error {
	kr, err := keyring(st)
	if err != nil {
		return err
	}
	keys, err := kr.ListKeys(ctx)
	if err != nil {
		return err
	}
	out := struct{ Keys []keyOutput }{Keys: []keyOutput{}}
	for _, m := range keys {
		out.Keys = append(out.Keys, keyJSON(m))
	}
	return printJSON(stdout, out)
}

func rotateKey(ctx context.Context, st *openedStore, vals map[string]any, stdout, _ io.Writer) error {
	kr, err := keyring(st)
	if err != nil {
		return err
	}
	id, _ := vals["key-id"].(string)
	m, err := kr.RotateKey(ctx, id)
	if err != nil {
		return err
	}
	return printJSON(stdout, keyJSON(m))
}

func retireKeyVersion(ctx context.Context, st *openedStore, vals map[string]any, stdout, _ io.Writer) error {
	kr, err := keyring(st)
	if err != nil {
		return err
	}
	id, _ := vals["key-id"].(string)
	n, _ := vals["key-version"].(int64)
	if n < 1 || n > 1<<32-1 {
		return usagef("--key-version must be a key version number, 1 or more")
	}
	if err := kr.RetireKeyVersion(ctx, id, uint32(n)); err != nil {
		return err
	}
	m, err := kr.DescribeKey(ctx, id)
	if err != nil {
		return err
	}
	return printJSON(stdout, keyJSON(m))
}

// rewrap runs Engine.Rewrap over the whole store, drawing a progress bar on
// stderr when it is a terminal, and prints the counts.
func rewrap(ctx context.Context, st *openedStore, _ map[string]any, stdout, stderr io.Writer) error {
	e, err := secretstore.New(st.b, st.opts...)
	if err != nil {
		return err
	}
	bar := newProgressBar(stderr)
	p, err := e.Rewrap(ctx, &secretstore.RewrapOptions{Progress: func(p secretstore.RewrapProgress) {
		bar.draw(p)
	}})
	bar.done()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d of %d secrets; run rewrap again to finish: %w", p.SecretsDone, p.Secrets, err)
		}
		return err
	}
	return printJSON(stdout, struct{ Secrets, Versions, Rewrapped int }{p.Secrets, p.Versions, p.Rewrapped})
}

// progressBar draws Rewrap's progress on a terminal; on anything else it
// draws nothing, so that logs are not filled with carriage returns.
type progressBar struct {
	w    io.Writer // nil: not a terminal
	last time.Time
}

func newProgressBar(w io.Writer) *progressBar {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return &progressBar{w: w}
		}
	}
	return &progressBar{}
}

// barWidth is the number of cells of the bar.
const barWidth = 30

// renderBar returns the progress line for p, without a line ending.
func renderBar(p secretstore.RewrapProgress) string {
	filled := barWidth
	if p.Secrets > 0 {
		filled = p.SecretsDone * barWidth / p.Secrets
	}
	return fmt.Sprintf("rewrap [%s%s] %d/%d secrets, %d data keys re-wrapped",
		strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), p.SecretsDone, p.Secrets, p.Rewrapped)
}

func (b *progressBar) draw(p secretstore.RewrapProgress) {
	if b.w == nil {
		return
	}
	// At most 20 redraws a second, and always the last one.
	if now := time.Now(); now.Sub(b.last) >= 50*time.Millisecond || p.SecretsDone == p.Secrets {
		b.last = now
		fmt.Fprintf(b.w, "\r%s", renderBar(p))
	}
}

func (b *progressBar) done() {
	if b.w != nil && !b.last.IsZero() {
		fmt.Fprintln(b.w)
	}
}
