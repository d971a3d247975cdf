package recovery

import (
	"testing"
	"time"

	"kagi/hours"
	"kagi/web"
)

func TestDeskAsThePagesShowIt(t *testing.T) {
	cal, err := hours.Parse([]byte(`{"closed":["2026-12-31"],"special":[{"date":"2026-12-30","open":"09:00","close":"15:00"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, jst)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name, now    string
		enabled      bool
		today        string
		open         bool
		status, next string
	}{
		{"a weekday in hours", "2026-12-01 10:00", true, "", true, "ただいま営業時間内です", ""},
		{"a weekday evening", "2026-12-01 18:00", true, "", false, "ただいま営業時間外です", "2026-12-02 08:30"},
		{"special hours, after they end", "2026-12-30 15:30", true, "本日(12月30日)の営業時間は9:00~15:00です", false, "ただいま営業時間外です", "2027-01-01 08:30"},
		{"a closed day", "2026-12-31 10:00", true, "本日(12月31日)は休業日です", false, "ただいま営業時間外です", "2027-01-01 08:30"},
		{"support switched off", "2026-12-01 10:00", false, "", false, web.Unavailable, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Desk{Calendar: cal, Enabled: c.enabled, VoiceLine: "0120-123-456", Window: DefaultWindow}.SupportAt(at(c.now))
			if got.VoiceLine != "0120-123-456" || got.Hours != "平日 8:30~17:00 / 土日 9:00~17:00" || got.Window != DefaultWindow {
				t.Errorf("number %q, hours %q, window %v", got.VoiceLine, got.Hours, got.Window)
			}
			if got.Today != c.today || got.Open != c.open || got.Status != c.status {
				t.Errorf("today %q open %v status %q, want %q %v %q", got.Today, got.Open, got.Status, c.today, c.open, c.status)
			}
			var next string
			if !got.NextOpen.IsZero() {
				next = got.NextOpen.In(jst).Format("2006-01-02 15:04")
			}
			if next != c.next {
				t.Errorf("next open %q, want %q", next, c.next)
			}
		})
	}
}
