package recovery

import (
	"fmt"
	"time"

	"kagi/auth"
)

// Desk is the support desk as the core's pages show it (auth.SupportDesk): the voice line's
// number, the calendar's hours and today's exception, and whether operators answer now.
type Desk struct {
	Calendar *Calendar
	// Enabled is KAGI_SUPPORT_ENABLED.
	Enabled bool
	// VoiceLine is the voice line's number as dialled (KAGI_VOICE_LINE_NUMBER).
	VoiceLine string
	// Window is the length of a fallback window (KAGI_FALLBACK_WINDOW).
	Window time.Duration
}

// SupportAt describes the desk at now.
func (d Desk) SupportAt(now time.Time) auth.Support {
	st := d.Calendar.Status(now, d.Enabled)
	out := auth.Support{
		VoiceLine: d.VoiceLine,
		Window:    d.Window,
		Hours:     fmt.Sprintf(msgHoursLine, clockRange(weekdayHours), clockRange(weekendHours)),
		Today:     d.Calendar.todayText(now),
		Open:      st.Open,
		Status:    st.Message,
	}
	if !st.Open && st.NextOpenAt != nil {
		out.NextOpen = *st.NextOpenAt
	}
	return out
}

// todayText is today's exception from the calendar file in one sentence, "" on a regular day.
func (c *Calendar) todayText(now time.Time) string {
	if c == nil {
		return ""
	}
	d := dateOf(now)
	if c.closed[d] {
		return fmt.Sprintf(msgTodayClosed, d.month, d.day)
	}
	if s, ok := c.special[d]; ok {
		return fmt.Sprintf(msgTodaySpecial, d.month, d.day, clockRange(s))
	}
	return ""
}

// clockRange writes opening hours as a page shows them: 「8:30~17:00」.
func clockRange(s span) string {
	return fmt.Sprintf("%d:%02d~%d:%02d", s.open/60, s.open%60, s.close/60, s.close%60)
}
