package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
)

// syncBuffer is a log sink safe for the writer's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func piiKeyring(t *testing.T, ids ...string) *pii.Keyring {
	t.Helper()
	var entries []string
	for _, id := range ids {
		entries = append(entries, piiKeys[id])
	}
	k, err := pii.NewKeyring(strings.Join(entries, ","), piiIndexKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	piiIndexKey = pii.NewIndexKey()
	piiKeys     = map[string]string{"k1": mustKeyEntry("k1"), "k2": mustKeyEntry("k2")}
)

func mustKeyEntry(id string) string {
	e, err := pii.NewKeyEntry(id)
	if err != nil {
		panic(err)
	}
	return e
}

// piiEarn earns points for a member identified by phone and returns the
// member id.
func piiEarn(t *testing.T, w *store.Writer, m, phone, order string) (string, error) {
	t.Helper()
	svc := &points.Service{Policy: evPolicy()}
	var res points.EarnResult
	pts := int64(5)
	r := w.Submit(context.Background(), &store.Op{Command: points.Command{IDs: 8, Apply: func(tx points.Tx) (any, error) {
		var err error
		res, err = svc.Earn(tx, points.EarnRequest{MerchantID: m, StoreID: "s1", OrderID: order, AmountFen: 500, Points: &pts,
			Member: points.Identity{Kind: points.IdentityPhone, Value: phone}})
		return res, err
	}}})
	return res.MemberID, r.Err
}

// dumpText returns every value of every table as text.
func dumpText(t *testing.T, db *store.DB) string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if db.Dialect == store.MySQL {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()`
	}
	var tables []string
	if err := db.R.Select(&tables, q); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := db.R.Query("SELECT * FROM " + tbl)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				b.Write(v)
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

func TestPhoneNumbersEncryptedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		db.SetPII(piiKeyring(t, "k1"))
		var logs syncBuffer
		w := db.NewWriter(store.WriterOptions{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		defer w.Close()
		m, _ := merchant.NewMerchant("Hot Pot", "restaurant", time.Now())
		if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
			t.Fatal(err)
		}
		if r := w.Submit(ctx, evFundOp(&points.Service{Policy: evPolicy()}, m.ID, "f1")); r.Err != nil {
			t.Fatal(r.Err)
		}
		phones := []string{"13800138000", "+8613900139000", "+85291234567"}
		digits := []string{"13800138000", "13900139000", "91234567", "38001380"}
		var members []string
		for i, p := range phones {
			id, err := piiEarn(t, w, m.ID, p, fmt.Sprint("o", i))
			if err != nil {
				t.Fatalf("earn %d: %v", i, err)
			}
			members = append(members, id)
		}
		// Other spellings of the same number find the same member.
		if id, err := piiEarn(t, w, m.ID, "008613800138000", "o-again"); err != nil || id != members[0] {
			t.Fatalf("same number, other form: member %q (want %q), %v", id, members[0], err)
		}
		// A number that does not normalise is a validation error.
		_, err := piiEarn(t, w, m.ID, "1234567", "o-bad")
		var pe *points.Error
		if !errors.As(err, &pe) || pe.Class != points.Invalid || pe.Code != points.CodeInvalidIdentity || strings.Contains(pe.Message, "1234567") {
			t.Fatalf("invalid phone: %v", err)
		}
		dump := dumpText(t, db)
		for _, d := range digits {
			if strings.Contains(dump, d) {
				t.Errorf("plaintext phone digits %q found in the database", d)
			}
			if strings.Contains(logs.String(), d) {
				t.Errorf("plaintext phone digits %q found in the log", d)
			}
		}
		for i, want := range []string{"+8613800138000", "+8613900139000", "+85291234567"} {
			got, err := db.MemberPhone(ctx, members[i])
			if err != nil || got != want {
				t.Fatalf("member %d phone %q, %v", i, got, err)
			}
		}

		// Rotate: k2 active, k1 still decrypts; lookups are unchanged.
		db.SetPII(piiKeyring(t, "k2", "k1"))
		if id, err := piiEarn(t, w, m.ID, "13800138000", "o-after-rotation"); err != nil || id != members[0] {
			t.Fatalf("lookup after rotation: %q %v", id, err)
		}
		if got, _ := db.MemberPhone(ctx, members[1]); got != "+8613900139000" {
			t.Fatalf("k1 row after rotation: %q", got)
		}
		var progressed int64
		st, err := db.ReencryptIdentities(ctx, func(done, total int64) { progressed = done })
		if err != nil || st.Reencrypted != 3 || st.Remaining != 0 || progressed != 3 {
			t.Fatalf("reencrypt: %+v progress %d, %v", st, progressed, err)
		}
		var sealed []string
		if err := db.R.Select(&sealed, `SELECT sealed FROM member_identities WHERE sealed IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
		for _, s := range sealed {
			ct, _ := base64.StdEncoding.DecodeString(s)
			if id, err := pii.KeyIDOf(ct); err != nil || id != "k2" {
				t.Fatalf("row still under %q after reencrypt (%v)", id, err)
			}
		}
		// k1 can now go.
		db.SetPII(piiKeyring(t, "k2"))
		for i, want := range []string{"+8613800138000", "+8613900139000", "+85291234567"} {
			if got, err := db.MemberPhone(ctx, members[i]); err != nil || got != want {
				t.Fatalf("after removing k1, member %d: %q %v", i, got, err)
			}
		}
		if st, err := db.ReencryptIdentities(ctx, nil); err != nil || st.Reencrypted != 0 || st.Remaining != 0 {
			t.Fatalf("second reencrypt: %+v %v", st, err)
		}
	})
}

