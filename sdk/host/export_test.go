package host

// SetTestHookCopied sets the hook that runs between verifying a pinned
// binary's private copy and executing it; tests only.
func SetTestHookCopied(f func(src, copy string)) { testHookCopied = f }
