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

// FetchStatement downloads the trade bill of date (YYYY-MM-DD): Alipay
// signs only the reply with the URL, the file is a zip of GBK CSVs; the
// business detail ("业务明细", not the summary) is read.
func (ch *Channel) FetchStatement(ctx context.Context, date string) (payment.Statement, error) {
	day, err := time.ParseInLocation("2006-01-02", date, shanghai)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("%w: alipay: statement date %q is not YYYY-MM-DD", sdk.ErrInvalidInput, date)
	}
	rsp, err := ch.client.BillDownloadURLQuery(ctx, alipay.BillDownloadURLQuery{BillType: "trade", BillDate: date})
	if err != nil {
		return payment.Statement{}, fmt.Errorf("alipay: bill URL of %s: %w", date, err)
	}
	if !rsp.IsSuccess() {
		return payment.Statement{}, fmt.Errorf("alipay: bill URL of %s: %s %s", date, rsp.SubCode, rsp.SubMsg)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rsp.BillDownloadURL, nil)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("alipay: bill of %s: %w", date, err)
	}
	res, err := ch.http.Do(req)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("alipay: download bill of %s: %w", date, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return payment.Statement{}, fmt.Errorf("alipay: download bill of %s: HTTP %d", date, res.StatusCode)
	}
	file, err := io.ReadAll(io.LimitReader(res.Body, maxBill+1))
	if err != nil || len(file) > maxBill {
		return payment.Statement{}, fmt.Errorf("alipay: download bill of %s: too large or cut: %v", date, err)
	}
	entries, err := ParseBillZip(file)
	if err != nil {
		return payment.Statement{}, fmt.Errorf("alipay: bill of %s: %w", date, err)
	}
	return payment.Statement{Date: date, Entries: entries, Final: time.Now().After(day.AddDate(0, 0, 1).Add(10 * time.Hour))}, nil
}

// ParseBillZip reads the business-detail CSV (its name ends in
// "业务明细.csv") of an Alipay trade bill zip.
func ParseBillZip(file []byte) ([]payment.StatementEntry, error) {
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
		if !strings.HasSuffix(name, "业务明细.csv") {
			continue
		}
		if f.UncompressedSize64 > maxBill {
			return nil, errors.New("business detail too large")
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
		return ParseBusinessDetail(raw)
	}
	return nil, errors.New("no 业务明细.csv in the bill")
}

// ParseBusinessDetail reads a GBK business-detail CSV: comment lines start
// with '#', then a header, one line per trade or refund, amounts in yuan.
func ParseBusinessDetail(gbk []byte) ([]payment.StatementEntry, error) {
	text, err := simplifiedchinese.GBK.NewDecoder().Bytes(gbk)
	if err != nil {
		return nil, fmt.Errorf("not GBK: %w", err)
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
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "退款批次号/请求号", "服务费（元）"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("header has no %s column", need)
		}
	}
	var out []payment.StatementEntry
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) < len(header) {
			return nil, fmt.Errorf("line %d has %d fields, the header %d", line, len(rec), len(header))
		}
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
