package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// CEL rule expressions (cel.dev/cel-go): a version may compute its base
// points with an expression over the normalized purchase instead of the
// flat rate. Variables:
//
//	amount_fen      int     the purchase amount
//	eligible_fen    int     the amount less items in excluded categories
//	items           list    the items not excluded, each a map with sku,
//	                        name, category (strings), quantity, amount_fen (ints)
//	store           string  the store id ("" if none)
//	hour, weekday   int     local time in the alliance's zone (Zone); weekday 0 = Sunday
//	payment_method  string  attributes["payment_method"] ("" if absent)
//	member_tier     string  attributes["member_tier"] ("" if absent)
//	attributes      map     every purchase attribute (string to string)
//	purchases_today, points_today, purchases_month, points_month
//	                int     the member's earlier earns at this merchant
//	                        today and this month (alliance zone), and
//	                        the points they earned; this purchase is not
//	                        counted. A version whose expression uses them
//	                        has its earns counted (points.MemberCounters).
//
// and sum(list) adds integers. The result must be an int (points, ≥ 0);
// the version's cap and the purchase's value bound it afterwards. Amounts
// are integers throughout: there are no floats in a rule.

// Limits protecting the gateway from a rule.
const (
	MaxExpression = 4000 // bytes of source
	// CostLimit bounds one evaluation (CEL's cost units, about one per
	// operation); a draft is refused if it exceeds it on a worst-case
	// purchase, and an evaluation that exceeds it fails.
	CostLimit = 100_000
	// EvalTimeout bounds one evaluation's wall time.
	EvalTimeout = 10 * time.Millisecond
)

// Zone is the alliance's time zone for hour and weekday, and for the days
// and months of counters (points.Zone).
var Zone = points.Zone

// Codes of expression refusals.
const (
	CodeExpressionInvalid = "rule_expression_invalid"
	CodeExpressionCostly  = "rule_expression_too_costly"
)

var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("amount_fen", cel.IntType),
		cel.Variable("eligible_fen", cel.IntType),
		cel.Variable("items", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("store", cel.StringType),
		cel.Variable("hour", cel.IntType),
		cel.Variable("weekday", cel.IntType),
		cel.Variable("payment_method", cel.StringType),
		cel.Variable("member_tier", cel.StringType),
		cel.Variable("attributes", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varPurchasesToday, cel.IntType),
		cel.Variable(varPointsToday, cel.IntType),
		cel.Variable(varPurchasesMonth, cel.IntType),
		cel.Variable(varPointsMonth, cel.IntType),
		// sum(list) of ints; list(dyn) also takes list(int), and item fields
		// are dyn (sumList refuses anything but ints at run time).
		cel.Function("sum",
			cel.Overload("sum_list", []*cel.Type{cel.ListType(cel.DynType)}, cel.IntType, cel.UnaryBinding(sumList))),
	)
})

// sumList adds a list of integers, refusing anything else and overflow.
func sumList(v ref.Val) ref.Val {
	l, ok := v.(traits.Lister)
	if !ok {
		return types.NewErr("sum: not a list")
	}
	var total int64
	it := l.Iterator()
	for it.HasNext() == types.True {
		n, ok := it.Next().(types.Int)
		if !ok {
			return types.NewErr("sum: the list holds a value that is not an int")
		}
		s := total + int64(n)
		if (n > 0 && s < total) || (n < 0 && s > total) {
			return types.NewErr("sum: integer overflow")
		}
		total = s
	}
	return types.Int(total)
}

// The counter variables.
const (
	varPurchasesToday = "purchases_today"
	varPointsToday    = "points_today"
	varPurchasesMonth = "purchases_month"
	varPointsMonth    = "points_month"
)

// Expression is a compiled rule expression; it implements
// points.Expression.
type Expression struct {
	src string
	prg cel.Program
	// counters: the expression refers to a counter variable.
	counters bool
}

// UsesCounters reports whether the expression reads the member's counters
// (so earns under its version are counted).
func (e *Expression) UsesCounters() bool { return e.counters }

// usesCounters looks for a reference to a counter variable in a checked
// expression.
func usesCounters(ast *cel.Ast) bool {
	for _, r := range ast.NativeRep().ReferenceMap() {
		switch r.Name {
		case varPurchasesToday, varPointsToday, varPurchasesMonth, varPointsMonth:
			return true
		}
	}
	return false
}

// Source is the expression's text.
func (e *Expression) Source() string { return e.src }

// CompileError is an expression that does not compile, with the position
// of each problem.
type CompileError struct {
	Problems []Problem
}

// Problem is one compile error at a line and column (1-based).
type Problem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (e *CompileError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d, column %d: %s", p.Line, p.Column, p.Message)
	}
	return b.String()
}

