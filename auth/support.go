package auth

import (
	"fmt"
	"time"
)

// SupportDesk tells the pages and messages where a customer who cannot log in finds help (§5):
// the voice line's number, the operators' hours, today's exception from the support calendar,
// and whether the operators answer now. Package recovery provides it from package hours'
// calendar; the core knows nothing of calendars.
type SupportDesk interface {
	SupportAt(now time.Time) Support
}

// Support is the way out as a page shows it at one moment.
type Support struct {
	// VoiceLine is the automated voice line's number as the customer dials it
	// ("0120-123-456", KAGI_VOICE_LINE_NUMBER); "" when none is configured.
	VoiceLine string
	// Hours are the operators' regular hours in one line: 「平日 8:30~17:00 / 土日 9:00~17:00」.
	Hours string
	// Today is today's exception from the calendar, "" on a regular day:
	// 「本日(12月31日)は休業日です」 or 「本日(12月30日)の営業時間は9:00~15:00です」.
	Today string
	// Open tells whether operators answer now. Status is the sentence for now: 「ただいま営業時間内です」,
	// 「ただいま営業時間外です」, or the unavailable sentence (web.Unavailable) when support is
	// switched off. The pages and messages do not print it as it is: beside a voice line that
	// answers at any hour they say that it is the operators who answer or not (msgOperators).
	Open   bool
	Status string
	// NextOpen is when the operators answer next while they do not (zero when unknown or
	// switched off).
	NextOpen time.Time
	// Window is how long a fallback window lets the password in (KAGI_FALLBACK_WINDOW); zero
	// when unknown.
	Window time.Duration
}

// Temporarily says for how long the voice line's verification lets the password in, as the
// pages and messages put it: 「一時的(30分間)に」, or 「一時的に」 when the length is unknown.
func (s Support) Temporarily() string {
	switch {
	case s.Window <= 0:
		return "一時的に"
	case s.Window%time.Hour == 0:
		return fmt.Sprintf("一時的(%d時間)に", s.Window/time.Hour)
	}
	return fmt.Sprintf("一時的(%d分間)に", int(s.Window.Round(time.Minute)/time.Minute))
}

// NoSupportDesk is a SupportDesk that knows no number and no hours: the core alone.
type NoSupportDesk struct{}

func (NoSupportDesk) SupportAt(time.Time) Support { return Support{} }
