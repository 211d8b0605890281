package evidence

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"

	sdk "github.com/lianmeng/lianmeng/sdk/evidence"
)

// A signer whose key is elsewhere (a KMS, an HSM) signs checkpoints and
// receipts that verify; one whose function signs with another key, or
// fails, is refused when it is built.
func TestSignerFunc(t *testing.T) {
	remote, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	s, err := NewSignerFunc(&remote.PublicKey, func(body []byte) ([]byte, error) {
		calls++
		return remote.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLog()
	l.Append([]byte("x"))
	sc, err := s.Sign(Checkpoint{Origin: "kms.test/log", Size: 1, Root: l.Root(), ChainHead: l.ChainHead(), Time: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCheckpoint(&remote.PublicKey, sc); err != nil {
		t.Fatal(err)
	}
	ids := []int64{1, 2, 3}
	leaves := [][]byte{LeafHash([]byte("x")), LeafHash([]byte("y")), LeafHash([]byte("z"))}
	tree, err := sdk.NewReceiptTree(ids, leaves)
	if err != nil {
		t.Fatal(err)
	}
	srs, _, err := s.SignReceipts("kms.test/log", ids, leaves, tree, time.Unix(1, 0), time.Unix(61, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range srs {
		if err := VerifyReceipt(&remote.PublicKey, sr); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 3 { // the start-up check, the checkpoint, the batch of receipts
		t.Fatalf("signing function called %d times", calls)
	}
	other, _ := GenerateKey()
	if _, err := NewSignerFunc(&remote.PublicKey, func(body []byte) ([]byte, error) {
		return other.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a signer with another key: %v", err)
	}
	if _, err := NewSignerFunc(&remote.PublicKey, func([]byte) ([]byte, error) { return nil, errors.New("kms down") }); err == nil {
		t.Fatal("a failing signer accepted")
	}
}
