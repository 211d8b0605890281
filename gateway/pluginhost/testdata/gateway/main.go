// Command gateway stands in for the lianmeng binary in tests: it serves the
// first-party plugins exactly as "lianmeng plugin serve NAME" does.
package main

import (
	"fmt"
	"os"

	"github.com/lianmeng/lianmeng/plugins"
	_ "github.com/lianmeng/lianmeng/plugins/all"
)

func main() {
	if len(os.Args) != 4 || os.Args[1] != "plugin" || os.Args[2] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: gateway plugin serve NAME")
		os.Exit(2)
	}
	if err := plugins.Serve(os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
