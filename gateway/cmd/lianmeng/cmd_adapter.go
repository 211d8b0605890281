package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lianmeng/lianmeng/plugins"
	"github.com/lianmeng/lianmeng/sdk/pos"
	"github.com/lianmeng/lianmeng/sdk/purchase"
	"github.com/lianmeng/lianmeng/sdk/webhook"
)

func init() {
	register(newAdapterCommand)
}

// dryRunResult is what dry-run prints for one payload.
type dryRunResult struct {
	Payload   string              `json:"payload"`
	Outcome   string              `json:"outcome,omitempty"`
	EventID   string              `json:"event_id,omitempty"`
	EventType string              `json:"event_type,omitempty"`
	Reason    string              `json:"reason,omitempty"`
	Events    []purchase.Purchase `json:"events,omitempty"`
	AckStatus int                 `json:"ack_status,omitempty"`
	AckBody   string              `json:"ack_body,omitempty"`
	Error     string              `json:"error,omitempty"`
}

func newAdapterCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "adapter",
		Short: "try POS adapter connection configurations",
		Long: `adapter dry-run replays sample webhook payloads through a builtin POS
adapter and a connection configuration, in process, and prints what the
gateway would make of each: the outcome, the event id and the normalized
purchases and refunds. Nothing is stored and no gateway is needed, so a
generic adapter's mapping can be written and checked before it is connected.`,
	}
	var o struct {
		adapter, connection string
		headers             []string
	}
	d := &cobra.Command{
		Use:   "dry-run [flags] PAYLOAD_FILE...",
		Short: "replay sample payloads through an adapter and print the normalized result",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ok := plugins.Lookup(o.adapter)
			if !ok || p.POSAdapter == nil {
				return usageError{msg: fmt.Sprintf("no builtin POS adapter %q", o.adapter)}
			}
			conn, err := os.ReadFile(o.connection)
			if err != nil {
				return usageError{msg: "--connection: " + err.Error()}
			}
			h := http.Header{}
			for _, kv := range o.headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok {
					return usageError{msg: fmt.Sprintf("--header %q: want NAME: VALUE", kv)}
				}
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			h.Set(pos.HeaderReceivedAt, strconv.FormatInt(time.Now().Unix(), 10))
			ctx := context.Background()
			a, err := p.POSAdapter.New(ctx, nil)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			failed := false
			for _, file := range args {
				body, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				out := dryRunResult{Payload: file}
				res, err := a.HandleWebhook(ctx, pos.Request{MerchantID: "dry-run", MerchantConfig: conn,
					HTTP: webhook.Request{Method: http.MethodPost, Path: "/v1/pos/dry-run", Header: h.Clone(), Body: body}})
				if err != nil {
					out.Error, failed = err.Error(), true
				} else {
					out.Outcome, out.EventID, out.EventType, out.Reason, out.Events = res.Outcome.String(), res.EventID, res.EventType, res.Reason, res.Events
					out.AckStatus, out.AckBody = res.Ack.Status, string(res.Ack.Body)
				}
				if err := enc.Encode(out); err != nil {
					return err
				}
			}
			if failed {
				return fmt.Errorf("some payloads were refused (see error)")
			}
			return nil
		},
	}
	d.Flags().StringVar(&o.adapter, "adapter", "generic", "builtin POS adapter `NAME`")
	d.Flags().StringVar(&o.connection, "connection", "", "the connection's configuration, a JSON `FILE` (as given when creating the connection)")
	d.Flags().StringArrayVar(&o.headers, "header", nil, "a request header `NAME: VALUE` sent with every payload (repeatable), e.g. the signature")
	_ = d.MarkFlagRequired("connection")
	c.AddCommand(d)
	return c
}
