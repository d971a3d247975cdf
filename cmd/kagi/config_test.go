package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"kagi/pgdb/pgtest"
	"kagi/recovery"
)

// loadFor loads the configuration a command of purpose p would, from env alone.
func loadFor(p purpose, dev bool, env map[string]string) (*config, error) {
	flags := map[string]*string{}
	for _, s := range settings {
		flags[s.env] = new(string)
	}
	return loadConfig(flags, dev, p, envOf(env))
}

// changed is base with the changes applied; an empty value unsets the setting.
func changed(base map[string]string, changes map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for k, v := range changes {
		env[k] = v
	}
	return env
}

// Outside --dev a server refuses a setting whose silent default would weaken it, naming the
// setting and why; the same setting spelled out is accepted, and --dev and the command-line
// tools keep their defaults.
func TestSettingsThatMustBeSpelledOut(t *testing.T) {
	t.Chdir(t.TempDir()) // --dev keeps its secrets under .kagi/ here
	prod := changed(prodEnv("postgres://127.0.0.1:1/none"), map[string]string{
		"KAGI_SMTP_URL": "smtp://127.0.0.1:1", "KAGI_MAIL_FROM": "no-reply@kagi-sec.example.jp",
		"KAGI_IVR_SECOND_FACTOR": "none",
	})
	messaging := map[string]string{"TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef", "KAGI_SMS_FROM": "+815012345678"}
	dev := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/none"}
	cases := []struct {
		name    string
		p       purpose
		dev     bool
		env     map[string]string
		refusal []string // what the refusal says; nil: accepted
		check   func(t *testing.T, c *config)
	}{
		{name: "smtp:// must offer STARTTLS outside --dev", env: prod,
			check: func(t *testing.T, c *config) {
				if c.SMTP == nil || !c.SMTP.RequireTLS {
					t.Errorf("SMTP %+v, want STARTTLS required", c.SMTP)
				}
			}},
		{name: "smtp:// in --dev takes a local relay without TLS", dev: true, env: changed(dev, map[string]string{"KAGI_SMTP_URL": "smtp://127.0.0.1:1025"}),
			check: func(t *testing.T, c *config) {
				if c.SMTP == nil || c.SMTP.RequireTLS {
					t.Errorf("SMTP %+v, want TLS when offered", c.SMTP)
				}
			}},
		{name: "second channel caps by default", env: prod,
			check: func(t *testing.T, c *config) {
				if c.SendLimits.String() != "3/1h,5/24h" {
					t.Errorf("caps %v, want 3/1h,5/24h", c.SendLimits)
				}
			}},
		{name: "second channel caps set", env: changed(prod, map[string]string{"KAGI_SECOND_CHANNEL_LIMIT": "2/1h"}),
			check: func(t *testing.T, c *config) {
				if c.SendLimits.String() != "2/1h" {
					t.Errorf("caps %v, want 2/1h", c.SendLimits)
				}
			}},
		{name: "staff read limit by default", env: prod,
			check: func(t *testing.T, c *config) {
				if c.StaffReadLimit.String() != "300/1h" {
					t.Errorf("staff read limit %v, want 300/1h", c.StaffReadLimit)
				}
			}},
		{name: "staff read limit cannot be switched off", env: changed(prod, map[string]string{"KAGI_STAFF_READ_LIMIT": "0"}),
			refusal: []string{"KAGI_STAFF_READ_LIMIT"}},
		{name: "second channel caps unreadable", env: changed(prod, map[string]string{"KAGI_SECOND_CHANNEL_LIMIT": "lots"}),
			refusal: []string{"KAGI_SECOND_CHANNEL_LIMIT"}},
		{name: "trusted proxies none spelled out", env: changed(prod, map[string]string{"KAGI_TRUSTED_PROXIES": " None "}),
			check: func(t *testing.T, c *config) {
				if c.TrustedProxies != nil {
					t.Errorf("trusted proxies %v, want none", c.TrustedProxies)
				}
			}},
		{name: "trusted proxies as CIDRs and an address", env: changed(prod, map[string]string{"KAGI_TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/32,192.0.2.7"}),
			check: func(t *testing.T, c *config) {
				if got := len(c.TrustedProxies); got != 3 {
					t.Errorf("trusted proxies %v, want 3", c.TrustedProxies)
				}
			}},
		{name: "trusted proxies unset refused outside dev", env: changed(prod, map[string]string{"KAGI_TRUSTED_PROXIES": ""}),
			refusal: []string{"KAGI_TRUSTED_PROXIES must be set outside --dev", "none", "load balancer", "whole brokerage"}},
		{name: "trusted proxies of commas only refused outside dev", env: changed(prod, map[string]string{"KAGI_TRUSTED_PROXIES": " , "}),
			refusal: []string{"KAGI_TRUSTED_PROXIES must be set"}},
		{name: "trusted proxies none beside a CIDR refused", env: changed(prod, map[string]string{"KAGI_TRUSTED_PROXIES": "none,10.0.0.0/8"}),
			refusal: []string{"KAGI_TRUSTED_PROXIES", `"none"`}},
		{name: "trusted proxies unset in dev mean none", dev: true, env: dev,
			check: func(t *testing.T, c *config) {
				if c.TrustedProxies != nil {
					t.Errorf("trusted proxies %v, want none", c.TrustedProxies)
				}
			}},
		{name: "trusted proxies unset for the command-line tools", p: forCLI, env: changed(prod, map[string]string{"KAGI_TRUSTED_PROXIES": ""})},

		{name: "second factor none spelled out without Messaging", env: prod,
			check: func(t *testing.T, c *config) {
				if c.SecondFactor != recovery.SecondFactorNone {
					t.Errorf("second factor %q, want none", c.SecondFactor)
				}
			}},
		{name: "second factor unset without Messaging refused outside dev", env: changed(prod, map[string]string{"KAGI_IVR_SECOND_FACTOR": ""}),
			refusal: []string{"KAGI_IVR_SECOND_FACTOR must be set outside --dev", "TWILIO_ACCOUNT_SID", "KAGI_IVR_SECOND_FACTOR=none", "forged"}},
		{name: "second factor unset with Messaging is auto", env: changed(changed(prod, messaging), map[string]string{"KAGI_IVR_SECOND_FACTOR": ""}),
			check: func(t *testing.T, c *config) {
				if c.SecondFactor != recovery.SecondFactorAuto {
					t.Errorf("second factor %q, want auto", c.SecondFactor)
				}
			}},
		{name: "second factor unset in dev is auto", dev: true, env: dev,
			check: func(t *testing.T, c *config) {
				if c.SecondFactor != recovery.SecondFactorAuto {
					t.Errorf("second factor %q, want auto", c.SecondFactor)
				}
			}},
		{name: "dev public URL on another host refused", dev: true, env: changed(dev, map[string]string{"KAGI_PUBLIC_URL": "https://login.example.jp"}),
			refusal: []string{"KAGI_PUBLIC_URL", "login.example.jp", "--dev", "localhost", "/dev/ pages show every texted code"}},
		{name: "dev public URL on a LAN address refused", dev: true, env: changed(dev, map[string]string{"KAGI_PUBLIC_URL": "http://192.168.1.10:8080"}),
			refusal: []string{"KAGI_PUBLIC_URL", "192.168.1.10"}},
		{name: "dev public URL under localhost's name refused", dev: true, env: changed(dev, map[string]string{"KAGI_PUBLIC_URL": "http://localhost.example.jp:8080"}),
			refusal: []string{"KAGI_PUBLIC_URL"}},
		{name: "dev public URL by default on localhost", dev: true, env: dev,
			check: func(t *testing.T, c *config) {
				if got := c.PublicURL.String(); got != "http://localhost:8080" {
					t.Errorf("public URL %s, want http://localhost:8080", got)
				}
			}},
		{name: "dev public URL on a loopback address", dev: true, env: changed(dev, map[string]string{"KAGI_PUBLIC_URL": "http://127.0.0.2:8080"})},
		{name: "dev public URL on IPv6 loopback", dev: true, env: changed(dev, map[string]string{"KAGI_PUBLIC_URL": "http://[::1]:8080"})},
		{name: "dev public URL on LOCALHOST", dev: true, env: changed(dev, map[string]string{"KAGI_PUBLIC_URL": "http://LOCALHOST:8080"})},
		{name: "brand name required outside dev", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": ""}),
			refusal: []string{"KAGI_BRAND_NAME must be set outside --dev", "every text and call back"}},
		{name: "brand name of blanks refused outside dev", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": " \u3000 "}),
			refusal: []string{"KAGI_BRAND_NAME must be set outside --dev"}},
		{name: "brand name trimmed", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": "\u3000カギ証券 "}),
			check: func(t *testing.T, c *config) {
				if c.BrandName != "カギ証券" {
					t.Errorf("brand name %q, want カギ証券", c.BrandName)
				}
			}},
		{name: "brand name of 20 characters", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": strings.Repeat("証", 20)})},
		{name: "brand name of 21 characters refused", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": strings.Repeat("証", 21)}),
			refusal: []string{"KAGI_BRAND_NAME", "at most 20 characters"}},
		{name: "brand name with a URL refused", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": "デモ証券 https://x.jp"}),
			refusal: []string{"KAGI_BRAND_NAME", "link"}},
		{name: "brand name that is a domain refused", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": "demo-sec．jp"}),
			refusal: []string{"KAGI_BRAND_NAME", "link"}},
		{name: "brand name over two lines refused", env: changed(prod, map[string]string{"KAGI_BRAND_NAME": "デモ\n証券"}),
			refusal: []string{"KAGI_BRAND_NAME", "one line"}},
		{name: "dev brand name by default", dev: true, env: dev,
			check: func(t *testing.T, c *config) {
				if c.BrandName != "デモ証券" {
					t.Errorf("brand name %q, want デモ証券", c.BrandName)
				}
			}},
		{name: "dev brand name spelled out", dev: true, env: changed(dev, map[string]string{"KAGI_BRAND_NAME": "カギ証券"}),
			check: func(t *testing.T, c *config) {
				if c.BrandName != "カギ証券" {
					t.Errorf("brand name %q, want カギ証券", c.BrandName)
				}
			}},
		{name: "console URL missing outside --dev", env: changed(prod, map[string]string{"KAGI_CONSOLE_URL": ""}),
			refusal: []string{"missing settings", "KAGI_CONSOLE_URL"}},
		{name: "console URL over http outside --dev refused", env: changed(prod, map[string]string{"KAGI_CONSOLE_URL": "http://console.example.jp"}),
			refusal: []string{"KAGI_CONSOLE_URL must use https outside --dev"}},
		{name: "console URL equal to the public URL refused", env: changed(prod, map[string]string{"KAGI_CONSOLE_URL": "https://login.example.jp"}),
			refusal: []string{"KAGI_CONSOLE_URL", "must differ from KAGI_PUBLIC_URL"}},
		{name: "console on the customers' RP ID refused", env: changed(prod, map[string]string{"KAGI_CONSOLE_URL": "https://login.example.jp:8443"}),
			refusal: []string{"KAGI_CONSOLE_URL", "login.example.jp", "RP ID"}},
		{name: "console URL with a path refused", env: changed(prod, map[string]string{"KAGI_CONSOLE_URL": "https://console.example.jp/staff/"}),
			refusal: []string{"KAGI_CONSOLE_URL", "origin"}},
		{name: "console listener on the public one refused", env: changed(prod, map[string]string{"KAGI_LISTEN": ":8080", "KAGI_CONSOLE_LISTEN": ":8080"}),
			refusal: []string{"KAGI_CONSOLE_LISTEN", "must differ"}},
		{name: "console is the staff passkeys' relying party", env: prod,
			check: func(t *testing.T, c *config) {
				if c.ConsoleURL.String() != "https://console.example.jp" || c.RPID != "login.example.jp" {
					t.Errorf("console URL %v, customers' RP ID %q", c.ConsoleURL, c.RPID)
				}
			}},
		{name: "dev console URL on another host refused", dev: true, env: changed(dev, map[string]string{"KAGI_CONSOLE_URL": "https://console.example.jp"}),
			refusal: []string{"KAGI_CONSOLE_URL", "console.example.jp", "--dev", "localhost"}},
		{name: "dev console URL equal to the public URL refused", dev: true, env: changed(dev, map[string]string{"KAGI_CONSOLE_URL": "http://localhost:8080"}),
			refusal: []string{"KAGI_CONSOLE_URL", "must differ from KAGI_PUBLIC_URL"}},
		{name: "dev console by default on localhost:8081", dev: true, env: dev,
			check: func(t *testing.T, c *config) {
				if c.ConsoleURL.String() != "http://localhost:8081" || c.ConsoleListen != "127.0.0.1:8081" {
					t.Errorf("console %s on %s, want http://localhost:8081 on 127.0.0.1:8081", c.ConsoleURL, c.ConsoleListen)
				}
			}},
		{name: "console URL unset for the command-line tools", p: forCLI, env: changed(prod, map[string]string{"KAGI_CONSOLE_URL": ""})},
		{name: "brand name unset for the command-line tools", p: forCLI, env: changed(prod, map[string]string{"KAGI_BRAND_NAME": ""})},
		{name: "second factor unset for the command-line tools", p: forCLI, env: changed(prod, map[string]string{"KAGI_IVR_SECOND_FACTOR": ""})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadFor(tc.p, tc.dev, tc.env)
			if tc.refusal == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.refusal {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
		})
	}
}

// A voice line without a second channel, spelled out, is served — with a warning naming the
// setting at every start.
func TestServeWarnsOfAVoiceLineWithoutSecondChannel(t *testing.T) {
	t.Parallel()
	logs := startLogs(t, map[string]string{"KAGI_IVR_SECOND_FACTOR": "none"})
	if !warned(logs, "KAGI_IVR_SECOND_FACTOR=none") {
		t.Fatalf("no warning naming KAGI_IVR_SECOND_FACTOR=none in the start's logs:\n%s", logs)
	}
}

// startLogs starts kagi serve in production mode with the settings changed, stops it once it
// serves, and returns what it logged.
func startLogs(t *testing.T, settings map[string]string) string {
	t.Helper()
	listen := freeAddr(t)
	env := changed(prodEnv(servingURL(t, pgtest.URL(t, schema...))), map[string]string{
		"KAGI_LISTEN": listen, "KAGI_SMTP_URL": "smtp://127.0.0.1:1", "KAGI_MAIL_FROM": "no-reply@kagi-sec.example.jp",
	})
	env = changed(env, settings)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var logs bytes.Buffer
	go func() { served <- run(ctx, []string{"serve"}, envOf(env), io.Discard, &logs) }()
	waitServing(t, "http://"+listen, served)
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	return logs.String()
}

// warned reports whether logs hold a warning line with every one of words.
func warned(logs string, words ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"WARN"`) && !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(line, w) }) {
			return true
		}
	}
	return false
}

// kagi serve names every setting it must be told, in one refusal on one line.
func TestServeListsEverySettingToSpellOutAtOnce(t *testing.T) {
	t.Parallel()
	env := changed(prodEnv("postgres://127.0.0.1:1/none"), map[string]string{
		"KAGI_TRUSTED_PROXIES": "", "KAGI_BRAND_NAME": "", "KAGI_IVR_SECOND_FACTOR": "",
		"KAGI_SMTP_URL": "smtp://127.0.0.1:1", "KAGI_MAIL_FROM": "no-reply@kagi-sec.example.jp",
	})
	_, err := kagi(t, env, "serve")
	if err == nil {
		t.Fatal("serve started")
	}
	for _, name := range []string{"KAGI_TRUSTED_PROXIES", "KAGI_BRAND_NAME", "KAGI_IVR_SECOND_FACTOR"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("refusal %q does not name %s", err, name)
		}
	}
	if strings.Contains(oneLine(err), "\n") {
		t.Errorf("refusal is not one line: %q", oneLine(err))
	}
}

// KAGI_API_KEYS names each key (name:key); a bare key is named by its position and counted, so
// kagi serve can warn of it; a bad entry stops the start, naming the setting, never the key.
func TestServiceKeyNames(t *testing.T) {
	t.Parallel()
	base := changed(prodEnv("postgres://127.0.0.1:1/none"), map[string]string{
		"KAGI_SMTP_URL": "smtp://127.0.0.1:1", "KAGI_MAIL_FROM": "no-reply@kagi-sec.example.jp", "KAGI_IVR_SECOND_FACTOR": "none",
	})
	for _, tc := range []struct {
		name    string
		keys    string
		names   []string
		bare    int
		refusal string
	}{
		{name: "named", keys: "weblogin:service-key-0123456789,backoffice:office-key-0123456789", names: []string{"weblogin", "backoffice"}},
		{name: "bare keys named by position", keys: "service-key-0123456789,backoffice:office-key-0123456789", names: []string{"key1", "backoffice"}, bare: 1},
		{name: "short key", keys: "weblogin:short", refusal: `KAGI_API_KEYS: service key "weblogin" must be at least 16 characters`},
		{name: "bad name", keys: "Web Login:service-key-0123456789", refusal: "KAGI_API_KEYS: entry 1: the name before ':'"},
		{name: "name twice", keys: "a:service-key-0123456789,a:office-key-0123456789", refusal: `KAGI_API_KEYS: service key name "a" is given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadFor(forServe, false, changed(base, map[string]string{"KAGI_API_KEYS": tc.keys}))
			if tc.refusal != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refusal) || strings.Contains(err.Error(), "0123456789") {
					t.Fatalf("err = %v, want %q without the key", err, tc.refusal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range c.APIKeys {
				names = append(names, k.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") || c.BareAPIKeys != tc.bare {
				t.Errorf("names %v, bare %d; want %v, %d", names, c.BareAPIKeys, tc.names, tc.bare)
			}
		})
	}
}

// A bare key is served — with a warning at every start that its calls are audited by position.
func TestServeWarnsOfBareServiceKeys(t *testing.T) {
	t.Parallel()
	logs := startLogs(t, map[string]string{
		"KAGI_IVR_SECOND_FACTOR": "none", "KAGI_API_KEYS": "weblogin:service-key-0123456789,bare-key-0123456789",
	})
	if !warned(logs, "KAGI_API_KEYS", "name:key") {
		t.Fatalf("no warning of the bare key in the start's logs:\n%s", logs)
	}
	if strings.Contains(logs, "0123456789") {
		t.Errorf("a key in the logs:\n%s", logs)
	}
}
