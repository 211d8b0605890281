package settlement

import (
	"context"
	"errors"
	"fmt"

	"github.com/lianmeng/lianmeng/gateway/ledger"
)

// AutoPayoutResult is what RequestSettled did for a day.
type AutoPayoutResult struct {
	Requested int   // payouts requested (or found, already requested for the day)
	TotalFen  int64 // their amount
	Skipped   int   // merchants below the minimum
}

// RequestSettled requests, for the clearing day date (cut by cal), a
// payout of each merchant's settled payable when it reaches minFen: what
// the payable was at the day's cut-off, less everything that has left it
// since (payouts requested by hand, reversals). Redemptions after the
// cut-off belong to the next day and are never paid early. The payout's
// idempotency key is "auto:" + date, so running a day again requests
// nothing more. Merchants without a payout account are not asked.
func (p *Payouts) RequestSettled(ctx context.Context, cal Calendar, date string, minFen int64) (AutoPayoutResult, error) {
	var res AutoPayoutResult
	if minFen <= 0 {
		return res, fmt.Errorf("%w: the automatic payout minimum must be positive", ErrInvalid)
	}
	_, to, err := cal.Window(date)
	if err != nil {
		return res, err
	}
	if p.now().Before(to) {
		return res, fmt.Errorf("%w: the day %s has not ended yet", ErrInvalid, date)
	}
	merchants, err := p.DB.PayoutMerchants(ctx)
	if err != nil {
		return res, err
	}
	for _, m := range merchants {
		payable := ledger.MerchantPayable(m)
		atCutoff, err := p.DB.BalanceBefore(ctx, payable, to)
		if err != nil {
			return res, err
		}
		left, err := p.DB.DebitsSince(ctx, payable, to)
		if err != nil {
			return res, err
		}
		settled := atCutoff + left
		if prev, err := p.DB.PayoutByKey(ctx, m, "auto:"+date); err == nil {
			res.Requested, res.TotalFen = res.Requested+1, res.TotalFen+prev.AmountFen
			continue
		}
		if settled < minFen {
			res.Skipped++
			continue
		}
		po, err := p.Request(ctx, PayoutRequest{MerchantID: m, AmountFen: settled, IdemKey: "auto:" + date})
		switch {
		case errors.Is(err, ErrInsufficientPayable):
			res.Skipped++ // taken meanwhile: the next run sees less
			continue
		case err != nil:
			return res, fmt.Errorf("automatic payout of %s: %w", m, err)
		}
		res.Requested, res.TotalFen = res.Requested+1, res.TotalFen+po.AmountFen
	}
	return res, nil
}
