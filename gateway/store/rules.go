package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/lianmeng/lianmeng/gateway/points"
	"github.com/lianmeng/lianmeng/gateway/rules"
)

// Rule versions (migration 00038): DB implements rules.Store, and the
// version in effect is what the earn path reads (effectiveVersionSQL).

type ruleRow struct {
	ID           int64         `db:"id"`
	MerchantID   string        `db:"merchant_id"`
	Version      sql.NullInt64 `db:"version"`
	Status       string        `db:"status"`
	RateBP       int64         `db:"rate_bp"`
	MaxPoints    int64         `db:"max_points"`
	RulePlugin   string        `db:"rule_plugin"`
	ReleaseDelay int64         `db:"release_delay_s"`
	Validity     int64         `db:"validity_s"`
	Excluded     string        `db:"excluded"`
	SummaryZH    string        `db:"summary_zh"`
	SummaryEN    string        `db:"summary_en"`
	Expression   string        `db:"expression"`
	MemberDayCap int64         `db:"member_day_cap"`
	MemberMonCap int64         `db:"member_month_cap"`
	PluginConfig string        `db:"plugin_config"`
	CreatedBy    string        `db:"created_by"`
	CreatedAt    int64         `db:"created_at"`
	PublishedAt  int64         `db:"published_at"`
	EffectiveAt  int64         `db:"effective_at"`
	WithdrawnAt  int64         `db:"withdrawn_at"`
}

const ruleCols = `id, merchant_id, version, status, rate_bp, max_points, rule_plugin, release_delay_s, validity_s,
	excluded, summary_zh, summary_en, expression, member_day_cap, member_month_cap, plugin_config, created_by, created_at, published_at, effective_at, withdrawn_at`

func (r ruleRow) terms() rules.Terms {
	t := rules.Terms{RateBP: r.RateBP, MaxPoints: r.MaxPoints, RulePlugin: r.RulePlugin, ReleaseDelaySeconds: r.ReleaseDelay,
		ValiditySeconds: r.Validity, SummaryZH: r.SummaryZH, SummaryEN: r.SummaryEN, ExcludedCategories: []string{}, Expression: r.Expression,
		MemberDayCap: r.MemberDayCap, MemberMonthCap: r.MemberMonCap}
	if r.PluginConfig != "" {
		t.RulePluginConfig = json.RawMessage(r.PluginConfig)
	}
	// Written by this file only, as a JSON array; unreadable is empty.
	_ = json.Unmarshal([]byte(r.Excluded), &t.ExcludedCategories)
	return t
}

func (r ruleRow) domain() rules.Version {
	v := rules.Version{ID: r.ID, MerchantID: r.MerchantID, Number: r.Version.Int64, Status: r.Status, Terms: r.terms(),
		CreatedBy: r.CreatedBy, CreatedAt: FromMicros(r.CreatedAt)}
	if r.PublishedAt != 0 {
		p, e := FromMicros(r.PublishedAt), FromMicros(r.EffectiveAt)
		v.PublishedAt, v.EffectiveAt = &p, &e
	}
	if r.WithdrawnAt != 0 {
		w := FromMicros(r.WithdrawnAt)
		v.WithdrawnAt = &w
	}
	return v
}

