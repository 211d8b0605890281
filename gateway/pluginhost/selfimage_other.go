//go:build !linux

package pluginhost

// selfImage: no portable way to execute the running image; builtins are
// pinned to the gateway binary's checksum and run from a private copy.
func selfImage() (string, bool) { return "", false }