// Compile compiles a rule expression: it must parse, refer only to the
// variables above and have type int.
func Compile(src string) (*Expression, error) {
	if len(src) > MaxExpression {
		return nil, &CompileError{[]Problem{{1, 1, fmt.Sprintf("the expression is %d bytes; at most %d", len(src), MaxExpression)}}}
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("cel environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		ce := &CompileError{}
		for _, e := range iss.Errors() {
			ce.Problems = append(ce.Problems, Problem{Line: e.Location.Line(), Column: e.Location.Column() + 1, Message: e.Message})
		}
		return nil, ce
	}
	if !ast.OutputType().IsExactType(cel.IntType) {
		return nil, &CompileError{[]Problem{{1, 1, fmt.Sprintf("the expression has type %s; a rule must give an int (points)", ast.OutputType())}}}
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(64))
	if err != nil {
		return nil, &CompileError{[]Problem{{1, 1, err.Error()}}}
	}
	return &Expression{src: src, prg: prg, counters: usesCounters(ast)}, nil
}

// ErrCostLimit marks an evaluation stopped by the cost limit or the
// evaluation timeout.
var ErrCostLimit = errors.New("rule expression exceeded its cost limit or evaluation timeout")

// Points evaluates the expression for a purchase.
func (e *Expression) Points(in points.RuleInput, eligibleFen int64, items []points.Item) (int64, error) {
	return e.points(in, eligibleFen, items, EvalTimeout)
}

// draftCheckTimeout bounds the worst-case evaluation of a draft: the cost
// limit decides (it is deterministic); the wall-clock bound only stops a
// runaway, so a busy machine does not refuse a draft that is fine.
const draftCheckTimeout = 2 * time.Second

func (e *Expression) points(in points.RuleInput, eligibleFen int64, items []points.Item, timeout time.Duration) (int64, error) {
	vars := &activation{in: in, eligible: eligibleFen, items: items, local: in.OccurredAt.In(Zone)}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, _, err := e.prg.ContextEval(ctx, vars)
	if err != nil {
		// Either bound stops a rule that costs too much. The cost limit is
		// the rule's own doing (the same purchase fails again); the wall
		// clock may be a busy machine's, so a timeout is also
		// points.ErrRuleTimeout: the earn is refused for now, to retry.
		if strings.Contains(err.Error(), "cost limit") {
			return 0, fmt.Errorf("%w: %v", ErrCostLimit, err)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("%w (%w): %v", ErrCostLimit, points.ErrRuleTimeout, err)
		}
		return 0, fmt.Errorf("rule expression: %w", err)
	}
	n, ok := out.(types.Int)
	if !ok {
		return 0, fmt.Errorf("rule expression gave %s, not an int", out.Type())
	}
	if n < 0 {
		return 0, fmt.Errorf("rule expression gave %d points; points are never negative", int64(n))
	}
	return int64(n), nil
}

// activation resolves the variables from the purchase without building a
// map of them first (an earn evaluates one expression; this is its cost).
type activation struct {
	in       points.RuleInput
	eligible int64
	items    []points.Item
	local    time.Time
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "amount_fen":
		return a.in.AmountFen, true
	case "eligible_fen":
		return a.eligible, true
	case "items":
		return itemList(a.items), true
	case "store":
		return a.in.StoreID, true
	case "hour":
		return int64(a.local.Hour()), true
	case "weekday":
		return int64(a.local.Weekday()), true
	case "payment_method":
		return a.in.Attributes["payment_method"], true
	case "member_tier":
		return a.in.Attributes["member_tier"], true
	case varPurchasesToday:
		return a.in.Counters.Today.Purchases, true
	case varPointsToday:
		return a.in.Counters.Today.Points, true
	case varPurchasesMonth:
		return a.in.Counters.ThisMonth.Purchases, true
	case varPointsMonth:
		return a.in.Counters.ThisMonth.Points, true
	case "attributes":
		if a.in.Attributes == nil {
			return map[string]string{}, true
		}
		return a.in.Attributes, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// compiled caches expressions by source: a version is compiled once
// however many batches read it.
var compiled struct {
	sync.Mutex
	m map[string]*Expression
}

const maxCompiled = 4096

// Compiled returns the cached compilation of src (compiling it once).
func Compiled(src string) (*Expression, error) {
	compiled.Lock()
	e := compiled.m[src]
	compiled.Unlock()
	if e != nil {
		return e, nil
	}
	e, err := Compile(src)
	if err != nil {
		return nil, err
	}
	compiled.Lock()
	if compiled.m == nil || len(compiled.m) >= maxCompiled {
		compiled.m = map[string]*Expression{}
	}
	compiled.m[src] = e
	compiled.Unlock()
	return e, nil
}

// worstCase is a purchase as large as a purchase may be, for the cost
// check of a draft.
func worstCase() points.RuleInput {
	items := make([]points.Item, points.MaxItems)
	for i := range items {
		items[i] = points.Item{SKU: strings.Repeat("s", 64), Name: strings.Repeat("n", 128), Category: strings.Repeat("c", 64), Quantity: 1_000_000, AmountFen: 1_000_000}
	}
	attrs := map[string]string{}
	for i := range points.MaxAttributes {
		attrs[fmt.Sprintf("attribute_%02d", i)] = strings.Repeat("v", 128)
	}
	attrs["payment_method"], attrs["member_tier"] = "wechat", "gold"
	return points.RuleInput{AmountFen: 500_000_000, Items: items, Attributes: attrs, OccurredAt: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
}

// checkExpression compiles a draft's expression and evaluates it on a
// worst-case purchase: one that does not compile, or exceeds the cost
// limit there, is refused.
func checkExpression(src string) error {
	e, err := Compile(src)
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			return &Error{Status: 400, Code: CodeExpressionInvalid, Message: "expression: " + ce.Error(), Problems: ce.Problems}
		}
		return err
	}
	w := worstCase()
	if _, err := e.points(w, w.AmountFen, w.Items, draftCheckTimeout); errors.Is(err, ErrCostLimit) {
		return &Error{Status: 400, Code: CodeExpressionCostly, Message: fmt.Sprintf("expression: on a purchase of %d items it exceeds the cost limit (%d CEL cost units)", points.MaxItems, CostLimit)}
	}
	return nil
}