func ruleVersions(ctx context.Context, q sqlx.QueryerContext, merchantID string) ([]rules.Version, error) {
	var rows []ruleRow
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+ruleCols+` FROM rule_versions WHERE merchant_id = ? ORDER BY id`, merchantID); err != nil {
		return nil, fmt.Errorf("rule versions: %w", err)
	}
	out := make([]rules.Version, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// RuleVersions lists a merchant's versions, drafts included, by id.
func (db *DB) RuleVersions(ctx context.Context, merchantID string) ([]rules.Version, error) {
	return ruleVersions(ctx, db.R, merchantID)
}

// CreateRuleDraft stores a draft.
func (db *DB) CreateRuleDraft(ctx context.Context, v rules.Version) (rules.Version, error) {
	return insertRuleDraft(ctx, db.W, v)
}

func insertRuleDraft(ctx context.Context, x sqlx.ExecerContext, v rules.Version) (rules.Version, error) {
	ex, err := json.Marshal(v.Terms.ExcludedCategories)
	if err != nil {
		return v, fmt.Errorf("excluded categories: %w", err)
	}
	t := v.Terms
	res, err := x.ExecContext(ctx, `INSERT INTO rule_versions (merchant_id, version, status, rate_bp, max_points, rule_plugin,
		release_delay_s, validity_s, excluded, summary_zh, summary_en, expression, member_day_cap, member_month_cap, plugin_config,
		created_by, created_at) VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.MerchantID, rules.StatusDraft, t.RateBP, t.MaxPoints, t.RulePlugin, t.ReleaseDelaySeconds, t.ValiditySeconds, string(ex),
		t.SummaryZH, t.SummaryEN, t.Expression, t.MemberDayCap, t.MemberMonthCap, string(t.RulePluginConfig), v.CreatedBy, Micros(v.CreatedAt))
	if err != nil {
		return v, fmt.Errorf("insert rule draft: %w", err)
	}
	if v.ID, err = res.LastInsertId(); err != nil {
		return v, fmt.Errorf("rule draft id: %w", err)
	}
	v.Status = rules.StatusDraft
	return v, nil
}

// lockRuleSet serialises changes to one merchant's rule set (on SQLite the
// single writer already does) and reads it as it is now.
func (db *DB) lockRuleSet(ctx context.Context, tx *sqlx.Tx, merchantID string) ([]rules.Version, error) {
	if db.Dialect == MySQL {
		var id string
		if err := tx.GetContext(ctx, &id, `SELECT id FROM merchants WHERE id = ? FOR UPDATE`, merchantID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, rules.ErrNotFound
			}
			return nil, fmt.Errorf("lock merchant: %w", err)
		}
	}
	return ruleVersions(ctx, tx, merchantID)
}

// PublishRuleVersion numbers and publishes a draft after check, with its
// audit event (and so its evidence entry) in the same transaction.
func (db *DB) PublishRuleVersion(ctx context.Context, merchantID string, id int64, effectiveAt, at time.Time, actor string,
	check func([]rules.Version) (any, error)) (rules.Version, error) {
	return db.publishRule(ctx, merchantID, id, nil, effectiveAt, at, actor, check)
}

// PublishRuleTerms stores and publishes a new version in one transaction,
// after check.
func (db *DB) PublishRuleTerms(ctx context.Context, v rules.Version, effectiveAt, at time.Time, actor string,
	check func([]rules.Version) (any, error)) (rules.Version, error) {
	return db.publishRule(ctx, v.MerchantID, 0, &v, effectiveAt, at, actor, check)
}

func (db *DB) publishRule(ctx context.Context, merchantID string, id int64, draft *rules.Version, effectiveAt, at time.Time, actor string,
	check func([]rules.Version) (any, error)) (rules.Version, error) {
	var out rules.Version
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := db.lockRuleSet(ctx, tx, merchantID)
		if err != nil {
			return err
		}
		payload, err := check(cur)
		if err != nil {
			return err
		}
		if draft != nil {
			d, err := insertRuleDraft(ctx, tx, *draft)
			if err != nil {
				return err
			}
			id = d.ID
			cur = append(cur, d)
		}
		var next int64
		for _, v := range cur {
			next = max(next, v.Number)
		}
		next++
		res, err := tx.ExecContext(ctx, `UPDATE rule_versions SET version = ?, status = ?, published_at = ?, effective_at = ?
			WHERE id = ? AND merchant_id = ? AND status = ?`, next, rules.StatusPublished, Micros(at), Micros(effectiveAt), id, merchantID, rules.StatusDraft)
		if err != nil {
			return fmt.Errorf("publish rule version: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rules.ErrNotFound
		}
		for _, v := range cur {
			if v.ID == id {
				out = v
			}
		}
		out.Number, out.Status, out.PublishedAt, out.EffectiveAt = next, rules.StatusPublished, &at, &effectiveAt
		typ := EventRulePublished
		if effectiveAt.After(at) {
			typ = EventRuleScheduled
		}
		if err := enqueueRuleEvent(ctx, tx, merchantID, typ, next, effectiveAt, payload, at); err != nil {
			return err
		}
		return insertAudit(ctx, tx, rules.AuditPublished, actor, merchantID, withVersion(payload, next), at)
	})
	return out, err
}

// WithdrawRuleVersion withdraws a scheduled version after check.
func (db *DB) WithdrawRuleVersion(ctx context.Context, merchantID string, number int64, at time.Time, actor string,
	check func([]rules.Version) (any, error)) (rules.Version, error) {
	var out rules.Version
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := db.lockRuleSet(ctx, tx, merchantID)
		if err != nil {
			return err
		}
		payload, err := check(cur)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE rule_versions SET status = ?, withdrawn_at = ? WHERE merchant_id = ? AND version = ? AND status = ?`,
			rules.StatusWithdrawn, Micros(at), merchantID, number, rules.StatusPublished)
		if err != nil {
			return fmt.Errorf("withdraw rule version: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return rules.ErrNotFound
		}
		for _, v := range cur {
			if v.Number == number {
				out = v
			}
		}
		out.Status, out.WithdrawnAt = rules.StatusWithdrawn, &at
		var effective time.Time
		if out.EffectiveAt != nil {
			effective = *out.EffectiveAt
		}
		if err := enqueueRuleEvent(ctx, tx, merchantID, EventRuleWithdrawn, number, effective, payload, at); err != nil {
			return err
		}
		return insertAudit(ctx, tx, rules.AuditWithdrawn, actor, merchantID, payload, at)
	})
	return out, err
}

