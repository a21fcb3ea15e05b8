package secretstore

import (
	"encoding/hex"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

// versionIDFrom formats as uuid.UUID.String, and encodeHex as hex.Encode.
func TestVersionIDFormat(t *testing.T) {
	t.Parallel()
	for i := range 256 {
		var u uuid.UUID
		for j := range u {
			u[j] = byte(i*31 + j*17)
		}
		want := u
		want[6] = want[6]&0x0f | 0x40
		want[8] = want[8]&0x3f | 0x80
		assert.Equal(t, want.String(), versionIDFrom(u))
		src := []byte{byte(i), byte(255 - i), 0, 0xff}
		dst := make([]byte, 8)
		encodeHex(dst, src)
		assert.Equal(t, hex.EncodeToString(src), string(dst))
	}
}
