package evidence

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The tlog-witness add-checkpoint request (docs/evidence.md §14):
//
//	old <size the witness last cosigned>
//	<consistency proof hash, base64>   (zero or more lines, bottom-up)
//	<empty line>
//	<signed checkpoint, §5.3>

// MaxProofLines bounds the consistency proof of an add-checkpoint request
// (a proof has at most 2·log2(size) hashes).
const MaxProofLines = 128

// FormatAddCheckpoint returns the body of an add-checkpoint request.
func FormatAddCheckpoint(oldSize uint64, proof [][]byte, signed []byte) []byte {
	var b bytes.Buffer
	b.WriteString("old " + strconv.FormatUint(oldSize, 10) + "\n")
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}

// ErrAddCheckpoint: the request body is not of the add-checkpoint form.
var ErrAddCheckpoint = errors.New("evidence: malformed add-checkpoint request")

// ParseAddCheckpoint splits an add-checkpoint request body. The checkpoint
// is returned as the bytes after the empty line, to be parsed with
// ParseSignedCheckpoint.
func ParseAddCheckpoint(body []byte) (oldSize uint64, proof [][]byte, signed []byte, err error) {
	head, rest, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: no empty line before the checkpoint", ErrAddCheckpoint)
	}
	lines := strings.Split(string(head), "\n")
	v, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: first line is not \"old <size>\"", ErrAddCheckpoint)
	}
	oldSize, err = strconv.ParseUint(v, 10, 64)
	if err != nil || strconv.FormatUint(oldSize, 10) != v {
		return 0, nil, nil, fmt.Errorf("%w: old size %q", ErrAddCheckpoint, v)
	}
	if len(lines)-1 > MaxProofLines {
		return 0, nil, nil, fmt.Errorf("%w: %d proof lines", ErrAddCheckpoint, len(lines)-1)
	}
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != HashSize || base64.StdEncoding.EncodeToString(h) != l {
			return 0, nil, nil, fmt.Errorf("%w: proof line %q is not a base64 SM3 hash", ErrAddCheckpoint, l)
		}
		proof = append(proof, h)
	}
	return oldSize, proof, rest, nil
}
