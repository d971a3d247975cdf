// Package web is the HTTP frame every kagi package serves its routes with: handlers that return
// an error, one place that turns that error into a status and a JSON body, and the three kinds
// of route (browser, service API, Twilio) with the protections each needs.
//
// It imports none of kagi's packages but the root one, whose application error (kagi.Error) it
// maps to HTTP.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"kagi"
)

// statuses maps each kind of refusal (kagi.Error) to its HTTP status.
var statuses = map[kagi.Kind]int{
	kagi.Invalid:      http.StatusBadRequest,
	kagi.Unauthorized: http.StatusUnauthorized,
	kagi.Forbidden:    http.StatusForbidden,
	kagi.NotFound:     http.StatusNotFound,
	kagi.Conflict:     http.StatusConflict,
	kagi.Gone:         http.StatusGone,
	kagi.TooLarge:     http.StatusRequestEntityTooLarge,
	kagi.Unsupported:  http.StatusUnsupportedMediaType,
	kagi.RateLimited:  http.StatusTooManyRequests,
	kagi.Unavailable:  http.StatusServiceUnavailable,
}

// StatusOf is the HTTP status of a refusal of kind k; a kind it does not know is a 500.
func StatusOf(k kagi.Kind) int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Unavailable is the brokerage FAQ's sentence for a service that cannot work right now, without
// its closing 「。」: the one wording every package says it in (the JSON message of a 500, the
// support status, the voice line's apology).
const Unavailable = "現在、こちらのサービスは利用できません"

// msgServiceUnauthorized answers a service API request without a valid key (ServiceKeys).
const msgServiceUnauthorized = "サービスAPIキーが正しくありません。"

// internalMessage is the message of every 500: nothing of the cause leaks to the client.
const internalMessage = Unavailable + "。しばらくしてから再度お試しください。"

// HandlerFunc is an http handler that reports failure by returning an error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h to http.Handler: a *kagi.Error becomes its status and JSON body, anything else
// is logged and becomes a 500; a panic is recovered and treated as an internal error.
func Handle(log *slog.Logger, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic in handler", "request_id", RequestID(r.Context()), "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				WriteError(w, r, log, errors.New("panic"))
			}
		}()
		if err := h(w, r); err != nil {
			WriteError(w, r, log, err)
		}
	})
}

// WriteError writes err as JSON: {"error":code,"message":…}.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *kagi.Error
	status := http.StatusInternalServerError
	if errors.As(err, &e) {
		status = StatusOf(e.Kind)
	} else {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return // the client went away; nobody to answer
		}
		log.ErrorContext(r.Context(), "internal error", "request_id", RequestID(r.Context()), "path", r.URL.Path, "err", err)
		e = kagi.Errorf("internal", "internal", internalMessage)
	}
	body := map[string]any{}
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"] = e.Code
	body["message"] = e.Message
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (e.RetryAfter+time.Second-1)/time.Second))))
	}
	JSON(w, status, body)
}

// JSON writes v with the given status.
func JSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// maxBody bounds every JSON request body; WebAuthn responses are a few kilobytes.
const maxBody = 64 << 10

// DecodeJSON reads a JSON object body into v; malformed or oversized input is a 400.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return kagi.Errorf(kagi.Invalid, "invalid_request", "リクエストの形式が正しくありません。")
	}
	return nil
}

// ReadBody returns the raw JSON body (bounded), for handlers that hand it to a parser of their
// own: a body declared as anything but JSON is a 415, an oversized one a 413.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, kagi.Errorf(kagi.Unsupported, "invalid_request", "リクエストの形式が正しくありません。")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, kagi.Errorf(kagi.TooLarge, "invalid_request", "リクエストが大きすぎます。")
	}
	return body, nil
}

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the id given to the request by WithRequestID.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithRequestID gives every request an id, sent back as X-Request-Id, so a customer's report
// and an operator's log line can be matched.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// Browser wraps routes used by pages in a browser: cross-origin state-changing requests are
// refused (Sec-Fetch-Site / Origin checks of net/http), and the responses carry the headers
// that keep pages from being framed or sniffed.
func Browser(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		JSON(w, http.StatusForbidden, map[string]string{"error": "cross_origin", "message": "このリクエストは受け付けられません。"})
	}))
	protected := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		protected.ServeHTTP(w, r)
	})
}

// StrictTransport tells browsers to reach the origin over https only, for two years (HSTS), on
// every response: wrap the whole public handler with it when the public URL is https.
func StrictTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		next.ServeHTTP(w, r)
	})
}

// RequestIDLogs wraps a log handler so that every record logged with a request's context
// carries that request's id (see WithRequestID), whichever package logs it, and a customer's
// report can be matched to every line of their request.
func RequestIDLogs(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
