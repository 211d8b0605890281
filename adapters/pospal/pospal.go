// Package pospal is the POS adapter for Pospal (银豹), a till system that
// cannot push: its sales are read from the open API's ticket pages
// (queryTicketPages: a time window and a postBackParameter cursor). The
// adapter is a pos.Poller. Each call to Pospal is signed as Pospal
// requires:
//
//	time-stamp:     Unix milliseconds
//	data-signature: UPPER(hex(MD5(appKey + raw JSON body)))
//
// Each ticket read becomes a record the gateway stores in its inbox; the
// record is sealed with X-Lianmeng-Record-Signature = hex(HMAC-SHA256(
// appKey, body)), which HandleWebhook verifies (constant time) before it
// parses: a request posted to the connection's webhook URL by anyone
// without the app key is rejected, since Pospal itself never posts.
//
// SELL tickets earn; SELL_RETURN tickets claw back from the sale, found
// with querySellTicketByRefundTicketSn when the ticket is read; voided
// tickets (invalid = 1) are ignored. totalAmount is yuan as a JSON number,
// converted by its digits (never a float). The member is the Pospal
// customer (customerUid; 0 is a walk-in with no member).
//
// The cursor is the window being read: windows of at most window_hours,
// ending settle_seconds before now (a till may upload a ticket a little
// late); within a window Pospal's postBackParameter pages through results
// of pageSize. A window is left only after its last page is stored.
//
// Connection configuration:
//
//	{"api_base": "https://area20-win.pospal.cn:443", "app_id": "...", "app_key": "...",
//	 "start_at": "2026-12-01 00:00:00", "settle_seconds": 120, "window_hours": 24}
package pospal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lianmeng/lianmeng/adapters/internal/decimal"
	"github.com/lianmeng/lianmeng/sdk"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Name and Version identify the adapter.
const (
	Name    = "pospal"
	Version = "1.0.0"
)

// Header names.
const (
	HeaderTimestamp       = "time-stamp"
	HeaderSignature       = "data-signature"
	HeaderRecordSignature = "X-Lianmeng-Record-Signature"
)

// API paths of the open API.
const (
	PathTicketPages  = "/pospal-api2/openapi/v1/ticketOpenApi/queryTicketPages"
	PathSellByRefund = "/pospal-api2/openapi/v1/ticketOpenApi/querySellTicketByRefundTicketSn"
)

// TimeLayout is how Pospal writes times, in China Standard Time.
const TimeLayout = "2006-01-02 15:04:05"

// CST is the zone of Pospal's times.
var CST = time.FixedZone("CST", 8*3600)

// Plugins is what "lianmeng plugin serve pospal" serves.
func Plugins() sdk.Plugins {
	return sdk.Plugins{POSAdapter: &sdk.POSAdapter{
		Info: sdk.Info{Name: Name, Version: Version, Summary: "Pospal (银豹) tickets, polled from the open API",
			ConfigSchema: json.RawMessage(`{"type": "object", "additionalProperties": false}`)},
		New: New,
	}}
}

// Config is a connection's configuration.
type Config struct {
	APIBase       string `json:"api_base"`
	AppID         string `json:"app_id"`
	AppKey        string `json:"app_key"`
	StartAt       string `json:"start_at,omitempty"` // first window's start (CST); default: the first poll's time
	SettleSeconds *int   `json:"settle_seconds,omitempty"`
	WindowHours   int    `json:"window_hours,omitempty"`
}

func (c Config) settle() time.Duration {
	if c.SettleSeconds == nil {
		return 2 * time.Minute
	}
	return time.Duration(*c.SettleSeconds) * time.Second
}

func (c Config) window() time.Duration {
	if c.WindowHours <= 0 || c.WindowHours > 24 {
		return 24 * time.Hour
	}
	return time.Duration(c.WindowHours) * time.Hour
}

