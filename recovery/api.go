package recovery

import (
	"errors"
	"net/http"
	"time"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/web"
)

// Routes mounts recovery's service API on mux: the public listener's. Service API routes answer
// JSON to other servers holding a bearer key; they set no cookie and need no browser
// protection. The operator console is not among them: it has its own listener and origin
// (package console, §6), so the customers' site answers 404 under /staff/.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/fallback-window", web.Handle(s.log, s.apiKeys.Require(s.handleWindowCheck)))
}

// windowCheck is the answer of GET /api/v1/fallback-window (§3.6), with the account's recovery
// hold (§2.11). A closed window and an unknown login ID both marshal to {"open":false,…} with a
// null hold.
type windowCheck struct {
	Open      bool   `json:"open"`
	ExpiresAt string `json:"expires_at,omitempty"`
	OpenedVia string `json:"opened_via,omitempty"`
	auth.HoldFields
}

// windowCheckSQL is the whole check: one query on the login ID's unique index and the
// one-open-window index, no write (§10). It reads auth's accounts table (the login ID and the
// hold), because asking auth for the account first would make it two
// round trips; it writes nothing there.
const windowCheckSQL = `
	SELECT w.expires_at, w.opened_via, a.recovered_at, a.hold_from, a.hold_reason
	FROM accounts a
	LEFT JOIN fallback_windows w ON w.account_id = a.id AND w.closed_at IS NULL AND w.expires_at > $2
	WHERE a.login_id = $1`

func (s *Service) handleWindowCheck(w http.ResponseWriter, r *http.Request, _ string) error {
	loginID := r.URL.Query().Get("login_id")
	if loginID == "" {
		return kagi.Errorf(kagi.Invalid, "invalid_request", msgLoginIDRequired)
	}
	// A login ID no account can have (a NUL byte, invalid UTF-8, absurd length), which
	// PostgreSQL would refuse with an error, is unknown: it answers like an account without a
	// window (§3.6), without a query.
	if !auth.LoginIDLookupable(loginID) {
		return web.JSON(w, http.StatusOK, windowCheck{Open: false})
	}
	now := s.now()
	var (
		expires *time.Time
		via     *string
		hold    auth.HoldState
	)
	err := s.pool.QueryRow(r.Context(), windowCheckSQL, loginID, now).Scan(&expires, &via, &hold.RecoveredAt, &hold.HoldFrom, &hold.HoldReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return web.JSON(w, http.StatusOK, windowCheck{Open: false})
	}
	if err != nil {
		return err
	}
	var out windowCheck
	if expires != nil {
		out = windowCheck{Open: true, ExpiresAt: expires.In(jst).Format(time.RFC3339), OpenedVia: *via}
	}
	out.HoldFields = auth.HoldOf(hold, s.hold, now).Fields()
	return web.JSON(w, http.StatusOK, out)
}
