package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"kagi"
)

func TestParseServiceKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		list    string
		names   []string
		bare    int
		problem []string // what the refusal says; nil: accepted
	}{
		{name: "named keys", list: "weblogin:key-for-the-login-0001, backoffice:key-for-the-office-02", names: []string{"weblogin", "backoffice"}},
		{name: "bare keys are named by position", list: "ops:named-key-0123456789,bare-key-0123456789", names: []string{"ops", "key2"}, bare: 1},
		{name: "a key may hold a colon after its name", list: "crm:abc:def0123456789xyz", names: []string{"crm"}},
		{name: "empty", list: " , ", names: nil},
		{name: "short key", list: "ops:short", problem: []string{`service key "ops" must be at least 16 characters`}},
		{name: "bad name is no bare key", list: "Ops:named-key-0123456789", problem: []string{"entry 1: the name before ':'"}},
		{name: "name given twice", list: "ops:named-key-0123456789,ops:other-key-0123456789", problem: []string{`"ops" is given twice`}},
		{name: "a bare key's name taken", list: "bare-key-0123456789,key1:other-key-0123456789", problem: []string{`"key1" is given twice`}},
		{name: "one key twice", list: "a:same-key-0123456789,b:same-key-0123456789", problem: []string{`"a" and "b" are the same key`}},
		{name: "every problem at once", list: "Bad:x,ops:short", problem: []string{"entry 1", `"ops" must be at least`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, bare, err := ParseServiceKeys(tc.list)
			if tc.problem != nil {
				if err == nil {
					t.Fatalf("accepted %q", tc.list)
				}
				for _, p := range tc.problem {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("refusal %q does not say %q", err, p)
					}
				}
				if strings.Contains(err.Error(), "0123456789") {
					t.Errorf("refusal %q shows a key", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range keys {
				names = append(names, k.Name)
			}
			if !slices.Equal(names, tc.names) || bare != tc.bare {
				t.Errorf("names %v, bare %d; want %v, %d", names, bare, tc.names, tc.bare)
			}
		})
	}
}

func TestServiceKeysRequire(t *testing.T) {
	keys, err := NewServiceKeys([]ServiceKey{{Name: "weblogin", Key: "weblogin-key-0123456789"}, {Name: "backoffice", Key: "backoffice-key-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	h := Handle(nil, keys.Require(func(w http.ResponseWriter, r *http.Request, name string) error {
		return JSON(w, http.StatusOK, map[string]string{"key": name})
	}))
	for _, tc := range []struct{ authz, want string }{
		{"Bearer weblogin-key-0123456789", `{"key":"weblogin"}`},
		{"bearer backoffice-key-0123456789", `{"key":"backoffice"}`},
		{"", ""},
		{"Bearer ", ""},
		{"Bearer weblogin-key-012345678", ""},
		{"Bearer weblogin-key-0123456789x", ""},
		{"Basic weblogin-key-0123456789", ""},
		{"weblogin-key-0123456789", ""},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := strings.TrimSpace(rec.Body.String())
		if tc.want != "" {
			if rec.Code != http.StatusOK || body != tc.want {
				t.Errorf("%q: %d %s, want 200 %s", tc.authz, rec.Code, body, tc.want)
			}
			continue
		}
		if rec.Code != http.StatusUnauthorized || !strings.Contains(body, `"error":"unauthorized"`) || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%q: %d %s, want 401 unauthorized with a challenge", tc.authz, rec.Code, body)
		}
	}
	var nilKeys *ServiceKeys
	if _, ok := nilKeys.Check("Bearer weblogin-key-0123456789"); ok {
		t.Error("nil keys accepted a key")
	}
	var e *kagi.Error
	if !errors.As(errServiceUnauthorized, &e) || e.Message == "" {
		t.Error("the refusal has no message")
	}
}
