package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/api"
	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/internal/eventually"
	"github.com/lianmeng/lianmeng/gateway/ledger"
	"github.com/lianmeng/lianmeng/gateway/pluginhost"
	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/gateway/store/storetest"
	"github.com/lianmeng/lianmeng/plugins/wechatpay/wechatpaytest"
	"github.com/lianmeng/lianmeng/sdk/client"
	"github.com/lianmeng/lianmeng/sdk/host"
	"github.com/lianmeng/lianmeng/sdk/plugintest"
	"github.com/lianmeng/lianmeng/sdk/signature"
)

func channelPid(h *pluginhost.Host, name string) int {
	for _, st := range h.Status() {
		if st.Name == name && st.State == "up" {
			return st.Pid
		}
	}
	return 0
}

// TestPaymentPluginKilled: the WeChat Pay channel runs out of process
// against the fake; SIGKILL it while earns run over HTTP: every earn
// succeeds, a payout is held and queued (not failed, not paid), a
// notification is not acknowledged; after the host restarts the plugin the
// payout completes and every amount is exact.
func TestPaymentPluginKilled(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wechatpayplugin")
	if err := plugintest.BuildTo("./testdata/wechatpayplugin", bin); err != nil {
		t.Fatal(err)
	}
	sum, err := host.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		wx, err := wechatpaytest.New()
		must(t, err)
		defer wx.Close()
		cfg := config.Default()
		cfg.Operator.Token = "operator-token-0123456789"
		cfg.Plugins = []config.Plugin{{Name: "wechatpay", Kind: "payment_channel", Path: bin, SHA256: hex.EncodeToString(sum),
			Timeout: config.Duration(5 * time.Second), Config: map[string]any{"mch_id": wx.MchID, "app_id": wx.AppID,
				"merchant_serial_no": wx.MerchantSerial, "merchant_private_key": wx.MerchantKeyPEM(), "public_key_id": wx.PublicKeyID,
				"public_key": wx.PlatformPublicKeyPEM(), "api_v3_key": wx.APIv3Key, "notify_url": "https://gw.example/v1/channels/wechatpay/notify",
				"api_base": wx.URL}}}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		w := db.NewWriter(store.WriterOptions{})
		defer w.Close()
		svc := &points.Service{Policy: cfg.Points.Policy(), Reader: db}
		deps := api.Deps{Config: cfg, DB: db, Log: log, Writer: w, Points: svc}
		stop, err := startPluginsWith(cfg, pluginhost.Options{Logger: log, MinBackoff: time.Second, HealthInterval: 100 * time.Millisecond}, &deps)
		must(t, err)
		defer stop()
		h := deps.Funding.Channels.(*pluginhost.Host)
		deps.Payouts.BaseBackoff, deps.Payouts.PollInterval = time.Millisecond, time.Millisecond
		srv := api.New(deps)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go srv.Serve(sctx, ln)
		base := "http://" + ln.Addr().String()

		var named struct{ Token string }
		must(t, client.NewOperator(base, cfg.Operator.Token.Reveal()).Do(ctx, "POST", "/v1/operator/tokens",
			map[string]any{"label": "test", "scopes": []string{"merchants:write", "funds:write"}}, &named))
		op := client.NewOperator(base, named.Token)
		var m struct{ ID string }
		must(t, op.Do(ctx, "POST", "/v1/operator/merchants", map[string]string{"name": "Hotpot", "industry": "restaurant"}, &m))
		var cred struct{ ID, Secret string }
		must(t, op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/credentials", map[string]string{"algorithm": "hmac-sha256"}, &cred))
		must(t, op.Do(ctx, "POST", "/v1/operator/merchants/"+m.ID+"/fund", map[string]any{"amount_fen": 1_000_000, "external_ref": "p1"}, nil, client.IdempotencyKey("f1")))
		must(t, op.Do(ctx, "PUT", "/v1/operator/merchants/"+m.ID+"/payout-accounts",
			map[string]any{"accounts": []map[string]string{{"channel": "wechatpay", "payee_type": "wechat_openid", "account": "o-hotpot"}}}, nil))
		// What the alliance owes the merchant (as redemptions would).
		owe := points.Command{Name: "test_owe", IDs: 1, Reads: points.Reads{Accounts: []string{ledger.Reserve}},
			Apply: func(tx points.Tx) (any, error) {
				return nil, tx.Post(&ledger.Transaction{Kind: "test_owe", Ref: "owe", CreatedAt: tx.Now(),
					Postings: append(ledger.Move(ledger.Reserve, ledger.MerchantPayable(m.ID), 80_000), ledger.Move(ledger.MerchantBudget(m.ID), ledger.Burned, 80_000)...)})
			}}
		if r := w.Submit(ctx, &store.Op{Command: owe}); r.Err != nil {
			t.Fatal(r.Err)
		}
		signer, err := signature.NewHMACSigner(cred.ID, cred.Secret)
		must(t, err)
		mc := client.NewMerchant(base, m.ID, signer)

		eventually.True(t, 30*time.Second, "plugin up", func() bool { return channelPid(h, "wechatpay") != 0 })
		old := channelPid(h, "wechatpay")
		must(t, syscall.Kill(old, syscall.SIGKILL))

		// Earning goes on.
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				err := mc.Do(ctx, "POST", "/v1/merchant/earn", map[string]any{"order_id": fmt.Sprintf("k%d", i), "amount_fen": 1000, "points": 10,
					"member": map[string]string{"kind": "phone", "value": fmt.Sprintf("138%08d", i)}}, nil, client.IdempotencyKey(fmt.Sprintf("e%d", i)))
				if err != nil {
					errs <- err
				}
			}(i)
		}
		// A payout meanwhile: held and queued, nothing paid, nothing failed.
		po, err := deps.Payouts.Request(ctx, settlement.PayoutRequest{MerchantID: m.ID, AmountFen: 80_000, IdemKey: "po1"})
		must(t, err)
		_, _ = deps.Payouts.ProcessDue(ctx)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("earn while the channel plugin is killed: %v", err)
		}
		got, err := db.GetPayout(ctx, po.ID)
		must(t, err)
		if got.State == store.PayoutFailed || got.State == store.PayoutSucceeded {
			t.Fatalf("payout while the plugin is down: %+v", got)
		}

		// After the restart the payout goes through and is confirmed.
		eventually.True(t, 30*time.Second, "plugin restarted", func() bool {
			pid := channelPid(h, "wechatpay")
			return pid != 0 && pid != old
		})
		eventually.True(t, 30*time.Second, "payout submitted", func() bool {
			_, _ = deps.Payouts.ProcessDue(ctx)
			_, ok := wx.Transfer(po.ID)
			return ok
		})
		wx.SetTransferState(po.ID, "SUCCESS", "")
		eventually.True(t, 30*time.Second, "payout confirmed", func() bool {
			_, _ = deps.Payouts.ProcessDue(ctx)
			p, err := db.GetPayout(ctx, po.ID)
			return err == nil && p.State == store.PayoutSucceeded
		})
		bal, err := db.Balances(ctx, ledger.MerchantBudget(m.ID), ledger.MerchantPayable(m.ID), ledger.Payouts, ledger.Paid)
		must(t, err)
		if bal[ledger.MerchantBudget(m.ID)] != 1_000_000-80_000-n*10 || bal[ledger.MerchantPayable(m.ID)] != 0 || bal[ledger.Payouts] != 0 || bal[ledger.Paid] != 80_000 {
			t.Fatalf("balances: %v", bal)
		}
		if tr, _ := wx.Transfer(po.ID); tr.Amount != 80_000 {
			t.Fatalf("transfer at WeChat Pay: %+v", tr)
		}
		vs, err := db.CheckInvariants(ctx, 1, nil)
		if err != nil || len(vs) > 0 {
			t.Fatalf("invariants: %v %v", vs, err)
		}
	})
}
