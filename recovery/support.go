package recovery

import (
	"log/slog"
	"net/http"
	"time"

	"kagi/hours"
	"kagi/web"
)

// SupportStatusHandler serves GET /api/v1/support/status (§5) for anyone: whether the support
// desk is staffed now, the sentence to show, and when it opens next (see hours.Status for
// what next_open_at holds while open, closed and switched off).
func SupportStatusHandler(log *slog.Logger, cal *hours.Calendar, enabled bool, now func() time.Time) http.Handler {
	return web.Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		return web.JSON(w, http.StatusOK, cal.Status(now(), enabled))
	})
}
