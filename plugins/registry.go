// Package plugins is the registry of first-party plugins compiled into the
// gateway binary. Each registers itself from init (Caddy style):
//
//	func init() { plugins.Register("restaurant", Plugins) }
//
// and the gateway serves one out of process with "lianmeng plugin serve
// NAME", which a configuration selects as path "builtin:NAME". Import
// plugins/all to link every first-party plugin in.
package plugins

import (
	"fmt"
	"sort"
	"sync"

	"github.com/lianmeng/lianmeng/sdk"
)

var (
	mu       sync.RWMutex
	registry = map[string]func() sdk.Plugins{}
)

// Register adds a builtin. It panics on an empty or duplicate name, which
// is a programming error caught at start-up.
func Register(name string, plugins func() sdk.Plugins) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || plugins == nil {
		panic("plugins: Register needs a name and a function")
	}
	if _, dup := registry[name]; dup {
		panic("plugins: duplicate builtin " + name)
	}
	registry[name] = plugins
}

// Lookup returns the builtin registered as name.
func Lookup(name string) (sdk.Plugins, bool) {
	mu.RLock()
	f, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return sdk.Plugins{}, false
	}
	return f(), true
}

// Names lists the registered builtins, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Serve serves the builtin name over the plugin protocol on this process's
// stdin/stdout and returns when the gateway closes it.
func Serve(name string) error {
	p, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("no builtin plugin %q (have %v)", name, Names())
	}
	if err := p.Validate(); err != nil {
		return err
	}
	sdk.Serve(p)
	return nil
}
