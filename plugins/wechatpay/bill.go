package wechatpay

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

// maxBill bounds a downloaded bill (a day of a busy account is a few MB).
const maxBill = 64 << 20

// shanghai is the time zone of WeChat Pay's bills.
var shanghai = time.FixedZone("CST", 8*3600)

// FetchStatement downloads the trade bill (ALL: payments and refunds) and
// the fund flow bill of the basic account (payouts) of date (YYYY-MM-DD):
// for each, the signed reply gives its SHA1 and download URL; the file
// itself is not signed, so its hash is checked before a line is believed.
func (ch *Channel) FetchStatement(ctx context.Context, date string) (payment.Statement, error) {
	day, err := time.ParseInLocation("2006-01-02", date, shanghai)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("%w: wechatpay: statement date %q is not YYYY-MM-DD", sdk.ErrInvalidInput, date)
	}
	file, err := ch.bill(ctx, "trade bill", "/v3/bill/tradebill?bill_date="+url.QueryEscape(date)+"&bill_type=ALL")
	if err != nil {
		return payment.Statement{}, fmt.Errorf("wechatpay: trade bill of %s: %w", date, err)
	}
	entries, err := ParseTradeBill(file)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("wechatpay: trade bill of %s: %w", date, err)
	}
	// Payouts (merchant transfers) are not trades: the fund flow bill of
	// the basic account has them.
	flow, err := ch.bill(ctx, "fund flow bill", "/v3/bill/fundflowbill?bill_date="+url.QueryEscape(date)+"&account_type=BASIC")
	if err != nil {
		return payment.Statement{}, fmt.Errorf("wechatpay: fund flow bill of %s: %w", date, err)
	}
	payouts, err := ParseFundFlowBill(flow)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("wechatpay: fund flow bill of %s: %w", date, err)
	}
	// WeChat Pay publishes a day's bill after 10:00 the next day; it does
	// not change after that.
	final := time.Now().After(day.AddDate(0, 0, 1).Add(10 * time.Hour))
	return payment.Statement{Date: date, Entries: append(entries, payouts...), Final: final}, nil
}

// bill asks for a bill (the signed reply gives its SHA1 and download URL)
// and downloads it; the file is not signed, so its hash is checked before
// a line of it is believed.
func (ch *Channel) bill(ctx context.Context, what, path string) ([]byte, error) {
	r, err := ch.client.Get(ctx, consts.WechatPayAPIServer+path)
	if err != nil {
		return nil, err
	}
	var meta struct {
		HashType    string `json:"hash_type"`
		HashValue   string `json:"hash_value"`
		DownloadURL string `json:"download_url"`
	}
	if err := core.UnMarshalResponse(r.Response, &meta); err != nil {
		return nil, err
	}
	if meta.HashType != "SHA1" || meta.DownloadURL == "" {
		return nil, fmt.Errorf("unsupported hash %q or no URL", meta.HashType)
	}
	d, err := ch.download.Get(ctx, meta.DownloadURL)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	defer d.Response.Body.Close()
	file, err := io.ReadAll(io.LimitReader(d.Response.Body, maxBill+1))
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if len(file) > maxBill {
		return nil, fmt.Errorf("the %s is larger than %d bytes", what, maxBill)
	}
	sum := sha1.Sum(file)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), meta.HashValue) {
		return nil, fmt.Errorf("SHA1 %x does not match the signed %s", sum, meta.HashValue)
	}
	return file, nil
}

