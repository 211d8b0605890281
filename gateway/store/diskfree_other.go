//go:build !linux

package store

func diskFree(string) (uint64, bool) { return 0, false }
