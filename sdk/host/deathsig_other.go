//go:build !linux

package host

import "os/exec"

// setDeathSignal has no equivalent here; the plugin's parent watch applies.
func setDeathSignal(*exec.Cmd) {}
