package evidence

import (
	"encoding/hex"
	"testing"
	"time"
)

// TestPublishedVectors pins the test vectors printed in docs/evidence.md §8,
// so the document and the code cannot drift apart.
func TestPublishedVectors(t *testing.T) {
	tm := time.Date(2026, 3, 1, 8, 30, 15, 123456789, time.UTC)
	tx, err := EncodeTx(TxRecord{ID: 42, Kind: "earn", Ref: "m7:order-1", CreatedAt: tm, Postings: []Posting{
		{Account: "merchant:7:budget", Asset: "PTS", Amount: -120}, {Account: "member:9:pending", Asset: "PTS", Amount: 120}}})
	if err != nil {
		t.Fatal(err)
	}
	audit, err := EncodeAudit(AuditRecord{ID: 7, Kind: "rule.publish", Actor: "staff:3", Subject: "merchant:7/rules/v4",
		Payload: []byte(`{"effective":"2026-04-01"}`), CreatedAt: tm})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLog()
	_, c1 := l.Append(tx)
	_, c2 := l.Append(audit)
	body, err := Checkpoint{Origin: "example.org/lianmeng", Size: 2, Root: l.Root(), ChainHead: l.ChainHead(), Time: tm, KeyID: "0123456789abcdef"}.Body()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want string }{
		"genesis":    {hex.EncodeToString(ChainGenesis()), "75ad1a15c257ca79023281945ba8eaf41c52c6bd85f18969141b82cc6a5fed74"},
		"tx":         {hex.EncodeToString(tx), "000000146c69616e6d656e672e65766964656e63652e747801000000000000002a000000046561726e0000000a6d373a6f726465722d31000000000000000000064bf24791160000000002000000106d656d6265723a393a70656e64696e67000000035054530000000000000078000000116d65726368616e743a373a62756467657400000003505453ffffffffffffff88"},
		"tx leaf":    {hex.EncodeToString(LeafHash(tx)), "3701e622fccd733573927e10bce4cca83b0351fd4285a03023305a3b1a5494a3"},
		"audit":      {hex.EncodeToString(audit), "000000176c69616e6d656e672e65766964656e63652e61756469740100000000000000070000000c72756c652e7075626c6973680000000773746166663a33000000136d65726368616e743a372f72756c65732f76340000001a7b22656666656374697665223a22323032362d30342d3031227d00064bf247911600"},
		"audit leaf": {hex.EncodeToString(LeafHash(audit)), "19ee4a613a655439a994202c16a469d40bf9e147bfe7862be8cbec112e515458"},
		"chain 1":    {hex.EncodeToString(c1), "d3405f796963e2a37f5d8925a02bf8baa5a9a0498aeed4f7fbddc5a418b72091"},
		"chain 2":    {hex.EncodeToString(c2), "7134102e563bb431ec39d21a974d5c56a4d4903700a9b3d83dcca9d95f0e339d"},
		"root 2":     {hex.EncodeToString(l.Root()), "b7473b404f2a81e7e1b118f58d2cc5b3b5e71b1fdeccb88b7c05a67aa502d4d7"},
		"body": {string(body), "example.org/lianmeng\n2\nt0c7QE8qgefhsRj1jSzFs7XnGx/ezLiLfAWmeqUC1Nc=\n" +
			"chain cTQQLlY7tDHsOdIal01cVqTUkDcAqbPYPcyp2V8OM50=\ntime 2026-03-01T08:30:15.123456Z\nkey 0123456789abcdef\n"},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", name, c.got, c.want)
		}
	}
}
