package auth

import (
	"context"
	"net/http"
	"reflect"
	"sync"
	"testing"
)

func TestPasswordLoginWithoutPasskey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	c := e.browser()

	status, body := e.passwordLogin(c, "taro", demoAccount.Password)
	if status != http.StatusOK || body["assurance"] != "password" || body["via_fallback_window"] != false {
		t.Fatalf("login: %d %v", status, body)
	}
	status, body = e.do(c, "GET", "/api/v1/session", nil)
	if status != http.StatusOK || body["login_id"] != "taro" || body["assurance"] != "password" {
		t.Fatalf("session: %d %v", status, body)
	}
	if status, _ := e.do(c, "POST", "/api/v1/logout", nil); status != http.StatusOK {
		t.Fatalf("logout: %d", status)
	}
	if status, body := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized || body["error"] != "unauthorized" {
		t.Fatalf("session after logout: %d %v", status, body)
	}
	if got, want := e.auditEvents(acct.ID), []string{"account_created", "login_succeeded", "logout"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		e := newTestEnv(t, func(c *Config) { c.SecureCookies = secure })
		e.addAccount(demoAccount)
		res, err := http.Post(e.srv.URL+"/api/v1/login/password", "application/json",
			jsonBody(t, map[string]string{"login_id": "taro", "password": demoAccount.Password}))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var found bool
		for _, c := range res.Cookies() {
			if c.Name != SessionCookie {
				continue
			}
			found = true
			if !c.HttpOnly || c.Secure != secure || c.SameSite != http.SameSiteLaxMode || len(c.Value) < 40 {
				t.Errorf("cookie %+v: want HttpOnly, Secure=%v, SameSite=Lax, a long random token", c, secure)
			}
		}
		if !found {
			t.Fatal("no session cookie")
		}
	}
}

func TestWrongPasswordAndUnknownIDAnswerAlike(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	s1, b1 := e.passwordLogin(e.browser(), "taro", "wrong password!")
	s2, b2 := e.passwordLogin(e.browser(), "nobody", "wrong password!")
	if s1 != http.StatusUnauthorized || b1["error"] != "invalid_credentials" {
		t.Fatalf("wrong password: %d %v", s1, b1)
	}
	if s1 != s2 || !reflect.DeepEqual(b1, b2) {
		t.Fatalf("wrong password %d %v differs from unknown ID %d %v", s1, b1, s2, b2)
	}
}

func TestPasswordLoginBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for name, body := range map[string]any{
		"empty object":   map[string]string{},
		"empty password": map[string]string{"login_id": "taro", "password": ""},
		"not an object":  []int{1, 2},
		"wrong types":    map[string]int{"login_id": 1},
	} {
		status, got := e.do(e.browser(), "POST", "/api/v1/login/password", body)
		if status != http.StatusBadRequest || got["error"] != "invalid_request" || got["message"] == "" {
			t.Errorf("%s: %d %v, want 400 invalid_request with a message", name, status, got)
		}
	}
}

func TestPasswordThrottle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	for i := range DefaultThrottle.Max {
		if status, _ := e.passwordLogin(e.browser(), "taro", "wrong password!"); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, status)
		}
	}
	t.Run("locked even with the right password", func(t *testing.T) {
		status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password)
		if status != http.StatusTooManyRequests || body["error"] != "rate_limited" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("unknown IDs are throttled alike", func(t *testing.T) {
		for range DefaultThrottle.Max {
			e.passwordLogin(e.browser(), "ghost", "wrong password!")
		}
		if status, _ := e.passwordLogin(e.browser(), "ghost", "wrong password!"); status != http.StatusTooManyRequests {
			t.Fatalf("unknown ID not throttled: %d", status)
		}
	})
	t.Run("lockout ends", func(t *testing.T) {
		e.clock.Advance(DefaultThrottle.Lockout + 1)
		if status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password); status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
	})
}

func TestParallelGuessesCannotPassTheLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := e.passwordLogin(e.browser(), "taro", "wrong password!")
			mu.Lock()
			counts[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[http.StatusUnauthorized] != DefaultThrottle.Max || counts[http.StatusTooManyRequests] != 20-DefaultThrottle.Max {
		t.Fatalf("statuses %v: want exactly %d password checks", counts, DefaultThrottle.Max)
	}
}

func TestPasswordHasherBoundsConcurrency(t *testing.T) {
	h := NewPasswordHasher(fastArgon, 1)
	h.sem <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Verify(ctx, "pw", ""); err == nil {
		t.Fatal("Verify ran while the only hashing slot was taken")
	}
	<-h.sem
	phc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(context.Background(), "pw", phc); !ok {
		t.Fatal("right password refused")
	}
	if ok, _ := h.Verify(context.Background(), "px", phc); ok {
		t.Fatal("wrong password accepted")
	}
	if ok, _ := h.Verify(context.Background(), "kagi-dummy-password", ""); ok {
		t.Fatal("the dummy hash must never verify")
	}
}
