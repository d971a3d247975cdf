package hours

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// yearEnd is the example file of §5.
const yearEnd = `{"closed":["2026-12-31","2027-01-01"],"special":[{"date":"2026-12-30","open":"09:00","close":"15:00"}]}`

// at parses a JST wall-clock time "2006-01-02 15:04:05" (seconds optional).
func at(t *testing.T, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04:05"
	if len(s) == len("2006-01-02 15:04") {
		layout = "2006-01-02 15:04"
	}
	v, err := time.ParseInLocation(layout, s, jst)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func mustParse(t *testing.T, data string) *Calendar {
	t.Helper()
	c, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse(%s): %v", data, err)
	}
	return c
}

// zones the same instant is presented in: the answer must not depend on it.
var zones = []*time.Location{
	jst,
	time.UTC,
	time.FixedZone("EST", -5*60*60),
	time.FixedZone("EDT", -4*60*60),
	time.FixedZone("NPT", 5*60*60+45*60),
}

func TestCalendarIsOpen(t *testing.T) {
	t.Parallel()
	regular := Regular()
	special := mustParse(t, yearEnd)
	tests := []struct {
		name string
		cal  *Calendar
		at   string
		want bool
	}{
		{"weekday closed one minute before 08:30", regular, "2026-06-01 08:29", false},
		{"weekday closed one second before 08:30", regular, "2026-06-01 08:29:59", false},
		{"weekday opens at 08:30 inclusive", regular, "2026-06-01 08:30", true},
		{"weekday open at 16:59", regular, "2026-06-01 16:59", true},
		{"weekday open at 16:59:59", regular, "2026-06-01 16:59:59", true},
		{"weekday closed at 17:00 exclusive", regular, "2026-06-01 17:00", false},
		{"weekday closed at midnight", regular, "2026-06-01 00:00", false},
		{"friday open at noon", regular, "2026-06-05 12:00", true},
		{"saturday closed at 08:30", regular, "2026-06-06 08:30", false},
		{"saturday closed at 08:59", regular, "2026-06-06 08:59", false},
		{"saturday opens at 09:00", regular, "2026-06-06 09:00", true},
		{"saturday open at 16:59", regular, "2026-06-06 16:59", true},
		{"saturday closed at 17:00", regular, "2026-06-06 17:00", false},
		{"sunday closed at 08:59", regular, "2026-06-07 08:59", false},
		{"sunday opens at 09:00", regular, "2026-06-07 09:00", true},
		{"sunday open at 16:59", regular, "2026-06-07 16:59", true},
		{"sunday closed at 17:00", regular, "2026-06-07 17:00", false},
		{"closed day shut at noon", special, "2026-12-31 12:00", false},
		{"closed day shut at 08:30", special, "2026-12-31 08:30", false},
		{"new year's day shut", special, "2027-01-01 10:00", false},
		{"closed day without file is a normal weekday", regular, "2026-12-31 12:00", true},
		{"special day closed at 08:30 although a weekday", special, "2026-12-30 08:30", false},
		{"special day opens at 09:00", special, "2026-12-30 09:00", true},
		{"special day open at 14:59", special, "2026-12-30 14:59", true},
		{"special day closed at 15:00", special, "2026-12-30 15:00", false},
		{"day after the closures has regular weekend hours", special, "2027-01-02 09:00", true},
		{"day before the special day has regular hours", special, "2026-12-29 08:30", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			instant := at(t, tt.at)
			for _, z := range zones {
				if got := tt.cal.IsOpen(instant.In(z)); got != tt.want {
					t.Errorf("IsOpen(%s) = %v, want %v", instant.In(z).Format(time.RFC3339), got, tt.want)
				}
			}
		})
	}
}

func TestCalendarIsOpenJudgesTheJSTDay(t *testing.T) {
	t.Parallel()
	// Friday 2026-06-05 23:30 UTC is Saturday 08:30 JST: closed, although in UTC it is a weekday
	// evening and in JST-as-weekday terms 08:30 would be open.
	if Regular().IsOpen(time.Date(2026, 6, 5, 23, 30, 0, 0, time.UTC)) {
		t.Error("saturday 08:30 JST given in UTC was judged open")
	}
	// Sunday 2026-05-31 23:30 UTC is Monday 08:30 JST: open.
	if !Regular().IsOpen(time.Date(2026, 5, 31, 23, 30, 0, 0, time.UTC)) {
		t.Error("monday 08:30 JST given in UTC was judged closed")
	}
}

