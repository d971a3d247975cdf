package recovery

import (
	"fmt"
	"time"

	"kagi/auth"
	"kagi/hours"
)

// Desk is the support desk as the core's pages show it (auth.SupportDesk): the voice line's
// number, the calendar's hours and today's exception, and whether operators answer now.
type Desk struct {
	Calendar *hours.Calendar
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
	weekdays, weekend := hours.RegularDays()
	out := auth.Support{
		VoiceLine: d.VoiceLine,
		Window:    d.Window,
		Hours:     fmt.Sprintf(msgHoursLine, weekdays, weekend),
		Today:     d.Calendar.TodayText(now),
		Open:      st.Open,
		Status:    st.Message,
	}
	if !st.Open && st.NextOpenAt != nil {
		out.NextOpen = *st.NextOpenAt
	}
	return out
}
