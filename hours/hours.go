// Package hours is the support desk's calendar (§5): the regular hours, the closed days and
// special hours of the KAGI_SUPPORT_CALENDAR file, and whether the desk is open now. The voice
// line, the operator console, the support status API and the pages all ask it, so it is one
// leaf that imports none of kagi's packages: whoever needs the desk's hours can have them
// without taking on recovery's database, sessions or console.
package hours

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// jst is Japan Standard Time, the zone the desk keeps its hours in (the same zone as auth.JST,
// declared here so that this package stays a leaf): business hours do not depend on the
// machine's time zone database.
var jst = time.FixedZone("JST", 9*60*60)

// Day is one day's opening hours in minutes after midnight JST: open from Open, closed from
// Close (Open ≤ now < Close). It is what a caller that words the hours itself needs: the voice
// line speaks them with 午前/午後, the pages print them with String.
type Day struct{ Open, Close int }

// The regular hours of §5.
var (
	weekdayHours = Day{Open: 8*60 + 30, Close: 17 * 60}
	weekendHours = Day{Open: 9 * 60, Close: 17 * 60}
)

// maxSearchDays bounds NextOpen so that a calendar closed for ever cannot loop for ever.
const maxSearchDays = 400

// civilDate is a day of the JST calendar.
type civilDate struct {
	year  int
	month time.Month
	day   int
}

func dateOf(t time.Time) civilDate {
	y, m, d := t.In(jst).Date()
	return civilDate{y, m, d}
}

// at is the instant minutes after midnight JST of d.
func (d civilDate) at(minutes int) time.Time {
	return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, jst).Add(time.Duration(minutes) * time.Minute)
}

// addDays normalises through time.Date, so month and year ends roll over.
func (d civilDate) addDays(n int) civilDate {
	return dateOf(time.Date(d.year, d.month, d.day+n, 12, 0, 0, 0, jst))
}

func (d civilDate) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day)
}

// Calendar answers whether the support desk is staffed: the regular hours of §5 with the closed
// days and special hours of the KAGI_SUPPORT_CALENDAR file. The voice line's operator option,
// the operator console and the support status API all ask the same Calendar so they never
// disagree. It is immutable once built and safe for concurrent use; a nil *Calendar has the
// regular hours.
type Calendar struct {
	closed  map[civilDate]bool
	special map[civilDate]Day
}

// Regular is the calendar used when no file is configured: regular hours every day.
func Regular() *Calendar {
	return &Calendar{}
}

// calendarFile is the JSON form of the KAGI_SUPPORT_CALENDAR file; dates and times are JST.
type calendarFile struct {
	Closed  []string       `json:"closed"`
	Special []specialHours `json:"special"`
}

type specialHours struct {
	Date  string `json:"date"`
	Open  string `json:"open"`
	Close string `json:"close"`
}

// Parse reads a calendar file. A bad file must stop the start rather than silently
// change the hours, so it is strict: unknown fields, malformed dates or times, a date listed
// twice, a date both closed and special, and open not before close are all refused. Every bad
// entry is reported, each naming the entry (for example `special[1]: close "25:00" is not HH:MM`).
func Parse(data []byte) (*Calendar, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f *calendarFile
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the calendar object")
	}
	if f == nil {
		return nil, errors.New("the calendar must be a JSON object")
	}

	c := &Calendar{
		closed:  make(map[civilDate]bool, len(f.Closed)),
		special: make(map[civilDate]Day, len(f.Special)),
	}
	var problems []error
	seen := make(map[civilDate]string)
	for i, s := range f.Closed {
		entry := fmt.Sprintf("closed[%d]", i)
		d, err := parseDate(s)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", entry, err))
			continue
		}
		if first, dup := seen[d]; dup {
			problems = append(problems, fmt.Errorf("%s: %s is already listed at %s", entry, d, first))
			continue
		}
		seen[d] = entry
		c.closed[d] = true
	}
	for i, s := range f.Special {
		entry := fmt.Sprintf("special[%d]", i)
		d, err := parseDate(s.Date)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", entry, err))
			continue
		}
		open, err := parseClock(s.Open, false)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: open %w", entry, err))
			continue
		}
		shut, err := parseClock(s.Close, true)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: close %w", entry, err))
			continue
		}
		if open >= shut {
			problems = append(problems, fmt.Errorf("%s: open %q is not before close %q", entry, s.Open, s.Close))
			continue
		}
		if first, dup := seen[d]; dup {
			problems = append(problems, fmt.Errorf("%s: %s is already listed at %s", entry, d, first))
			continue
		}
		seen[d] = entry
		c.special[d] = Day{Open: open, Close: shut}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return c, nil
}