func TestCalendarNilHasRegularHours(t *testing.T) {
	t.Parallel()
	var c *Calendar
	if !c.IsOpen(at(t, "2026-06-01 10:00")) || c.IsOpen(at(t, "2026-06-01 18:00")) {
		t.Error("nil calendar does not follow the regular hours")
	}
}

func TestCalendarNextOpen(t *testing.T) {
	t.Parallel()
	regular := Regular()
	special := mustParse(t, yearEnd)
	tests := []struct {
		name string
		cal  *Calendar
		at   string
		want string
	}{
		{"open now returns now", regular, "2026-06-01 10:15:07", "2026-06-01 10:15:07"},
		{"at opening returns opening", regular, "2026-06-01 08:30", "2026-06-01 08:30"},
		{"early morning waits for today's opening", regular, "2026-06-01 03:00", "2026-06-01 08:30"},
		{"weekday evening waits for tomorrow", regular, "2026-06-01 17:00", "2026-06-02 08:30"},
		{"friday evening waits for saturday 09:00", regular, "2026-06-05 17:00", "2026-06-06 09:00"},
		{"saturday evening waits for sunday 09:00", regular, "2026-06-06 20:00", "2026-06-07 09:00"},
		{"sunday evening waits for monday 08:30", regular, "2026-06-07 17:00", "2026-06-08 08:30"},
		{"saturday before opening waits for 09:00", regular, "2026-06-06 08:30", "2026-06-06 09:00"},
		{"before special hours waits for special opening", special, "2026-12-30 08:30", "2026-12-30 09:00"},
		{"after special close skips the closed year-end", special, "2026-12-30 15:00", "2027-01-02 09:00"},
		{"on a closed day waits past all closed days", special, "2026-12-31 10:00", "2027-01-02 09:00"},
		{"evening before the special day", special, "2026-12-29 17:00", "2026-12-30 09:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			instant, want := at(t, tt.at), at(t, tt.want)
			for _, z := range zones {
				got := tt.cal.NextOpen(instant.In(z))
				if !got.Equal(want) {
					t.Errorf("NextOpen(%s) = %s, want %s", instant.In(z).Format(time.RFC3339), got.Format(time.RFC3339), want.Format(time.RFC3339))
				}
				if !tt.cal.IsOpen(got) {
					t.Errorf("NextOpen(%s) = %s, which is not open", instant.In(z).Format(time.RFC3339), got.Format(time.RFC3339))
				}
			}
		})
	}
}

func TestCalendarNextOpenReportsInJST(t *testing.T) {
	t.Parallel()
	got := Regular().NextOpen(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)) // 21:00 JST
	if s := got.Format(time.RFC3339); s != "2026-06-02T08:30:00+09:00" {
		t.Errorf("NextOpen = %s, want 2026-06-02T08:30:00+09:00", s)
	}
}

// closedDays is a calendar closed for n days from the JST date first.
func closedDays(t *testing.T, first string, n int) *Calendar {
	t.Helper()
	start := at(t, first+" 12:00")
	var days []string
	for i := 0; i < n; i++ {
		days = append(days, start.AddDate(0, 0, i).Format(time.DateOnly))
	}
	data, err := json.Marshal(map[string][]string{"closed": days})
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, string(data))
}

func TestCalendarNextOpenSearchesPastALongClosure(t *testing.T) {
	t.Parallel()
	c := closedDays(t, "2026-07-01", 92) // July to September
	want := at(t, "2026-10-01 08:30")    // a Thursday
	if got := c.NextOpen(at(t, "2026-07-01 10:00")); !got.Equal(want) {
		t.Errorf("NextOpen = %s, want %s", got.Format(time.RFC3339), want.Format(time.RFC3339))
	}
}

