// Package alipaytest is a fake Alipay open-platform gateway for tests, on
// 127.0.0.1. It checks the app's real RSA2 request signatures (sorted
// k=v pairs, SHA256withRSA), answers with replies signed over the exact
// bytes of their "<method>_response" object by its own Alipay key, and
// builds signed asynchronous notifications. Keys are generated when it
// starts; nothing reaches the internet.
//
// It implements what the alipay plugin calls: alipay.trade.precreate,
// .query and .refund, alipay.fund.trans.uni.transfer and
// alipay.fund.trans.common.query, the bill download URL with the file, and
// alipay.system.oauth.token for mini-program sign-in (login.go).
package alipaytest

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Trade is a precreated order.
type Trade struct {
	OutTradeNo string
	TradeNo    string
	Subject    string
	Total      string // yuan, as sent
	Status     string // WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED
	NotifyURL  string
	Refunds    map[string]string // out_request_no → amount
	PaidAt     time.Time
}

// Transfer is a payout (uni.transfer).
type Transfer struct {
	OutBizNo string
	OrderID  string
	Amount   string
	Identity string
	Status   string // SUCCESS, DEALING, FAIL
}

// Server is the fake.
type Server struct {
	*httptest.Server
	AppID     string
	AppKey    *rsa.PrivateKey // the app's key: the plugin signs with it
	AlipayKey *rsa.PrivateKey // Alipay's key: replies and notifications
	// ForgeKey, when set, signs notifications instead (a forger).
	ForgeKey *rsa.PrivateKey
	// TransferStatus is the status a new transfer gets (default SUCCESS).
	TransferStatus string

	// Certificate mode (Certificates): the serial numbers requests must
	// carry and replies and notifications name.
	appCertSN, alipayCertSN, rootCertSN string

	mu        sync.Mutex
	down      bool
	trades    map[string]*Trade
	transfers map[string]*Transfer
	bills     map[string][]byte
	accounts  map[string][]byte // account bills (signcustomer) by date; none: an empty one
	seq       int
	authCodes map[string]*authCode
	calls     map[string]int
}

// New starts a fake with fresh keys.
func New() (*Server, error) {
	ak, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s := &Server{AppID: "2021000000000001", AppKey: ak, AlipayKey: pk, trades: map[string]*Trade{},
		transfers: map[string]*Transfer{}, bills: map[string][]byte{}, accounts: map[string][]byte{}, authCodes: map[string]*authCode{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

// Gateway is the URL of the fake's gateway.do.
func (s *Server) Gateway() string { return s.URL + "/gateway.do" }

// SetDown makes every call answer HTTP 500 (true) or work again.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// AppKeyPEM is the app's private key (PKCS#1 PEM, as Alipay's tool writes).
func (s *Server) AppKeyPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(s.AppKey)}))
}

// AlipayPublicKeyPEM is Alipay's public key (PKIX PEM).
func (s *Server) AlipayPublicKeyPEM() string {
	der, _ := x509.MarshalPKIXPublicKey(&s.AlipayKey.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Certificates switches the fake to certificate mode and returns the
// app's public certificate, Alipay's public certificate and the root
// certificate (PEM), all RSA, issued by a root made here. Requests must then
// carry app_cert_sn and alipay_root_cert_sn, and replies and notifications
// carry alipay_cert_sn, as Alipay's do.
func (s *Server) Certificates() (appCert, alipayCert, rootCert string, err error) {
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fake Alipay Root", Organization: []string{"Fake"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, SignatureAlgorithm: x509.SHA256WithRSA}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		return "", "", "", err
	}
	root, _ := x509.ParseCertificate(rootDER)
	issue := func(serial int64, cn string, pub *rsa.PublicKey) (*x509.Certificate, string, error) {
		sn, err := rand.Int(rand.Reader, big.NewInt(1<<62)) // Alipay's serials tell certificates apart
		if err != nil {
			return nil, "", err
		}
		t := &x509.Certificate{SerialNumber: sn.Add(sn, big.NewInt(serial)), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), SignatureAlgorithm: x509.SHA256WithRSA}
		der, err := x509.CreateCertificate(rand.Reader, t, root, pub, rootKey)
		if err != nil {
			return nil, "", err
		}
		c, _ := x509.ParseCertificate(der)
		return c, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
	}
	app, appPEM, err := issue(4001, s.AppID, &s.AppKey.PublicKey)
	if err != nil {
		return "", "", "", err
	}
	ali, aliPEM, err := issue(4002, "Alipay", &s.AlipayKey.PublicKey)
	if err != nil {
		return "", "", "", err
	}
	s.mu.Lock()
	s.appCertSN, s.alipayCertSN, s.rootCertSN = certSN(app), certSN(ali), certSN(root)
	s.mu.Unlock()
	return appPEM, aliPEM, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})), nil
}