func TestPhoneWithoutKeyringUnchanged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		m, _ := merchant.NewMerchant("Tea", "restaurant", time.Now())
		if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
			t.Fatal(err)
		}
		if r := w.Submit(ctx, evFundOp(&points.Service{Policy: evPolicy()}, m.ID, "f1")); r.Err != nil {
			t.Fatal(r.Err)
		}
		if _, err := piiEarn(t, w, m.ID, "13800138000", "o1"); err != nil {
			t.Fatal(err)
		}
		var lookup string
		var sealed sql.NullString
		if err := db.R.QueryRow(`SELECT lookup, sealed FROM member_identities`).Scan(&lookup, &sealed); err != nil {
			t.Fatal(err)
		}
		if lookup != "13800138000" || sealed.Valid {
			t.Fatalf("without a keyring: lookup %q sealed %v", lookup, sealed)
		}
	})
}

// piiSetup creates a merchant with a budget and a writer.
func piiSetup(t *testing.T, db *store.DB) (*store.Writer, string) {
	t.Helper()
	ctx := context.Background()
	w := db.NewWriter(store.WriterOptions{})
	t.Cleanup(w.Close)
	m, _ := merchant.NewMerchant("Noodles", "restaurant", time.Now())
	if err := db.Merchants().CreateMerchant(ctx, m, "operator"); err != nil {
		t.Fatal(err)
	}
	if r := w.Submit(ctx, evFundOp(&points.Service{Policy: evPolicy()}, m.ID, "f1")); r.Err != nil {
		t.Fatal(r.Err)
	}
	return w, m.ID
}

func piiSealedOf(t *testing.T, db *store.DB, memberID string) (lookup, sealed string) {
	t.Helper()
	if err := db.R.QueryRow(`SELECT lookup, sealed FROM member_identities WHERE member_id = ? AND kind = 'phone'`, memberID).Scan(&lookup, &sealed); err != nil {
		t.Fatal(err)
	}
	return lookup, sealed
}

