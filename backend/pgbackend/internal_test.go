package pgbackend

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
)

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		prefix, want string
		ok           bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a/", "a0", true},
		{"a\x7f", "a\u0080", true},
		{"é", "ê", true},
		{"x\uD7FF", "x\uE000", true},
		{"x\U0010FFFF", "y", true},
		{"\U0010FFFF\U0010FFFF", "", false},
	}
	for _, tc := range cases {
		got, ok := prefixEnd(tc.prefix)
		assert.Equal(t, tc.ok, ok, "prefixEnd(%q) ok", tc.prefix)
		assert.Equal(t, tc.want, got, "prefixEnd(%q)", tc.prefix)
		if !ok {
			continue
		}
		// Every string that starts with prefix sorts before the end, and
		// the end itself does not start with prefix.
		for _, suffix := range []string{"", "\x00", "\x7f", "\u07ff", "\uffff", "\U0010FFFF\U0010FFFF"} {
			s := tc.prefix + suffix
			assert.Less(t, s, got, "%q sorts after prefixEnd(%q)", s, tc.prefix)
		}
		assert.False(t, strings.HasPrefix(got, tc.prefix), "prefixEnd(%q) = %q starts with the prefix", tc.prefix, got)
	}
}

func TestLoadMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"migrations/0002_more.sql": {Data: []byte("two")},
		"migrations/0001_init.sql": {Data: []byte("one")},
	}
	ms, err := loadMigrations(ok)
	if assert.NoError(t, err) && assert.Len(t, ms, 2) {
		assert.Equal(t, []int{1, 2}, []int{ms[0].version, ms[1].version})
		assert.Equal(t, "two", ms[1].sql)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"no one":   {"migrations/0002_b.sql": {}},
		"bad name": {"migrations/0001_a.sql": {}, "migrations/two.sql": {}},
		"empty":    {"migrations/README": {}},
	} {
		_, err := loadMigrations(fsys)
		assert.Error(t, err, name)
	}
	assert.Equal(t, len(migrations), latestVersion, "the embedded migrations")
}