func TestCalendarNextOpenGivesUpWhenClosedForever(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, jst)
	c := closedDays(t, "2026-01-01", maxSearchDays+2)
	if got := c.NextOpen(start.Add(10 * time.Hour)); !got.IsZero() {
		t.Errorf("NextOpen = %s, want the zero time", got)
	}
	st := c.Status(start.Add(10*time.Hour), true)
	if st.Open || st.NextOpenAt != nil {
		t.Errorf("Status = %+v, want closed without next_open_at", st)
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want []string // every substring must appear in the error
	}{
		{"bad close hour names the entry",
			`{"special":[{"date":"2026-12-30","open":"09:00","close":"15:00"},{"date":"2026-12-29","open":"09:00","close":"25:00"}]}`,
			[]string{`special[1]: close "25:00" is not HH:MM`}},
		{"bad open minute", `{"special":[{"date":"2026-12-30","open":"09:60","close":"15:00"}]}`,
			[]string{`special[0]: open "09:60" is not HH:MM`}},
		{"single digit hour", `{"special":[{"date":"2026-12-30","open":"9:00","close":"15:00"}]}`,
			[]string{`special[0]: open "9:00" is not HH:MM`}},
		{"open at 24:00", `{"special":[{"date":"2026-12-30","open":"24:00","close":"24:00"}]}`,
			[]string{`special[0]: open "24:00" is not HH:MM`}},
		{"missing close", `{"special":[{"date":"2026-12-30","open":"09:00"}]}`,
			[]string{`special[0]: close "" is not HH:MM`}},
		{"open equals close", `{"special":[{"date":"2026-12-30","open":"09:00","close":"09:00"}]}`,
			[]string{`special[0]: open "09:00" is not before close "09:00"`}},
		{"open after close", `{"special":[{"date":"2026-12-30","open":"15:00","close":"09:00"}]}`,
			[]string{`special[0]: open "15:00" is not before close "09:00"`}},
		{"bad special date", `{"special":[{"date":"2026/12/30","open":"09:00","close":"15:00"}]}`,
			[]string{`special[0]: date "2026/12/30" is not YYYY-MM-DD`}},
		{"bad closed date", `{"closed":["2026-12-31","2026-13-01"]}`,
			[]string{`closed[1]: date "2026-13-01" is not YYYY-MM-DD`}},
		{"impossible closed date", `{"closed":["2026-02-30"]}`,
			[]string{`closed[0]: date "2026-02-30" is not YYYY-MM-DD`}},
		{"unpadded closed date", `{"closed":["2026-1-01"]}`,
			[]string{`closed[0]: date "2026-1-01" is not YYYY-MM-DD`}},
		{"closed date listed twice", `{"closed":["2026-12-31","2027-01-01","2026-12-31"]}`,
			[]string{`closed[2]: 2026-12-31 is already listed at closed[0]`}},
		{"special date listed twice",
			`{"special":[{"date":"2026-12-30","open":"09:00","close":"15:00"},{"date":"2026-12-30","open":"10:00","close":"12:00"}]}`,
			[]string{`special[1]: 2026-12-30 is already listed at special[0]`}},
		{"date both closed and special",
			`{"closed":["2026-12-30"],"special":[{"date":"2026-12-30","open":"09:00","close":"15:00"}]}`,
			[]string{`special[0]: 2026-12-30 is already listed at closed[0]`}},
		{"every bad entry is reported", `{"closed":["x","2026-12-31"],"special":[{"date":"2026-12-31","open":"09:00","close":"15:00"},{"date":"y","open":"09:00","close":"15:00"}]}`,
			[]string{`closed[0]: date "x"`, `special[0]: 2026-12-31 is already listed at closed[1]`, `special[1]: date "y"`}},
		{"unknown top-level field", `{"closed":[],"holidays":["2026-12-31"]}`, []string{`unknown field "holidays"`}},
		{"unknown special field", `{"special":[{"date":"2026-12-30","open":"09:00","close":"15:00","note":"x"}]}`,
			[]string{`unknown field "note"`}},
		{"wrong type names the field", `{"closed":"2026-12-31"}`, []string{`closed`}},
		{"not JSON", `closed: 2026-12-31`, []string{`not a valid calendar`}},
		{"empty file", ``, []string{`empty`}},
		{"null", `null`, []string{`JSON object`}},
		{"trailing data", `{"closed":[]} {"closed":[]}`, []string{`unexpected data`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatalf("Parse(%s) = %v, want an error", tt.data, c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		at   string
		want bool
	}{
		{"empty object is the regular calendar", `{}`, "2026-06-01 08:30", true},
		{"empty lists", `{"closed":[],"special":[]}`, "2026-06-06 08:59", false},
		{"special hours on a saturday", `{"special":[{"date":"2026-06-06","open":"07:00","close":"12:00"}]}`, "2026-06-06 07:00", true},
		{"special close 24:00 open until midnight", `{"special":[{"date":"2026-06-01","open":"08:30","close":"24:00"}]}`, "2026-06-01 23:59:59", true},
		{"special close 24:00 ends at midnight", `{"special":[{"date":"2026-06-05","open":"08:30","close":"24:00"}]}`, "2026-06-06 00:00", false},
		{"surrounding whitespace", " \n" + yearEnd + "\n", "2026-12-31 10:00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mustParse(t, tt.data).IsOpen(at(t, tt.at)); got != tt.want {
				t.Errorf("IsOpen(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(yearEnd), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"special":[{"date":"2026-12-30","open":"09:00","close":"25:00"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("no path means regular hours", func(t *testing.T) {
		c, err := Load("")
		if err != nil {
			t.Fatal(err)
		}
		if !c.IsOpen(at(t, "2026-12-31 10:00")) {
			t.Error("regular calendar closed on a weekday morning")
		}
	})
	t.Run("file closes the year end", func(t *testing.T) {
		c, err := Load(good)
		if err != nil {
			t.Fatal(err)
		}
		if c.IsOpen(at(t, "2026-12-31 10:00")) {
			t.Error("closed day from the file is open")
		}
	})
	t.Run("missing file names the path", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.json")
		_, err := Load(missing)
		if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(missing) error = %v, want a not-exist error naming %s", err, missing)
		}
	})
	t.Run("bad file names the path and the entry", func(t *testing.T) {
		_, err := Load(bad)
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `special[0]: close "25:00" is not HH:MM`) {
			t.Errorf("Load(bad) error = %v", err)
		}
	})
}