// A sealed phone number is bound to its row: copied onto another member's
// row it no longer decrypts. Rows sealed before row binding (associated
// data "member_identity:phone") still decrypt, count as needing
// re-encryption and are re-sealed bound to their row.
func TestSealedPhoneBoundToRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := piiKeyring(t, "k1")
		db.SetPII(k)
		w, m := piiSetup(t, db)
		a, err := piiEarn(t, w, m, "13800138000", "o1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := piiEarn(t, w, m, "13900139000", "o2")
		if err != nil {
			t.Fatal(err)
		}
		lookupA, sealedA := piiSealedOf(t, db, a)
		lookupB, sealedB := piiSealedOf(t, db, b)
		if n, err := db.IdentitiesNeedingReencryption(ctx); err != nil || n != 0 {
			t.Fatalf("fresh rows need re-encryption: %d %v", n, err)
		}

		// Copy a's sealed number onto b's row.
		db.W.MustExec(`UPDATE member_identities SET sealed = ? WHERE kind = 'phone' AND lookup = ?`, sealedA, lookupB)
		if got, err := db.MemberPhone(ctx, b); !errors.Is(err, pii.ErrDecrypt) {
			t.Fatalf("copied sealed value: phone %q, err %v; want a decryption error", got, err)
		}
		db.W.MustExec(`UPDATE member_identities SET sealed = ? WHERE kind = 'phone' AND lookup = ?`, sealedB, lookupB)
		if got, err := db.MemberPhone(ctx, b); err != nil || got != "+8613900139000" {
			t.Fatalf("restored: %q %v", got, err)
		}

		// a's row as sealed before row binding.
		legacy := base64.StdEncoding.EncodeToString(k.Encrypt([]byte("+8613800138000"), []byte("member_identity:phone")))
		db.W.MustExec(`UPDATE member_identities SET sealed = ? WHERE kind = 'phone' AND lookup = ?`, legacy, lookupA)
		if got, err := db.MemberPhone(ctx, a); err != nil || got != "+8613800138000" {
			t.Fatalf("legacy row: %q %v", got, err)
		}
		if n, err := db.IdentitiesNeedingReencryption(ctx); err != nil || n != 1 {
			t.Fatalf("legacy rows needing re-encryption: %d %v, want 1", n, err)
		}
		st, err := db.ReencryptIdentities(ctx, nil)
		if err != nil || st.Reencrypted != 1 || st.Remaining != 0 {
			t.Fatalf("reencrypt legacy row: %+v %v", st, err)
		}
		_, resealed := piiSealedOf(t, db, a)
		ct, _ := base64.StdEncoding.DecodeString(resealed)
		if pt, err := k.Decrypt(ct, []byte("member_identity:phone:"+lookupA)); err != nil || string(pt) != "+8613800138000" {
			t.Fatalf("re-sealed row is not bound to its lookup: %q %v", pt, err)
		}
		if got, err := db.MemberPhone(ctx, a); err != nil || got != "+8613800138000" {
			t.Fatalf("after re-sealing: %q %v", got, err)
		}
	})
}

// Rows written behind the re-encryption cursor while it runs (by an
// instance still sealing with the old key) are not re-encrypted by that
// pass, and ReencryptStats.Remaining reports them.
func TestReencryptReportsRowsBehindCursor(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k1 := piiKeyring(t, "k1")
		db.SetPII(k1)
		w, m := piiSetup(t, db)
		for i, p := range []string{"13800138000", "13900139000"} {
			if _, err := piiEarn(t, w, m, p, fmt.Sprint("o", i)); err != nil {
				t.Fatal(err)
			}
		}
		db.W.MustExec(`INSERT INTO members (id, created_at) VALUES ('mbr_late', 1)`)
		db.SetPII(piiKeyring(t, "k2", "k1"))
		inserted := false
		st, err := db.ReencryptIdentities(ctx, func(done, total int64) {
			if inserted {
				return
			}
			inserted = true
			// "000-late" sorts before every hex lookup: behind the cursor.
			const lookup = "000-late"
			ct := k1.Encrypt([]byte("+8613700137000"), []byte("member_identity:phone:"+lookup))
			db.W.MustExec(`INSERT INTO member_identities (kind, lookup, member_id, sealed, created_at) VALUES ('phone', ?, 'mbr_late', ?, 1)`,
				lookup, base64.StdEncoding.EncodeToString(ct))
		})
		if err != nil || st.Reencrypted != 2 || st.Remaining != 1 {
			t.Fatalf("first pass: %+v %v; want 2 re-encrypted, 1 remaining", st, err)
		}
		st, err = db.ReencryptIdentities(ctx, nil)
		if err != nil || st.Reencrypted != 1 || st.Remaining != 0 {
			t.Fatalf("second pass: %+v %v", st, err)
		}
	})
}
