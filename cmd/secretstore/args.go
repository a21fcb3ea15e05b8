package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The parameters of the Secrets Manager subcommands are spelled as the aws
// CLI spells them: "--secret-id ID", "--version-stages A B" (a list takes
// every argument up to the next option, and may also be repeated),
// "--include-deprecated" and "--no-include-deprecated", "--name=value".
// Structured parameters take the aws CLI's shorthand ("Key=env,Value=prod")
// or JSON. The flag package cannot express lists of several arguments, so
// this file parses them.

// kind is the type of a parameter's value.
type kind int

const (
	kindString  kind = iota // one argument
	kindInt                 // one integer argument
	kindBool                // no argument; --no-NAME sets false
	kindList                // one or more strings, or a JSON list
	kindText                // a value: the argument, file://, fileb:// or "-"
	kindBinary              // a binary value, read as kindText is
	kindTags                // Key=k,Value=v ... or JSON [{"Key":..,"Value":..}]
	kindFilters             // Key=name,Values=a,b ... or JSON
	kindRules               // AutomaticallyAfterDays=n,Duration=d,ScheduleExpression=e or JSON
)

// A param is one parameter of a subcommand.
type param struct {
	flag     string // the option without its leading "--", as the aws CLI names it
	member   string // the request member it sets; "" for the store flags
	kind     kind
	required bool
	usage    string
}

// metavar returns the placeholder of p's argument in usage texts.
func (p param) metavar() string {
	switch p.kind {
	case kindBool:
		return ""
	case kindInt:
		return "N"
	case kindList:
		return "VALUE..."
	case kindText, kindBinary:
		return "VALUE"
	case kindTags:
		return "Key=K,Value=V..."
	case kindFilters:
		return "Key=K,Values=V1,V2..."
	case kindRules:
		return "AutomaticallyAfterDays=N,Duration=D,ScheduleExpression=E"
	}
	return strings.ToUpper(strings.ReplaceAll(p.flag, "-", "_"))
}

// maxValueSize bounds what a value source reads: a little more than the
// largest value Secrets Manager accepts (65536 bytes), so that a value too
// large is reported by the store rather than cut short here.
const maxValueSize = 65536 + 1

// parseArgs parses the parameters of a subcommand. It returns their values
// keyed by flag name: string, int64, bool, []string, string (kindText),
// []byte (kindBinary), []tag, []filter or *rotationRules. Values of "-" are
// read from stdin. Errors are usage errors naming the parameter.
func parseArgs(args []string, params []param, stdin io.Reader) (map[string]any, error) {
	byFlag := make(map[string]*param, len(params))
	for i := range params {
		byFlag[params[i].flag] = &params[i]
	}
	raw := map[string][]string{}
	bools := map[string]bool{}
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !isOption(arg) {
			return nil, usagef("unexpected argument %q: every value follows the --option it belongs to", arg)
		}
		name, val, hasVal := strings.Cut(arg[2:], "=")
		p := byFlag[name]
		negated := false
		if p == nil {
			if q := byFlag[strings.TrimPrefix(name, "no-")]; q != nil && q.kind == kindBool && strings.HasPrefix(name, "no-") {
				p, negated = q, true
			}
		}
		if p == nil {
			return nil, usagef("unknown option --%s", name)
		}
		isList := p.kind == kindList || p.kind == kindTags || p.kind == kindFilters
		if seen[p.flag] && !isList {
			return nil, usagef("--%s is given more than once", p.flag)
		}
		seen[p.flag] = true
		if p.kind == kindBool {
			if hasVal {
				return nil, usagef("--%s takes no value", name)
			}
			bools[p.flag] = !negated
			continue
		}
		var vals []string
		switch {
		case hasVal:
			vals = []string{val}
		case isList:
			for i+1 < len(args) && !isOption(args[i+1]) {
				i++
				vals = append(vals, args[i])
			}
			if len(vals) == 0 {
				return nil, usagef("--%s expects at least one value", name)
			}
		default:
			if i+1 >= len(args) || isOption(args[i+1]) {
				return nil, usagef("--%s expects a value", name)
			}
			i++
			vals = []string{args[i]}
		}
		raw[p.flag] = append(raw[p.flag], vals...)
	}

	out := make(map[string]any, len(raw)+len(bools))
	for f, b := range bools {
		out[f] = b
	}
	usedStdin := ""
	for _, p := range params {
		vals, ok := raw[p.flag]
		if !ok {
			if !seen[p.flag] && p.required {
				return nil, usagef("the following arguments are required: --%s", p.flag)
			}
			continue
		}
		var v any
		var err error
		switch p.kind {
		case kindString:
			v = vals[0]
		case kindInt:
			v, err = strconv.ParseInt(vals[0], 10, 64)
			if err != nil {
				err = fmt.Errorf("invalid integer %q", vals[0])
			}
		case kindList:
			v, err = parseList(vals)
		case kindText, kindBinary:
			if vals[0] == "-" {
				if usedStdin != "" {
					return nil, usagef("--%s and --%s cannot both read standard input", usedStdin, p.flag)
				}
				usedStdin = p.flag
			}
			v, err = readValue(vals[0], p.kind == kindBinary, stdin)
		case kindTags:
			v, err = parseTags(vals)
		case kindFilters:
			v, err = parseFilters(vals)
		case kindRules:
			v, err = parseRules(vals[0])
		}
		if err != nil {
			return nil, usagef("bad value for --%s: %v", p.flag, err)
		}
		out[p.flag] = v
	}
	return out, nil
}

