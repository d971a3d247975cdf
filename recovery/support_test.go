package recovery

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"kagi/hours"
)

func TestSupportStatusAPI(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		at      time.Time
		enabled bool
		open    bool
		message string
		next    bool
	}{
		{"weekday morning", time.Date(2026, 11, 25, 9, 0, 0, 0, jst), true, true, "", true},
		{"weekday evening", time.Date(2026, 11, 25, 18, 0, 0, 0, jst), true, false, "ただいま営業時間外です", true},
		{"switched off", time.Date(2026, 11, 25, 9, 0, 0, 0, jst), false, false, "現在、こちらのサービスは利用できません", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := SupportStatusHandler(slog.Default(), hours.Regular(), c.enabled, func() time.Time { return c.at })
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/support/status", nil))
			var got struct {
				Open       bool       `json:"open"`
				Message    string     `json:"message"`
				NextOpenAt *time.Time `json:"next_open_at"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
				t.Fatal(err)
			}
			if _, ok := fields["next_open_at"]; !ok {
				t.Errorf("next_open_at is missing from %s; §5 always has it (null when switched off)", rec.Body)
			}
			if got.Open != c.open || (c.message != "" && got.Message != c.message) || (got.NextOpenAt != nil) != c.next {
				t.Fatalf("got %+v", got)
			}
			if c.next && !got.NextOpenAt.Equal(time.Date(2026, 11, 26, 8, 30, 0, 0, jst)) {
				t.Fatalf("next_open_at = %v, want the next weekday 08:30 JST (after today's hours when open)", got.NextOpenAt)
			}
		})
	}
}
