package ivr

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twilio/twilio-go/client"

	"kagi/auth"
	"kagi/hours"
	"kagi/notify"
	"kagi/pgdb"
	"kagi/recovery"
	"kagi/web"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the schema of the voice line's call state. Apply it after auth and recovery.
var Migrations = pgdb.Embedded("ivr", migrationFS, "migrations")

// DefaultDeadline bounds one webhook request, well under the 15 seconds after which Twilio
// gives up and plays its own error.
const DefaultDeadline = 5 * time.Second

// HandlerConfig is what the voice line needs, loaded once at start.
type HandlerConfig struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	Now  func() time.Time
	// PublicURL is the origin Twilio calls (KAGI_PUBLIC_URL); signatures are checked against
	// it plus the request's path and query, never against the Host header.
	PublicURL string
	// AuthToken is TWILIO_AUTH_TOKEN.
	AuthToken string
	// Voice and OperatorNumber are KAGI_IVR_VOICE and KAGI_OPERATOR_NUMBER.
	Voice          string
	OperatorNumber string
	// Brand is the brokerage's name (KAGI_BRAND_NAME, 「デモ証券」), which every call back and
	// every text of the line names first (§4.9).
	Brand string
	// Calendar and SupportEnabled decide whether the operator option transfers (§5).
	Calendar       *hours.Calendar
	SupportEnabled bool
	// Verifier checks callers and opens windows.
	Verifier *recovery.VoiceVerifier
	// Texter sends the codes of the second channel (§4.8); required when the verifier's
	// second factor may text.
	Texter notify.Texter
	// Caller places the calls back of the second channel (§4.8); required when the verifier's
	// second factor may call back.
	Caller notify.Caller
	// Deadline bounds a request; zero means DefaultDeadline.
	Deadline time.Duration
}

// Handler serves the Twilio webhook routes under /ivr/.
type Handler struct {
	pool      *pgxpool.Pool
	log       *slog.Logger // puts the request id on every line logged with a request's context
	now       func() time.Time
	publicURL string
	validator client.RequestValidator
	flow      Config // the call's configuration; flow.Brand is HandlerConfig's Brand
	calendar  *hours.Calendar
	support   bool
	verifier  *recovery.VoiceVerifier
	texter    notify.Texter
	caller    notify.Caller
	deadline  time.Duration
}

// NewHandler checks cfg and builds the handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Pool == nil || cfg.Verifier == nil || cfg.AuthToken == "" || cfg.PublicURL == "" {
		return nil, errors.New("ivr: Pool, Verifier, AuthToken and PublicURL are required")
	}
	switch f := cfg.Verifier.SecondFactor(); {
	case (f == recovery.SecondFactorSMS || f == recovery.SecondFactorAuto) && cfg.Texter == nil:
		return nil, fmt.Errorf("ivr: the %s second factor needs a Texter", f)
	case (f == recovery.SecondFactorCallback || f == recovery.SecondFactorAuto) && cfg.Caller == nil:
		return nil, fmt.Errorf("ivr: the %s second factor needs a Caller", f)
	}
	h := &Handler{
		pool:      cfg.Pool,
		log:       cfg.Log,
		now:       cfg.Now,
		publicURL: cfg.PublicURL,
		validator: client.NewRequestValidator(cfg.AuthToken),
		flow:      Config{Voice: cfg.Voice, OperatorNumber: cfg.OperatorNumber, HoursText: RegularHoursText(), Brand: cfg.Brand},
		calendar:  cfg.Calendar,
		support:   cfg.SupportEnabled,
		verifier:  cfg.Verifier,
		texter:    cfg.Texter,
		caller:    cfg.Caller,
		deadline:  cfg.Deadline,
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	// Every line carries the request id (web.WithRequestID, the X-Request-Id of the answer),
	// like the lines of the other route kinds, and only once: web.RequestIDLogs adds it to a
	// record that lacks it, so it is a no-op under kagi serve's log, which does the same.
	h.log = slog.New(web.RequestIDLogs(h.log.Handler()))
	if h.now == nil {
		h.now = time.Now
	}
	if h.deadline == 0 {
		h.deadline = DefaultDeadline
	}
	return h, nil
}

