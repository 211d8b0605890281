package api

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/merchant"
	"github.com/lianmeng/lianmeng/gateway/pii"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

// sealedDump returns every value of every table as text.
func sealedDump(t *testing.T, db *store.DB) string {
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
		}
		rows.Close()
	}
	return b.String()
}

// An HMAC credential issued through the operator API is stored sealed: its
// secret, in any spelling, is in no table; signed requests still verify,
// and after reencrypt, on a gateway holding only the new key.
func TestHMACSecretSealedThroughAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		idx := pii.NewIndexKey()
		k1, _ := pii.NewKeyEntry("k1")
		k2, _ := pii.NewKeyEntry("k2")
		ring := func(keys string) *pii.Keyring {
			k, err := pii.NewKeyring(keys, idx)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		db.SetPII(ring(k1))
		g := fndStartGateway(t, db, nil)
		mid := g.createMerchant(t, "Sealed Noodles")
		var out struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		op := client.NewOperator(g.base, fndOperatorToken)
		if err := op.Do(ctx, "POST", "/v1/operator/merchants/"+mid+"/credentials", map[string]string{"algorithm": signature.HMACSHA256, "label": "POS"}, &out); err != nil || out.Secret == "" {
			t.Fatalf("issue hmac credential: %v", err)
		}
		raw, err := base64.StdEncoding.DecodeString(out.Secret)
		if err != nil {
			t.Fatal(err)
		}
		dump := sealedDump(t, db)
		for form, v := range map[string]string{"base64": out.Secret, "raw": string(raw), "hex": hex.EncodeToString(raw),
			"HEX": strings.ToUpper(hex.EncodeToString(raw)), "base64url": base64.RawURLEncoding.EncodeToString(raw)} {
			if strings.Contains(dump, v) {
				t.Errorf("the secret (%s) is in the database", form)
			}
		}
		signer, err := signature.NewHMACSigner(out.ID, out.Secret)
		if err != nil {
			t.Fatal(err)
		}
		me := func(g *fndGateway) {
			t.Helper()
			var m merchant.Merchant
			if err := g.merchantClient(mid, signer).Do(ctx, "GET", "/v1/merchant/me", nil, &m); err != nil || m.ID != mid {
				t.Fatalf("signed request: %+v %v", m, err)
			}
		}
		me(g)
		me(g) // from the credential cache

		// Rotate: reencrypt under k2; a gateway holding only k2 verifies.
		db.SetPII(ring(k2 + "," + k1))
		if st, err := db.ReencryptCredentials(ctx); err != nil || st.Reencrypted != 1 || st.Remaining != 0 {
			t.Fatalf("reencrypt: %+v %v", st, err)
		}
		db.SetPII(ring(k2))
		me(fndStartGateway(t, db, nil))
	})
}
