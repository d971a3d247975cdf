package auth

import (
	"log/slog"
	"testing"
)

// testLogger writes through the test's output, so a failing test shows its server log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
