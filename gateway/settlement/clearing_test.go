package settlement_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// A day's statement: the payable at the cut-off before, each kind of
// movement, the payable after, exact to the fen; signed with the evidence
// key; the same after a re-run; other days untouched.
func TestClearingStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		x, ctx := setup(t, db), context.Background()
		cst := time.FixedZone("CST", 8*3600)
		c := &clock{t: time.Date(2026, 11, 29, 20, 0, 0, 0, cst)} // the day before
		x.w.Close()
		x.w = db.NewWriter(store.WriterOptions{Now: c.now})
		t.Cleanup(x.w.Close)
		x.owe(t, 70_000) // opening payable: 70000 (29 Nov)
		c.t = time.Date(2026, 11, 30, 10, 0, 0, 0, cst)
		x.owe(t, 5_000)
		x.owe(t, 2_500)
		_ = db.SetPayoutAccounts(ctx, x.merchant, []store.PayoutAccount{{Channel: "wechatpay", PayeeType: "wechat_openid", Account: "o1"}})
		p := x.payouts(c)
		if _, err := p.Request(ctx, settlement.PayoutRequest{MerchantID: x.merchant, AmountFen: 30_000, IdemKey: "s1"}); err != nil {
			t.Fatal(err)
		}
		c.t = time.Date(2026, 12, 1, 9, 0, 0, 0, cst) // the next day: not in the statement
		x.owe(t, 1)

		key, err := evidence.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		cl := &settlement.Clearing{DB: db, Signer: settlement.SM2Signer{Key: key, ID: "ev-key"}}
		var firstBody string
		for run := 0; run < 2; run++ {
			var calls int
			sts, err := cl.Run(ctx, "2026-11-30", func(done, total int) { calls++ })
			if err != nil {
				t.Fatal(err)
			}
			if len(sts) != 1 || calls != 1 {
				t.Fatalf("run %d: %d statements, %d progress calls", run, len(sts), calls)
			}
			st := sts[0]
			lines := map[string]settlement.StatementLine{}
			for _, l := range st.Lines {
				lines[l.Kind] = l
			}
			if st.OpeningFen != 70_000 || st.NetFen != 5_000+2_500-30_000 || st.ClosingFen != 47_500 ||
				lines["test_owe"].AmountFen != 7_500 || lines["test_owe"].Count != 2 || lines["payout_hold"].AmountFen != -30_000 {
				t.Fatalf("statement: %+v", st)
			}
			stored, err := db.Statement(ctx, x.merchant, "2026-11-30")
			if err != nil {
				t.Fatal(err)
			}
			if !settlement.VerifyStatement(&key.PublicKey, []byte(stored.Body), stored.Signature) || stored.KeyID != "ev-key" {
				t.Fatalf("the stored statement's signature does not verify: %+v", stored)
			}
			if settlement.VerifyStatement(&key.PublicKey, []byte(strings.Replace(stored.Body, "47500", "47501", 1)), stored.Signature) {
				t.Fatal("a changed statement verifies")
			}
			var back settlement.Statement
			if err := json.Unmarshal([]byte(stored.Body), &back); err != nil || back.ClosingFen != 47_500 {
				t.Fatalf("stored body: %s %v", stored.Body, err)
			}
			if run == 0 {
				firstBody = stored.Body
			} else if stored.Body != firstBody {
				t.Fatalf("a re-run changed the statement:\n%s\n%s", firstBody, stored.Body)
			}
			csv := string(st.CSV())
			if !strings.Contains(csv, ",opening,,70000\n") || !strings.Contains(csv, ",closing,,47500\n") {
				t.Fatalf("csv:\n%s", csv)
			}
		}
		if _, err := db.Statement(ctx, x.merchant, "2026-12-01"); err == nil {
			t.Fatal("a statement for a day that was not run")
		}
	})
}

func evidenceKey(t *testing.T) (settlement.SM2Signer, error) {
	t.Helper()
	key, err := evidence.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return settlement.SM2Signer{Key: key, ID: "ev-key"}, nil
}
