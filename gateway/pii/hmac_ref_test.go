package pii

import (
	"encoding/hex"
	"testing"

	"github.com/emmansun/gmsm/sm3"
)

// hmacSM3Manual is RFC 2104 written out, to check Index independently of
// crypto/hmac: SM3((K^opad) || SM3((K^ipad) || m)), K zero-padded to 64 bytes.
func hmacSM3Manual(t *testing.T, key, msg []byte) string {
	t.Helper()
	if len(key) > 64 {
		t.Fatal("long keys are hashed first; not needed here")
	}
	k := make([]byte, 64)
	copy(k, key)
	inner := make([]byte, 0, 64+len(msg))
	outer := make([]byte, 0, 64+sm3.Size)
	for _, b := range k {
		inner = append(inner, b^0x36)
		outer = append(outer, b^0x5c)
	}
	ih := sm3.Sum(append(inner, msg...))
	oh := sm3.Sum(append(outer, ih[:]...))
	return hex.EncodeToString(oh[:])
}