func decodeConfig(b []byte) (Config, error) {
	var c Config
	if err := sdk.DecodeConfig(b, &c); err != nil {
		return c, err
	}
	if c.AppID == "" || c.AppKey == "" || c.APIBase == "" {
		return c, fmt.Errorf("%w: api_base, app_id and app_key are required", sdk.ErrInvalidConfig)
	}
	u, err := url.Parse(c.APIBase)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return c, fmt.Errorf("%w: api_base must be an https URL (http only to a loopback test server)", sdk.ErrInvalidConfig)
	}
	if c.SettleSeconds != nil && (*c.SettleSeconds < 0 || *c.SettleSeconds > 86400) {
		return c, fmt.Errorf("%w: settle_seconds must be 0-86400", sdk.ErrInvalidConfig)
	}
	if c.StartAt != "" {
		if _, err := time.ParseInLocation(TimeLayout, c.StartAt, CST); err != nil {
			return c, fmt.Errorf("%w: start_at must be %q (CST)", sdk.ErrInvalidConfig, TimeLayout)
		}
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type adapter struct{ client *http.Client }

// New builds the adapter; the plugin configuration is empty (everything is
// per connection).
func New(_ context.Context, config []byte) (pos.Adapter, error) {
	var c struct{}
	if len(config) > 0 {
		if err := sdk.DecodeConfig(config, &c); err != nil {
			return nil, err
		}
	}
	return adapter{client: &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// Sign is Pospal's data-signature of a request body.
func Sign(appKey string, body []byte) string {
	s := md5.Sum(append([]byte(appKey), body...))
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// SealRecord is the record signature HandleWebhook verifies.
func SealRecord(appKey string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appKey))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// PostBack is Pospal's paging cursor within a window.
type PostBack struct {
	ParameterType  string `json:"parameterType"`
	ParameterValue string `json:"parameterValue"`
}

// Cursor is the adapter's polling position.
type Cursor struct {
	Start    string    `json:"start"`         // window start (CST)
	End      string    `json:"end,omitempty"` // set while paging through a window
	PostBack *PostBack `json:"post_back,omitempty"`
}

// Ticket is a Pospal sales ticket, as read.
type Ticket struct {
	UID         json.Number `json:"uid"`
	SN          string      `json:"sn"`
	Datetime    string      `json:"datetime"`
	TotalAmount json.Number `json:"totalAmount"`
	TicketType  string      `json:"ticketType"`
	Invalid     int         `json:"invalid"`
	CustomerUID json.Number `json:"customerUid"`
	StoreID     json.Number `json:"storeId,omitempty"`
	Items       []struct {
		ProductUID  json.Number `json:"productUid"`
		Name        string      `json:"name"`
		Barcode     string      `json:"productBarcode"`
		Quantity    json.Number `json:"quantity"`
		SellPrice   json.Number `json:"sellPrice"`
		TotalAmount json.Number `json:"totalAmount"`
	} `json:"items"`
	Payments []struct {
		Code   string      `json:"code"`
		Amount json.Number `json:"amount"`
	} `json:"payments"`
}

// Record is the body of a stored record: the ticket as Pospal sent it and,
// for a return, the sale it returns.
type Record struct {
	Ticket       json.RawMessage `json:"ticket"`
	SellTicketSN string          `json:"sell_ticket_sn,omitempty"`
}

type apiResponse struct {
	Status    string          `json:"status"`
	Messages  []string        `json:"messages"`
	ErrorCode json.Number     `json:"errorCode"`
	Data      json.RawMessage `json:"data"`
}

type ticketPage struct {
	PostBack *PostBack         `json:"postBackParameter"`
	Result   []json.RawMessage `json:"result"`
	PageSize int               `json:"pageSize"`
}

// providerError is Pospal refusing or failing a call: an answer for the
// gateway to back off on, not a failure of the plugin.
type providerError struct{ msg string }

func (e providerError) Error() string { return e.msg }

// call posts body to path, signed, and returns the response's data.
func (a adapter) call(ctx context.Context, cfg Config, path string, body any) (json.RawMessage, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(cfg.APIBase, "/")+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "openApi")
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	// The time-stamp is the real time of the call (Pospal checks it), not
	// the gateway clock the windows are computed from.
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(time.Now().UnixMilli(), 10))
	req.Header.Set(HeaderSignature, Sign(cfg.AppKey, b))
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, providerError{fmt.Sprintf("pospal %s: %v", path, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, providerError{fmt.Sprintf("pospal %s: reading: %v", path, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, providerError{fmt.Sprintf("pospal %s: HTTP %d", path, resp.StatusCode)}
	}
	var r apiResponse
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, providerError{fmt.Sprintf("pospal %s: unreadable answer: %v", path, err)}
	}
	if r.Status != "success" {
		return nil, providerError{fmt.Sprintf("pospal %s: %s (error %s): %s", path, r.Status, r.ErrorCode, strings.Join(r.Messages, "; "))}
	}
	return r.Data, nil
}

// Poll reads the next page of tickets.
func (a adapter) Poll(ctx context.Context, req pos.PollRequest) (pos.PollResult, error) {
	cfg, err := decodeConfig(req.MerchantConfig)
	if err != nil {
		return pos.PollResult{}, err
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	var cur Cursor
	if len(req.Cursor) > 0 {
		if err := json.Unmarshal(req.Cursor, &cur); err != nil {
			return pos.PollResult{}, fmt.Errorf("%w: cursor: %v", sdk.ErrInvalidInput, err)
		}
	} else {
		cur.Start = cfg.StartAt
		if cur.Start == "" {
			cur.Start = now.In(CST).Format(TimeLayout)
		}
	}
	start, err := time.ParseInLocation(TimeLayout, cur.Start, CST)
	if err != nil {
		return pos.PollResult{}, fmt.Errorf("%w: cursor start: %v", sdk.ErrInvalidInput, err)
	}
	horizon := now.Add(-cfg.settle()).Truncate(time.Second)
	end := start.Add(cfg.window())
	if cur.End != "" {
		if end, err = time.ParseInLocation(TimeLayout, cur.End, CST); err != nil {
			return pos.PollResult{}, fmt.Errorf("%w: cursor end: %v", sdk.ErrInvalidInput, err)
		}
	} else if end.After(horizon) {
		end = horizon
	}
	if !end.After(start) {
		b, _ := json.Marshal(cur)
		return pos.PollResult{Cursor: b}, nil // nothing settled since the last window
	}
	q := map[string]any{"appId": cfg.AppID, "startTime": start.In(CST).Format(TimeLayout), "endTime": end.In(CST).Format(TimeLayout)}
	if cur.PostBack != nil {
		q["postBackParameter"] = cur.PostBack
	}
	data, err := a.call(ctx, cfg, PathTicketPages, q)
	var pe providerError
	if errors.As(err, &pe) {
		return pos.PollResult{ProviderError: pe.msg}, nil
	}
	if err != nil {
		return pos.PollResult{}, err
	}
	var page ticketPage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&page); err != nil {
		return pos.PollResult{ProviderError: fmt.Sprintf("pospal ticket page: %v", err)}, nil
	}
	var out pos.PollResult
	for _, raw := range page.Result {
		var t Ticket
		if err := json.Unmarshal(raw, &t); err != nil || t.UID.String() == "" {
			return pos.PollResult{ProviderError: fmt.Sprintf("pospal ticket page: a ticket without uid (%v)", err)}, nil
		}
		rec := Record{Ticket: raw}
		if t.TicketType == "SELL_RETURN" && t.Invalid == 0 {
			d, err := a.call(ctx, cfg, PathSellByRefund, map[string]any{"appId": cfg.AppID, "refundTicketSn": t.SN})
			if errors.As(err, &pe) {
				return pos.PollResult{ProviderError: pe.msg}, nil
			}
			if err != nil {
				return pos.PollResult{}, err
			}
			var sale struct {
				SN string `json:"sn"`
			}
			if err := json.Unmarshal(d, &sale); err != nil || sale.SN == "" {
				return pos.PollResult{ProviderError: fmt.Sprintf("pospal: no sale for return ticket %s", t.SN)}, nil
			}
			rec.SellTicketSN = sale.SN
		}
		body, _ := json.Marshal(rec)
		out.Records = append(out.Records, pos.Record{ID: "ticket:" + t.UID.String(), Request: webhook.Request{
			Method: http.MethodPost, Path: PathTicketPages,
			Header: http.Header{"Content-Type": {"application/json"}, HeaderRecordSignature: {SealRecord(cfg.AppKey, body)}}, Body: body}})
	}
	next := Cursor{Start: cur.Start, End: end.In(CST).Format(TimeLayout), PostBack: page.PostBack}
	if page.PageSize <= 0 || len(page.Result) < page.PageSize || page.PostBack == nil {
		// The window's last page: the next window starts at its end.
		next = Cursor{Start: end.In(CST).Format(TimeLayout)}
		out.More = horizon.Sub(end) > 0
	} else {
		out.More = true
	}
	out.Cursor, _ = json.Marshal(next)
	return out, nil
}

// Ack is what a stored record is acknowledged with (nobody reads it).
var Ack = webhook.Text(http.StatusOK, "OK")

// HandleWebhook verifies and parses a record Poll produced.
func (a adapter) HandleWebhook(_ context.Context, req pos.Request) (pos.Result, error) {
	var cfg Config
	if err := sdk.DecodeConfig(req.MerchantConfig, &cfg); err != nil {
		return pos.Result{}, err
	}
	if cfg.AppKey == "" {
		return pos.Result{}, fmt.Errorf("%w: app_key is required", sdk.ErrInvalidConfig)
	}
	want := SealRecord(cfg.AppKey, req.HTTP.Body)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(req.HTTP.Header.Get(HeaderRecordSignature))), []byte(want)) != 1 {
		return pos.Result{Outcome: pos.Rejected, Reason: "not a record read from Pospal with this connection's app key (Pospal does not push)",
			Ack: webhook.Text(http.StatusUnauthorized, "")}, nil
	}
	var rec Record
	if err := json.Unmarshal(req.HTTP.Body, &rec); err != nil {
		return pos.Result{}, fmt.Errorf("%w: record: %v", sdk.ErrInvalidInput, err)
	}
	var t Ticket
	dec := json.NewDecoder(bytes.NewReader(rec.Ticket))
	dec.UseNumber()
	if err := dec.Decode(&t); err != nil {
		return pos.Result{}, fmt.Errorf("%w: ticket: %v", sdk.ErrInvalidInput, err)
	}
	res := pos.Result{Outcome: pos.Accepted, EventID: "ticket:" + t.UID.String(), EventType: t.TicketType, Ack: Ack}
	if t.Invalid != 0 {
		res.Outcome, res.Reason = pos.Ignored, "a voided ticket"
		return res, nil
	}
	p, err := parseTicket(t, rec.SellTicketSN)
	if err == nil {
		p.MerchantID = req.MerchantID
		err = p.Validate()
	}
	if err != nil {
		return pos.Result{}, fmt.Errorf("%w: ticket %s: %v", sdk.ErrInvalidInput, t.SN, err)
	}
	res.Events = []purchase.Purchase{p}
	return res, nil
}

func parseTicket(t Ticket, sellSN string) (purchase.Purchase, error) {
	if t.SN == "" {
		return purchase.Purchase{}, errors.New("sn is empty")
	}
	at, err := time.ParseInLocation(TimeLayout, t.Datetime, CST)
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("datetime %q: %v", t.Datetime, err)
	}
	amount, err := decimal.ToMinor(strings.TrimPrefix(t.TotalAmount.String(), "-"), "CNY")
	if err != nil {
		return purchase.Purchase{}, fmt.Errorf("totalAmount: %v", err)
	}
	p := purchase.Purchase{ExternalOrderID: t.SN, AmountFen: amount, Currency: "CNY", OccurredAt: at.UTC(), StoreID: t.StoreID.String()}
	if c := t.CustomerUID.String(); c != "" && c != "0" {
		p.Members = []purchase.Identity{{Type: "pospal_customer", Value: c}}
	}
	switch t.TicketType {
	case "SELL":
		for _, it := range t.Items {
			qty, err := decimal.QtyMilli(strings.TrimPrefix(it.Quantity.String(), "-"))
			if err != nil {
				return purchase.Purchase{}, fmt.Errorf("item %s quantity: %v", it.Name, err)
			}
			line, err := decimal.ToMinor(strings.TrimPrefix(it.TotalAmount.String(), "-"), "CNY")
			if it.TotalAmount.String() == "" {
				line, err = lineFromPrice(it.SellPrice.String(), qty)
			}
			if err != nil {
				return purchase.Purchase{}, fmt.Errorf("item %s amount: %v", it.Name, err)
			}
			p.Items = append(p.Items, purchase.LineItem{SKU: it.Barcode, Name: it.Name, Quantity: (qty + 999) / 1000, AmountFen: line})
		}
	case "SELL_RETURN":
		if sellSN == "" {
			return purchase.Purchase{}, errors.New("a return ticket without its sale")
		}
		p.Type, p.OriginalOrderID, p.ExternalOrderID, p.Items = purchase.TypeRefund, sellSN, "return:"+t.SN, nil
	default:
		return purchase.Purchase{}, fmt.Errorf("ticketType %q", t.TicketType)
	}
	return p, nil
}

// lineFromPrice is sellPrice × quantity (thousandths), rounded to the fen.
func lineFromPrice(price string, qtyMilli int64) (int64, error) {
	unit, err := decimal.ToMinorPlaces(strings.TrimPrefix(price, "-"), 4)
	if err != nil {
		return 0, err
	}
	// unit is in 1/100 fen; unit*qtyMilli is in 1/100000 fen.
	return (unit*qtyMilli + 50_000) / 100_000, nil
}
