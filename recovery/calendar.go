package recovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"kagi/auth"
)

// jst is Japan Standard Time (auth.JST): business hours do not depend on the machine's time zone
// database.
var jst = auth.JST

// span is the opening hours of one day in minutes after midnight JST: open ≤ now < close.
type span struct{ open, close int }

// The regular hours of §5.
var (
	weekdayHours = span{open: 8*60 + 30, close: 17 * 60}
	weekendHours = span{open: 9 * 60, close: 17 * 60}
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
	special map[civilDate]span
}

// RegularCalendar is the calendar used when no file is configured: regular hours every day.
func RegularCalendar() *Calendar {
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

// ParseCalendar reads a calendar file. A bad file must stop the start rather than silently
// change the hours, so it is strict: unknown fields, malformed dates or times, a date listed
// twice, a date both closed and special, and open not before close are all refused. Every bad
// entry is reported, each naming the entry (for example `special[1]: close "25:00" is not HH:MM`).
func ParseCalendar(data []byte) (*Calendar, error) {
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
		special: make(map[civilDate]span, len(f.Special)),
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
		c.special[d] = span{open: open, close: shut}
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

// LoadCalendar reads the file named by KAGI_SUPPORT_CALENDAR; an empty path means no file, the
// regular hours.
func LoadCalendar(path string) (*Calendar, error) {
	if path == "" {
		return RegularCalendar(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("support calendar: %w", err)
	}
	c, err := ParseCalendar(data)
	if err != nil {
		return nil, fmt.Errorf("support calendar %s: %w", path, err)
	}
	return c, nil
}

// hoursOn reports the opening hours of d, or false when the desk is closed all day.
func (c *Calendar) hoursOn(d civilDate) (span, bool) {
	if c != nil {
		if c.closed[d] {
			return span{}, false
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
	return ok && !t.Before(d.at(s.open)) && t.Before(d.at(s.close))
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
		opens, closes := d.at(s.open), d.at(s.close)
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

// DayHours is one day's opening hours in minutes after midnight JST: open from Open, closed
// from Close.
type DayHours struct{ Open, Close int }

// RegularHours are §5's regular hours on weekdays and on Saturday and Sunday, for a caller that
// words them itself: HoursText prints them, the voice line speaks them with 午前/午後.
func RegularHours() (weekdays, weekend DayHours) {
	return DayHours{weekdayHours.open, weekdayHours.close}, DayHours{weekendHours.open, weekendHours.close}
}

func hoursRange(s span) string {
	return fmt.Sprintf(msgHoursFromTo, spokenMinutes(s.open), spokenMinutes(s.close))
}

// spokenMinutes says minutes after midnight for the hours sentence: 「8時30分」, 「17時」; 24:00
// stays 「24時」.
func spokenMinutes(minutes int) string {
	if minutes%60 == 0 {
		return fmt.Sprintf(msgClockHour, minutes/60)
	}
	return fmt.Sprintf(msgClockMinute, minutes/60, minutes%60)
}

// SupportState is whether the support desk answers at some moment (§5). The voice line says
// something different in each: it transfers, tells when the desk opens next, or says the
// service is not available.
type SupportState int

const (
	// SupportClosed: support is switched on but the desk is outside its hours (the zero value,
	// so a state nobody set never transfers a call).
	SupportClosed SupportState = iota
	// SupportOpen: the desk is staffed now.
	SupportOpen
	// SupportDisabled: support is switched off (KAGI_SUPPORT_ENABLED=false); nobody answers
	// and no opening is promised.
	SupportDisabled
)

// State tells whether the support desk answers at t. enabled is KAGI_SUPPORT_ENABLED.
func (c *Calendar) State(t time.Time, enabled bool) SupportState {
	switch {
	case !enabled:
		return SupportDisabled
	case c.IsOpen(t):
		return SupportOpen
	}
	return SupportClosed
}

// closesAt is the end of the opening hours that t falls in; t must be in opening hours.
func (c *Calendar) closesAt(t time.Time) time.Time {
	d := dateOf(t)
	s, _ := c.hoursOn(d)
	return d.at(s.close)
}

// SupportStatus is the body of GET /api/v1/support/status (§5).
//
// next_open_at is always present: while closed, when the desk opens next; while open, when it
// opens next after the current opening hours end (so a page can say both "open until" and
// "next from"); null when support is switched off, or when nothing opens within the search
// bound. It is RFC 3339 in JST.
type SupportStatus struct {
	Open       bool       `json:"open"`
	Message    string     `json:"message"`
	NextOpenAt *time.Time `json:"next_open_at"`
}

// Status is what the support status API answers at t. enabled is KAGI_SUPPORT_ENABLED: when
// support is switched off nobody answers, so it is never open and no opening time is promised.
func (c *Calendar) Status(t time.Time, enabled bool) SupportStatus {
	var st SupportStatus
	var next time.Time
	switch c.State(t, enabled) {
	case SupportDisabled:
		return SupportStatus{Open: false, Message: msgSupportUnavailable}
	case SupportOpen:
		st = SupportStatus{Open: true, Message: msgSupportOpen}
		next = c.NextOpen(c.closesAt(t))
	default:
		st = SupportStatus{Open: false, Message: msgSupportClosed}
		next = c.NextOpen(t)
	}
	if !next.IsZero() {
		st.NextOpenAt = &next
	}
	return st
}