// isOption reports whether arg is an option ("--name") rather than a value.
// A lone "-" (standard input) and negative numbers are values.
func isOption(arg string) bool {
	return len(arg) > 2 && strings.HasPrefix(arg, "--")
}

// readValue returns the value an argument of --secret-string (binary false)
// or --secret-binary (binary true) stands for:
//
//   - file://PATH: the file's contents, exactly (no newline is removed;
//     unlike the aws CLI, "\r\n" is not turned into "\n");
//   - fileb://PATH: the same; the aws CLI's form for binary files;
//   - "-": standard input; for a text value one trailing "\n" is removed,
//     so that `echo VALUE | secretstore ... --secret-string -` stores VALUE;
//   - anything else: the argument itself (for --secret-binary, its bytes,
//     as aws CLI v1 takes it, not base64).
//
// A text value must be valid UTF-8. The result is a string for text and a
// []byte for binary. Errors never quote the value.
func readValue(arg string, binary bool, stdin io.Reader) (any, error) {
	var data []byte
	var err error
	switch {
	case strings.HasPrefix(arg, "file://"):
		data, err = readFileValue(strings.TrimPrefix(arg, "file://"))
	case strings.HasPrefix(arg, "fileb://"):
		data, err = readFileValue(strings.TrimPrefix(arg, "fileb://"))
	case arg == "-":
		data, err = readLimited(stdin, "standard input")
		if err == nil && !binary {
			data = bytes.TrimSuffix(data, []byte("\n"))
		}
	default:
		data = []byte(arg)
	}
	if err != nil {
		return nil, err
	}
	if binary {
		return data, nil
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("the value is not valid UTF-8 text: use --secret-binary for binary data")
	}
	return string(data), nil
}

// readFileValue reads the file of a file:// or fileb:// value. A leading
// "~/" stands for the home directory, as the aws CLI has it, since the shell
// does not expand it after the scheme.
func readFileValue(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("no file name after the scheme")
	}
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(home, rest)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path)
}

// readLimited reads r whole, refusing more than maxValueSize bytes.
func readLimited(r io.Reader, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxValueSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(data) > maxValueSize {
		return nil, fmt.Errorf("%s holds more than %d bytes", what, maxValueSize)
	}
	return data, nil
}

// parseList returns the strings of a list parameter: the arguments, or the
// JSON list that a single argument starting with "[" holds.
func parseList(vals []string) ([]string, error) {
	if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(vals[0]), "[") {
		var list []string
		if err := decodeStrict(vals[0], &list); err != nil {
			return nil, err
		}
		return list, nil
	}
	return vals, nil
}

// tag is a Tag of a request, as JSON members.
type tag struct {
	Key   string
	Value string
}

// parseTags parses --tags: one shorthand structure per argument
// ("Key=env,Value=prod"), or one JSON list of {"Key": ..., "Value": ...}.
func parseTags(vals []string) ([]tag, error) {
	if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(vals[0]), "[") {
		var tags []tag
		if err := decodeStrict(vals[0], &tags); err != nil {
			return nil, err
		}
		return tags, nil
	}
	tags := make([]tag, 0, len(vals))
	for _, v := range vals {
		m, err := parseShorthand(v, map[string]bool{"Key": false, "Value": false})
		if err != nil {
			return nil, err
		}
		if _, ok := m["Key"]; !ok {
			return nil, fmt.Errorf("%q has no Key", v)
		}
		tags = append(tags, tag{Key: first(m["Key"]), Value: first(m["Value"])})
	}
	return tags, nil
}

// filter is a Filter of a request, as JSON members.
type filter struct {
	Key    string
	Values []string `json:",omitempty"`
}

