// Package kagi holds the one thing every part of kagi shares: the application error, after
// benbjohnson/wtf's. A domain package (auth, staff, recovery, console) refuses a request by
// returning an *Error — a kind, a stable machine code and a message the customer or staff
// member reads, in Japanese — and never builds an HTTP answer itself; package web maps the
// kind to a status. Anything that is not an *Error is internal: logged with the request id and
// answered with a message that reveals nothing.
package kagi

import (
	"fmt"
	"time"
)

// Kind is what went wrong, as the client must understand it.
type Kind string

// The kinds of refusal. web.StatusOf maps each to its HTTP status.
const (
	// Invalid: the request cannot be carried out as given (400).
	Invalid Kind = "invalid"
	// Unauthorized: who is asking is not known, or not proved (401).
	Unauthorized Kind = "unauthorized"
	// Forbidden: who is asking may not do this now (403).
	Forbidden Kind = "forbidden"
	// NotFound: what the request names does not exist, or is not shown to this client (404).
	NotFound Kind = "not_found"
	// Conflict: the request contradicts the state it found (409).
	Conflict Kind = "conflict"
	// Gone: what the request names existed and ended (410).
	Gone Kind = "gone"
	// TooLarge: the request is larger than kagi reads (413).
	TooLarge Kind = "too_large"
	// Unsupported: the request is not in a form kagi reads (415).
	Unsupported Kind = "unsupported"
	// RateLimited: too many requests or failures; RetryAfter says when to try again (429).
	RateLimited Kind = "rate_limited"
	// Unavailable: kagi cannot serve this now, through no fault of the client (503).
	Unavailable Kind = "unavailable"
)

// Error is a refusal a client may be shown.
type Error struct {
	Kind Kind
	// Code is the stable machine code of the JSON body's "error", which pages and clients
	// branch on ("passkey_required", "reason_required").
	Code string
	// Message is written for the person who reads it, in Japanese.
	Message string
	// Extra fields merged into the JSON body (the voice line's number, a pause's end). A
	// refusal built per request sets them; a shared one is never changed in place.
	Extra map[string]any
	// RetryAfter, when set, tells a refused client when it may try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %s", e.Kind, e.Code, e.Message) }

// Errorf builds a refusal.
func Errorf(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// After returns a copy of e that tells the client to try again after d.
func (e *Error) After(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}