func withVersion(payload any, n int64) any {
	if m, ok := payload.(map[string]any); ok {
		m["version"] = n
	}
	return payload
}

// RecentEarnPurchases returns up to n of the merchant's latest earning
// purchases (amounts only: items are not kept).
func (db *DB) RecentEarnPurchases(ctx context.Context, merchantID string, n int) ([]rules.Purchase, error) {
	var rows []struct {
		OrderID   string `db:"order_id"`
		AmountFen int64  `db:"amount_fen"`
	}
	if err := db.R.SelectContext(ctx, &rows, `SELECT order_id, amount_fen FROM purchases WHERE merchant_id = ? AND kind = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
		merchantID, points.PurchaseEarn, n); err != nil {
		return nil, fmt.Errorf("recent purchases: %w", err)
	}
	out := make([]rules.Purchase, len(rows))
	for i, r := range rows {
		out[i] = rules.Purchase{Label: "order " + r.OrderID, AmountFen: r.AmountFen}
	}
	return out, nil
}

// PinInheritedTerms makes the terms a migrated version 1 inherits from the
// alliance policy (-1) concrete, once, so that a later change of the
// policy's defaults cannot change a published version's terms.
func (db *DB) PinInheritedTerms(ctx context.Context, p points.Policy) error {
	// Usually there is nothing left to pin: then nothing is written, so
	// that serve also starts on a full disk (storagefull.go).
	var n int
	if err := db.R.GetContext(ctx, &n, `SELECT COUNT(*) FROM rule_versions WHERE release_delay_s < 0 OR validity_s < 0`); err != nil {
		return fmt.Errorf("pin inherited terms: %w", err)
	}
	if n == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE rule_versions SET release_delay_s = ? WHERE release_delay_s < 0`, int64(p.ReleaseDelay/time.Second)); err != nil {
			return fmt.Errorf("pin release delay: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rule_versions SET validity_s = ? WHERE validity_s < 0`, int64(p.Validity/time.Second)); err != nil {
			return fmt.Errorf("pin validity: %w", err)
		}
		// Terms changed (the count above found some): caches of them reload.
		// (Should another instance have pinned them meanwhile, the extra
		// bump only makes the caches read again.)
		return bumpAdminEpoch(ctx, tx)
	})
}

