// Package wechatpaytest is a fake WeChat Pay APIv3 server for tests, on
// 127.0.0.1. It checks the merchant's real request signatures (the
// WECHATPAY2-SHA256-RSA2048 Authorization header), answers with replies
// signed by its own platform key in public-key mode (Wechatpay-Serial is the
// public key id), and builds signed, AES-256-GCM encrypted notifications.
// Keys are generated when it starts; nothing reaches the internet.
//
// It implements what the wechatpay plugin calls: Native prepay, order query
// by out_trade_no, domestic refunds, merchant transfer bills (payouts) and
// the trade bill with its SHA1 hash and download; and the mini-program
// login's jscode2session (login.go).
package wechatpaytest

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Order is a Native order as the fake holds it.
type Order struct {
	OutTradeNo    string
	TransactionID string
	AppID         string
	Description   string
	NotifyURL     string
	Total         int64
	State         string // NOTPAY, SUCCESS, CLOSED, REFUND
	PaidAt        time.Time
	Refunded      int64
}

// Transfer is a merchant transfer bill (a payout).
type Transfer struct {
	OutBillNo      string
	TransferBillNo string
	OpenID         string
	Amount         int64
	UserName       string // decrypted
	State          string // ACCEPTED, SUCCESS, FAIL
	FailReason     string
}

// Server is the fake. Its exported fields may be changed between calls.
type Server struct {
	*httptest.Server

	MchID       string
	AppID       string
	APIv3Key    string
	PublicKeyID string
	// MerchantKey is the merchant's API key pair: the plugin signs with the
	// private key, the fake verifies with the public one.
	MerchantKey    *rsa.PrivateKey
	MerchantSerial string
	// PlatformKey is WeChat Pay's key in public-key mode.
	PlatformKey *rsa.PrivateKey
	// NotifyKey and NotifySerial, when set, sign notifications instead (a
	// platform certificate's key and serial, or a forger's key).
	NotifyKey    *rsa.PrivateKey
	NotifySerial string
	// TamperDownload serves bill files that differ from the signed hash.
	TamperDownload bool
	// MiniAppID and MiniSecret are the mini-program's appid and AppSecret
	// that /sns/jscode2session accepts (login.go).
	MiniAppID, MiniSecret string

	mu sync.Mutex
	// Down makes every API call answer 500 SYSTEM_ERROR (after checking the
	// signature), as an outage would.
	down      bool
	delay     time.Duration
	orders    map[string]*Order
	refunds   map[string]map[string]any
	transfers map[string]*Transfer
	bills     map[string][]byte // date → CSV
	fundFlows map[string][]byte // date → fund flow bill CSV (none: an empty one)
	seq       int
	calls     map[string]int
	logins    map[string]*loginCode
}

