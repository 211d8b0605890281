package alipay

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/smartwalle/alipay/v3"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/payment"
)

const maxBill = 64 << 20

var shanghai = time.FixedZone("CST", 8*3600)

// FetchStatement downloads the trade bill (payments and refunds) and the
// account bill (bill_type signcustomer: the uni.transfer payouts) of date
// (YYYY-MM-DD): Alipay signs only the replies with the URLs; each file is a
// zip of GBK CSVs.
func (ch *Channel) FetchStatement(ctx context.Context, date string) (payment.Statement, error) {
	day, err := time.ParseInLocation("2006-01-02", date, shanghai)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("%w: alipay: statement date %q is not YYYY-MM-DD", sdk.ErrInvalidInput, date)
	}
	file, err := ch.bill(ctx, "trade", date)
	if err != nil {
		return payment.Statement{}, err
	}
	entries, err := ParseBillZip(file)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("alipay: bill of %s: %w", date, err)
	}
	// Payouts are not trades: the account bill has them.
	acct, err := ch.bill(ctx, "signcustomer", date)
	if err != nil {
		return payment.Statement{}, err
	}
	payouts, err := ParseAccountZip(acct)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("alipay: account bill of %s: %w", date, err)
	}
	return payment.Statement{Date: date, Entries: append(entries, payouts...), Final: time.Now().After(day.AddDate(0, 0, 1).Add(10 * time.Hour))}, nil
}

// bill asks for the download URL of a bill of billType and downloads it.
func (ch *Channel) bill(ctx context.Context, billType, date string) ([]byte, error) {
	rsp, err := ch.client.BillDownloadURLQuery(ctx, alipay.BillDownloadURLQuery{BillType: billType, BillDate: date})
	if err != nil {
		return nil, fmt.Errorf("alipay: %s bill URL of %s: %w", billType, date, err)
	}
	if !rsp.IsSuccess() {
		return nil, fmt.Errorf("alipay: %s bill URL of %s: %s %s", billType, date, rsp.SubCode, rsp.SubMsg)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rsp.BillDownloadURL, nil)
	if err != nil {
		return nil, fmt.Errorf("alipay: %s bill of %s: %w", billType, date, err)
	}
	res, err := ch.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alipay: download %s bill of %s: %w", billType, date, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alipay: download %s bill of %s: HTTP %d", billType, date, res.StatusCode)
	}
	file, err := io.ReadAll(io.LimitReader(res.Body, maxBill+1))
	if err != nil || len(file) > maxBill {
		return nil, fmt.Errorf("alipay: download %s bill of %s: too large or cut: %v", billType, date, err)
	}
	return file, nil
}

// ParseBillZip reads the business-detail CSV (its name ends in
// "业务明细.csv") of an Alipay trade bill zip.
func ParseBillZip(file []byte) ([]payment.StatementEntry, error) {
	raw, err := zipCSV(file, "业务明细.csv")
	if err != nil {
		return nil, err
	}
	return ParseBusinessDetail(raw)
}

// ParseAccountZip reads the account-detail CSV (its name ends in
// "账务明细.csv") of an Alipay account bill zip: the payouts.
func ParseAccountZip(file []byte) ([]payment.StatementEntry, error) {
	raw, err := zipCSV(file, "账务明细.csv")
	if err != nil {
		return nil, err
	}
	return ParseAccountDetail(raw)
}

// zipCSV returns the GBK bytes of the file of a bill zip whose name ends
// in suffix.
func zipCSV(file []byte, suffix string) ([]byte, error) {
	z, err := zip.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		return nil, fmt.Errorf("not a zip: %w", err)
	}
	for _, f := range z.File {
		name := f.Name
		if f.NonUTF8 || !strings.HasSuffix(name, ".csv") {
			if d, err := simplifiedchinese.GBK.NewDecoder().String(name); err == nil {
				name = d
			}
		}
		if !strings.HasSuffix(name, suffix) {
			continue
		}
		if f.UncompressedSize64 > maxBill {
			return nil, errors.New(suffix + " too large")
		}
		r, err := f.Open()
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(r, maxBill+1))
		r.Close()
		if err != nil {
			return nil, err
		}
		return raw, nil
	}
	return nil, errors.New("no " + suffix + " in the bill")
}