// Routes mounts the webhook: every route checks Twilio's signature first and always answers
// TwiML, never a 5xx (§4.5). Everything else under /ivr/ (any other path or method) is checked
// the same way (§4.2) and, when signed, ends the call with the unavailable sentence, as Twilio's
// fallback URL does.
func (h *Handler) Routes(mux *http.ServeMux) {
	unavailable := h.twilio(func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		h.writeTwiML(w, Unavailable(h.flow))
	})
	mux.Handle("POST /ivr/voice", h.twilio(h.handleVoice))
	mux.Handle("POST "+GatherPath, h.twilio(h.handleGather))
	mux.Handle("POST "+DialPath, h.twilio(h.handleDialEnded))
	mux.Handle("POST /ivr/status", h.twilio(h.handleStatus))
	mux.Handle("POST "+CallbackPath, h.twilio(h.handleCallbackAnswer))
	mux.Handle("POST "+CallbackPath+"/gather", h.twilio(h.handleCallbackGather))
	mux.Handle("POST "+CallbackPath+"/status", h.twilio(h.handleCallbackStatus))
	mux.Handle("POST /ivr/fallback", unavailable)
	mux.Handle("/ivr/", unavailable)
}

type twilioHandler func(w http.ResponseWriter, r *http.Request, form url.Values)

// maxForm bounds a webhook body; Twilio's are a few hundred bytes.
const maxForm = 16 << 10

// twilio checks X-Twilio-Signature with twilio-go's validator over KAGI_PUBLIC_URL + path +
// query and the POST body's parameters only, gives the request its deadline, and turns a panic
// into the unavailable TwiML.
func (h *Handler) twilio(next twilioHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForm))
		sig := r.Header.Get("X-Twilio-Signature")
		if err != nil || sig == "" || !h.validator.ValidateBody(h.publicURL+r.URL.RequestURI(), body, sig) {
			h.log.WarnContext(r.Context(), "ivr: refused request without a valid Twilio signature", "path", r.URL.Path)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			h.writeTwiML(w, Unavailable(h.flow))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.deadline)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.ErrorContext(ctx, "ivr: panic", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				h.writeTwiML(w, Unavailable(h.flow))
			}
		}()
		next(w, r.WithContext(ctx), form)
	})
}

func (h *Handler) writeTwiML(w http.ResponseWriter, doc string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, doc)
}

var callSidPattern = regexp.MustCompile(`^[A-Za-z0-9]{2,64}$`)

func (h *Handler) handleVoice(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.answer(w, r, form, Event{Kind: EventCallStart, From: form.Get("From")})
}

func (h *Handler) handleGather(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.answer(w, r, form, Event{Kind: EventDigits, Seq: ParseSeq(r.URL.Query().Get("seq")), Digits: form.Get("Digits")})
}

// handleDialEnded is the action of the transfer to the operator: Twilio reports how it ended.
func (h *Handler) handleDialEnded(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.answer(w, r, form, Event{Kind: EventDialEnded, Seq: ParseSeq(r.URL.Query().Get("seq")), DialStatus: form.Get("DialCallStatus")})
}

// answer runs one step of the call and writes its TwiML, or the unavailable TwiML when the
// step cannot be carried out.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, form url.Values, ev Event) {
	sid := form.Get("CallSid")
	if !callSidPattern.MatchString(sid) {
		h.writeTwiML(w, Unavailable(h.flow))
		return
	}
	doc, err := h.step(r.Context(), sid, form.Get("From"), form.Get("To"), ev)
	if err != nil {
		h.log.ErrorContext(r.Context(), "ivr: step failed", "call_sid", sid, "caller", auth.MaskPhone(form.Get("From")), "err", err)
		doc = Unavailable(h.flow)
	}
	h.writeTwiML(w, doc)
}

