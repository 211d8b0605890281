package settlement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lianmeng/lianmeng/gateway/inbox"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk/payment"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

// Channel notifications through the durable inbox (Funding.Inbox set, as
// serve does):
//
//  1. receive: the plugin verifies the notification (the channel's real
//     signature; WeChat Pay's resource decrypted). One that does not
//     verify is recorded (refused_signature) and refused; nothing is
//     stored, as with POS webhooks.
//  2. The verified notification is stored in the inbox (store.InboxEvent,
//     connection "channel:<name>", keyed by event type, transaction id and
//     status, so a redelivery, however re-encrypted, is stored once) and
//     committed; only then is the channel answered. A payment notification
//     for an order the ledger does not have, or for another amount, is
//     kept all the same (and dead-lettered by the worker) but answered as
//     refused, the answer the issue asks for, so the channel keeps asking
//     while an operator looks.
//  3. The inbox worker applies it (ApplyStoredNotification): a payment
//     funds its order once (the fund command refuses the same channel
//     payment twice), a refund or payout notification makes that refund
//     part or payout due now (its worker asks the channel and books the
//     answer); unknown ones are kept as dead letters and reported; a
//     failure to apply is retried with the inbox's backoff.

// Outcomes of notifications about refunds and payouts.
const (
	OutcomeAskedNow      = "asked_now"      // the refund or payout is asked about at once
	OutcomeAlreadyFinal  = "already_final"  // the refund or payout was final already
	OutcomeUnknownRefund = "unknown_refund" // no funding refund part with that number
	OutcomeUnknownPayout = "unknown_payout" // no payout with that number
)

// storedNotification is a verified notification as the inbox keeps it:
// what the plugin read from it, and the raw request for an operator.
type storedNotification struct {
	EventType      string      `json:"event_type"`
	Status         string      `json:"status"`
	TransactionID  string      `json:"transaction_id"`
	ChannelRef     string      `json:"channel_ref"`
	AmountFen      int64       `json:"amount_fen"`
	FailureCode    string      `json:"failure_code,omitempty"`
	FailureMessage string      `json:"failure_message,omitempty"`
	ReceivedAt     time.Time   `json:"received_at"`
	BodySHA256     string      `json:"body_sha256"`
	Method         string      `json:"method"`
	Path           string      `json:"path"`
	Header         http.Header `json:"header"`
	Body           []byte      `json:"body"`
}

var statusByName = map[string]payment.Status{}

func init() {
	for s := payment.StatusUnspecified; s <= payment.StatusNotSubmitted; s++ {
		statusByName[s.String()] = s
	}
}

// receive verifies a notification, stores it in the inbox and answers.
func (f *Funding) receive(ctx context.Context, channel string, req webhook.Request) (webhook.Response, error) {
	ch, err := f.Channels.PaymentChannel(channel)
	if err != nil {
		return webhook.Response{}, fmt.Errorf("%w: %q", ErrUnknownChannel, channel)
	}
	sum := sha256.Sum256(req.Body)
	now := f.now()
	cctx, cancel := context.WithTimeout(ctx, f.timeout())
	n, err := ch.HandleNotification(cctx, req)
	cancel()
	if err != nil {
		// Not verified (the plugin is down): not stored, not acknowledged.
		return webhook.Response{}, fmt.Errorf("%w: %v", ErrChannelUnavailable, err)
	}
	if !n.Verified {
		rec := store.ChannelNotification{Channel: channel, ReceivedAt: now, BodySHA256: hex.EncodeToString(sum[:]), EventType: n.EventType,
			TransactionID: n.Result.TransactionID, Outcome: OutcomeBadSignature, Detail: n.Result.FailureCode + ": " + n.Result.FailureMessage}
		f.record(ctx, rec)
		return webhook.Response{}, &RefusedError{Outcome: rec.Outcome, Detail: rec.Detail}
	}
	h := req.Header.Clone()
	for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
		h.Del(k)
	}
	sn := storedNotification{EventType: n.EventType, Status: n.Result.Status.String(), TransactionID: n.Result.TransactionID,
		ChannelRef: n.Result.ChannelReference, AmountFen: n.Result.AmountFen, FailureCode: n.Result.FailureCode,
		FailureMessage: n.Result.FailureMessage, ReceivedAt: now, BodySHA256: hex.EncodeToString(sum[:]),
		Method: req.Method, Path: req.Path, Header: h, Body: req.Body}
	raw, err := json.Marshal(sn)
	if err != nil {
		return webhook.Response{}, fmt.Errorf("%w: %v", ErrChannelUnavailable, err)
	}
	key := "sha256:" + sn.BodySHA256
	if sn.TransactionID != "" {
		key = sn.EventType + ":" + sn.Status + ":" + sn.TransactionID
		if len(key) > 128 {
			k := sha256.Sum256([]byte(key))
			key = "id-sha256:" + hex.EncodeToString(k[:])
		}
	}
	ev := store.InboxEvent{ConnectionID: inbox.ChannelPrefix + channel, EventKey: key, EventType: n.EventType, ReceivedAt: now,
		BodySHA256: sn.BodySHA256, Request: raw}
	if _, dup, err := f.DB.InsertInboxEvent(ctx, ev); err != nil {
		return webhook.Response{}, fmt.Errorf("%w: store the notification: %v", ErrChannelUnavailable, err)
	} else if !dup {
		f.Inbox.Wake()
	}
	// Stored. A payment the ledger cannot fund is kept, and refused.
	if n.EventType == "payment" && n.Result.Status == payment.StatusSucceeded {
		o, err := f.DB.FundingOrder(ctx, n.Result.TransactionID)
		switch {
		case errors.Is(err, store.ErrFundingOrderNotFound) || err == nil && o.Channel != channel:
			return webhook.Response{}, &RefusedError{Outcome: OutcomeUnknownOrder, Detail: "no funding order " + n.Result.TransactionID + " on " + channel + " (kept for review)"}
		case err == nil && o.AmountFen != n.Result.AmountFen:
			return webhook.Response{}, &RefusedError{Outcome: OutcomeAmountDiffers,
				Detail: fmt.Sprintf("paid %d fen, the order is %d fen (kept for review)", n.Result.AmountFen, o.AmountFen)}
		}
	}
	return n.Ack, nil
}