// New starts a fake with fresh keys. Close it when done.
func New() (*Server, error) {
	mk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s := &Server{
		MchID: "1900000109", AppID: "wxd678efh567hg6787",
		APIv3Key:    hex.EncodeToString(key), // 32 characters
		PublicKeyID: "PUB_KEY_ID_0119000001092026120100000000000001",
		MerchantKey: mk, MerchantSerial: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
		PlatformKey: pk,
		orders:      map[string]*Order{}, refunds: map[string]map[string]any{},
		transfers: map[string]*Transfer{}, bills: map[string][]byte{}, fundFlows: map[string][]byte{}, calls: map[string]int{},
		MiniAppID: "wx6d3f0a1b2c3d4e5f", MiniSecret: hex.EncodeToString(key[:8]) + "f00dcafe0123456789abcdef",
		logins: map[string]*loginCode{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

// SetDelay holds every API answer d after the request took effect (a
// channel that answers too late: the caller times out).
func (s *Server) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// SetDown makes the fake answer every call 500 (true) or work again.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// Calls counts authenticated calls by "METHOD path-prefix".
func (s *Server) Calls(key string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls[key] }

// MerchantKeyPEM is the merchant's private key as PKCS#8 PEM (what the
// plugin's configuration holds).
func (s *Server) MerchantKeyPEM() string {
	der, _ := x509.MarshalPKCS8PrivateKey(s.MerchantKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// PlatformPublicKeyPEM is WeChat Pay's public key as PKIX PEM.
func (s *Server) PlatformPublicKeyPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(&s.PlatformKey.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Order returns a copy of an order.
func (s *Server) Order(outTradeNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// Pay marks an order paid (as the payer scanning the QR code would) and
// returns its transaction id.
func (s *Server) Pay(outTradeNo string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return "", fmt.Errorf("wechatpaytest: no order %q", outTradeNo)
	}
	if o.State == "NOTPAY" {
		s.seq++
		o.State, o.PaidAt = "SUCCESS", time.Now().UTC().Truncate(time.Second)
		o.TransactionID = fmt.Sprintf("4200%016d", s.seq)
	}
	return o.TransactionID, nil
}

// CloseOrder closes an unpaid order (as WeChat Pay does when it expires).
func (s *Server) CloseOrder(outTradeNo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[outTradeNo]; ok && o.State == "NOTPAY" {
		o.State = "CLOSED"
	}
}

// SetTransferState settles a payout: SUCCESS or FAIL (with a reason).
func (s *Server) SetTransferState(outBillNo, state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.transfers[outBillNo]; ok {
		t.State, t.FailReason = state, reason
	}
}

// Transfer returns a copy of a payout.
func (s *Server) Transfer(outBillNo string) (Transfer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.transfers[outBillNo]
	if !ok {
		return Transfer{}, false
	}
	return *t, true
}

// SetBill sets the trade bill CSV of a day (bill_date YYYY-MM-DD).
func (s *Server) SetBill(date string, csv []byte) {
	s.mu.Lock()
	s.bills[date] = csv
	s.mu.Unlock()
}

// SetFundFlowBill sets the fund flow bill (资金账单, BASIC account) CSV of
// a day; a day without one has a fund flow bill with no lines.
func (s *Server) SetFundFlowBill(date string, csv []byte) {
	s.mu.Lock()
	s.fundFlows[date] = csv
	s.mu.Unlock()
}

// Notification is a notification ready to POST to the gateway.
type Notification struct {
	Header http.Header
	Body   []byte
}

// PaymentNotification builds the signed, encrypted TRANSACTION.SUCCESS
// notification of a paid order.
func (s *Server) PaymentNotification(outTradeNo string) (Notification, error) {
	s.mu.Lock()
	o, ok := s.orders[outTradeNo]
	var tx map[string]any
	if ok {
		tx = s.transactionLocked(o)
	}
	s.mu.Unlock()
	if !ok {
		return Notification{}, fmt.Errorf("wechatpaytest: no order %q", outTradeNo)
	}
	return s.Notify("TRANSACTION.SUCCESS", "transaction", tx)
}

// Notify builds a notification of any event with the given plaintext
// resource, signed with the platform key and sealed with the APIv3 key.
func (s *Server) Notify(eventType, originalType string, resource any) (Notification, error) {
	plain, err := json.Marshal(resource)
	if err != nil {
		return Notification{}, err
	}
	block, err := aes.NewCipher([]byte(s.APIv3Key))
	if err != nil {
		return Notification{}, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return Notification{}, err
	}
	nonce, ad := randomString(12), originalType
	sealed := gcm.Seal(nil, []byte(nonce), plain, []byte(ad))
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("EV-%d", s.seq)
	s.mu.Unlock()
	body, err := json.Marshal(map[string]any{
		"id": id, "create_time": time.Now().Format(time.RFC3339), "event_type": eventType,
		"resource_type": "encrypt-resource", "summary": "notification",
		"resource": map[string]string{"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.StdEncoding.EncodeToString(sealed),
			"associated_data": ad, "original_type": originalType, "nonce": nonce},
	})
	if err != nil {
		return Notification{}, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	key, serial := s.PlatformKey, s.PublicKeyID
	if s.NotifyKey != nil {
		key, serial = s.NotifyKey, s.NotifySerial
	}
	signWith(h, body, key, serial)
	return Notification{Header: h, Body: body}, nil
}

// Post sends a notification to url and returns the gateway's answer.
func (n Notification) Post(url string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(n.Body))
	if err != nil {
		return nil, nil, err
	}
	req.Header = n.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// sign sets the four Wechatpay-* headers over body.
func (s *Server) sign(h http.Header, body []byte) { signWith(h, body, s.PlatformKey, s.PublicKeyID) }

func signWith(h http.Header, body []byte, key *rsa.PrivateKey, serial string) {
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), randomString(32)
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
}

func randomString(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// verify checks the merchant's Authorization header over the request.
func (s *Server) verify(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	const scheme = "WECHATPAY2-SHA256-RSA2048 "
	if !strings.HasPrefix(auth, scheme) {
		return fmt.Errorf("authorization scheme")
	}
	f := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(auth, scheme), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("authorization field %q", kv)
		}
		f[k] = strings.Trim(v, `"`)
	}
	if f["mchid"] != s.MchID || f["serial_no"] != s.MerchantSerial {
		return fmt.Errorf("mchid or serial_no")
	}
	ts, err := strconv.ParseInt(f["timestamp"], 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp")
	}
	msg := r.Method + "\n" + r.URL.RequestURI() + "\n" + f["timestamp"] + "\n" + f["nonce_str"] + "\n" + string(body) + "\n"
	sig, err := base64.StdEncoding.DecodeString(f["signature"])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(&s.MerchantKey.PublicKey, crypto.SHA256, sum[:], sig)
}

func (s *Server) reply(w http.ResponseWriter, status int, v any) {
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
	}
	if status/100 == 2 {
		s.sign(w.Header(), body)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	s.reply(w, status, map[string]string{"code": code, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sns/jscode2session" {
		s.jscode2session(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := s.verify(r, body); err != nil {
		s.fail(w, http.StatusUnauthorized, "SIGN_ERROR", "signature verification failed: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := r.URL.Path
	key := r.Method + " " + p
	for _, prefix := range []string{"/v3/pay/transactions/out-trade-no/", "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/", "/v3/refund/domestic/refunds/", "/download/"} {
		if strings.HasPrefix(p, prefix) {
			key = r.Method + " " + prefix
		}
	}
	s.calls[key]++
	if s.delay > 0 {
		// Take effect first, answer late: the worst case for the caller.
		defer time.Sleep(s.delay)
	}
	if s.down {
		s.fail(w, http.StatusInternalServerError, "SYSTEM_ERROR", "system error")
		return
	}
	switch {
	case r.Method == http.MethodPost && p == "/v3/pay/transactions/native":
		s.prepay(w, body)
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v3/pay/transactions/out-trade-no/"):
		o, ok := s.orders[strings.TrimPrefix(p, "/v3/pay/transactions/out-trade-no/")]
		if !ok || r.URL.Query().Get("mchid") != s.MchID {
			s.fail(w, http.StatusNotFound, "ORDER_NOT_EXIST", "order does not exist")
			return
		}
		s.reply(w, http.StatusOK, s.transactionLocked(o))
	case r.Method == http.MethodPost && p == "/v3/refund/domestic/refunds":
		s.refund(w, body)
	case r.Method == http.MethodPost && p == "/v3/fund-app/mch-transfer/transfer-bills":
		s.transfer(w, body, r.Header.Get("Wechatpay-Serial"))
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/"):
		t, ok := s.transfers[strings.TrimPrefix(p, "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/")]
		if !ok {
			s.fail(w, http.StatusNotFound, "NOT_FOUND", "transfer bill does not exist")
			return
		}
		s.reply(w, http.StatusOK, transferJSON(s.MchID, t))
	case r.Method == http.MethodGet && p == "/v3/bill/tradebill":
		date := r.URL.Query().Get("bill_date")
		csv, ok := s.bills[date]
		if !ok {
			s.fail(w, http.StatusBadRequest, "NO_STATEMENT_EXIST", "no statement for "+date)
			return
		}
		sum := sha1.Sum(csv)
		s.reply(w, http.StatusOK, map[string]string{"hash_type": "SHA1", "hash_value": hex.EncodeToString(sum[:]),
			"download_url": s.URL + "/download/tradebill/" + date})
	case r.Method == http.MethodGet && p == "/v3/bill/fundflowbill":
		date := r.URL.Query().Get("bill_date")
		if r.URL.Query().Get("account_type") != "BASIC" {
			s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "account_type must be BASIC here")
			return
		}
		csv, ok := s.fundFlows[date]
		if !ok {
			csv = FundFlowBill(nil)
			s.fundFlows[date] = csv
		}
		sum := sha1.Sum(csv)
		s.reply(w, http.StatusOK, map[string]string{"hash_type": "SHA1", "hash_value": hex.EncodeToString(sum[:]),
			"download_url": s.URL + "/download/fundflowbill/" + date})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/download/fundflowbill/"):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(s.fundFlows[strings.TrimPrefix(p, "/download/fundflowbill/")])
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/download/tradebill/"):
		// The bill file itself is not signed (the client validates nothing).
		csv := s.bills[strings.TrimPrefix(p, "/download/tradebill/")]
		if s.TamperDownload {
			csv = bytes.Replace(csv, []byte("`1.00"), []byte("`9.00"), 1)
			csv = append(csv, ' ')
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(csv)
	default:
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "no such API")
	}
}

func (s *Server) prepay(w http.ResponseWriter, body []byte) {
	var req struct {
		AppID       string `json:"appid"`
		MchID       string `json:"mchid"`
		Description string `json:"description"`
		OutTradeNo  string `json:"out_trade_no"`
		NotifyURL   string `json:"notify_url"`
		Amount      struct {
			Total    int64  `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.OutTradeNo == "" || req.Amount.Total <= 0 || req.NotifyURL == "" {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "bad parameters")
		return
	}
	if req.MchID != s.MchID || req.AppID != s.AppID {
		s.fail(w, http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "appid and mchid do not match")
		return
	}
	if o, ok := s.orders[req.OutTradeNo]; ok {
		if o.Total != req.Amount.Total || o.Description != req.Description {
			s.fail(w, http.StatusBadRequest, "INVALID_REQUEST", "out_trade_no used with other parameters")
			return
		}
		if o.State != "NOTPAY" {
			s.fail(w, http.StatusBadRequest, "ORDERPAID", "order already paid")
			return
		}
	} else {
		s.orders[req.OutTradeNo] = &Order{OutTradeNo: req.OutTradeNo, AppID: req.AppID, Description: req.Description,
			NotifyURL: req.NotifyURL, Total: req.Amount.Total, State: "NOTPAY"}
	}
	s.reply(w, http.StatusOK, map[string]string{"code_url": "weixin://wxpay/bizpayurl?pr=" + req.OutTradeNo})
}

func (s *Server) transactionLocked(o *Order) map[string]any {
	tx := map[string]any{"appid": o.AppID, "mchid": s.MchID, "out_trade_no": o.OutTradeNo, "trade_type": "NATIVE",
		"trade_state": o.State, "trade_state_desc": o.State,
		"amount": map[string]any{"total": o.Total, "payer_total": o.Total, "currency": "CNY", "payer_currency": "CNY"}}
	if o.TransactionID != "" {
		tx["transaction_id"] = o.TransactionID
		tx["success_time"] = o.PaidAt.Format(time.RFC3339)
		tx["bank_type"] = "OTHERS"
		tx["payer"] = map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
	}
	return tx
}

func (s *Server) refund(w http.ResponseWriter, body []byte) {
	var req struct {
		OutTradeNo  string `json:"out_trade_no"`
		OutRefundNo string `json:"out_refund_no"`
		Amount      struct {
			Refund   int64  `json:"refund"`
			Total    int64  `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.OutRefundNo == "" || req.Amount.Refund <= 0 {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "bad parameters")
		return
	}
	if r, ok := s.refunds[req.OutRefundNo]; ok { // same out_refund_no: one refund
		s.reply(w, http.StatusOK, r)
		return
	}
	o, ok := s.orders[req.OutTradeNo]
	if !ok || o.State != "SUCCESS" && o.State != "REFUND" {
		s.fail(w, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "order not paid or not found")
		return
	}
	if req.Amount.Total != o.Total {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "total does not match the order")
		return
	}
	if o.Refunded+req.Amount.Refund > o.Total {
		s.fail(w, http.StatusForbidden, "NOT_ENOUGH", "refund exceeds the order")
		return
	}
	o.Refunded += req.Amount.Refund
	o.State = "REFUND"
	s.seq++
	r := map[string]any{"refund_id": fmt.Sprintf("5030%016d", s.seq), "out_refund_no": req.OutRefundNo,
		"transaction_id": o.TransactionID, "out_trade_no": o.OutTradeNo, "channel": "ORIGINAL",
		"user_received_account": "支付用户零钱", "create_time": time.Now().Format(time.RFC3339),
		"success_time": time.Now().Format(time.RFC3339), "status": "SUCCESS",
		"amount": map[string]any{"total": o.Total, "refund": req.Amount.Refund, "payer_total": o.Total,
			"payer_refund": req.Amount.Refund, "settlement_refund": req.Amount.Refund, "settlement_total": o.Total,
			"discount_refund": 0, "currency": "CNY"}}
	s.refunds[req.OutRefundNo] = r
	s.reply(w, http.StatusOK, r)
}

func (s *Server) transfer(w http.ResponseWriter, body []byte, serial string) {
	var req struct {
		AppID          string `json:"appid"`
		OutBillNo      string `json:"out_bill_no"`
		TransferAmount int64  `json:"transfer_amount"`
		OpenID         string `json:"openid"`
		UserName       string `json:"user_name"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.OutBillNo == "" || req.TransferAmount <= 0 || req.OpenID == "" {
		s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "bad parameters")
		return
	}
	name := ""
	if req.UserName != "" {
		// RSA-OAEP (SHA-1) to the platform key named by Wechatpay-Serial.
		ct, err := base64.StdEncoding.DecodeString(req.UserName)
		var plain []byte
		if err == nil && serial == s.PublicKeyID {
			plain, err = rsa.DecryptOAEP(sha1.New(), nil, s.PlatformKey, ct, nil)
		}
		if err != nil || serial != s.PublicKeyID {
			s.fail(w, http.StatusBadRequest, "PARAM_ERROR", "user_name does not decrypt with the key Wechatpay-Serial names")
			return
		}
		name = string(plain)
	}
	t, ok := s.transfers[req.OutBillNo]
	if ok && (t.Amount != req.TransferAmount || t.OpenID != req.OpenID) {
		s.fail(w, http.StatusBadRequest, "INVALID_REQUEST", "out_bill_no used with other parameters")
		return
	}
	if !ok {
		s.seq++
		t = &Transfer{OutBillNo: req.OutBillNo, TransferBillNo: fmt.Sprintf("1330%016d", s.seq), OpenID: req.OpenID,
			Amount: req.TransferAmount, State: "ACCEPTED", UserName: name}
		s.transfers[req.OutBillNo] = t
	}
	s.reply(w, http.StatusOK, map[string]any{"out_bill_no": t.OutBillNo, "transfer_bill_no": t.TransferBillNo,
		"create_time": time.Now().Format(time.RFC3339), "state": t.State})
}

func transferJSON(mchID string, t *Transfer) map[string]any {
	m := map[string]any{"mch_id": mchID, "out_bill_no": t.OutBillNo, "transfer_bill_no": t.TransferBillNo,
		"state": t.State, "transfer_amount": t.Amount, "openid": t.OpenID,
		"create_time": time.Now().Format(time.RFC3339), "update_time": time.Now().Format(time.RFC3339)}
	if t.FailReason != "" {
		m["fail_reason"] = t.FailReason
	}
	return m
}

// TradeBill renders orders as a WeChat Pay trade bill (ALL): a header,
// one line per payment and refund with every field prefixed by a backquote,
// amounts in yuan with two decimals, then the summary lines.
func TradeBill(lines []BillLine) []byte {
	var b bytes.Buffer
	b.WriteString("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n")
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].At.Before(lines[j].At) })
	var total, refund, fee int64
	for _, l := range lines {
		state, pay, ref, refNo, outRefNo := "SUCCESS", l.AmountFen, int64(0), "", ""
		if l.Refund {
			state, pay, ref, refNo, outRefNo = "REFUND", 0, l.AmountFen, l.RefundID, l.OutRefundNo
		}
		total += pay
		refund += ref
		fee += l.FeeFen
		f := []string{l.At.Format("2006-01-02 15:04:05"), "wxd678efh567hg6787", "1900000109", "0", "", l.TransactionID, l.OutTradeNo,
			"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "NATIVE", state, "OTHERS", "CNY", Yuan(pay), "0.00", refNo, outRefNo, Yuan(ref), "0.00",
			"ORIGINAL", map[bool]string{true: "SUCCESS", false: ""}[l.Refund], "budget", "", Yuan(l.FeeFen), "0.60%", Yuan(pay), Yuan(ref), ""}
		b.WriteString("`" + strings.Join(f, ",`") + "\r\n")
	}
	b.WriteString("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n")
	fmt.Fprintf(&b, "`%d,`%s,`%s,`0.00,`%s,`%s,`%s\r\n", len(lines), Yuan(total), Yuan(refund), Yuan(fee), Yuan(total), Yuan(refund))
	return b.Bytes()
}

// BillLine is one payment or refund in a fake trade bill.
type BillLine struct {
	At            time.Time
	TransactionID string
	OutTradeNo    string
	Refund        bool
	RefundID      string
	OutRefundNo   string
	AmountFen     int64
	FeeFen        int64
}

// Yuan writes fen as yuan with two decimals, exactly.
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// FundFlowLine is one movement of a fake fund flow bill.
type FundFlowLine struct {
	At             time.Time
	WechatPayNo    string // 微信支付业务单号: the transfer bill number
	Business       string // 业务类型, e.g. 商家转账, 交易, 退款
	Out            bool   // 支出 (out of the account) or 收入
	AmountFen      int64
	BalanceFen     int64
	MerchantNumber string // 业务凭证号: the merchant's own number (out_bill_no)
}

// FundFlowBill renders lines as a WeChat Pay fund flow bill: a header,
// lines with every field prefixed by a backquote, amounts in yuan, then
// the summary (lines, income count and amount, expense count and amount).
func FundFlowBill(lines []FundFlowLine) []byte {
	var b bytes.Buffer
	b.WriteString("记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,资金变更提交申请人,备注,业务凭证号\r\n")
	var nIn, nOut, in, out int64
	for i, l := range lines {
		kind := "收入"
		if l.Out {
			kind, nOut, out = "支出", nOut+1, out+l.AmountFen
		} else {
			nIn, in = nIn+1, in+l.AmountFen
		}
		f := []string{l.At.Format("2006-01-02 15:04:05"), l.WechatPayNo, fmt.Sprintf("%020d", i+1), l.Business, l.Business, kind,
			Yuan(l.AmountFen), Yuan(l.BalanceFen), "1900000109API", "", l.MerchantNumber}
		b.WriteString("`" + strings.Join(f, ",`") + "\r\n")
	}
	b.WriteString("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n")
	fmt.Fprintf(&b, "`%d,`%d,`%s,`%d,`%s\r\n", len(lines), nIn, Yuan(in), nOut, Yuan(out))
	return b.Bytes()
}
