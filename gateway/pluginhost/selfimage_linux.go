package pluginhost

import "os"

// procSelfExe names the executable image of the process that opens it, even
// after its file was renamed, replaced or deleted; a child exec'ing it runs
// the same image as the parent that forked it.
const procSelfExe = "/proc/self/exe"

// selfImage returns the path that executes the gateway's own running image,
// when /proc is mounted.
func selfImage() (string, bool) {
	if _, err := os.Stat(procSelfExe); err != nil {
		return "", false
	}
	return procSelfExe, true
}