// ParseFundFlowBill reads the payouts of a fund flow bill (资金账单): the
// header line, data lines whose every field starts with a backquote, and
// the summary after "资金流水总笔数", whose counts and amounts are checked
// against the lines. A merchant transfer (业务类型 商家转账, or 企业付款 of
// the older product) paid out (支出) is a payout whose TransactionID is the
// merchant's number (业务凭证号, the out_bill_no) and ChannelReference the
// transfer bill number; every other movement (trades, refunds, fees) is in
// the trade bill already and is skipped here.
func ParseFundFlowBill(file []byte) ([]payment.StatementEntry, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(file, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"记账时间", "微信支付业务单号", "业务类型", "收支类型", "收支金额（元）", "业务凭证号"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("header has no %s column", need)
		}
	}
	var (
		out           []payment.StatementEntry
		lines         int
		nIn, nOut     int
		sumIn, sumOut int64
		summary       []string
	)
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if strings.HasPrefix(rec[0], "资金流水总笔数") {
			if summary, err = r.Read(); err != nil {
				return nil, fmt.Errorf("summary: %w", err)
			}
			break
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("line %d has %d fields, the header %d", line, len(rec), len(header))
		}
		lines++
		f := func(name string) string { return strings.TrimPrefix(strings.TrimSpace(rec[col[name]]), "`") }
		amt, err := payment.ParseYuan(f("收支金额（元）"))
		if err != nil {
			return nil, fmt.Errorf("line %d: amount: %w", line, err)
		}
		expense := f("收支类型") == "支出"
		if expense {
			nOut, sumOut = nOut+1, sumOut+amt
		} else {
			nIn, sumIn = nIn+1, sumIn+amt
		}
		if biz := f("业务类型"); !expense || biz != "商家转账" && biz != "企业付款" {
			continue
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05", f("记账时间"), shanghai)
		if err != nil {
			return nil, fmt.Errorf("line %d: time: %w", line, err)
		}
		out = append(out, payment.StatementEntry{Type: "payout", TransactionID: f("业务凭证号"), ChannelReference: f("微信支付业务单号"),
			AmountFen: amt, Currency: "CNY", OccurredAt: at.UTC(), Status: payment.StatusSucceeded})
	}
	if len(summary) < 5 {
		return nil, errors.New("no summary lines (truncated bill?)")
	}
	clean := func(i int) string { return strings.TrimPrefix(strings.TrimSpace(summary[i]), "`") }
	if n, err := strconv.Atoi(clean(0)); err != nil || n != lines {
		return nil, fmt.Errorf("summary counts %s lines, the bill has %d", clean(0), lines)
	}
	in, errIn := payment.ParseYuan(clean(2))
	exp, errOut := payment.ParseYuan(clean(4))
	if clean(1) != strconv.Itoa(nIn) || clean(3) != strconv.Itoa(nOut) || errIn != nil || errOut != nil || in != sumIn || exp != sumOut {
		return nil, fmt.Errorf("summary %v does not add up: the lines have %d in (%d fen) and %d out (%d fen)", summary, nIn, sumIn, nOut, sumOut)
	}
	return out, nil
}

// ParseTradeBill reads a trade bill (bill_type ALL): the header line, data
// lines whose every field starts with a backquote, and the summary lines
// after "总交易单数". Amounts are yuan strings, converted to fen exactly;
// the summary totals are checked against the lines.
func ParseTradeBill(file []byte) ([]payment.StatementEntry, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(file, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "微信退款单号", "商户退款单号", "退款金额", "手续费"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("header has no %s column", need)
		}
	}
	var (
		entries           []payment.StatementEntry
		sumPay, sumRefund int64
		summary           []string
	)
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if strings.HasPrefix(rec[0], "总交易单数") {
			summary, err = r.Read()
			if err != nil {
				return nil, fmt.Errorf("summary: %w", err)
			}
			break
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("line %d has %d fields, the header %d", line, len(rec), len(header))
		}
		f := func(name string) string { return strings.TrimPrefix(strings.TrimSpace(rec[col[name]]), "`") }
		at, err := time.ParseInLocation("2006-01-02 15:04:05", f("交易时间"), shanghai)
		if err != nil {
			return nil, fmt.Errorf("line %d: time: %w", line, err)
		}
		fee, err := payment.ParseYuan(f("手续费"))
		if err != nil {
			return nil, fmt.Errorf("line %d: fee: %w", line, err)
		}
		e := payment.StatementEntry{Currency: "CNY", OccurredAt: at.UTC(), FeeFen: fee, Status: payment.StatusSucceeded}
		switch f("交易状态") {
		case "SUCCESS":
			amt, err := payment.ParseYuan(f("应结订单金额"))
			if err != nil {
				return nil, fmt.Errorf("line %d: amount: %w", line, err)
			}
			e.Type, e.TransactionID, e.ChannelReference, e.AmountFen = "payment", f("商户订单号"), f("微信订单号"), amt
			sumPay += amt
		case "REFUND", "REVOKED":
			amt, err := payment.ParseYuan(f("退款金额"))
			if err != nil {
				return nil, fmt.Errorf("line %d: refund amount: %w", line, err)
			}
			e.Type, e.TransactionID, e.ChannelReference, e.AmountFen = "refund", f("商户退款单号"), f("微信退款单号"), amt
			sumRefund += amt
		default:
			return nil, fmt.Errorf("line %d: unknown trade state %q", line, f("交易状态"))
		}
		entries = append(entries, e)
	}
	if summary == nil {
		return nil, errors.New("no summary lines (truncated bill?)")
	}
	if len(summary) < 3 {
		return nil, errors.New("short summary line")
	}
	clean := func(i int) string { return strings.TrimPrefix(strings.TrimSpace(summary[i]), "`") }
	n, err := strconv.Atoi(clean(0))
	if err != nil || n != len(entries) {
		return nil, fmt.Errorf("summary counts %s lines, the bill has %d", clean(0), len(entries))
	}
	if tp, err := payment.ParseYuan(clean(1)); err != nil || tp != sumPay {
		return nil, fmt.Errorf("summary payments %s, the lines add up to %d fen", clean(1), sumPay)
	}
	if tr, err := payment.ParseYuan(clean(2)); err != nil || tr != sumRefund {
		return nil, fmt.Errorf("summary refunds %s, the lines add up to %d fen", clean(2), sumRefund)
	}
	return entries, nil
}