// parseFilters parses --filters: one shorthand structure per argument
// ("Key=name,Values=app/,db/"), or one JSON list of
// {"Key": ..., "Values": [...]}.
func parseFilters(vals []string) ([]filter, error) {
	if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(vals[0]), "[") {
		var fs []filter
		if err := decodeStrict(vals[0], &fs); err != nil {
			return nil, err
		}
		return fs, nil
	}
	fs := make([]filter, 0, len(vals))
	for _, v := range vals {
		m, err := parseShorthand(v, map[string]bool{"Key": false, "Values": true})
		if err != nil {
			return nil, err
		}
		if _, ok := m["Key"]; !ok {
			return nil, fmt.Errorf("%q has no Key", v)
		}
		fs = append(fs, filter{Key: first(m["Key"]), Values: m["Values"]})
	}
	return fs, nil
}

// rotationRules is the RotationRules of a request, as JSON members.
type rotationRules struct {
	AutomaticallyAfterDays *int64 `json:",omitempty"`
	Duration               string `json:",omitempty"`
	ScheduleExpression     string `json:",omitempty"`
}

// parseRules parses --rotation-rules: shorthand
// ("AutomaticallyAfterDays=30,Duration=2h") or a JSON object.
func parseRules(val string) (*rotationRules, error) {
	var r rotationRules
	if strings.HasPrefix(strings.TrimSpace(val), "{") {
		if err := decodeStrict(val, &r); err != nil {
			return nil, err
		}
		return &r, nil
	}
	m, err := parseShorthand(val, map[string]bool{"AutomaticallyAfterDays": false, "Duration": false, "ScheduleExpression": false})
	if err != nil {
		return nil, err
	}
	if days, ok := m["AutomaticallyAfterDays"]; ok {
		n, err := strconv.ParseInt(first(days), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("AutomaticallyAfterDays: invalid integer %q", first(days))
		}
		r.AutomaticallyAfterDays = &n
	}
	r.Duration = first(m["Duration"])
	r.ScheduleExpression = first(m["ScheduleExpression"])
	return &r, nil
}

func first(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// decodeStrict decodes the JSON of a parameter into v, refusing members v
// does not have and anything after the value.
func decodeStrict(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON: more than one value")
	}
	return nil
}

// parseShorthand parses the aws CLI's shorthand for one structure,
// "Name=value,Name2=value2", into its members. members lists the names
// allowed, true for those whose value is a list of strings: "Values=a,b"
// and "Values=[a,b]" both give [a b]. A value in single or double quotes
// may hold commas, brackets and equals signs. Spaces around names and
// unquoted values are ignored.
func parseShorthand(s string, members map[string]bool) (map[string][]string, error) {
	items, err := splitTop(s)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	last := "" // the list member that bare items extend
	for _, item := range items {
		name, val, ok := strings.Cut(item, "=")
		if !ok || strings.ContainsAny(strings.TrimSpace(name), `"'[`) {
			if last == "" {
				return nil, fmt.Errorf("%q is not of the form Name=value", strings.TrimSpace(item))
			}
			v, err := unquote(item)
			if err != nil {
				return nil, err
			}
			out[last] = append(out[last], v)
			continue
		}
		name = strings.TrimSpace(name)
		isList, known := members[name]
		if !known {
			return nil, fmt.Errorf("unknown member %q (want %s)", name, memberNames(members))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("member %s is given more than once", name)
		}
		last = ""
		val = strings.TrimSpace(val)
		if isList {
			last = name
			if strings.HasPrefix(val, "[") {
				if !strings.HasSuffix(val, "]") {
					return nil, fmt.Errorf("unterminated list in %s", name)
				}
				inner, err := splitTop(val[1 : len(val)-1])
				if err != nil {
					return nil, err
				}
				list := []string{}
				for _, e := range inner {
					v, err := unquote(e)
					if err != nil {
						return nil, err
					}
					list = append(list, v)
				}
				out[name] = list
				last = ""
				continue
			}
		}
		v, err := unquote(val)
		if err != nil {
			return nil, err
		}
		out[name] = []string{v}
	}
	return out, nil
}

// splitTop splits s at the commas that are outside quotes and brackets.
// An empty s has no items.
func splitTop(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var items []string
	var quote byte
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == ',' && depth == 0:
			items = append(items, s[start:i])
			start = i + 1
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced brackets in %q", s)
	}
	return append(items, s[start:]), nil
}

// unquote trims spaces around v and removes one pair of enclosing quotes.
func unquote(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if q := v[0]; q == '"' || q == '\'' {
		if len(v) < 2 || v[len(v)-1] != q {
			return "", fmt.Errorf("quoted value %s must end with its quote", v)
		}
		return v[1 : len(v)-1], nil
	}
	return v, nil
}

func memberNames(members map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(members)), ", ")
}