var errUnknownCall = errors.New("ivr: gather for a call that never started")

// step is one transaction: load the call's state (row-locked, so Twilio's retries and
// parallel requests of one call queue up), move the flow on, verify if it asks, save. A call
// whose end the status callback recorded is not moved on: it gets the unavailable sentence.
//
// The second channel the step started (§4.8) — a code to text, a call back to place — goes
// out once the step has committed, so what reaches the phone is always something the line can
// check.
//
// line is the number the caller called (Twilio's To), which a call back comes from.
func (h *Handler) step(ctx context.Context, sid, from, line string, ev Event) (string, error) {
	var doc, outcome string
	var started *recovery.VoiceResult
	var account *int64 // the account a verification of this step was about
	err := pgdb.InTx(ctx, h.pool, func(tx pgx.Tx) error {
		// InTx may run this again after a deadlock or serialization failure.
		outcome, started, account = "", nil, nil
		now := h.now()
		if ev.Kind == EventCallStart {
			_, err := tx.Exec(ctx, `
				INSERT INTO ivr_calls (call_sid, caller, state, started_at, updated_at)
				VALUES ($1, $2, '{}', $3, $3) ON CONFLICT (call_sid) DO NOTHING`, sid, from, now)
			if err != nil {
				return err
			}
		}
		var st State
		var ended bool
		err := tx.QueryRow(ctx, `SELECT state, ended_at IS NOT NULL FROM ivr_calls WHERE call_sid = $1 FOR UPDATE`, sid).Scan(&st, &ended)
		if errors.Is(err, pgx.ErrNoRows) {
			return errUnknownCall
		}
		if err != nil {
			return err
		}
		if ended {
			h.log.InfoContext(ctx, "ivr: request for a call that has ended", "call_sid", sid, "step", string(st.Step))
			doc = Unavailable(h.flow)
			return nil
		}
		env := h.env(now)
		before := st.Step
		st, reply := Next(st, ev, h.flow, env)
		if v := reply.Verify; v != nil {
			var res recovery.VoiceResult
			if v.Code != "" {
				res, err = h.verifier.VerifyCode(ctx, tx, recovery.VoiceCodeAttempt{CallSid: sid, Caller: v.CallerNumber, Code: v.Code})
			} else {
				res, err = h.verifier.Verify(ctx, tx, recovery.VoiceAttempt{
					AccountNumber: v.AccountNumber, Caller: v.CallerNumber, PIN: v.PIN, CallSid: sid,
				})
			}
			if err != nil {
				return err
			}
			st, reply = Next(st, Event{Kind: EventVerifyResult, Result: flowResult(res, v.Code != "")}, h.flow, env)
			outcome = outcomeNames[res.Outcome]
			if res.AccountID != 0 {
				account = &res.AccountID
			}
			if res.Outcome == recovery.VoiceCodeSent || res.Outcome == recovery.VoiceCallbackNeeded {
				started = &res
			}
		}
		// A verification links the call to its account (for the operator console) and records
		// its outcome, in the same statement as the state.
		var linked *string
		if outcome != "" {
			linked = &outcome
		}
		// The state goes as JSON text cast in the statement, valid in every pgx exec mode (a
		// transaction-mode pooler's too, where nothing tells pgx the parameter's type).
		state, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE ivr_calls SET state = $2::text::jsonb, updated_at = $3, account_id = COALESCE($4, account_id), outcome = COALESCE($5, outcome)
			WHERE call_sid = $1`, sid, string(state), now, account, linked); err != nil {
			return err
		}
		attrs := []any{"call_sid", sid, "from_step", string(before), "to_step", string(st.Step), "attempts", st.Attempts, "outcome", outcome}
		if ev.Kind == EventDialEnded {
			attrs = append(attrs, "dial_status", ev.DialStatus)
		}
		h.log.InfoContext(ctx, "ivr: step", attrs...)
		doc = reply.TwiML
		return nil
	})
	if err == nil && outcome != "" {
		verifications.WithLabelValues(outcome).Inc()
	}
	if err == nil && started != nil {
		if err := h.secondChannel(ctx, started, line); err != nil {
			// The registered phone cannot be reached: the line cannot go on. What was started
			// stays unusable without it and runs out.
			h.log.ErrorContext(ctx, "ivr: second channel not started", "call_sid", sid, "to", auth.MaskPhone(started.Phone), "err", err)
			return Unavailable(h.flow), nil
		}
	}
	return doc, err
}

// env is what the flow needs to know at now: whether the desk answers and, while it is closed,
// when it opens next.
func (h *Handler) env(now time.Time) Env {
	env := Env{Now: now, Support: h.calendar.State(now, h.support)}
	if env.Support == hours.Closed {
		env.NextOpen = h.calendar.NextOpen(now)
	}
	return env
}

// secondChannel texts the code, or places the call back, that the committed step started.
func (h *Handler) secondChannel(ctx context.Context, r *recovery.VoiceResult, line string) error {
	if r.Outcome == recovery.VoiceCodeSent {
		return h.textCode(ctx, r)
	}
	q := "?id=" + r.CallbackID
	sid, err := h.caller.PlaceCall(ctx, notify.Call{
		To: r.Phone, From: line, URL: h.publicURL + CallbackPath + q, StatusURL: h.publicURL + CallbackPath + "/status" + q,
	})
	if err != nil {
		return err
	}
	return h.verifier.BindCallback(ctx, h.pool, r.CallbackID, sid)
}

var callbackIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{16,64}$`)

// callbackStep runs one request of a call back in a transaction: the id of its URL and its
// CallSid must name a live call back. Anything else ends the call with the unavailable
// sentence.
func (h *Handler) callbackStep(w http.ResponseWriter, r *http.Request, form url.Values, fn func(ctx context.Context, tx pgx.Tx, id, sid string) (string, error)) {
	id, sid := r.URL.Query().Get("id"), form.Get("CallSid")
	if !callbackIDPattern.MatchString(id) || !callSidPattern.MatchString(sid) {
		h.writeTwiML(w, Unavailable(h.flow))
		return
	}
	var doc string
	err := pgdb.InTx(r.Context(), h.pool, func(tx pgx.Tx) error {
		var err error
		doc, err = fn(r.Context(), tx, id, sid)
		if errors.Is(err, recovery.ErrNoCallback) {
			// Committed: a call back found past its time was ended as expired.
			h.log.InfoContext(r.Context(), "ivr: call back not awaiting confirmation", "callback_sid", sid)
			doc, err = Unavailable(h.flow), nil
		}
		return err
	})
	if err != nil {
		h.log.ErrorContext(r.Context(), "ivr: call back step failed", "callback_sid", sid, "err", err)
		doc = Unavailable(h.flow)
	}
	h.writeTwiML(w, doc)
}

// handleCallbackAnswer is the call back answered: ask for the confirmation.
func (h *Handler) handleCallbackAnswer(w http.ResponseWriter, r *http.Request, form url.Values) {
	h.callbackStep(w, r, form, func(ctx context.Context, tx pgx.Tx, id, sid string) (string, error) {
		if err := h.verifier.AnswerCallback(ctx, tx, id, sid); err != nil {
			return "", err
		}
		return CallbackAnswer(h.flow, id), nil
	})
}

// handleCallbackGather is the key pressed on the call back: 1 opens the window.
func (h *Handler) handleCallbackGather(w http.ResponseWriter, r *http.Request, form url.Values) {
	digits := form.Get("Digits")
	h.callbackStep(w, r, form, func(ctx context.Context, tx pgx.Tx, id, sid string) (string, error) {
		res, err := h.verifier.ConfirmCallback(ctx, tx, id, sid, digits)
		if err != nil {
			return "", err
		}
		if err := recordCallbackOutcome(ctx, tx, res.CallbackOf, res.CallbackOutcome); err != nil {
			return "", err
		}
		verifications.WithLabelValues("callback_" + outcomeNames[res.Outcome]).Inc()
		return CallbackResult(h.flow, h.env(h.now()), flowResult(res, false), digits != ""), nil
	})
}

// handleCallbackStatus records how a call back ended (its status callback): no answer, busy,
// failed … end it, and nothing opens.
func (h *Handler) handleCallbackStatus(w http.ResponseWriter, r *http.Request, form url.Values) {
	id, sid, status := r.URL.Query().Get("id"), form.Get("CallSid"), form.Get("CallStatus")
	if callbackIDPattern.MatchString(id) && callSidPattern.MatchString(sid) && finalStatuses[status] {
		err := pgdb.InTx(r.Context(), h.pool, func(tx pgx.Tx) error {
			asking, err := h.verifier.EndCallback(r.Context(), tx, id, sid, status)
			if err != nil {
				return err
			}
			return recordCallbackOutcome(r.Context(), tx, asking, status)
		})
		if err != nil {
			h.log.ErrorContext(r.Context(), "ivr: call back status not recorded", "callback_sid", sid, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// recordCallbackOutcome notes on the call that asked for a call back how the call back ended,
// in the transaction that ended it, so the console says "declined" of that call, not "placed".
// An empty callSid (a call back decided before) records nothing.
func recordCallbackOutcome(ctx context.Context, tx pgx.Tx, callSid, outcome string) error {
	if callSid == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE ivr_calls SET callback_outcome = $2 WHERE call_sid = $1`, callSid, outcome)
	return err
}

// textCode texts the confirmation code to the registered phone the call came from. The code
// is in the text and nowhere else: never logged.
func (h *Handler) textCode(ctx context.Context, r *recovery.VoiceResult) error {
	body, err := notify.RenderCodeSMS(h.flow.Brand, r.Code, r.CodeExpiresAt)
	if err != nil {
		return err
	}
	return h.texter.SendSMS(ctx, notify.SMS{To: r.Phone, Body: body})
}

var verifications = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kagi_ivr_verifications_total",
	Help: "Voice-line verifications by outcome (verified, no_passkey, failed, locked).",
}, []string{"outcome"})

var outcomeNames = map[recovery.VoiceOutcome]string{
	recovery.VoiceVerified:       "verified",
	recovery.VoiceNoPasskey:      "no_passkey",
	recovery.VoiceFailed:         "failed",
	recovery.VoiceAccountLocked:  "locked",
	recovery.VoiceCallerLocked:   "locked",
	recovery.VoiceCodeSent:       "code_sent",
	recovery.VoiceCallbackNeeded: "callback_placed",
	recovery.VoiceSendCapped:     "second_channel_capped",
	recovery.VoiceCodeWrong:      "failed",
	recovery.VoiceSuspended:      "suspended",
}

// flowResult is the flow's view of a verification's outcome; byCode marks the check of a texted
// code.
func flowResult(r recovery.VoiceResult, byCode bool) VerifyResult {
	switch r.Outcome {
	case recovery.VoiceVerified:
		return VerifyResult{Outcome: Verified, WindowExpiresAt: r.Window.ExpiresAt, ByCode: byCode, PauseLifted: r.PauseLifted}
	case recovery.VoiceCodeSent:
		return VerifyResult{Outcome: CodeSent}
	case recovery.VoiceCallbackNeeded:
		return VerifyResult{Outcome: CallbackPlaced}
	case recovery.VoiceNoPasskey:
		return VerifyResult{Outcome: NoPasskey, PauseLifted: r.PauseLifted}
	case recovery.VoiceAccountLocked:
		return VerifyResult{Outcome: AccountLocked}
	case recovery.VoiceCallerLocked:
		return VerifyResult{Outcome: CallerLocked}
	case recovery.VoiceCodeWrong:
		return VerifyResult{Outcome: CodeWrong}
	case recovery.VoiceSuspended:
		return VerifyResult{Outcome: Suspended}
	case recovery.VoiceSendCapped:
		if r.Factor == recovery.SecondFactorCallback {
			return VerifyResult{Outcome: CallbackCapped}
		}
		return VerifyResult{Outcome: CodeCapped}
	}
	return VerifyResult{Outcome: Failed}
}

// finalStatuses are the CallStatus values of a call that is over. Twilio may also report the
// stages before (queued, initiated, ringing, in-progress) when more status events are
// subscribed; those end nothing.
var finalStatuses = map[string]bool{"completed": true, "busy": true, "failed": true, "no-answer": true, "canceled": true}

// endCallSQL records the end of a call and, in the same statement, forgets its state but that
// it is done, so a gather that arrives afterwards (late, replayed or forged with a valid
// signature) cannot move the call on, and nothing the caller keyed in outlives the call; step
// also refuses a call whose ended_at is set.
const endCallSQL = `
	UPDATE ivr_calls
	SET ended_at = COALESCE(ended_at, $2), end_status = $3, state = '{"step":"done"}'
	WHERE call_sid = $1`

// handleStatus records the end of a call (Twilio's status callback).
func (h *Handler) handleStatus(w http.ResponseWriter, r *http.Request, form url.Values) {
	sid, status := form.Get("CallSid"), form.Get("CallStatus")
	if callSidPattern.MatchString(sid) && finalStatuses[status] {
		if _, err := h.pool.Exec(r.Context(), endCallSQL, sid, h.now(), status); err != nil {
			h.log.ErrorContext(r.Context(), "ivr: status not recorded", "call_sid", sid, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// endedCallsKept is how long an ended call's CallSid is remembered (without its state): a
// signed request sequence replayed within it finds the call ended and opens nothing.
const endedCallsKept = 30 * 24 * time.Hour

// abandonedAfter is how long a call Twilio never reported ended may sit untouched before the
// purge ends it.
const abandonedAfter = 24 * time.Hour

// The purge's statements, each finding up to limit calls, the oldest first, through one of the
// partial indexes of ivr_calls: calls nobody touched for a day are ended as abandoned (their
// state forgotten); ended calls are deleted once endedCallsKept has passed. The outer condition
// is asked again of a call a step or a status moved on meanwhile.
const (
	abandonCallsSQL = `
		UPDATE ivr_calls SET ended_at = $1, end_status = 'abandoned', state = '{"step":"done"}'
		WHERE call_sid = ANY (ARRAY(
		    SELECT call_sid FROM ivr_calls WHERE ended_at IS NULL AND updated_at <= $2 ORDER BY updated_at LIMIT $3))
		  AND ended_at IS NULL AND updated_at <= $2`
	purgeCallsSQL = `
		DELETE FROM ivr_calls
		WHERE call_sid = ANY (ARRAY(
		    SELECT call_sid FROM ivr_calls WHERE ended_at IS NOT NULL AND ended_at <= $1 ORDER BY ended_at LIMIT $2))
		  AND ended_at <= $1`
)

// PurgeCalls ends up to limit calls Twilio never reported ended and nobody touched for a day,
// and deletes up to limit calls that ended more than 30 days ago. Run by the expiry job (see
// Purges); it reports the rows it changed.
func PurgeCalls(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	abandoned, err := q.Exec(ctx, abandonCallsSQL, now, now.Add(-abandonedAfter), limit)
	if err != nil {
		return 0, err
	}
	deleted, err := q.Exec(ctx, purgeCallsSQL, now.Add(-endedCallsKept), limit)
	return abandoned.RowsAffected() + deleted.RowsAffected(), err
}

// Purges are the voice line's clean-ups for the expiry job of package recovery, which may not
// import this package: kagi serve hands them to it.
func Purges() []pgdb.Purge {
	return []pgdb.Purge{{Name: "calls", Run: PurgeCalls}}
}
