package rules

import (
	"fmt"
	"reflect"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/lianmeng/lianmeng/gateway/points"
)

// An expression's items are the purchase's own points.Item values seen as
// CEL maps (sku, name, category, quantity, amount_fen), without building a
// Go map per item and converting it by reflection at every evaluation:
// that conversion was most of what a CEL rule cost an earn.

var itemFields = []string{"sku", "name", "category", "quantity", "amount_fen"}

// itemList is the items variable.
func itemList(items []points.Item) traits.Lister {
	vals := make([]ref.Val, len(items))
	for i := range items {
		vals[i] = itemVal{&items[i]}
	}
	return types.NewRefValList(types.DefaultTypeAdapter, vals)
}

// itemVal is one item as a CEL map(string, dyn); it implements
// traits.Mapper.
type itemVal struct{ it *points.Item }

var _ traits.Mapper = itemVal{}

func (v itemVal) field(name string) (ref.Val, bool) {
	switch name {
	case "sku":
		return types.String(v.it.SKU), true
	case "name":
		return types.String(v.it.Name), true
	case "category":
		return types.String(v.it.Category), true
	case "quantity":
		return types.Int(v.it.Quantity), true
	case "amount_fen":
		return types.Int(v.it.AmountFen), true
	}
	return nil, false
}

func (v itemVal) asMap() map[string]any {
	return map[string]any{"sku": v.it.SKU, "name": v.it.Name, "category": v.it.Category, "quantity": v.it.Quantity, "amount_fen": v.it.AmountFen}
}

func (v itemVal) ConvertToNative(t reflect.Type) (any, error) {
	m := v.asMap()
	if reflect.TypeOf(m).AssignableTo(t) {
		return m, nil
	}
	return nil, fmt.Errorf("an item converts to map[string]any, not %v", t)
}

func (v itemVal) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return v
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to '%s'", t)
}

func (v itemVal) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok || o.Size() != v.Size() {
		return types.False
	}
	for _, f := range itemFields {
		mine, _ := v.field(f)
		theirs, found := o.Find(types.String(f))
		if !found || mine.Equal(theirs) != types.True {
			return types.False
		}
	}
	return types.True
}

func (v itemVal) Type() ref.Type { return types.MapType }
func (v itemVal) Value() any     { return v.asMap() }

func (v itemVal) Contains(key ref.Val) ref.Val {
	_, found := v.Find(key)
	return types.Bool(found)
}

func (v itemVal) Get(key ref.Val) ref.Val {
	val, found := v.Find(key)
	if !found {
		if val != nil {
			return val
		}
		return types.NewErr("no such key: %v", key)
	}
	return val
}

func (v itemVal) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	return v.field(string(k))
}

func (v itemVal) Iterator() traits.Iterator {
	return types.NewStringList(types.DefaultTypeAdapter, itemFields).Iterator()
}

func (v itemVal) Size() ref.Val { return types.Int(len(itemFields)) }