// ApplyStoredNotification applies one notification the inbox kept (the
// inbox worker calls it; inbox.ChannelNotifications). It is idempotent: a
// payment funds its order once whatever the number of notifications.
func (f *Funding) ApplyStoredNotification(ctx context.Context, channel string, stored []byte) (string, error) {
	var sn storedNotification
	if err := json.Unmarshal(stored, &sn); err != nil {
		return "", fmt.Errorf("%w: stored notification: %v", inbox.ErrKeep, err)
	}
	status, ok := statusByName[sn.Status]
	if !ok {
		return "", fmt.Errorf("%w: stored notification has status %q", inbox.ErrKeep, sn.Status)
	}
	res := payment.Result{Status: status, TransactionID: sn.TransactionID, ChannelReference: sn.ChannelRef, AmountFen: sn.AmountFen,
		FailureCode: sn.FailureCode, FailureMessage: sn.FailureMessage}
	rec := store.ChannelNotification{Channel: channel, ReceivedAt: sn.ReceivedAt, Verified: true, EventType: sn.EventType,
		TransactionID: sn.TransactionID, ChannelRef: sn.ChannelRef, AmountFen: sn.AmountFen, BodySHA256: sn.BodySHA256}
	keep := false
	switch sn.EventType {
	case "payment":
		if status != payment.StatusSucceeded {
			rec.Outcome, rec.Detail = OutcomeNotPaid, status.String()
			break
		}
		rec.Outcome, rec.Detail = f.credit(ctx, channel, res)
		switch rec.Outcome {
		case OutcomeFailed:
			// Not recorded: it is retried (the inbox keeps the attempts).
			return "", errors.New(rec.Outcome + ": " + rec.Detail)
		case OutcomeUnknownOrder, OutcomeAmountDiffers:
			keep = true
		}
	case "refund":
		p, err := f.DB.FundingRefundPart(ctx, sn.TransactionID)
		switch {
		case errors.Is(err, store.ErrFundingRefundNotFound) || err == nil && p.Channel != channel:
			rec.Outcome, rec.Detail, keep = OutcomeUnknownRefund, "no funding refund "+sn.TransactionID+" on "+channel, true
		case err != nil:
			return "", err
		default:
			rec.Outcome, rec.Detail, err = f.hurry(ctx, p.State == store.RefundPartSucceeded || p.State == store.RefundPartFailed,
				func() (bool, error) { return f.DB.HurryRefundPart(ctx, p.ID, f.now()) }, status)
			if err != nil {
				return "", err
			}
		}
	case "payout":
		po, err := f.DB.GetPayout(ctx, sn.TransactionID)
		switch {
		case errors.Is(err, store.ErrPayoutNotFound):
			rec.Outcome, rec.Detail, keep = OutcomeUnknownPayout, "no payout "+sn.TransactionID, true
		case err != nil:
			return "", err
		default:
			rec.Outcome, rec.Detail, err = f.hurry(ctx, po.State == store.PayoutSucceeded || po.State == store.PayoutFailed,
				func() (bool, error) { return f.DB.HurryPayout(ctx, po.ID, f.now()) }, status)
			if err != nil {
				return "", err
			}
		}
	default:
		rec.Outcome, rec.Detail = OutcomeIgnored, "event type "+sn.EventType
	}
	f.record(ctx, rec)
	out := rec.Outcome
	if rec.Detail != "" {
		out += ": " + rec.Detail
	}
	if keep {
		f.log().Warn("channel notification kept for review", "channel", channel, "tx", rec.TransactionID, "outcome", rec.Outcome, "detail", rec.Detail)
		return "", fmt.Errorf("%w: %s", inbox.ErrKeep, out)
	}
	return out, nil
}

// hurry makes an open refund part or payout due now: the channel's word
// in a notification is acted on only through the answer to the worker's
// own query, so a notification can never book money by itself.
func (f *Funding) hurry(ctx context.Context, final bool, now func() (bool, error), status payment.Status) (string, string, error) {
	if final {
		return OutcomeAlreadyFinal, "notified " + status.String(), nil
	}
	if _, err := now(); err != nil {
		return "", "", err
	}
	return OutcomeAskedNow, "notified " + status.String(), nil
}

func (f *Funding) record(ctx context.Context, rec store.ChannelNotification) {
	if err := f.DB.InsertChannelNotification(ctx, rec); err != nil {
		f.log().Error("funding: notification not recorded", "channel", rec.Channel, "tx", rec.TransactionID, "outcome", rec.Outcome, "err", err)
	}
}
