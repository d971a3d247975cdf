// Package notify sends what kagi tells its customers (SPEC §7): link-free Japanese emails and
// texts about logins, passkeys, fallback windows and voice-line lockouts, and the code of the
// email check (§2.12). Messages are enqueued in the PostgreSQL transaction of the event that
// causes them (a transactional outbox on riverqueue/river), rendered and checked by the worker
// that sends them, and retried with backoff until they are delivered or end visibly failed.
//
// It is a leaf: it imports none of kagi's packages. The others call Outbox.Enqueue inside
// their own transaction.
package notify

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Kind is what happened.
type Kind string

const (
	// KindLogin is the notice of a successful login (Event.Method: "passkey" or "password").
	KindLogin Kind = "login"
	// KindWindowLogin is a password login through a fallback window.
	KindWindowLogin Kind = "window_login"
	// KindEmailCheck carries the emoji of the email check (Event.Emoji, valid until Event.Until).
	KindEmailCheck Kind = "email_check"
	// KindPasskeyCreated is a first passkey created.
	KindPasskeyCreated Kind = "passkey_created"
	// KindPasskeyReplaced is a passkey created by a recovery session in place of the old one.
	KindPasskeyReplaced Kind = "passkey_replaced"
	// KindPasskeyDeleted is the passkey deleted (Event.Recovery when a recovery session or an
	// operator deleted it).
	KindPasskeyDeleted Kind = "passkey_deleted"
	// KindWindowOpened is a fallback window opened or restarted (Event.Channel "ivr" or
	// "operator", open until Event.Until).
	KindWindowOpened Kind = "window_opened"
	// KindVoiceLockout is the account locked out of the voice line until Event.Until.
	KindVoiceLockout Kind = "voice_lockout"
	// KindWindowClosed is a fallback window closed early by the support desk.
	KindWindowClosed Kind = "window_closed"
	// KindVoiceLockoutCleared is the voice line's lockout of the account lifted by the support
	// desk: the line takes the account's calls again.
	KindVoiceLockoutCleared Kind = "voice_lockout_cleared"
	// KindPasswordPaused is password login paused for the account until Event.Until after three
	// failed email checks (§2.12). Passkey login is not affected; a verified voice-line call or
	// the support desk lifts the pause earlier.
	KindPasswordPaused Kind = "password_paused"
	// KindPasswordPauseLifted is that pause lifted before its time (Event.Channel: ChannelIVR by
	// the customer's verified call, ChannelOperator by the support desk).
	KindPasswordPauseLifted Kind = "password_pause_lifted"
	// KindPasskeyAdded is the account's first passkey created from a password session (§2.13):
	// only as strong as the password that made it, so it is texted too, and withdrawals and
	// bank-account changes are held until Event.Until. KindPasskeyCreated is every other first
	// passkey.
	KindPasskeyAdded Kind = "passkey_added"
	// KindCallbackDeclined is the voice line's call back answered with a key other than 1 (§4.8):
	// the customer says someone else called with the account's number and PIN. Nothing was
	// opened.
	KindCallbackDeclined Kind = "callback_declined"
	// KindPasswordChanged is the account's password changed (SPEC §12.3): the account's other
	// sessions ended with it. Texted too, since whoever changes a password they stole locks the
	// customer out of the password login.
	KindPasswordChanged Kind = "password_changed"
	// KindContactChanged is the account's name, email or phones changed by the brokerage's back
	// office (SPEC §12.2; Event.Contacts says which). It goes to the old and the new addresses
	// alike, texted too; a change of email or phones holds withdrawals and bank-account changes
	// until Event.Until.
	KindContactChanged Kind = "contact_changed"
	// KindPasswordReset is a new password set by the brokerage (for example one it sent by post):
	// the old one no longer works and every session ended.
	KindPasswordReset Kind = "password_reset"
	// KindAccountSuspended is the account suspended by the brokerage: no login of any kind, and
	// the voice line refuses it, until it is resumed.
	KindAccountSuspended Kind = "account_suspended"
	// KindAccountResumed is the suspension lifted.
	KindAccountResumed Kind = "account_resumed"
)

// Kinds lists every kind, for tests that must cover each template.
var Kinds = []Kind{KindLogin, KindWindowLogin, KindEmailCheck, KindPasskeyCreated, KindPasskeyReplaced,
	KindPasskeyDeleted, KindWindowOpened, KindVoiceLockout, KindWindowClosed, KindVoiceLockoutCleared,
	KindPasswordPaused, KindPasswordPauseLifted, KindPasskeyAdded, KindCallbackDeclined, KindPasswordChanged,
	KindContactChanged, KindPasswordReset, KindAccountSuspended, KindAccountResumed}

