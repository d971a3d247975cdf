package auth

import (
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"kagi/web"
)

// The reference pages are server-rendered Japanese HTML; each loads one small script from
// /static/, because the browser routes' CSP allows no inline script or style.

//go:embed pages/*.html
var pageFS embed.FS

//go:embed static
var staticFS embed.FS

// JST is Japan Standard Time, the one zone kagi shows, speaks and reckons business hours in.
// Japan has no daylight saving time, so a fixed zone is exact and needs no tz data; the other
// packages use this one.
var JST = time.FixedZone("JST", 9*60*60)

// jst is JST for this package.
var jst = JST

// staticAssets are the pages' scripts and styles, served under /static/.
var staticAssets = func() *web.Assets {
	a, err := web.LoadAssets(staticFS, "static", "/static/")
	if err != nil {
		panic(err)
	}
	return a
}()

func parsePage(name string) *template.Template {
	return template.Must(template.New(name).Funcs(template.FuncMap{"static": staticAssets.URL, "jst": jstHTML}).
		ParseFS(pageFS, "pages/layout.html", "pages/"+name))
}

var (
	loginPage    = parsePage("login.html")
	securityPage = parsePage("security.html")
)

// pageRoutes mounts the reference login and security settings pages and their assets. They
// are browser routes: same CSP, framing and cross-origin rules as the API they call.
func (s *Service) pageRoutes(mux *http.ServeMux) {
	h := func(f web.HandlerFunc) http.Handler { return web.Browser(web.Handle(s.log, f)) }
	mux.Handle("GET /{$}", h(s.handleRoot))
	mux.Handle("GET /login", h(s.handleLoginPage))
	mux.Handle("GET /settings/security", h(s.handleSecurityPage))
	mux.Handle("GET /static/{file}", h(staticAssets.Serve))
}

