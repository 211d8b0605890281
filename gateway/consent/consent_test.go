package consent_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/consent"
	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/messaging"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

type inbox struct {
	mu   sync.Mutex
	msgs []messaging.Message
}

func (b *inbox) Send(_ context.Context, m messaging.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	return nil
}

func (b *inbox) count() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.msgs) }

func (b *inbox) last() messaging.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.msgs[len(b.msgs)-1]
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func code(err error) string {
	var pe *points.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// member makes a member with phone who earned at a new merchant, which it
// returns with the member id.
func member(t *testing.T, db *store.DB, phone string) (merchantID, memberID string) {
	t.Helper()
	ctx := context.Background()
	m, err := merchant.NewMerchant("Tea", "restaurant", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Merchants().CreateMerchant(ctx, m, "test"); err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(store.WriterOptions{})
	defer w.Close()
	svc := &points.Service{Policy: points.Policy{FaceValueFen: 1, ReleaseDelay: time.Hour, Validity: 24 * time.Hour, ExpiryPolicy: "breakage",
		MaxPointsPerEarn: 1000, MaxAmountFen: 1_000_000}}
	if r := w.Submit(ctx, &store.Op{Command: svc.FundCommand(points.FundRequest{MerchantID: m.ID, AmountFen: 1000, ExternalRef: "f"})}); r.Err != nil {
		t.Fatal(r.Err)
	}
	p := int64(10)
	r := w.Submit(ctx, &store.Op{Command: points.Command{IDs: 8, Apply: func(tx points.Tx) (any, error) {
		return svc.Earn(tx, points.EarnRequest{MerchantID: m.ID, OrderID: "o", AmountFen: 100, Points: &p,
			Member: points.Identity{Kind: points.IdentityPhone, Value: phone}})
	}}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return m.ID, r.Value.(points.EarnResult).MemberID
}

func TestSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		_, mid := member(t, db, "13800000001")
		box := &inbox{}
		clk := &clock{t: time.Now().UTC()}
		s := &consent.Service{Store: db, Sender: box, Now: clk.now}

		if _, err := s.StartSignIn(ctx, "13800000001"); err != nil {
			t.Fatal(err)
		}
		sent := box.last()
		if sent.Purpose != messaging.PurposeSignIn || len(sent.Code) != 6 || sent.To != "13800000001" {
			t.Fatalf("sent %+v", sent)
		}
		// Asking again at once is throttled, with a retry hint.
		_, err := s.StartSignIn(ctx, "13800000001")
		var pe *points.Error
		if !errors.As(err, &pe) || pe.Code != consent.CodeThrottled || pe.RetryAfter <= 0 {
			t.Fatalf("resend: %v", err)
		}
		wrong := "000000"
		if sent.Code == wrong {
			wrong = "000001"
		}
		if _, err := s.VerifySignIn(ctx, "13800000001", wrong); code(err) != consent.CodeSignInInvalid {
			t.Fatalf("wrong code: %v", err)
		}
		got, err := s.VerifySignIn(ctx, "13800000001", sent.Code)
		if err != nil || got != mid {
			t.Fatalf("right code: %q %v, want %s", got, err, mid)
		}
		// A code verifies once.
		if _, err := s.VerifySignIn(ctx, "13800000001", sent.Code); code(err) != consent.CodeSignInInvalid {
			t.Fatalf("code reused: %v", err)
		}

		// Five wrong codes void the code, even the right one after them.
		clk.advance(time.Minute)
		if _, err := s.StartSignIn(ctx, "13800000001"); err != nil {
			t.Fatal(err)
		}
		sent = box.last()
		for i := 0; i < 5; i++ {
			s.VerifySignIn(ctx, "13800000001", wrong)
		}
		if _, err := s.VerifySignIn(ctx, "13800000001", sent.Code); code(err) != consent.CodeSignInLocked {
			t.Fatalf("after five wrong codes: %v", err)
		}
		// An expired code is refused.
		clk.advance(time.Minute)
		if _, err := s.StartSignIn(ctx, "13800000001"); err != nil {
			t.Fatal(err)
		}
		sent = box.last()
		clk.advance(6 * time.Minute)
		if _, err := s.VerifySignIn(ctx, "13800000001", sent.Code); code(err) != consent.CodeSignInExpired {
			t.Fatalf("expired code: %v", err)
		}
		// A phone that is no member gets the same answer and a code; the
		// right code then says it has no points (only its holder learns so).
		if _, err := s.StartSignIn(ctx, "13900000009"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifySignIn(ctx, "13900000009", box.last().Code); code(err) != points.CodeUnknownMember {
			t.Fatalf("non-member: %v", err)
		}
		if _, err := s.StartSignIn(ctx, "not-a-phone"); code(err) != points.CodeInvalidIdentity {
			t.Fatalf("bad phone: %v", err)
		}
	})
}

func TestRedeemConsentRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		m, mid := member(t, db, "13800000002")
		box := &inbox{}
		clk := &clock{t: time.Now().UTC()}
		s := &consent.Service{Store: db, Sender: box, Now: clk.now}
		phone := points.Identity{Kind: points.IdentityPhone, Value: "13800000002"}

		r, err := s.RequestRedeemConsent(ctx, m, "Tea", phone, 30)
		if err != nil {
			t.Fatal(err)
		}
		sent := box.last()
		if sent.Purpose != messaging.PurposeRedeemConsent || len(sent.Code) != 6 {
			t.Fatalf("sent %+v", sent)
		}
		c, err := db.ReadConsent(ctx, points.SMSConsentKey(mid, sent.Code))
		if err != nil || c.MerchantID != m || c.MaxPoints != 30 || c.Kind != points.ConsentSMS || !c.ExpiresAt.Equal(r.ExpiresAt) {
			t.Fatalf("stored %+v %v", c, err)
		}
		// A phone that is no member: the same kind of answer, no message.
		n := box.count()
		if _, err := s.RequestRedeemConsent(ctx, m, "Tea", points.Identity{Kind: points.IdentityPhone, Value: "13999999999"}, 30); err != nil {
			t.Fatalf("non-member: %v", err)
		}
		if box.count() != n {
			t.Fatal("a code was sent to a phone that is no member")
		}
		if _, err := s.RequestRedeemConsent(ctx, m, "Tea", phone, 30); code(err) != consent.CodeThrottled {
			t.Fatalf("resend: %v", err)
		}
		if _, err := s.RequestRedeemConsent(ctx, m, "Tea", points.Identity{Kind: points.IdentityCustomer, Value: "c"}, 30); code(err) != consent.CodeIdentityKind {
			t.Fatalf("customer id: %v", err)
		}

		// App codes: valid form, stored by key only, checked at the till.
		rc, err := s.IssueRedemptionCode(ctx, mid, 50)
		if err != nil {
			t.Fatal(err)
		}
		if !points.ValidRedemptionCode(rc.Code) || rc.QR != "LMRC:"+rc.Code || rc.MaxPoints != 50 {
			t.Fatalf("code %+v", rc)
		}
		if got, err := s.TillMember(ctx, rc.Code); err != nil || got != mid {
			t.Fatalf("till: %q %v", got, err)
		}
		clk.advance(61 * time.Second)
		if _, err := s.TillMember(ctx, rc.Code); code(err) != points.CodeConsentRequired {
			t.Fatalf("expired code at the till: %v", err)
		}
		var n2 int
		if err := db.R.Get(&n2, `SELECT COUNT(*) FROM member_consents WHERE code_key = ?`, rc.Code); err != nil || n2 != 0 {
			t.Fatalf("a code is stored in clear: %d %v", n2, err)
		}
	})
}
