package host

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the plugin when the gateway dies, so a
// kill -9 of the gateway leaves no orphans. (It fires when the launching OS
// thread exits; the plugin's own parent watch covers the rest.)
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