func (s *Service) handleRoot(w http.ResponseWriter, r *http.Request) error {
	_, ok, err := s.SessionFromRequest(r.Context(), r)
	if err != nil {
		return err
	}
	to := "/login"
	if ok {
		to = "/settings/security"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// loginView is what the login page shows. Done names the change a recovery session just made
// (it ended with it): "passkey_created" or "passkey_deleted"; anything else shows nothing.
type loginView struct {
	Done string
	// Support is the way out for a customer whose passkey is gone.
	Support supportView
	// Ended is set when this browser's recovery session ended with its window a moment ago.
	Ended *recoveryEnded
}

func (s *Service) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	v := loginView{Done: r.URL.Query().Get("done"), Support: s.supportNow()}
	switch end, ok := s.recoveryEnd(r); {
	case v.Done == "passkey_created" || v.Done == "passkey_deleted":
		// The recovery did what it was for: its end is nothing to tell any more.
		if ok {
			s.setRecoveryEnd(w, time.Time{})
		}
	case ok && !end.After(s.now()):
		v.Ended = &recoveryEnded{At: formatJST(end), Support: v.Support}
	}
	return web.Page(w, loginPage, v)
}

// recoveryEnded tells that a recovery session's temporary login ended with its window, and the
// way back: the voice line again.
type recoveryEnded struct {
	At      string
	Support supportView
}

// The recovery end cookie keeps, in the browser, when its recovery session ends. The session and
// its cookie end with the window, so without it a page loaded after the end could only show the
// plain login page; with it the login page says that the temporary login ended and to call the
// voice line again. It holds nothing secret: a time the page showed the customer. It is kept
// for recoveryEndTold after the end, and dropped when the recovery did its work (a passkey
// created or deleted) or a session of another kind shows the security page.
const (
	recoveryEndCookie = "kagi_recovery_end"
	recoveryEndTold   = 6 * time.Hour
)

func (s *Service) recoveryEndCookieName() string {
	if s.secure {
		return "__Host-" + recoveryEndCookie
	}
	return recoveryEndCookie
}

// recoveryEnd reads the recovery end cookie: the end of this browser's last recovery session.
func (s *Service) recoveryEnd(r *http.Request) (time.Time, bool) {
	c, err := r.Cookie(s.recoveryEndCookieName())
	if err != nil {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(c.Value, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	end := time.Unix(sec, 0)
	// A cookie the browser should have dropped (its clock is wrong) tells nothing.
	if end.Before(s.now().Add(-recoveryEndTold)) {
		return time.Time{}, false
	}
	return end, true
}

// setRecoveryEnd remembers end in the browser, or forgets it when end is zero.
func (s *Service) setRecoveryEnd(w http.ResponseWriter, end time.Time) {
	c := &http.Cookie{
		Name: s.recoveryEndCookieName(), Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	}
	if end.IsZero() {
		c.MaxAge = -1
	} else {
		c.Value, c.Expires = strconv.FormatInt(end.Unix(), 10), end.Add(recoveryEndTold)
	}
	http.SetCookie(w, c)
}

// supportView is the support desk as the pages print it at the moment of the request.
type supportView struct {
	Support
	// NextOpenAt is when the operators answer next, in JST; "" while they answer or when
	// unknown.
	NextOpenAt string
}

// Operators is the operators' hours, today's exception and whether they answer now, in the
// words of the passkey_required message.
func (v supportView) Operators() string { return msgOperators(v.Support) }

// OperatorsNow says whether the operators answer now.
func (v supportView) OperatorsNow() string { return msgOperatorsNow(v.Support) }

// VoiceLineTel is the voice line's number as a tel: link, so a phone dials it at a tap: its
// digits (with the + of an international number), as a phone in Japan dials the number written
// on the page; "" without a number.
func (v supportView) VoiceLineTel() template.URL {
	var b strings.Builder
	for i, r := range v.VoiceLine {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		}
	}
	if strings.TrimPrefix(b.String(), "+") == "" {
		return ""
	}
	// Only digits and a leading +: nothing a browser could run.
	return template.URL("tel:" + b.String())
}

// supportNow asks the support desk about the moment of the request.
func (s *Service) supportNow() supportView {
	v := supportView{Support: s.support.SupportAt(s.now())}
	if !v.Open && !v.NextOpen.IsZero() {
		v.NextOpenAt = formatJST(v.NextOpen)
	}
	return v
}

// securityView is what the security settings page shows.
type securityView struct {
	Assurance Assurance
	// Done names the change the customer just made on the page: "passkey_created" or
	// "passkey_deleted"; anything else shows nothing.
	Done string
	// Recovery marks a session made through a fallback window: only creating (replacing) or
	// deleting the passkey is possible.
	Recovery bool
	// RecoveryEnds is when a recovery session ends with its window, in JST. The time left at
	// the request is in minutes (rounded up) for the page and in milliseconds for its script,
	// which counts down from it on its own clock, so a phone whose clock is wrong still shows
	// the right minutes.
	RecoveryEnds        string
	RecoveryLeftMinutes int
	RecoveryLeftMillis  int64
	// CanCreate: no passkey yet, or a recovery session, whose new passkey replaces the old.
	CanCreate bool
	// CreateHere: the create platform rule (§2.4) allows this browser to create it; where it
	// does not (a computer), the page tells the customer to use the smartphone instead.
	CreateHere bool
	// Support is the way out, shown to a recovery session.
	Support supportView
	// Ended is what a recovery page turns into when its window ends: the temporary login is
	// over, and the way back is the voice line again.
	Ended *recoveryEnded
	// The WebAuthn identity the Signal API reports to the password manager.
	RPID, UserID, UserName, DisplayName string
	Passkey                             *passkeyView
	// HoldUntil is the end of the hold (§2.11, §2.13) in JST, "" when none applies, and
	// HoldReason why it applies (HoldRecovery or HoldPasskeyAdded).
	HoldUntil, HoldReason string
	// PasswordForm is the password change form's text (§12.3), nil for a recovery session,
	// which may not change the password.
	PasswordForm *passwordFormTextView
}

// passwordFormTextView is the words of the password change form (passwordFormText).
type passwordFormTextView struct {
	Title, Lead, Current, New, Confirm, Rule, Submit, Done, Mismatch string
}

// passkeyView is the passkey as the customer sees it; times are in JST.
type passkeyView struct {
	CredentialID string
	CreatedAt    string
	LastUsedAt   string
	Synced       bool
	Provider     string
}

func (s *Service) handleSecurityPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess, ok, err := s.SessionFromRequest(ctx, r)
	if err != nil {
		return err
	}
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	cur, ok, err := s.currentPasskeyOf(ctx, sess)
	if err != nil {
		return err
	}
	if !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	v := securityView{
		Assurance:   sess.Assurance,
		Done:        r.URL.Query().Get("done"),
		Recovery:    sess.Assurance == AssurancePasswordFallback,
		CreateHere:  creationAllowed(s.platforms, r.UserAgent()),
		Support:     s.supportNow(),
		RPID:        s.webauthn.Config.RPID,
		UserID:      cur.UserID,
		UserName:    cur.UserName,
		DisplayName: cur.DisplayName,
	}
	if pk := cur.Passkey; pk != nil {
		v.Passkey = &passkeyView{
			CredentialID: base64.RawURLEncoding.EncodeToString(pk.CredentialID),
			CreatedAt:    formatJST(pk.CreatedAt),
			Synced:       pk.Synced(),
			Provider:     providerDisplayName(pk.Provider()),
		}
		if pk.LastUsedAt != nil {
			v.Passkey.LastUsedAt = formatJST(*pk.LastUsedAt)
		}
	}
	v.CanCreate = cur.Passkey == nil || v.Recovery
	if !v.Recovery {
		text := passwordFormText
		v.PasswordForm = &text
	}
	if v.Recovery {
		// A recovery session's expires_at is its window's end (§2.11).
		left := max(sess.ExpiresAt.Sub(s.now()), 0)
		v.RecoveryEnds = formatJST(sess.ExpiresAt)
		v.RecoveryLeftMinutes = int((left + time.Minute - 1) / time.Minute)
		v.RecoveryLeftMillis = left.Milliseconds()
		v.Ended = &recoveryEnded{At: v.RecoveryEnds, Support: v.Support}
		s.setRecoveryEnd(w, sess.ExpiresAt)
	} else if _, ok := s.recoveryEnd(r); ok {
		s.setRecoveryEnd(w, time.Time{})
	}
	if h := HoldOf(sess.HoldState, s.hold, s.now()); h.HoldUntil != nil {
		v.HoldUntil, v.HoldReason = formatJST(*h.HoldUntil), *h.Reason
	}
	return web.Page(w, securityPage, v)
}

func providerDisplayName(name string) string {
	if ja, ok := providerNamesJa[name]; ok {
		return ja
	}
	return name
}

// jstZone is how the pages name the time zone after a time.
const jstZone = "(日本時間)"

// formatJST is how the pages write a time: 2026年11月25日 19:00 (日本時間).
func formatJST(t time.Time) string {
	return t.In(jst).Format("2006年1月2日 15:04") + " " + jstZone
}

// jstHTML is a time formatJST wrote, for a page: the zone is kept on one line, so a narrow
// screen does not break 「(日本時間)」 between 日本 and 時間.
func jstHTML(s string) template.HTML {
	at, ok := strings.CutSuffix(s, " "+jstZone)
	if !ok {
		return template.HTML(template.HTMLEscapeString(s))
	}
	return template.HTML(template.HTMLEscapeString(at) + ` <span class="tz">` + jstZone + `</span>`)
}

// StaticURL names one of the pages' scripts or styles under /static/ with its content's hash,
// for the pages of another package that build on them (the operator console loads kagi.js).
func StaticURL(name string) (string, error) { return staticAssets.URL(name) }

// ServeStatic serves the pages' scripts and styles (GET /static/{file}), for another listener
// whose pages build on them (the operator console's).
func ServeStatic(w http.ResponseWriter, r *http.Request) error { return staticAssets.Serve(w, r) }
