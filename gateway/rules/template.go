package rules

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Template is the alliance's rule template for an industry: terms a
// merchant of any industry may adopt as a draft of its own rule set.
// Adopting publishes nothing, and a template's later change changes no
// merchant's terms: each adopted draft is published, with the notice
// check, like any other.
type Template struct {
	Industry  string    `json:"industry"`
	Terms     Terms     `json:"terms"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AuditTemplateSet is the audit event of a template's change.
const AuditTemplateSet = "rules.template_set"

// CodeTemplateNotFound refuses adopting a template that does not exist.
const CodeTemplateNotFound = "rule_template_not_found"

// TemplateStore keeps templates (the store implements it).
type TemplateStore interface {
	SetRuleTemplate(ctx context.Context, t Template) error
	RuleTemplates(ctx context.Context) ([]Template, error)
}

// SetTemplate validates and stores an industry's template. Release delay
// and validity left out are the policy's.
func (s *Service) SetTemplate(ctx context.Context, ts TemplateStore, industry string, d Draft, actor string) (Template, error) {
	if industry == "" || len(industry) > 64 || strings.ContainsAny(industry, " /\\") {
		return Template{}, invalid("industry is 1 to 64 characters without spaces or slashes")
	}
	t := d.terms()
	t.ReleaseDelaySeconds, t.ValiditySeconds = -1, -1
	t = t.resolved(s.Policy)
	if d.ReleaseDelaySeconds != nil {
		t.ReleaseDelaySeconds = *d.ReleaseDelaySeconds
	}
	if d.ValiditySeconds != nil {
		t.ValiditySeconds = *d.ValiditySeconds
	}
	if t.ExcludedCategories == nil {
		t.ExcludedCategories = []string{}
	}
	if err := t.Validate(s.Policy); err != nil {
		return Template{}, err
	}
	if err := s.checkPluginConfig(ctx, t); err != nil {
		return Template{}, err
	}
	tpl := Template{Industry: industry, Terms: t, UpdatedBy: actor, UpdatedAt: s.now()}
	if err := ts.SetRuleTemplate(ctx, tpl); err != nil {
		return Template{}, fmt.Errorf("set rule template: %w", err)
	}
	return tpl, nil
}

// Adopt makes a draft of the merchant's rule set from an industry's
// template.
func (s *Service) Adopt(ctx context.Context, ts TemplateStore, merchantID, industry, actor string) (Version, error) {
	all, err := ts.RuleTemplates(ctx)
	if err != nil {
		return Version{}, err
	}
	for _, t := range all {
		if t.Industry == industry {
			v, err := s.Store.CreateRuleDraft(ctx, Version{MerchantID: merchantID, Status: StatusDraft, Terms: t.Terms, CreatedBy: actor, CreatedAt: s.now()})
			if err != nil {
				return Version{}, fmt.Errorf("adopt rule template: %w", err)
			}
			v.State = StateDraft
			return v, nil
		}
	}
	return Version{}, &Error{Status: 404, Code: CodeTemplateNotFound, Message: fmt.Sprintf("no rule template for industry %q", industry)}
}
