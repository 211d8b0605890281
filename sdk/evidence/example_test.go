package evidence_test

import (
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/lianmeng/lianmeng/sdk/evidence"
)

// The operator's side is simulated with gmsm directly; a real verifier gets
// the PEM key, the signed checkpoint text, the transaction and its proof
// from the gateway (or anyone relaying them).
func Example() {
	// --- operator (normally the gateway) ---
	priv, _ := sm2.GenerateKey(rand.Reader)
	der, _ := smx509.MarshalPKIXPublicKey(&priv.PublicKey)
	publishedKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	txs := []evidence.TxRecord{
		{ID: 1, Kind: "fund", Ref: "m1:pay-001", CreatedAt: at, Postings: []evidence.Posting{
			{Account: "merchant:1:budget", Asset: "PTS", Amount: 10000},
			{Account: "alliance:mint", Asset: "PTS", Amount: -10000},
		}},
		{ID: 2, Kind: "earn", Ref: "m1:order-42", CreatedAt: at.Add(time.Second), Postings: []evidence.Posting{
			{Account: "member:7:pending", Asset: "PTS", Amount: 120},
			{Account: "merchant:1:budget", Asset: "PTS", Amount: -120},
		}},
	}
	log := evidence.NewLog()
	var leaves [][]byte
	for _, tx := range txs {
		data, _ := evidence.EncodeTx(tx)
		h, _ := log.Append(data)
		leaves = append(leaves, h)
	}
	keyID, _ := evidence.KeyID(&priv.PublicKey)
	cp := evidence.Checkpoint{Origin: "example.org/lianmeng", Size: log.Size(), Root: log.Root(),
		ChainHead: log.ChainHead(), Time: at.Add(time.Minute), KeyID: keyID}
	body, _ := cp.Body()
	sig, _ := priv.Sign(rand.Reader, body, sm2.DefaultSM2SignerOpts)
	signedText, _ := evidence.SignedCheckpoint{Checkpoint: cp, Signature: sig}.Marshal()
	// In a two-leaf tree, the audit path of leaf 1 is leaf 0's hash.
	auditPath := [][]byte{leaves[0]}

	// --- member or auditor ---
	pub, err := evidence.ParsePublicKeyPEM(publishedKey)
	if err != nil {
		panic(err)
	}
	signed, err := evidence.ParseSignedCheckpoint(signedText)
	if err != nil {
		panic(err)
	}
	if err := evidence.VerifyCheckpoint(pub, signed); err != nil {
		panic(err)
	}
	fmt.Println("checkpoint size", signed.Size, "verified")

	myTx, _ := evidence.EncodeTx(txs[1])
	err = evidence.VerifyCheckpointInclusion(myTx, 1, auditPath, signed.Checkpoint)
	fmt.Println("transaction 2 included:", err == nil)

	txs[1].Postings[0].Amount = 1200 // what if the gateway had lied about the amount?
	forged, _ := evidence.EncodeTx(txs[1])
	err = evidence.VerifyCheckpointInclusion(forged, 1, auditPath, signed.Checkpoint)
	fmt.Println("forged transaction included:", err == nil)
	// Output:
	// checkpoint size 2 verified
	// transaction 2 included: true
	// forged transaction included: false
}