// detailRecords decodes a GBK bill CSV: comment lines start with '#', then
// a header (returned as column indexes, checked for need), then records.
func detailRecords(gbk []byte, need []string) (map[string]int, [][]string, error) {
	text, err := simplifiedchinese.GBK.NewDecoder().Bytes(gbk)
	if err != nil {
		return nil, nil, fmt.Errorf("not GBK: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	r := csv.NewReader(strings.NewReader(strings.Join(lines, "\n")))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, nil, fmt.Errorf("header has no %s column", n)
		}
	}
	var recs [][]string
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return col, recs, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) < len(header) {
			return nil, nil, fmt.Errorf("line %d has %d fields, the header %d", line, len(rec), len(header))
		}
		recs = append(recs, rec)
	}
}

// ParseAccountDetail reads the payouts of a GBK account-detail CSV: a
// transfer (业务类型 转账) paid out (支出金额, written negative) is a payout
// whose TransactionID is the merchant order number (商户订单号, the
// out_biz_no) and ChannelReference the business serial (业务流水号, the
// order_id). Every other movement (trades, refunds, fees) is in the trade
// bill and skipped.
func ParseAccountDetail(gbk []byte) ([]payment.StatementEntry, error) {
	col, recs, err := detailRecords(gbk, []string{"业务流水号", "商户订单号", "发生时间", "支出金额（-元）", "业务类型"})
	if err != nil {
		return nil, err
	}
	var out []payment.StatementEntry
	for i, rec := range recs {
		f := func(n string) string { return strings.TrimSpace(rec[col[n]]) }
		if f("业务类型") != "转账" || f("支出金额（-元）") == "" {
			continue
		}
		amt, err := payment.ParseYuan(f("支出金额（-元）"))
		if err != nil {
			return nil, fmt.Errorf("line %d: amount: %w", i+2, err)
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05", f("发生时间"), shanghai)
		if err != nil {
			return nil, fmt.Errorf("line %d: time: %w", i+2, err)
		}
		out = append(out, payment.StatementEntry{Type: "payout", TransactionID: f("商户订单号"), ChannelReference: f("业务流水号"),
			AmountFen: -amt, Currency: "CNY", OccurredAt: at.UTC(), Status: payment.StatusSucceeded})
	}
	return out, nil
}

// ParseBusinessDetail reads a GBK business-detail CSV: comment lines start
// with '#', then a header, one line per trade or refund, amounts in yuan.
func ParseBusinessDetail(gbk []byte) ([]payment.StatementEntry, error) {
	col, recs, err := detailRecords(gbk, []string{"支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "退款批次号/请求号", "服务费（元）"})
	if err != nil {
		return nil, err
	}
	var out []payment.StatementEntry
	for i, rec := range recs {
		line := i + 2
		f := func(n string) string { return strings.TrimSpace(rec[col[n]]) }
		amt, err := payment.ParseYuan(f("订单金额（元）"))
		if err != nil {
			return nil, fmt.Errorf("line %d: amount: %w", line, err)
		}
		fee, err := payment.ParseYuan(f("服务费（元）"))
		if err != nil {
			return nil, fmt.Errorf("line %d: fee: %w", line, err)
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05", f("完成时间"), shanghai)
		if err != nil {
			return nil, fmt.Errorf("line %d: time: %w", line, err)
		}
		e := payment.StatementEntry{ChannelReference: f("支付宝交易号"), Currency: "CNY", OccurredAt: at.UTC(), FeeFen: -fee, Status: payment.StatusSucceeded}
		switch f("业务类型") {
		case "交易":
			e.Type, e.TransactionID, e.AmountFen = "payment", f("商户订单号"), amt
		case "退款":
			e.Type, e.TransactionID, e.AmountFen = "refund", f("退款批次号/请求号"), -amt // the bill writes refunds negative
		default:
			return nil, fmt.Errorf("line %d: unknown business type %q", line, f("业务类型"))
		}
		out = append(out, e)
	}
	return out, nil
}
