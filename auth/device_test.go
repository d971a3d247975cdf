package auth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// deviceCookieIn returns the browser's device cookie for the test server, "" if none.
func (e *testEnv) deviceCookieIn(c *http.Client) string {
	u, _ := url.Parse(e.srv.URL)
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == DeviceCookie {
			return k.Value
		}
	}
	return ""
}

// setDevice puts a device cookie of value into the browser, as a tampering client would.
func (e *testEnv) setDevice(c *http.Client, value string) {
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: DeviceCookie, Value: value, Path: "/"}})
}

// TestKnownDeviceSurvivesAPasswordSpray is OWASP's device cookie: someone who knows the
// customer's login ID sends wrong passwords until the login ID is locked; browsers the login ID
// never logged in from are refused, the customer's own browser still logs in.
func TestKnownDeviceSurvivesAPasswordSpray(t *testing.T) {
	for _, check := range []bool{false, true} {
		name := map[bool]string{false: "email check off", true: "email check on"}[check]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(c *Config) { c.EmailCheck = check })
			acct := e.addAccount(demoAccount)
			login := func(c *http.Client, password string) (int, map[string]any) {
				status, body := e.passwordLogin(c, "taro", password)
				if !check || status != http.StatusOK {
					return status, body
				}
				ec, _ := body["email_check"].(map[string]any)
				id, _ := ec["id"].(string)
				msgs := e.queuedMessages(acct.ID)
				return e.pick(c, id, msgs[len(msgs)-1].Event.Emoji)
			}
			customer := e.browser()
			if status, body := login(customer, demoAccount.Password); status != http.StatusOK {
				t.Fatalf("first login: %d %v", status, body)
			}
			if e.deviceCookieIn(customer) == "" {
				t.Fatal("a successful login set no device cookie")
			}
			e.do(customer, "POST", "/api/v1/logout", nil)

			attacker := e.browser()
			for range DefaultThrottle.Max + 2 {
				login(attacker, "wrong password!")
			}
			if status, body := login(e.browser(), demoAccount.Password); status != http.StatusTooManyRequests {
				t.Errorf("an unknown browser with the right password: %d %v, want 429 while the login ID is locked", status, body)
			}
			if status, body := login(customer, demoAccount.Password); status != http.StatusOK {
				t.Errorf("the customer's known browser: %d %v, want 200", status, body)
			}
			tampered := e.browser()
			cookie := e.deviceCookieIn(customer)
			e.setDevice(tampered, cookie[:len(cookie)-2]+strings.Repeat("A", 2))
			if status, _ := login(tampered, demoAccount.Password); status != http.StatusTooManyRequests {
				t.Errorf("a tampered device cookie: %d, want 429 (it counts as none)", status)
			}
		})
	}
}

// TestKnownDeviceHasAThrottleOfItsOwn: wrong passwords from the known browser are limited on
// its own count, and a device cookie is valid only for the login ID it was given for.
func TestKnownDeviceHasAThrottleOfItsOwn(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	other := demoAccount
	other.LoginID, other.AccountNumber, other.Email = "hanako", "7654321", "hanako@example.jp"
	e.addAccount(other)

	customer := e.browser()
	if status, _ := e.passwordLogin(customer, "taro", demoAccount.Password); status != http.StatusOK {
		t.Fatal("first login failed")
	}
	for range DefaultThrottle.Max {
		if status, _ := e.passwordLogin(customer, "taro", "wrong password!"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password from the known browser: %d, want 401", status)
		}
	}
	if status, _ := e.passwordLogin(customer, "taro", demoAccount.Password); status != http.StatusTooManyRequests {
		t.Errorf("after %d failures from the known browser: %d, want 429", DefaultThrottle.Max, status)
	}
	if status, _ := e.passwordLogin(e.browser(), "taro", demoAccount.Password); status != http.StatusOK {
		t.Errorf("an unknown browser was locked by the known browser's failures: %d", status)
	}

	// taro's device cookie says nothing about hanako: her count is the unknown devices'.
	for range DefaultThrottle.Max + 1 {
		e.passwordLogin(e.browser(), "hanako", "wrong password!")
	}
	taros := e.browser()
	e.setDevice(taros, e.deviceCookieIn(customer))
	if status, _ := e.passwordLogin(taros, "hanako", other.Password); status != http.StatusTooManyRequests {
		t.Errorf("another login ID's device cookie let a locked login ID in: %d", status)
	}
}

func TestDeviceCookieFlags(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.SecureCookies = true })
	e.addAccount(demoAccount)
	res, err := http.Post(e.srv.URL+"/api/v1/login/password", "application/json",
		strings.NewReader(`{"login_id":"taro","password":"`+demoAccount.Password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var found bool
	for _, c := range res.Cookies() {
		if c.Name == SecureDeviceCookie {
			found = true
			if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("device cookie %+v: want Secure, HttpOnly, Path=/, no Domain, SameSite=Lax", c)
			}
		}
	}
	if !found {
		t.Errorf("no %s cookie over https", SecureDeviceCookie)
	}
}