func TestCalendarHoursText(t *testing.T) {
	t.Parallel()
	const want = "平日は8時30分から17時まで、土曜日・日曜日は9時から17時までです"
	for _, c := range []*Calendar{Regular(), mustParse(t, yearEnd)} {
		if got := c.HoursText(); got != want {
			t.Errorf("HoursText() = %q, want %q", got, want)
		}
	}
}

func TestCalendarTodayText(t *testing.T) {
	t.Parallel()
	special := mustParse(t, yearEnd)
	tests := []struct {
		name string
		cal  *Calendar
		at   string
		want string
	}{
		{"a closed day", special, "2026-12-31 20:00", "本日(12月31日)は休業日です"},
		{"special hours, also after they end", special, "2026-12-30 16:00", "本日(12月30日)の営業時間は9:00~15:00です"},
		{"a regular day of the file", special, "2026-12-29 10:00", ""},
		{"the regular calendar", Regular(), "2026-12-31 10:00", ""},
		{"a nil calendar", nil, "2026-12-31 10:00", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			instant := at(t, tt.at)
			for _, z := range zones {
				if got := tt.cal.TodayText(instant.In(z)); got != tt.want {
					t.Errorf("TodayText(%s) = %q, want %q", instant.In(z).Format(time.RFC3339), got, tt.want)
				}
			}
		})
	}
}

func TestRegularDaysAsPagesShowThem(t *testing.T) {
	t.Parallel()
	weekdays, weekend := RegularDays()
	if got := weekdays.String() + " " + weekend.String(); got != "8:30~17:00 9:00~17:00" {
		t.Errorf("regular days = %q, want \"8:30~17:00 9:00~17:00\"", got)
	}
	if got := (Day{Open: 0, Close: 24 * 60}).String(); got != "0:00~24:00" {
		t.Errorf("a whole day = %q, want \"0:00~24:00\"", got)
	}
}