// effectiveVersionSQL selects, for the merchants in a list, the published
// version with the highest number whose effective time has come (args:
// the list, then now in microseconds).
const effectiveVersionSQL = `SELECT ` + ruleColsV + ` FROM rule_versions v WHERE v.merchant_id IN (%s) AND v.status = 'published'
	AND v.version = (SELECT MAX(w.version) FROM rule_versions w WHERE w.merchant_id = v.merchant_id AND w.status = 'published' AND w.effective_at <= ?)`

const ruleColsV = `v.id, v.merchant_id, v.version, v.status, v.rate_bp, v.max_points, v.rule_plugin, v.release_delay_s, v.validity_s,
	v.excluded, v.summary_zh, v.summary_en, v.expression, v.member_day_cap, v.member_month_cap, v.plugin_config, v.created_by, v.created_at,
	v.published_at, v.effective_at, v.withdrawn_at`

// publishedVersionsSQL starts the batch's read of merchants' published
// versions (the merchant list and the rest follow).
const publishedVersionsSQL = `SELECT ` + ruleColsV + ` FROM rule_versions v WHERE v.merchant_id IN (`

// merchantCache holds, for the batch, merchants' status and every
// published rule version, as of an admin epoch. Every change to them
// writes an audit event that increments the epoch in the same commit
// (merchant creation and status, rule publication and withdrawal;
// PinInheritedTerms bumps it too). Each batch reads the epoch inside its
// own transaction before it reads anything here, and the cache is dropped
// whenever the epoch moved, so a batch never uses terms older than its
// transaction sees; the version in effect is chosen at the batch's time
// from the cached list, so a scheduled version takes effect on time with
// no change at all.
type merchantCache struct {
	mu    sync.Mutex
	epoch int64
	byID  map[string]*cachedMerchant
}

type cachedMerchant struct {
	status   string
	versions []cachedVersion // published, by number
}

type cachedVersion struct {
	number      int64
	effectiveAt int64 // Unix microseconds
	earning     points.Earning
}

// effective is the published version with the highest number whose
// effective time has come (as effectiveVersionSQL), or nil.
func (m *cachedMerchant) effective(at time.Time) *cachedVersion {
	now := Micros(at)
	var best *cachedVersion
	for i := range m.versions {
		v := &m.versions[i]
		if v.effectiveAt <= now && (best == nil || v.number > best.number) {
			best = v
		}
	}
	return best
}