// jsonError makes the decoder's complaints name the field the way the file's author wrote it.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Errorf("%s: a JSON %s where %s was expected", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	if errors.Is(err, io.EOF) {
		return errors.New("the calendar file is empty")
	}
	return fmt.Errorf("not a valid calendar: %w", err)
}

// parseDate accepts exactly YYYY-MM-DD naming a real day.
func parseDate(s string) (civilDate, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, jst)
	if err != nil || t.Format(time.DateOnly) != s {
		return civilDate{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return dateOf(t), nil
}

// parseClock accepts exactly HH:MM from 00:00 to 23:59, and 24:00 for a closing time (open
// until midnight). It returns minutes after midnight.
func parseClock(s string, isClose bool) (int, error) {
	bad := fmt.Errorf("%q is not HH:MM", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case m > 59:
		return 0, bad
	case h < 24:
		return h*60 + m, nil
	case h == 24 && m == 0 && isClose:
		return 24 * 60, nil
	}
	return 0, bad
}

// Load reads the file named by KAGI_SUPPORT_CALENDAR; an empty path means no file, the regular
// hours.
func Load(path string) (*Calendar, error) {
	if path == "" {
		return Regular(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("support calendar: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("support calendar %s: %w", path, err)
	}
	return c, nil
}

// hoursOn reports the opening hours of d, or false when the desk is closed all day.
func (c *Calendar) hoursOn(d civilDate) (Day, bool) {
	if c != nil {
		if c.closed[d] {
			return Day{}, false
		}
		if s, ok := c.special[d]; ok {
			return s, true
		}
	}
	switch time.Date(d.year, d.month, d.day, 12, 0, 0, 0, jst).Weekday() {
	case time.Saturday, time.Sunday:
		return weekendHours, true
	}
	return weekdayHours, true
}

// IsOpen reports whether the support desk is staffed at t (any zone; judged in JST). Opening
// time is inclusive, closing time exclusive: open at 08:30:00, closed at 17:00:00.
func (c *Calendar) IsOpen(t time.Time) bool {
	d := dateOf(t)
	s, ok := c.hoursOn(d)
	return ok && !t.Before(d.at(s.Open)) && t.Before(d.at(s.Close))
}

// NextOpen tells a caller outside hours when to call again: t itself when the desk is open at
// t, else the next opening instant after t, in JST. It looks at most maxSearchDays ahead and
// returns the zero time when nothing opens within them.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	first := dateOf(t)
	for i := 0; i <= maxSearchDays; i++ {
		d := first.addDays(i)
		s, ok := c.hoursOn(d)
		if !ok {
			continue
		}
		opens, closes := d.at(s.Open), d.at(s.Close)
		if t.Before(opens) {
			return opens
		}
		if t.Before(closes) {
			return t
		}
	}
	return time.Time{}
}

// HoursText is the regular hours as one Japanese sentence, for the voice line to speak and for
// pages to print. Closed days and special hours are not in it: they change, so a caller outside
// hours is told the next opening (NextOpen) instead.
func (c *Calendar) HoursText() string {
	return msgHoursWeekdays + hoursRange(weekdayHours) + msgHoursJoin +
		msgHoursWeekend + hoursRange(weekendHours) + msgHoursEnd
}

// RegularDays are §5's regular hours on weekdays and on Saturday and Sunday, for a caller that
// words them itself: HoursText prints them, the voice line speaks them with 午前/午後.
func RegularDays() (weekdays, weekend Day) {
	return weekdayHours, weekendHours
}

// String writes opening hours as a page shows them: 「8:30~17:00」.
func (d Day) String() string {
	return fmt.Sprintf("%d:%02d~%d:%02d", d.Open/60, d.Open%60, d.Close/60, d.Close%60)
}

// TodayText is today's exception from the calendar file in one sentence, "" on a regular day:
// the pages print it beside the regular hours.
func (c *Calendar) TodayText(now time.Time) string {
	if c == nil {
		return ""
	}
	d := dateOf(now)
	if c.closed[d] {
		return fmt.Sprintf(msgTodayClosed, d.month, d.day)
	}
	if s, ok := c.special[d]; ok {
		return fmt.Sprintf(msgTodaySpecial, d.month, d.day, s)
	}
	return ""
}

func hoursRange(s Day) string {
	return fmt.Sprintf(msgHoursFromTo, spokenMinutes(s.Open), spokenMinutes(s.Close))
}

// spokenMinutes says minutes after midnight for the hours sentence: 「8時30分」, 「17時」; 24:00
// stays 「24時」.
func spokenMinutes(minutes int) string {
	if minutes%60 == 0 {
		return fmt.Sprintf(msgClockHour, minutes/60)
	}
	return fmt.Sprintf(msgClockMinute, minutes/60, minutes%60)
}

// State is whether the support desk answers at some moment (§5). The voice line says
// something different in each: it transfers, tells when the desk opens next, or says the
// service is not available.
type State int

const (
	// Closed: support is switched on but the desk is outside its hours (the zero value, so a
	// state nobody set never transfers a call).
	Closed State = iota
	// Open: the desk is staffed now.
	Open
	// Disabled: support is switched off (KAGI_SUPPORT_ENABLED=false); nobody answers and no
	// opening is promised.
	Disabled
)

// State tells whether the support desk answers at t. enabled is KAGI_SUPPORT_ENABLED.
func (c *Calendar) State(t time.Time, enabled bool) State {
	switch {
	case !enabled:
		return Disabled
	case c.IsOpen(t):
		return Open
	}
	return Closed
}

// closesAt is the end of the opening hours that t falls in; t must be in opening hours.
func (c *Calendar) closesAt(t time.Time) time.Time {
	d := dateOf(t)
	s, _ := c.hoursOn(d)
	return d.at(s.Close)
}

// Status is the body of GET /api/v1/support/status (§5).
//
// next_open_at is always present: while closed, when the desk opens next; while open, when it
// opens next after the current opening hours end (so a page can say both "open until" and
// "next from"); null when support is switched off, or when nothing opens within the search
// bound. It is RFC 3339 in JST.
type Status struct {
	Open       bool       `json:"open"`
	Message    string     `json:"message"`
	NextOpenAt *time.Time `json:"next_open_at"`
}

// Status is what the support status API answers at t. enabled is KAGI_SUPPORT_ENABLED: when
// support is switched off nobody answers, so it is never open and no opening time is promised.
func (c *Calendar) Status(t time.Time, enabled bool) Status {
	var st Status
	var next time.Time
	switch c.State(t, enabled) {
	case Disabled:
		return Status{Open: false, Message: msgSupportUnavailable}
	case Open:
		st = Status{Open: true, Message: msgSupportOpen}
		next = c.NextOpen(c.closesAt(t))
	default:
		st = Status{Open: false, Message: msgSupportClosed}
		next = c.NextOpen(t)
	}
	if !next.IsZero() {
		st.NextOpenAt = &next
	}
	return st
}
