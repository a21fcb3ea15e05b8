package secretstore

import (
	"strings"
	"testing"
)

// TestValidNameBytes checks validName's table against the rule it encodes,
// for every byte.
func TestValidNameBytes(t *testing.T) {
	t.Parallel()
	for c := 0; c < 256; c++ {
		want := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c < 0x80 && strings.ContainsRune("/_+=.@-", rune(c))
		if got := validName("a" + string([]byte{byte(c)}) + "b"); got != want {
			t.Errorf("validName with byte %#x: got %v, want %v", c, got, want)
		}
	}
}