func TestCalendarStatus(t *testing.T) {
	t.Parallel()
	special := mustParse(t, yearEnd)
	tests := []struct {
		name     string
		at       string
		enabled  bool
		wantOpen bool
		wantMsg  string
		wantNext string // "" = no next_open_at
	}{
		{"open during hours, next opening after today's hours", "2026-06-01 10:00", true, true, "ただいま営業時間内です", "2026-06-02 08:30"},
		{"open on a Friday, next opening on Saturday", "2026-06-05 16:59", true, true, "ただいま営業時間内です", "2026-06-06 09:00"},
		{"open on a special day, next opening after the closures", "2026-12-30 14:00", true, true, "ただいま営業時間内です", "2027-01-02 09:00"},
		{"closed in the evening with next opening", "2026-06-01 17:00", true, false, "ただいま営業時間外です", "2026-06-02 08:30"},
		{"closed on a closed day with next opening after the closures", "2026-12-31 10:00", true, false, "ただいま営業時間外です", "2027-01-02 09:00"},
		{"disabled during hours is unavailable", "2026-06-01 10:00", false, false, "現在、こちらのサービスは利用できません", ""},
		{"disabled outside hours is unavailable without next opening", "2026-06-01 20:00", false, false, "現在、こちらのサービスは利用できません", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			instant := at(t, tt.at)
			for _, z := range zones {
				got := special.Status(instant.In(z), tt.enabled)
				if got.Open != tt.wantOpen || got.Message != tt.wantMsg {
					t.Errorf("Status(%s) = {%v %q}, want {%v %q}", tt.at, got.Open, got.Message, tt.wantOpen, tt.wantMsg)
				}
				switch {
				case tt.wantNext == "" && got.NextOpenAt != nil:
					t.Errorf("NextOpenAt = %s, want none", got.NextOpenAt)
				case tt.wantNext != "" && (got.NextOpenAt == nil || !got.NextOpenAt.Equal(at(t, tt.wantNext))):
					t.Errorf("NextOpenAt = %v, want %s", got.NextOpenAt, tt.wantNext)
				}
			}
		})
	}
}

func TestCalendarStatusJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status Status
		want   string
	}{
		{"closed carries next_open_at in JST",
			Regular().Status(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC), true),
			`{"open":false,"message":"ただいま営業時間外です","next_open_at":"2026-06-02T08:30:00+09:00"}`},
		{"open carries the opening after the current hours",
			Regular().Status(time.Date(2026, 6, 1, 1, 0, 0, 0, time.UTC), true),
			`{"open":true,"message":"ただいま営業時間内です","next_open_at":"2026-06-02T08:30:00+09:00"}`},
		{"switched off carries next_open_at as null",
			Regular().Status(time.Date(2026, 6, 1, 1, 0, 0, 0, time.UTC), false),
			`{"open":false,"message":"現在、こちらのサービスは利用できません","next_open_at":null}`},
		{"closed for ever carries next_open_at as null",
			closedDays(t, "2026-01-01", 2*maxSearchDays).Status(time.Date(2026, 6, 1, 1, 0, 0, 0, time.UTC), true),
			`{"open":false,"message":"ただいま営業時間外です","next_open_at":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.status)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("JSON = %s, want %s", b, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(yearEnd))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"special":[{"date":"2026-06-01","open":"00:00","close":"24:00"}]}`))
	f.Add([]byte(`{"closed":["2026-02-30"],"special":[null]}`))
	f.Add([]byte(`{"special":[{"date":"2026-12-30","open":"09:00","close":"25:00"}]}`))
	f.Add([]byte(`[`))
	instants := []time.Time{
		time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 6, 23, 59, 59, 0, jst),
		{},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatal("calendar returned together with an error")
			}
			return
		}
		for _, instant := range instants {
			next := c.NextOpen(instant)
			if next.IsZero() {
				continue
			}
			if next.Before(instant) || !c.IsOpen(next) {
				t.Fatalf("NextOpen(%s) = %s: before the instant or not open", instant, next)
			}
			if c.IsOpen(instant) != next.Equal(instant) {
				t.Fatalf("IsOpen(%s) disagrees with NextOpen = %s", instant, next)
			}
		}
	})
}
