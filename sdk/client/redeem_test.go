package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestValidRedemptionCode(t *testing.T) {
	for code, want := range map[string]bool{
		"612345678901234566":  true, // the README's vector
		"612345678901234563":  false,
		"512345678901234566":  false,
		"61234567890123456":   false,
		"6123456789012345660": false,
		"61234567890123456x":  false,
	} {
		if got := ValidRedemptionCode(code); got != want {
			t.Errorf("ValidRedemptionCode(%q) = %v", code, got)
		}
	}
	if got := RedemptionCodeFromQR(" LMRC:612345678901234566\n"); got != "612345678901234566" {
		t.Errorf("from QR: %q", got)
	}
}

func TestRedeemSendsTheCode(t *testing.T) {
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		if r.URL.Path != "/v1/merchant/redeem" || r.Header.Get("Idempotency-Key") != "k1" {
			t.Errorf("%s %s key %q", r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write([]byte(`{"purchase_id":7,"member_id":"mbr_1","points":50,"value_fen":50,"tx_id":8,"available":10}`))
	}))
	defer srv.Close()
	c := NewOperator(srv.URL, "")
	res, err := c.Redeem(context.Background(), RedeemRequest{OrderID: "B-1", Code: "612345678901234566", Points: 50, AmountFen: 2000}, "k1")
	if err != nil || res.PurchaseID != 7 || res.Available != 10 {
		t.Fatalf("%+v %v", res, err)
	}
	if body["code"] != "612345678901234566" || body["amount_fen"].(float64) != 2000 || body["member"] != nil {
		t.Errorf("sent %v", body)
	}
}
