package recovery

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// checkWindow asks the service API about loginID with the given Authorization header ("" for
// none) and returns the response with its body.
func (e *testEnv) checkWindow(loginID, authorization string) (*http.Response, []byte) {
	e.t.Helper()
	path := "/api/v1/fallback-window"
	if loginID != "" {
		path += "?login_id=" + url.QueryEscape(loginID)
	}
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, body
}

func TestFallbackWindowAPI(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	e.addPasskeyAccount("hanako", "7654321")
	bearer := "Bearer " + testAPIKey

	t.Run("a missing or wrong key gets 401", func(t *testing.T) {
		for _, authz := range []string{
			"",
			"Bearer wrong-key-0123456789",
			"Bearer " + testAPIKey + "x",
			"Bearer " + testAPIKey[:len(testAPIKey)-1],
			"Bearer ",
			"Basic " + testAPIKey,
			testAPIKey,
		} {
			res, body := e.checkWindow("taro", authz)
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"error":"unauthorized"`) ||
				!strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("Authorization %q: %d %s (WWW-Authenticate %q), want 401 unauthorized",
					authz, res.StatusCode, body, res.Header.Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("every configured key is accepted", func(t *testing.T) {
		for _, authz := range []string{bearer, "Bearer " + otherAPIKey, "bearer " + testAPIKey} {
			if res, body := e.checkWindow("taro", authz); res.StatusCode != http.StatusOK {
				t.Errorf("Authorization %q: %d %s", authz, res.StatusCode, body)
			}
		}
	})

	t.Run("missing login_id is invalid_request", func(t *testing.T) {
		res, body := e.checkWindow("", bearer)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error":"invalid_request"`) {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
	})

	t.Run("an unknown login ID answers like an account without a window", func(t *testing.T) {
		resKnown, known := e.checkWindow("taro", bearer)
		resUnknown, unknown := e.checkWindow("nobody", bearer)
		if resKnown.StatusCode != http.StatusOK || string(known) != closedAnswer {
			t.Fatalf("known account without a window: %d %q", resKnown.StatusCode, known)
		}
		if resUnknown.StatusCode != resKnown.StatusCode || string(unknown) != string(known) ||
			resUnknown.Header.Get("Content-Type") != resKnown.Header.Get("Content-Type") {
			t.Fatalf("unknown login ID: %d %q, known: %d %q", resUnknown.StatusCode, unknown, resKnown.StatusCode, known)
		}
	})

	t.Run("a login ID no account can have answers like an unknown one", func(t *testing.T) {
		for _, id := range []string{"taro\x00", "\x00", "ta\xffro", "\xc3", strings.Repeat("a", 257), strings.Repeat("あ", 100)} {
			res, body := e.checkWindow(id, bearer)
			if res.StatusCode != http.StatusOK || string(body) != closedAnswer {
				t.Errorf("login_id %.20q: %d %s, want 200 %s", id, res.StatusCode, body, closedAnswer)
			}
		}
	})

	w := e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	t.Run("an open window", func(t *testing.T) {
		res, body := e.checkWindow("taro", bearer)
		want := `{"open":true,"expires_at":"2031-06-04T10:30:00+09:00","opened_via":"ivr","recovered_at":null,"hold_until":null,"hold_reason":null}` + "\n"
		if res.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("%d %s, want %s", res.StatusCode, body, want)
		}
		got, err := time.Parse(time.RFC3339, "2031-06-04T10:30:00+09:00")
		if err != nil || !got.Equal(w.ExpiresAt) {
			t.Fatalf("window ends %v", w.ExpiresAt)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", res.Header.Get("Cache-Control"))
		}
		if _, body := e.checkWindow("hanako", bearer); string(body) != closedAnswer {
			t.Fatalf("another account: %s", body)
		}
	})

	t.Run("opened by an operator", func(t *testing.T) {
		other := e.addPasskeyAccount("jiro", "5555555")
		e.open(other.ID, ChannelOperator, "staff:suzuki", "本人確認済み")
		if _, body := e.checkWindow("jiro", bearer); !strings.Contains(string(body), `"opened_via":"operator"`) {
			t.Fatalf("%s", body)
		}
	})

	t.Run("closed once it runs out, before and after the expiry job", func(t *testing.T) {
		e.clock.Advance(30 * time.Minute)
		if _, body := e.checkWindow("taro", bearer); string(body) != closedAnswer {
			t.Fatalf("at the window's end, job not run: %s", body)
		}
		e.runExpiry()
		if _, body := e.checkWindow("taro", bearer); string(body) != closedAnswer {
			t.Fatalf("after the job: %s", body)
		}
	})
}

// closedAnswer is the service API's answer for an account without an open window and without a
// recovery hold, and for an unknown login ID alike.
const closedAnswer = `{"open":false,"recovered_at":null,"hold_until":null,"hold_reason":null}` + "\n"

func TestServiceAPIWithoutKeysRefusesEverything(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.APIKeys = nil })
	e.addAccount("taro", "1234567")
	for _, authz := range []string{"", "Bearer ", "Bearer " + testAPIKey} {
		if res, body := e.checkWindow("taro", authz); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d %s", authz, res.StatusCode, body)
		}
	}
}