// get returns the cached merchants among ids and the ids it lacks, after
// dropping everything if the epoch moved.
func (c *merchantCache) get(epoch int64, ids []string) (map[string]*cachedMerchant, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil || c.epoch != epoch {
		c.byID, c.epoch = map[string]*cachedMerchant{}, epoch
	}
	found := make(map[string]*cachedMerchant, len(ids))
	var missing []string
	for _, id := range ids {
		if m, ok := c.byID[id]; ok {
			found[id] = m
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing
}

// put caches merchants read under epoch (read before them, so they are at
// least that recent); a cache already at another epoch keeps its own.
func (c *merchantCache) put(epoch int64, ms map[string]*cachedMerchant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch || len(c.byID) > 200_000 {
		return
	}
	for id, m := range ms {
		c.byID[id] = m
	}
}

// earning is the runtime form of a version.
func (r ruleRow) earning() points.Earning { return r.terms().Earning(r.Version.Int64) }

// MerchantEarning returns the earning terms in effect now for a merchant
// (zero if it has no version). It implements points.EarningSource
// (uncached).
func (db *DB) MerchantEarning(ctx context.Context, merchantID string) (points.Earning, error) {
	return db.MerchantEarningAt(ctx, merchantID, time.Now())
}

// MerchantEarningAt returns the earning terms in effect at a time.
func (db *DB) MerchantEarningAt(ctx context.Context, merchantID string, at time.Time) (points.Earning, error) {
	var row ruleRow
	err := db.R.GetContext(ctx, &row, fmt.Sprintf(effectiveVersionSQL, "?"), merchantID, Micros(at))
	if errors.Is(err, sql.ErrNoRows) {
		return points.Earning{}, nil
	}
	if err != nil {
		return points.Earning{}, fmt.Errorf("merchant earning: %w", err)
	}
	return row.earning(), nil
}

// flushBreakdowns writes the breakdowns of the batch's new purchases that
// have one (rule-expression earns), after the purchases themselves.
func (u *uow) flushBreakdowns() error {
	var ins [][]any
	for _, id := range sortedIDs(u.dirtyPurch) {
		p := u.dirtyPurch[id]
		if !p.New || p.Breakdown == nil {
			continue
		}
		b, err := json.Marshal(p.Breakdown)
		if err != nil {
			return fmt.Errorf("purchase breakdown: %w", err)
		}
		ins = append(ins, []any{p.ID, string(b)})
	}
	return u.bulkInsert("purchase_breakdowns", []string{"purchase_id", "breakdown"}, ins, "")
}

// PurchaseBreakdown returns the breakdown kept with a merchant's earning
// purchase, or nil when it has none (a flat-rate or plugin earn).
func (db *DB) PurchaseBreakdown(ctx context.Context, merchantID, orderID string) (*points.Breakdown, error) {
	var raw string
	err := db.R.GetContext(ctx, &raw, `SELECT b.breakdown FROM purchases p JOIN purchase_breakdowns b ON b.purchase_id = p.id
		WHERE p.merchant_id = ? AND p.kind = ? AND p.order_id = ?`, merchantID, points.PurchaseEarn, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("purchase breakdown: %w", err)
	}
	var b points.Breakdown
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		return nil, fmt.Errorf("purchase breakdown: %w", err)
	}
	return &b, nil
}

// SetRuleTemplate stores an industry's rule template (replacing the
// previous one) with its audit event.
func (db *DB) SetRuleTemplate(ctx context.Context, t rules.Template) error {
	b, err := json.Marshal(t.Terms)
	if err != nil {
		return fmt.Errorf("rule template: %w", err)
	}
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		// Whether the row exists is read, not taken from the UPDATE's row
		// count: MySQL counts only changed rows, so setting the same terms
		// again would count 0 and the INSERT would hit the primary key.
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM rule_templates WHERE industry = ?`, t.Industry); err != nil {
			return fmt.Errorf("read rule template: %w", err)
		}
		q := `UPDATE rule_templates SET terms = ?, updated_by = ?, updated_at = ? WHERE industry = ?`
		if n == 0 {
			q = `INSERT INTO rule_templates (terms, updated_by, updated_at, industry) VALUES (?, ?, ?, ?)`
		}
		if _, err := tx.ExecContext(ctx, q, string(b), t.UpdatedBy, Micros(t.UpdatedAt), t.Industry); err != nil {
			return fmt.Errorf("set rule template: %w", err)
		}
		return insertAudit(ctx, tx, rules.AuditTemplateSet, t.UpdatedBy, "industry:"+t.Industry, t.Terms, t.UpdatedAt)
	})
}

// RuleTemplates lists every industry's template by industry.
func (db *DB) RuleTemplates(ctx context.Context) ([]rules.Template, error) {
	var rows []struct {
		Industry  string `db:"industry"`
		Terms     string `db:"terms"`
		UpdatedBy string `db:"updated_by"`
		UpdatedAt int64  `db:"updated_at"`
	}
	if err := db.R.SelectContext(ctx, &rows, `SELECT industry, terms, updated_by, updated_at FROM rule_templates ORDER BY industry`); err != nil {
		return nil, fmt.Errorf("rule templates: %w", err)
	}
	out := make([]rules.Template, 0, len(rows))
	for _, r := range rows {
		t := rules.Template{Industry: r.Industry, UpdatedBy: r.UpdatedBy, UpdatedAt: FromMicros(r.UpdatedAt)}
		if err := json.Unmarshal([]byte(r.Terms), &t.Terms); err != nil {
			return nil, fmt.Errorf("rule template %s: %w", r.Industry, err)
		}
		if t.Terms.ExcludedCategories == nil {
			t.Terms.ExcludedCategories = []string{}
		}
		out = append(out, t)
	}
	return out, nil
}
