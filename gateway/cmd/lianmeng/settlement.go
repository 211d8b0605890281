package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/scheduler"
	"github.com/lianmeng/lianmeng/gateway/settlement"
	"github.com/lianmeng/lianmeng/gateway/store"
	"github.com/lianmeng/lianmeng/sdk"
)

// settlementDailyJob settles yesterday (UTC+8) every hour under the
// scheduler's lease: the merchants' statements (a re-run makes the same
// ones) and, for each payment channel, the reconciliation of its bill
// (exceptions recorded once). A channel whose bill is not there yet is
// logged and tried again the next hour.
func settlementDailyJob(cfg config.Config, db *store.DB, log *slog.Logger, rc *settlement.Reconciler) scheduler.Job {
	var channels []string
	for _, p := range cfg.Plugins {
		if p.Kind == sdk.KindPaymentChannel {
			channels = append(channels, p.Name)
		}
	}
	cst := time.FixedZone("CST", 8*3600)
	return scheduler.Job{Name: "settlement.daily", Interval: time.Hour, Run: func(ctx context.Context) (int, error) {
		date := time.Now().In(cst).AddDate(0, 0, -1).Format("2006-01-02")
		key, err := signingKey(cfg, log)
		if err != nil {
			return 0, err
		}
		signer, err := evidence.NewSigner(key)
		if err != nil {
			return 0, err
		}
		cl := &settlement.Clearing{DB: db, Signer: settlement.SM2Signer{Key: key, ID: signer.KeyID()}}
		sts, err := cl.Run(ctx, date, nil)
		if err != nil {
			return 0, err
		}
		n := len(sts)
		if rc != nil {
			for _, ch := range channels {
				res, err := rc.Run(ctx, ch, date)
				if err != nil {
					log.Warn("reconciliation not done", "channel", ch, "date", date, "err", err)
					continue
				}
				if res.Exceptions > 0 {
					log.Warn("reconciliation exceptions", "channel", ch, "date", date, "exceptions", res.Exceptions)
				}
				n++
			}
		}
		return n, nil
	}}
}