// Channels of a fallback window's opening or a password pause's lifting (Event.Channel).
const (
	ChannelIVR      = "ivr"
	ChannelOperator = "operator"
)

// Event is what the templates are filled with: facts, never a secret other than the email
// check's emoji, which is the message's very purpose.
type Event struct {
	Kind Kind `json:"kind"`
	// At is when it happened; the text shows it in JST.
	At time.Time `json:"at"`
	// Name is the account holder's name as the brokerage registered it.
	Name string `json:"name"`
	// Method is how a login was made: "passkey" or "password".
	Method string `json:"method,omitempty"`
	// Channel is who opened a fallback window or lifted a password pause: ChannelIVR or
	// ChannelOperator.
	Channel string `json:"channel,omitempty"`
	// Until is when a window, a lockout, a password pause, an email check or the hold after a
	// first passkey (KindPasskeyAdded) ends.
	Until time.Time `json:"until,omitzero"`
	// Emoji is the email check's answer.
	Emoji string `json:"emoji,omitempty"`
	// Provider names the password manager that keeps the passkey, when known.
	Provider string `json:"provider,omitempty"`
	// Recovery marks an event made through a recovery (a fallback-window session or an
	// operator), which is also texted to the registered phones.
	Recovery bool `json:"recovery,omitempty"`
	// ConfirmedBy is the second channel that confirmed the caller before a window opened
	// (§4.8): "sms" or "callback", or empty when none did.
	ConfirmedBy string `json:"confirmed_by,omitempty"`
	// Contacts names what the back office changed (KindContactChanged): ContactName,
	// ContactEmail, ContactPhones.
	Contacts []string `json:"contacts,omitempty"`
}

// What KindContactChanged says was changed (Event.Contacts).
const (
	ContactName   = "name"
	ContactEmail  = "email"
	ContactPhones = "phones"
)

// Texted reports whether ev goes by SMS too (when SMS is configured, to the phones that are
// Textable): the recovery events, the password pause, a first passkey bound from a password,
// a password the customer changed and the back office's changes of contacts or password, which a customer must hear of on a
// second channel in case someone else started them.
func (ev Event) Texted() bool {
	switch ev.Kind {
	case KindWindowOpened, KindPasskeyReplaced, KindVoiceLockout, KindVoiceLockoutCleared,
		KindPasswordPaused, KindPasswordPauseLifted, KindPasskeyAdded, KindPasswordChanged, KindContactChanged, KindPasswordReset:
		return true
	case KindPasskeyDeleted:
		return ev.Recovery
	}
	return false
}

// Textable reports whether phone, a registered number in E.164, can take a text (SPEC §4.9): a
// Japanese mobile (+8170, +8180 or +8190 and eight more digits) or a number outside Japan. A
// Japanese landline, an IP phone (+8150) or anything not E.164 cannot, and a notice texted to it
// would only fail at Twilio and end as an undelivered message; the email and the other phones
// still tell the customer.
func Textable(phone string) bool {
	if !e164Pattern.MatchString(phone) {
		return false
	}
	rest, japanese := strings.CutPrefix(phone, "+81")
	if !japanese {
		return true
	}
	return len(rest) == 10 && (strings.HasPrefix(rest, "70") || strings.HasPrefix(rest, "80") || strings.HasPrefix(rest, "90"))
}

// Message is a rendered email: plain text, Japanese.
type Message struct {
	Subject string
	Body    string
}

// Mail is an email to send.
type Mail struct {
	To      string
	Subject string
	Body    string
}

// SMS is a text message to send.
type SMS struct {
	To   string // E.164
	Body string
}

// Call is an outbound voice call: Twilio fetches its TwiML from URL when it is answered and
// reports its end to StatusURL.
type Call struct {
	To, From       string
	URL, StatusURL string
}

// Caller places outbound calls (the voice line calling the registered phone back, §4.8).
type Caller interface {
	PlaceCall(ctx context.Context, c Call) (callSid string, err error)
}

// Mailer delivers email. An error wrapped by Permanent will not succeed on a retry.
type Mailer interface {
	SendMail(ctx context.Context, m Mail) error
}

// Texter delivers text messages. An error wrapped by Permanent will not succeed on a retry.
type Texter interface {
	SendSMS(ctx context.Context, m SMS) error
}

// permanent marks a delivery failure that retrying cannot mend (a recipient refused for good).
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent wraps err as a failure a retry cannot mend: the message ends undeliverable at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was wrapped by Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
