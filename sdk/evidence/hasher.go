package evidence

import (
	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle"
)

// HashSize is the size in bytes of every hash in the evidence log (SM3).
const HashSize = sm3.Size

// Domain-separation prefixes. 0x00 and 0x01 are those of RFC 6962 §2.1;
// 0x02 is ours, so a chain step can never collide with a tree node.
const (
	leafPrefix  = 0x00
	nodePrefix  = 0x01
	chainPrefix = 0x02
)

// Hasher is the RFC 6962 tree hasher with SM3 in place of SHA-256. It
// implements merkle.LogHasher, so it plugs into the compact and proof packages
// of github.com/transparency-dev/merkle.
type Hasher struct{}

var _ merkle.LogHasher = Hasher{}

// SM3Hasher is the hasher used for every Lianmeng evidence tree.
var SM3Hasher Hasher

// EmptyRoot returns SM3 of the empty string, the root of a tree with no leaves.
func (Hasher) EmptyRoot() []byte {
	h := sm3.Sum(nil)
	return h[:]
}

// HashLeaf returns SM3(0x00 || leaf).
func (Hasher) HashLeaf(leaf []byte) []byte {
	d := sm3.New()
	d.Write([]byte{leafPrefix})
	d.Write(leaf)
	return d.Sum(nil)
}

// HashChildren returns SM3(0x01 || l || r).
func (Hasher) HashChildren(l, r []byte) []byte {
	var buf [1 + 2*HashSize]byte
	b := append(buf[:0], nodePrefix)
	b = append(b, l...)
	b = append(b, r...)
	h := sm3.Sum(b)
	return h[:]
}

// Size returns HashSize.
func (Hasher) Size() int { return HashSize }

// LeafHash is a shorthand for SM3Hasher.HashLeaf(data).
func LeafHash(data []byte) []byte { return SM3Hasher.HashLeaf(data) }