// certSN is Alipay's certificate serial: md5(issuer DN + decimal serial).
func certSN(c *x509.Certificate) string {
	sum := md5.Sum([]byte(c.Issuer.String() + c.SerialNumber.String()))
	return hex.EncodeToString(sum[:])
}

// Trade returns a copy of a trade.
func (s *Server) Trade(outTradeNo string) (Trade, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[outTradeNo]
	if !ok {
		return Trade{}, false
	}
	return *t, true
}

// Transfer returns a copy of a transfer.
func (s *Server) Transfer(outBizNo string) (Transfer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.transfers[outBizNo]
	if !ok {
		return Transfer{}, false
	}
	return *t, true
}

// SetTransferStatus changes a transfer's status.
func (s *Server) SetTransferStatus(outBizNo, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.transfers[outBizNo]; ok {
		t.Status = status
	}
}

// SetBill sets the bill file of a day.
func (s *Server) SetBill(date string, file []byte) { s.mu.Lock(); s.bills[date] = file; s.mu.Unlock() }

// SetAccountBill sets the account bill (bill_type signcustomer: 账务明细)
// of a day; a day without one has an account bill with no lines.
func (s *Server) SetAccountBill(date string, file []byte) {
	s.mu.Lock()
	s.accounts[date] = file
	s.mu.Unlock()
}

// Pay marks a trade paid and returns its trade_no.
func (s *Server) Pay(outTradeNo string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.trades[outTradeNo]
	if !ok {
		return "", fmt.Errorf("alipaytest: no trade %q", outTradeNo)
	}
	if t.Status == "WAIT_BUYER_PAY" {
		s.seq++
		t.TradeNo = fmt.Sprintf("2026120122001%08d", s.seq)
		t.Status, t.PaidAt = "TRADE_SUCCESS", time.Now().Truncate(time.Second)
	}
	return t.TradeNo, nil
}

// CloseTrade closes an unpaid trade (as Alipay does when it times out).
func (s *Server) CloseTrade(outTradeNo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.trades[outTradeNo]; ok && t.Status == "WAIT_BUYER_PAY" {
		t.Status = "TRADE_CLOSED"
	}
}

// PaymentNotification is the signed trade_status_sync form of a paid trade.
func (s *Server) PaymentNotification(outTradeNo string) (url.Values, error) {
	s.mu.Lock()
	t, ok := s.trades[outTradeNo]
	var v url.Values
	if ok {
		v = url.Values{"notify_type": {"trade_status_sync"}, "notify_id": {fmt.Sprintf("ntf%d", time.Now().UnixNano())},
			"notify_time": {time.Now().Format("2006-01-02 15:04:05")}, "app_id": {s.AppID}, "charset": {"utf-8"}, "version": {"1.0"},
			"trade_no": {t.TradeNo}, "out_trade_no": {t.OutTradeNo}, "trade_status": {t.Status}, "total_amount": {t.Total},
			"receipt_amount": {t.Total}, "buyer_pay_amount": {t.Total}, "subject": {t.Subject}, "seller_id": {"2088000000000001"},
			"gmt_payment": {t.PaidAt.Format("2006-01-02 15:04:05")}}
	}
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("alipaytest: no trade %q", outTradeNo)
	}
	return s.SignNotification(v), nil
}

