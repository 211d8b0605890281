package host

import (
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// SlogLogger returns an hclog.Logger that forwards to l, so plugin log lines
// (which go-plugin parses from the plugin's stderr) land in the gateway's
// structured log at their own level.
func SlogLogger(l *slog.Logger, name string) hclog.Logger {
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: name, Level: slogLevel(l), Output: io.Discard})
	il.RegisterSink(slogSink{l})
	return il
}

func slogLevel(l *slog.Logger) hclog.Level {
	ctx := context.Background()
	switch {
	case l.Enabled(ctx, slog.LevelDebug):
		return hclog.Debug
	case l.Enabled(ctx, slog.LevelInfo):
		return hclog.Info
	case l.Enabled(ctx, slog.LevelWarn):
		return hclog.Warn
	}
	return hclog.Error
}

type slogSink struct{ l *slog.Logger }

func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	var lv slog.Level
	switch level {
	case hclog.Trace, hclog.Debug:
		lv = slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		lv = slog.LevelInfo
	case hclog.Warn:
		lv = slog.LevelWarn
	default:
		lv = slog.LevelError
	}
	s.l.Log(context.Background(), lv, msg, append([]any{"logger", name}, args...)...)
}
