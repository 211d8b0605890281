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

// paymentChannelNames lists the configured payment channel plugins.
func paymentChannelNames(cfg config.Config) []string {
	var channels []string
	for _, p := range cfg.Plugins {
		if p.Kind == sdk.KindPaymentChannel {
			channels = append(channels, p.Name)
		}
	}
	return channels
}

// settlementDailyJob settles the last clearing day that has ended
// (settlement.time_zone and settlement.cutoff) every hour under the
// scheduler's lease: the merchants' statements (a re-run makes the same
// ones) and, for each payment channel, the reconciliation of its bill of
// the channel's own yesterday (midnight, Beijing time; exceptions recorded
// once). A channel whose bill is not there yet is logged and tried again
// the next hour.
func settlementDailyJob(cfg config.Config, db *store.DB, log *slog.Logger, rc *settlement.Reconciler, po *settlement.Payouts) scheduler.Job {
	channels := paymentChannelNames(cfg)
	cal, calErr := settlementCalendar(cfg)
	return scheduler.Job{Name: "settlement.daily", Interval: time.Hour, Run: func(ctx context.Context) (int, error) {
		if calErr != nil {
			return 0, calErr
		}
		now := time.Now()
		date := cal.LastClosed(now)
		key, err := signingKey(cfg, log)
		if err != nil {
			return 0, err
		}
		signer, err := evidence.NewSigner(key)
		if err != nil {
			return 0, err
		}
		cl := &settlement.Clearing{DB: db, Calendar: cal, Signer: settlement.SM2Signer{Key: key, ID: signer.KeyID()}}
		sts, err := cl.Run(ctx, date, nil)
		if err != nil {
			return 0, err
		}
		n := len(sts)
		// Settled payables paid automatically (settlement.auto_payout_min_fen),
		// once per day (the payout's idempotency key is the day).
		if min := cfg.Settlement.AutoPayoutMinFen; min > 0 && po != nil {
			res, err := po.RequestSettled(ctx, cal, date, min)
			if err != nil {
				log.Warn("automatic payouts not requested", "date", date, "err", err)
			} else if res.Requested > 0 {
				log.Info("automatic payouts", "date", date, "payouts", res.Requested, "total_fen", res.TotalFen)
			}
		}
		if rc != nil {
			for _, ch := range channels {
				billDate := now.In(settlement.ChinaTime).AddDate(0, 0, -1).Format("2006-01-02")
				res, err := rc.Run(ctx, ch, billDate)
				if err != nil {
					log.Warn("reconciliation not done", "channel", ch, "date", billDate, "err", err)
					continue
				}
				if res.Exceptions > 0 {
					log.Warn("reconciliation exceptions", "channel", ch, "date", billDate, "exceptions", res.Exceptions)
				}
				n++
			}
		}
		return n, nil
	}}
}

// settlementCalendar is the configured clearing day (validated at load).
func settlementCalendar(cfg config.Config) (settlement.Calendar, error) {
	loc, err := cfg.Settlement.Location()
	if err != nil {
		return settlement.Calendar{}, err
	}
	off, err := cfg.Settlement.CutoffOffset()
	if err != nil {
		return settlement.Calendar{}, err
	}
	return settlement.Calendar{Location: loc, Cutoff: off}, nil
}