// SignNotification adds sign_type and sign (over the sorted pairs without
// sign and sign_type) to v.
func (s *Server) SignNotification(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	out.Del("sign")
	out.Del("sign_type")
	key := s.AlipayKey
	if s.ForgeKey != nil {
		key = s.ForgeKey
	}
	if s.alipayCertSN != "" {
		out.Set("alipay_cert_sn", s.alipayCertSN)
	}
	out.Set("sign", base64.StdEncoding.EncodeToString(signBytes(key, []byte(canonical(out, "sign", "alipay_cert_sn")))))
	out.Set("sign_type", "RSA2")
	return out
}

func canonical(v url.Values, ignore ...string) string {
	var pairs []string
	for k, vs := range v {
		skip := false
		for _, i := range ignore {
			skip = skip || k == i
		}
		if skip {
			continue
		}
		for _, x := range vs {
			pairs = append(pairs, k+"="+x)
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func signBytes(key *rsa.PrivateKey, b []byte) []byte {
	sum := sha256.Sum256(b)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	return sig
}

func (s *Server) reply(w http.ResponseWriter, method string, rsp map[string]any) {
	obj, _ := json.Marshal(rsp)
	field := strings.ReplaceAll(method, ".", "_") + "_response"
	var b bytes.Buffer
	cert := ""
	if s.alipayCertSN != "" {
		cert = `"alipay_cert_sn":"` + s.alipayCertSN + `",`
	}
	fmt.Fprintf(&b, `{"%s":%s,%s"sign":"%s"}`, field, obj, cert, base64.StdEncoding.EncodeToString(signBytes(s.AlipayKey, obj)))
	w.Header().Set("Content-Type", "text/html;charset=utf-8") // as Alipay does
	_, _ = w.Write(b.Bytes())
}

func (s *Server) bizFail(w http.ResponseWriter, method, code, subCode, subMsg string) {
	s.reply(w, method, map[string]any{"code": code, "msg": "Business Failed", "sub_code": subCode, "sub_msg": subMsg})
}

func ok(m map[string]any) map[string]any {
	m["code"], m["msg"] = "10000", "Success"
	return m
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/bill/") || strings.HasPrefix(r.URL.Path, "/accountbill/") {
		s.mu.Lock()
		f, found := s.bills[strings.TrimPrefix(r.URL.Path, "/bill/")]
		if date, ok := strings.CutPrefix(r.URL.Path, "/accountbill/"); ok {
			f, found = s.accounts[date]
		}
		s.mu.Unlock()
		if !found {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(f)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	v := r.PostForm
	method := v.Get("method")
	sig, err := base64.StdEncoding.DecodeString(v.Get("sign"))
	sum := sha256.Sum256([]byte(canonical(v, "sign")))
	if err != nil || v.Get("sign_type") != "RSA2" || v.Get("app_id") != s.AppID ||
		rsa.VerifyPKCS1v15(&s.AppKey.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		// Alipay answers a bad signature unsigned, in error_response.
		_, _ = io.WriteString(w, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}`)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alipayCertSN != "" && (v.Get("app_cert_sn") != s.appCertSN || v.Get("alipay_root_cert_sn") != s.rootCertSN) {
		_, _ = io.WriteString(w, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-cert-sn","sub_msg":"应用公钥证书序列号不匹配"}}`)
		return
	}
	if s.down {
		http.Error(w, "service unavailable", http.StatusInternalServerError)
		return
	}
	var biz map[string]any
	_ = json.Unmarshal([]byte(v.Get("biz_content")), &biz)
	str := func(k string) string { x, _ := biz[k].(string); return x }
	switch method {
	case "alipay.system.oauth.token":
		s.oauthToken(w, v)
	case "alipay.trade.precreate":
		no := str("out_trade_no")
		if no == "" || str("total_amount") == "" {
			s.bizFail(w, method, "40004", "ACQ.INVALID_PARAMETER", "missing parameters")
			return
		}
		t, found := s.trades[no]
		if found && (t.Total != str("total_amount") || t.Status != "WAIT_BUYER_PAY") {
			s.bizFail(w, method, "40004", "ACQ.CONTEXT_INCONSISTENT", "out_trade_no used with other parameters")
			return
		}
		if !found {
			s.trades[no] = &Trade{OutTradeNo: no, Subject: str("subject"), Total: str("total_amount"), Status: "WAIT_BUYER_PAY",
				NotifyURL: v.Get("notify_url"), Refunds: map[string]string{}}
		}
		s.reply(w, method, ok(map[string]any{"out_trade_no": no, "qr_code": "https://qr.alipay.com/" + no}))
	case "alipay.trade.query":
		t, found := s.trades[str("out_trade_no")]
		if !found {
			s.bizFail(w, method, "40004", "ACQ.TRADE_NOT_EXIST", "trade does not exist")
			return
		}
		s.reply(w, method, ok(map[string]any{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo, "trade_status": t.Status,
			"total_amount": t.Total, "buyer_pay_amount": t.Total, "receipt_amount": t.Total, "send_pay_date": t.PaidAt.Format("2006-01-02 15:04:05")}))
	case "alipay.trade.refund":
		t, found := s.trades[str("out_trade_no")]
		if !found || t.Status != "TRADE_SUCCESS" {
			s.bizFail(w, method, "40004", "ACQ.TRADE_NOT_EXIST", "trade not paid or not found")
			return
		}
		req := str("out_request_no")
		if _, done := t.Refunds[req]; !done {
			if cents(sumRefunds(t))+cents(str("refund_amount")) > cents(t.Total) {
				s.bizFail(w, method, "40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "refund exceeds the trade")
				return
			}
			t.Refunds[req] = str("refund_amount")
		}
		s.reply(w, method, ok(map[string]any{"out_trade_no": t.OutTradeNo, "trade_no": t.TradeNo, "fund_change": "Y",
			"refund_fee": sumRefunds(t), "buyer_user_id": "2088000000000009"}))
	case "alipay.fund.trans.uni.transfer":
		no := str("out_biz_no")
		payee, _ := biz["payee_info"].(map[string]any)
		identity, _ := payee["identity"].(string)
		t, found := s.transfers[no]
		if found && (t.Amount != str("trans_amount") || t.Identity != identity) {
			s.bizFail(w, method, "40004", "INVALID_PARAMETER", "out_biz_no used with other parameters")
			return
		}
		if !found {
			s.seq++
			status := s.TransferStatus
			if status == "" {
				status = "SUCCESS"
			}
			t = &Transfer{OutBizNo: no, OrderID: fmt.Sprintf("20261201110070000%06d", s.seq), Amount: str("trans_amount"), Identity: identity, Status: status}
			s.transfers[no] = t
		}
		s.reply(w, method, ok(map[string]any{"out_biz_no": t.OutBizNo, "order_id": t.OrderID, "pay_fund_order_id": "P" + t.OrderID,
			"status": t.Status, "trans_date": time.Now().Format("2006-01-02 15:04:05")}))
	case "alipay.fund.trans.common.query":
		t, found := s.transfers[str("out_biz_no")]
		if !found {
			s.bizFail(w, method, "40004", "ORDER_NOT_EXIST", "transfer does not exist")
			return
		}
		s.reply(w, method, ok(map[string]any{"out_biz_no": t.OutBizNo, "order_id": t.OrderID, "status": t.Status, "trans_amount": t.Amount}))
	case "alipay.data.dataservice.bill.downloadurl.query":
		date := str("bill_date")
		if str("bill_type") == "signcustomer" {
			if _, found := s.accounts[date]; !found {
				empty, err := AccountBillZip(nil)
				if err != nil {
					s.bizFail(w, method, "20000", "isp.unknown-error", err.Error())
					return
				}
				s.accounts[date] = empty
			}
			s.reply(w, method, ok(map[string]any{"bill_download_url": s.URL + "/accountbill/" + date}))
			return
		}
		if _, found := s.bills[date]; !found {
			s.bizFail(w, method, "40004", "isp.bill_not_exist", "bill does not exist")
			return
		}
		s.reply(w, method, ok(map[string]any{"bill_download_url": s.URL + "/bill/" + date}))
	default:
		s.bizFail(w, method, "40004", "isv.invalid-method", "no such method")
	}
}

func sumRefunds(t *Trade) string {
	var c int64
	for _, a := range t.Refunds {
		c += cents(a)
	}
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// cents reads "12.34" (the fake trusts its own inputs' shape).
func cents(s string) int64 {
	w, f, _ := strings.Cut(s, ".")
	for len(f) < 2 {
		f += "0"
	}
	a, _ := strconv.ParseInt(w, 10, 64)
	b, _ := strconv.ParseInt(f[:2], 10, 64)
	return a*100 + b
}

// BillRow is one line of a fake business detail.
type BillRow struct {
	At           time.Time
	TradeNo      string
	OutTradeNo   string
	Refund       bool
	OutRequestNo string
	Yuan         string // as Alipay writes it: refunds negative
	FeeYuan      string // negative: a deduction
}

// BillZip renders rows as Alipay's trade bill: a zip holding a GBK
// business-detail CSV with its comment lines, and the summary file.
func BillZip(rows []BillRow) ([]byte, error) {
	var csvText strings.Builder
	csvText.WriteString("#支付宝业务明细查询\r\n#账号：[20880000000000010156]\r\n#起始日期：[2026年11月30日 00:00:00]   终止日期：[2026年12月01日 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n")
	csvText.WriteString("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n")
	for _, r := range rows {
		kind, req := "交易", ""
		if r.Refund {
			kind, req = "退款", r.OutRequestNo
		}
		at := r.At.Format("2006-01-02 15:04:05")
		fmt.Fprintf(&csvText, "%s\t,%s\t,%s,积分预算,%s,%s,,,,,buyer@example.com,%s,%s,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,%s\t,%s,0.00,\r\n",
			r.TradeNo, r.OutTradeNo, kind, at, at, r.Yuan, r.Yuan, req, r.FeeYuan)
	}
	csvText.WriteString("#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：1笔\r\n#导出时间：[2026年12月01日 10:00:00]\r\n")
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(csvText.String())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for name, body := range map[string]string{"20880000000000010156_20261130_业务明细.csv": gbk, "20880000000000010156_20261130_业务明细(汇总).csv": "#summary\r\n"} {
		w, err := z.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(w, body); err != nil {
			return nil, err
		}
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// AccountRow is one movement of a fake account bill (账务明细).
type AccountRow struct {
	At          time.Time
	OrderID     string // 业务流水号: the transfer's order_id
	OutBizNo    string // 商户订单号
	Business    string // 业务类型, e.g. 转账, 交易, 退款
	InYuan      string // 收入金额（+元）, "" when an expense
	OutYuan     string // 支出金额（-元）, negative, "" when income
	BalanceYuan string
}

// AccountBillZip renders rows as Alipay's account bill: a zip holding a GBK
// CSV whose name ends in 账务明细.csv.
func AccountBillZip(rows []AccountRow) ([]byte, error) {
	var t strings.Builder
	t.WriteString("#支付宝账务明细查询\r\n#账号：[20880000000000010156]\r\n#起始日期：[2026年11月30日 00:00:00]   终止日期：[2026年12月01日 00:00:00]\r\n#-----------------------------------------账务明细列表----------------------------------------\r\n")
	t.WriteString("账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注\r\n")
	for i, r := range rows {
		fmt.Fprintf(&t, "%d\t,%s\t,%s\t,,%s,payee@example.com,%s,%s,%s,支付宝,%s,\r\n",
			20261130000000+i, r.OrderID, r.OutBizNo, r.At.Format("2006-01-02 15:04:05"), r.InYuan, r.OutYuan, r.BalanceYuan, r.Business)
	}
	t.WriteString("#-----------------------------------------账务明细列表结束------------------------------------\r\n#导出时间：[2026年12月01日 10:00:00]\r\n")
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(t.String())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	w, err := z.Create("20880000000000010156_20261130_账务明细.csv")
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, gbk); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
