package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/uuid"

	"kagi/auth"
	"kagi/hours"
	"kagi/notify"
	"kagi/openid"
	"kagi/pgdb"
	"kagi/recovery"
	"kagi/staff"
	"kagi/web"
)

// setting is one configuration value: an environment variable, overridable by a flag.
type setting struct {
	env, flag, def, usage string
	secret                bool
}

var settings = []setting{
	{env: "DATABASE_URL", flag: "database-url", usage: "PostgreSQL connection string"},
	{env: "KAGI_DB_POOLER", flag: "db-pooler", usage: "what stands between kagi and PostgreSQL: empty (direct) or transaction (a pooler such as PgBouncer in pool_mode = transaction)"},
	{env: "KAGI_LISTEN", flag: "listen", def: ":8080", usage: "listen address"},
	{env: "KAGI_PUBLIC_URL", flag: "public-url", usage: "base URL browsers and Twilio use"},
	{env: "TWILIO_AUTH_TOKEN", flag: "twilio-auth-token", secret: true, usage: "validates X-Twilio-Signature"},
	{env: "KAGI_API_KEYS", flag: "api-keys", secret: true, usage: "comma-separated bearer keys of the service API and the back office, each name:key (a bare key is named key1, key2, … by its position)"},
	{env: "KAGI_PIN_KEY", flag: "pin-key", secret: true, usage: "key of the voice-line PIN hashes"},
	{env: "KAGI_RP_ID", flag: "rp-id", usage: "WebAuthn relying party ID (default: host of the public URL)"},
	{env: "KAGI_RP_ORIGINS", flag: "rp-origins", usage: "comma-separated WebAuthn origins (default: the public URL); an Android app's as android:apk-key-hash:<base64url SHA-256 of its signing certificate>"},
	{env: "KAGI_RELATED_ORIGINS", flag: "related-origins", usage: "comma-separated origins of the brokerage's other sites that use the customers' passkeys, served at /.well-known/webauthn and accepted in ceremonies (unset = none)"},
	{env: "KAGI_ANDROID_APPS", flag: "android-apps", usage: "comma-separated PACKAGE=FINGERPRINT of the Android apps that use the customers' passkeys, the signing certificate's SHA-256 as Play Console shows it, served at /.well-known/assetlinks.json (unset = none)"},
	{env: "KAGI_APPLE_APP_IDS", flag: "apple-app-ids", usage: "comma-separated TEAMID.bundle.id of the iOS apps that use the customers' passkeys, served at /.well-known/apple-app-site-association (unset = none)"},
	{env: "KAGI_OIDC_CLIENTS", flag: "oidc-clients", usage: "JSON file of the OpenID Connect clients: the brokerage's applications that take kagi's login (unset = none)"},
	{env: "KAGI_OIDC_KEY_ROTATION", flag: "oidc-key-rotation", def: openid.DefaultKeyRotation.String(), usage: "how long an OpenID Connect signing key signs before the next one takes over"},
	{env: "KAGI_PASSKEY_CREATE_PLATFORMS", flag: "passkey-create-platforms", def: "ios,android", usage: "where passkeys may be created: ios,android or any"},
	{env: "KAGI_FALLBACK_WINDOW", flag: "fallback-window", def: "30m", usage: "length of a fallback window"},
	{env: "KAGI_EXPIRY_SCHEDULE", flag: "expiry-schedule", def: "@every 1m", usage: "cron spec of the expiry job (seconds allowed)"},
	{env: "KAGI_IVR_VOICE", flag: "ivr-voice", def: "Polly.Mizuki", usage: "voice of every <Say> on the voice line"},
	{env: "KAGI_OPERATOR_NUMBER", flag: "operator-number", usage: "E.164 number the voice line transfers to in business hours (unset = no transfer)"},
	{env: "KAGI_VOICE_LINE_NUMBER", flag: "voice-line-number", usage: "the voice line's number as customers dial it, shown on the pages (e.g. 0120-123-456)"},
	{env: "KAGI_BRAND_NAME", flag: "brand-name", usage: "the brokerage's name, which opens every text and call back, such as デモ証券 (required outside --dev; --dev: " + devBrandName + ")"},
	{env: "KAGI_SUPPORT_CALENDAR", flag: "support-calendar", usage: "JSON file of closed days and special hours"},
	{env: "KAGI_SUPPORT_ENABLED", flag: "support-enabled", def: "true", usage: "whether the support desk takes calls at all"},
	{env: "KAGI_SECOND_CHANNEL_LIMIT", flag: "second-channel-limit", def: recovery.DefaultSendLimits.String(), usage: "codes texted and calls back per account, and per calling number, and period (§4.8), such as 3/1h,5/24h"},
	{env: "KAGI_IVR_SECOND_FACTOR", flag: "ivr-second-factor", usage: "second channel after keypad verification: auto, sms, callback or none (default: auto with Twilio Messaging or --dev; required otherwise)"},
	{env: "KAGI_SMTP_URL", flag: "smtp-url", usage: "smtp://[user:pass@]host:port (STARTTLS, required outside --dev) or smtps://… (required outside --dev)"},
	{env: "KAGI_MAIL_FROM", flag: "mail-from", usage: "sender address of every email (required outside --dev)"},
	{env: "TWILIO_ACCOUNT_SID", flag: "twilio-account-sid", usage: "Twilio account SID for SMS (unset = no SMS)"},
	{env: "KAGI_SMS_FROM", flag: "sms-from", usage: "E.164 number or messaging service SID texts are sent from (unset = no SMS)"},
	{env: "KAGI_TWILIO_API_URL", flag: "twilio-api-url", usage: "base URL of Twilio's REST API (default: Twilio's own)"},
	{env: "KAGI_EMAIL_CHECK", flag: "email-check", def: "on", usage: "emoji email check after every password login: on or off"},
	{env: "KAGI_LOGIN_NOTICE", flag: "login-notice", def: "on", usage: "email a notice of every successful login: on or off"},
	{env: "KAGI_RECOVERY_HOLD", flag: "recovery-hold", def: "72h", usage: "how long after a recovery sessions and the service API report a hold (0 = off)"},
	{env: "KAGI_SESSION_IDLE", flag: "session-idle", def: "30m", usage: "a session without a request for this long ends"},
	{env: "KAGI_CONSOLE_LISTEN", flag: "console-listen", def: "127.0.0.1:8081", usage: "the operator console's own listener: /staff/ is served here alone (§6)"},
	{env: "KAGI_CONSOLE_URL", flag: "console-url", usage: "the operator console's origin, also the staff passkeys' relying party, such as https://console.example.jp (required outside --dev, https; --dev: http://localhost:8081)"},
	{env: "KAGI_ADMIN_LISTEN", flag: "admin-listen", def: "127.0.0.1:9090", usage: "admin listener: /metrics, /healthz, /readyz"},
	{env: "KAGI_SHUTDOWN_DELAY", flag: "shutdown-delay", def: "5s", usage: "on SIGTERM, how long /readyz fails before the listeners close"},
	{env: "KAGI_TRUSTED_PROXIES", flag: "trusted-proxies", usage: "comma-separated CIDRs of the proxies whose X-Forwarded-For is believed, or none (required outside --dev; --dev: none)"},
	{env: "KAGI_LIMIT_PASSKEY_FINISH", flag: "limit-passkey-finish", def: auth.DefaultClientLimits.PasskeyFinish.String(), usage: "failed passkey logins per client address and period; an address over it is refused passkey logins (0 = no limit)"},
	{env: "KAGI_LIMIT_PASSWORD_LOGIN", flag: "limit-password-login", def: auth.DefaultClientLimits.PasswordLogin.String(), usage: "refused password logins per client address and period (0 = no limit)"},
	{env: "KAGI_STAFF_READ_LIMIT", flag: "staff-read-limit", def: staff.DefaultReadLimit.String(), usage: "console searches and audit-trail reads per staff member and period (§6)"},
	{env: "KAGI_STAFF_AAGUIDS", flag: "staff-aaguids", usage: "comma-separated AAGUIDs of the only authenticator models staff may enroll, their attestation verified (unset = any device-bound authenticator; needs KAGI_STAFF_METADATA)"},
	{env: "KAGI_STAFF_METADATA", flag: "staff-metadata", usage: "JSON file of the FIDO metadata statements (MDS3) of the models in KAGI_STAFF_AAGUIDS, with their attestation root certificates"},
	{env: "KAGI_LIMIT_EMAIL_CHECK", flag: "limit-email-check", def: auth.DefaultClientLimits.EmailCheck.String(), usage: "wrong email-check picks per client address and period (0 = no limit)"},
}

// dialledNumber is a phone number as a page shows it: digits with hyphens, spaces or brackets,
// optionally a leading +.
var dialledNumber = regexp.MustCompile(`^\+?[0-9][0-9\-() ]{5,19}$`)

// devBrandName names the brokerage in development mode when KAGI_BRAND_NAME is unset.
const devBrandName = "デモ証券"

// brandNameMax is the most characters KAGI_BRAND_NAME may have: the name opens every text, and
// a longer one would crowd out what the text says.
const brandNameMax = 20

// devMailFrom is the sender of development mode's mails when KAGI_MAIL_FROM is unset.
const devMailFrom = "kagi-dev@localhost"

// config is the parsed configuration, loaded once at start.
type config struct {
	Dev         bool
	DatabaseURL string
	// Pooler is KAGI_DB_POOLER: with a transaction-mode pooler, statements go without prepared
	// statements and the outbox polls (pgdb.TransactionPooler).
	Pooler          pgdb.Pooler
	Listen          string
	PublicURL       *url.URL
	TwilioAuthToken string
	// APIKeys are the service API's bearer keys with their names (KAGI_API_KEYS); BareAPIKeys
	// counts those given without a name, which kagi serve warns of outside --dev.
	APIKeys     []web.ServiceKey
	BareAPIKeys int
	PINKey      []byte
	RPID        string
	// RPOrigins are the web origins the customers' ceremonies may come from: KAGI_RP_ORIGINS
	// with the related origins; RPOpaqueOrigins the Android apps' (android:apk-key-hash:…).
	RPOrigins       []string
	RPOpaqueOrigins []string
	// Apps are the apps and sites that share the customers' RP ID, declared in the well-known
	// documents (SPEC §11.6).
	Apps auth.AppAssociations
	// OIDCClients are the OpenID Connect clients (KAGI_OIDC_CLIENTS), for the provider of
	// issue 24; OIDCKeyRotation is how long one of its signing keys signs.
	OIDCClients     []openid.Client
	OIDCKeyRotation time.Duration
	CreatePlatforms []string
	FallbackWindow  time.Duration
	ExpirySchedule  string
	IVRVoice        string
	OperatorNumber  string
	// VoiceLineNumber is the voice line's number as customers dial it, for the pages.
	VoiceLineNumber string
	// BrandName is the brokerage's name, such as 「デモ証券」, which opens every text and call
	// back (§4.9): a customer must know who texts or calls before trusting a word of it. Empty
	// only for the command-line tools outside --dev, which send nothing themselves.
	BrandName      string
	Calendar       *hours.Calendar
	SupportEnabled bool
	// SMTP is nil in development mode without KAGI_SMTP_URL: mail is kept for /dev/mail.
	SMTP *notify.SMTPConfig
	// MailFrom is the From header.
	MailFrom string
	// Twilio is nil without Twilio Messaging: no SMS (in development mode, texts are kept).
	Twilio       *notify.TwilioConfig
	EmailCheck   bool
	LoginNotice  bool
	RecoveryHold time.Duration
	SecondFactor recovery.SecondFactor
	// SendLimits cap the second channel's codes and calls back (KAGI_SECOND_CHANNEL_LIMIT).
	SendLimits recovery.SendLimits
	// SessionIdle ends a session without a request for this long.
	SessionIdle time.Duration
	// AdminListen serves /metrics, /healthz and /readyz apart from the public listener.
	AdminListen string
	// ConsoleListen serves the operator console apart from the public listener, so a network
	// ACL can fence it off (§6).
	ConsoleListen string
	// ConsoleURL is the console's origin: the relying party of the staff passkeys (its host
	// their RP ID), never the customers' origin.
	ConsoleURL *url.URL
	// ShutdownDelay is how long the server drains (/readyz failing) before it closes.
	ShutdownDelay time.Duration
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies web.TrustedProxies
	// ClientLimits limit the unauthenticated routes per client address.
	ClientLimits auth.ClientLimits
	// StaffReadLimit bounds each staff member's console searches and trail reads
	// (KAGI_STAFF_READ_LIMIT).
	StaffReadLimit auth.ClientLimit
	// StaffAuthenticators are the metadata statements of the only models staff may enroll
	// (KAGI_STAFF_AAGUIDS, from KAGI_STAFF_METADATA); nil: any device-bound authenticator.
	StaffAuthenticators []metadata.Statement
}

// registerSettings adds a flag for each setting to fs and returns the raw values after parsing.
func registerSettings(fs *flag.FlagSet) map[string]*string {
	vals := map[string]*string{}
	for _, s := range settings {
		vals[s.env] = fs.String(s.flag, "", s.usage+" (env "+s.env+")")
	}
	return vals
}

// purpose says what a command needs of the configuration: the server needs every secret, a
// command-line tool acting on the database only the database and the PIN key.
type purpose int

const (
	forServe purpose = iota
	forCLI
)

// appFlags are the flags every command that wires the app shares: --dev and one per setting.
type appFlags struct {
	dev      *bool
	settings map[string]*string
	purpose  purpose
}

func addAppFlags(fs *flag.FlagSet, p purpose, devUsage string) appFlags {
	return appFlags{dev: fs.Bool("dev", false, devUsage), settings: registerSettings(fs), purpose: p}
}

// parseArgs parses a command's flags and refuses stray arguments. A bad flag is a one-line
// reason; -h prints the command's flags.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "usage of %s:\n", fs.Name())
			fs.SetOutput(stderr)
			fs.PrintDefaults()
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// open loads the configuration the flags and environment give and wires the app.
func (f appFlags) open(ctx context.Context, getenv func(string) string, logOut io.Writer) (*app, error) {
	c, err := loadConfig(f.settings, *f.dev, f.purpose, getenv)
	if err != nil {
		return nil, err
	}
	return newApp(ctx, c, logOut, f.purpose == forServe)
}

// devSecretsFile keeps the secrets --dev generated, so restarts keep working.
const devSecretsFile = ".kagi/dev-secrets.json"

// devDatabaseFile holds the URL of scripts/run's private PostgreSQL while it runs: with --dev
// and no DATABASE_URL, the commands find the development database there.
const devDatabaseFile = ".kagi/pg/url"

// loadConfig resolves every setting (flag, then environment, then default, then — in dev
// mode — a generated secret) and reports every problem at once.
func loadConfig(flags map[string]*string, dev bool, p purpose, getenv func(string) string) (*config, error) {
	raw := map[string]string{}
	for _, s := range settings {
		v := *flags[s.env]
		if v == "" {
			v = getenv(s.env)
		}
		if v == "" {
			v = s.def
		}
		raw[s.env] = v
	}
	if dev {
		if raw["DATABASE_URL"] == "" {
			// The private cluster of scripts/run keeps its URL here while it runs.
			if b, err := os.ReadFile(devDatabaseFile); err == nil {
				raw["DATABASE_URL"] = strings.TrimSpace(string(b))
			}
		}
		if raw["KAGI_PUBLIC_URL"] == "" {
			raw["KAGI_PUBLIC_URL"] = "http://localhost" + listenPort(raw["KAGI_LISTEN"])
		}
		if raw["KAGI_CONSOLE_URL"] == "" {
			raw["KAGI_CONSOLE_URL"] = "http://localhost" + listenPort(raw["KAGI_CONSOLE_LISTEN"])
		}
		secrets, err := devSecrets()
		if err != nil {
			return nil, err
		}
		for _, s := range settings {
			if s.secret && raw[s.env] == "" {
				raw[s.env] = secrets[s.env]
			}
		}
	}

	if p == forCLI && raw["KAGI_PUBLIC_URL"] == "" {
		// The tools run no WebAuthn ceremony and answer no webhook; the relying party only
		// needs some identity to be built.
		raw["KAGI_PUBLIC_URL"] = "https://localhost"
	}
	if p == forCLI && raw["KAGI_CONSOLE_URL"] == "" {
		raw["KAGI_CONSOLE_URL"] = "https://console.localhost"
	}

	var errs []error
	var missing []string
	for _, s := range settings {
		if s.secret && raw[s.env] == "" && (p == forServe || s.env == "KAGI_PIN_KEY") {
			missing = append(missing, s.env)
		}
	}
	if raw["DATABASE_URL"] == "" {
		missing = append([]string{"DATABASE_URL"}, missing...)
		if dev {
			errs = append(errs, fmt.Errorf("no development database running (%s is missing): start it with scripts/run, or set DATABASE_URL", devDatabaseFile))
		}
	}
	for _, env := range []string{"KAGI_PUBLIC_URL", "KAGI_CONSOLE_URL"} {
		if raw[env] == "" {
			missing = append(missing, env)
		}
	}
	if p == forServe && !dev {
		for _, env := range []string{"KAGI_SMTP_URL", "KAGI_MAIL_FROM"} {
			if raw[env] == "" {
				missing = append(missing, env)
			}
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing settings: %s", strings.Join(missing, ", ")))
	}

	c := &config{Dev: dev, DatabaseURL: raw["DATABASE_URL"], Listen: raw["KAGI_LISTEN"], TwilioAuthToken: raw["TWILIO_AUTH_TOKEN"]}
	switch raw["KAGI_DB_POOLER"] {
	case "":
	case "transaction":
		c.Pooler = pgdb.TransactionPooler
	default:
		errs = append(errs, fmt.Errorf("KAGI_DB_POOLER %q must be empty (direct) or transaction", raw["KAGI_DB_POOLER"]))
	}
	var err error
	if c.PublicURL, err = origin("KAGI_PUBLIC_URL", raw["KAGI_PUBLIC_URL"], "https://login.example.jp", dev, p == forServe,
		"the /dev/ pages show every texted code and every mail to whoever reaches them"); err != nil {
		errs = append(errs, err)
	}
	if c.ConsoleURL, err = origin("KAGI_CONSOLE_URL", raw["KAGI_CONSOLE_URL"], "https://console.example.jp", dev, p == forServe,
		"the console of --dev is for this machine's developer alone"); err != nil {
		errs = append(errs, err)
	}
	if c.APIKeys, c.BareAPIKeys, err = web.ParseServiceKeys(raw["KAGI_API_KEYS"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_API_KEYS: %w", err))
	}
	if v := raw["KAGI_PIN_KEY"]; v != "" {
		if len(v) < 32 {
			errs = append(errs, errors.New("KAGI_PIN_KEY must be at least 32 characters"))
		}
		c.PINKey = []byte(v)
	}
	c.RPID = raw["KAGI_RP_ID"]
	if c.RPID == "" && c.PublicURL != nil {
		c.RPID = c.PublicURL.Hostname()
	}
	errs = append(errs, c.loadApps(raw, dev)...)
	if c.ConsoleURL != nil && c.PublicURL != nil {
		switch {
		case c.ConsoleURL.String() == c.PublicURL.String():
			errs = append(errs, fmt.Errorf("KAGI_CONSOLE_URL %q must differ from KAGI_PUBLIC_URL: the console is not on the customers' site (§6)", c.ConsoleURL))
		case !dev && p == forServe && strings.EqualFold(c.ConsoleURL.Hostname(), c.RPID):
			// In --dev both are localhost, told apart by their port alone.
			errs = append(errs, fmt.Errorf("KAGI_CONSOLE_URL %q must have a host of its own, not the customers' relying party %q: "+
				"the console's host is the staff passkeys' RP ID (§6)", c.ConsoleURL, c.RPID))
		}
	}
	c.CreatePlatforms = splitList(raw["KAGI_PASSKEY_CREATE_PLATFORMS"])
	for _, p := range c.CreatePlatforms {
		if p != "ios" && p != "android" && p != "any" {
			errs = append(errs, fmt.Errorf("KAGI_PASSKEY_CREATE_PLATFORMS: unknown platform %q (ios, android or any)", p))
		}
	}
	d, err := time.ParseDuration(raw["KAGI_FALLBACK_WINDOW"])
	if err != nil || d < time.Minute || d > 24*time.Hour {
		errs = append(errs, fmt.Errorf("KAGI_FALLBACK_WINDOW %q must be a duration between 1m and 24h", raw["KAGI_FALLBACK_WINDOW"]))
	}
	c.FallbackWindow = d
	if c.SessionIdle, err = time.ParseDuration(raw["KAGI_SESSION_IDLE"]); err != nil || c.SessionIdle < time.Minute || c.SessionIdle > 12*time.Hour {
		errs = append(errs, fmt.Errorf("KAGI_SESSION_IDLE %q must be a duration between 1m and 12h", raw["KAGI_SESSION_IDLE"]))
	}
	c.AdminListen = raw["KAGI_ADMIN_LISTEN"]
	if c.AdminListen == c.Listen {
		errs = append(errs, fmt.Errorf("KAGI_ADMIN_LISTEN %q must differ from KAGI_LISTEN: /metrics is never served publicly", c.AdminListen))
	}
	c.ConsoleListen = raw["KAGI_CONSOLE_LISTEN"]
	// Port 0 takes a free port each time, so two such addresses never clash.
	if !strings.HasSuffix(c.ConsoleListen, ":0") && (c.ConsoleListen == c.Listen || c.ConsoleListen == c.AdminListen) {
		errs = append(errs, fmt.Errorf("KAGI_CONSOLE_LISTEN %q must differ from KAGI_LISTEN and KAGI_ADMIN_LISTEN: the console has a listener of its own", c.ConsoleListen))
	}
	if c.ShutdownDelay, err = time.ParseDuration(raw["KAGI_SHUTDOWN_DELAY"]); err != nil || c.ShutdownDelay < 0 || c.ShutdownDelay > time.Minute {
		errs = append(errs, fmt.Errorf("KAGI_SHUTDOWN_DELAY %q must be a duration between 0s and 1m", raw["KAGI_SHUTDOWN_DELAY"]))
	}
	if c.TrustedProxies, err = trustedProxies(raw["KAGI_TRUSTED_PROXIES"], p == forServe && !dev); err != nil {
		errs = append(errs, err)
	}
	for _, l := range []struct {
		env string
		dst *auth.ClientLimit
	}{
		{"KAGI_LIMIT_PASSKEY_FINISH", &c.ClientLimits.PasskeyFinish},
		{"KAGI_LIMIT_PASSWORD_LOGIN", &c.ClientLimits.PasswordLogin},
		{"KAGI_LIMIT_EMAIL_CHECK", &c.ClientLimits.EmailCheck},
		{"KAGI_STAFF_READ_LIMIT", &c.StaffReadLimit},
	} {
		if *l.dst, err = auth.ParseClientLimit(raw[l.env]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.env, err))
		}
	}
	if raw["KAGI_STAFF_READ_LIMIT"] == "0" {
		// A stolen staff session must not walk the whole customer base: this one stays on.
		errs = append(errs, errors.New("KAGI_STAFF_READ_LIMIT cannot be switched off: give reads per period, such as 300/1h"))
	}
	if c.StaffAuthenticators, err = staffAuthenticators(raw["KAGI_STAFF_AAGUIDS"], raw["KAGI_STAFF_METADATA"]); err != nil {
		errs = append(errs, err)
	}
	if v := raw["KAGI_RECOVERY_HOLD"]; v == "0" {
		c.RecoveryHold = 0
	} else if h, err := time.ParseDuration(v); err != nil || h < 0 || h > 90*24*time.Hour {
		errs = append(errs, fmt.Errorf("KAGI_RECOVERY_HOLD %q must be a duration such as 72h (at most 2160h), or 0 for no hold", v))
	} else {
		c.RecoveryHold = h
	}
	c.ExpirySchedule = raw["KAGI_EXPIRY_SCHEDULE"]
	if err := recovery.ValidateSchedule(c.ExpirySchedule); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_EXPIRY_SCHEDULE %q is not a cron spec (such as \"@every 1m\" or \"0 */5 * * * *\"): %v", c.ExpirySchedule, err))
	}
	c.IVRVoice = raw["KAGI_IVR_VOICE"]
	c.VoiceLineNumber = raw["KAGI_VOICE_LINE_NUMBER"]
	if v := c.VoiceLineNumber; v != "" && !dialledNumber.MatchString(v) {
		errs = append(errs, fmt.Errorf("KAGI_VOICE_LINE_NUMBER %q must be a phone number as customers dial it, such as 0120-123-456", v))
	}
	if c.BrandName, err = brandName(raw["KAGI_BRAND_NAME"], dev, p == forServe && !dev); err != nil {
		errs = append(errs, err)
	}
	c.OperatorNumber = raw["KAGI_OPERATOR_NUMBER"]
	if c.OperatorNumber != "" && !auth.ValidPhone(c.OperatorNumber) {
		errs = append(errs, fmt.Errorf("KAGI_OPERATOR_NUMBER %q is not an E.164 number", c.OperatorNumber))
	}
	if cal, err := hours.Load(raw["KAGI_SUPPORT_CALENDAR"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_SUPPORT_CALENDAR: %w", err))
	} else {
		c.Calendar = cal
	}
	if c.SupportEnabled, err = parseSwitch(raw["KAGI_SUPPORT_ENABLED"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_SUPPORT_ENABLED: %w", err))
	}
	if c.SendLimits, err = recovery.ParseSendLimits(raw["KAGI_SECOND_CHANNEL_LIMIT"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_SECOND_CHANNEL_LIMIT: %w", err))
	}
	c.SecondFactor = recovery.SecondFactor(raw["KAGI_IVR_SECOND_FACTOR"])
	switch c.SecondFactor {
	case "", recovery.SecondFactorNone, recovery.SecondFactorSMS, recovery.SecondFactorCallback, recovery.SecondFactorAuto:
	default:
		errs = append(errs, fmt.Errorf("KAGI_IVR_SECOND_FACTOR %q must be auto, sms, callback or none", c.SecondFactor))
	}
	errs = append(errs, c.loadNotify(raw, dev)...)
	switch {
	case c.SecondFactor == "" && (c.Twilio != nil || dev):
		c.SecondFactor = recovery.SecondFactorAuto
	case c.SecondFactor == "" && p == forServe:
		errs = append(errs, errors.New("KAGI_IVR_SECOND_FACTOR must be set outside --dev when Twilio Messaging is not configured: "+
			"set TWILIO_ACCOUNT_SID and KAGI_SMS_FROM for a second channel, or KAGI_IVR_SECOND_FACTOR=none to accept "+
			"that the voice line opens a window on account number, PIN and caller ID alone (caller ID can be forged)"))
	case c.SecondFactor == "":
		// The command-line tools answer no call.
		c.SecondFactor = recovery.SecondFactorNone
	case c.SecondFactor != recovery.SecondFactorNone && c.Twilio == nil && !dev:
		errs = append(errs, fmt.Errorf("KAGI_IVR_SECOND_FACTOR=%s texts or calls the registered phone through Twilio: set TWILIO_ACCOUNT_SID and KAGI_SMS_FROM", c.SecondFactor))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// loadApps reads the settings of the relying party's origins, of the apps and sites that share
// it (§11.6), and of the OpenID Provider (§11.1, §11.2). Each is opt-in, so its problems are
// refused in every mode, --dev too.
func (c *config) loadApps(raw map[string]string, dev bool) []error {
	var errs []error
	var err error
	if c.Apps.RelatedOrigins, err = auth.ParseRelatedOrigins(raw["KAGI_RELATED_ORIGINS"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_RELATED_ORIGINS: %w", err))
	}
	if c.Apps.AndroidApps, err = auth.ParseAndroidApps(raw["KAGI_ANDROID_APPS"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_ANDROID_APPS: %w", err))
	}
	if c.Apps.AppleAppIDs, err = auth.ParseAppleAppIDs(raw["KAGI_APPLE_APP_IDS"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_APPLE_APP_IDS: %w", err))
	}
	for _, o := range splitList(raw["KAGI_RP_ORIGINS"]) {
		if rest, ok := strings.CutPrefix(o, androidOriginPrefix); ok {
			if h, err := base64.RawURLEncoding.DecodeString(rest); err != nil || len(h) != sha256.Size {
				errs = append(errs, fmt.Errorf("KAGI_RP_ORIGINS: %q must be %s and the base64url (unpadded) SHA-256 of the app's signing certificate", o, androidOriginPrefix))
				continue
			}
			c.RPOpaqueOrigins = append(c.RPOpaqueOrigins, o)
			continue
		}
		u, err := url.Parse(o)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			errs = append(errs, fmt.Errorf("KAGI_RP_ORIGINS: %q is neither an origin such as https://login.example.jp nor %s…", o, androidOriginPrefix))
		case u.Scheme == "http" && !dev:
			errs = append(errs, fmt.Errorf("KAGI_RP_ORIGINS: %q must use https outside --dev", o))
		default:
			c.RPOrigins = append(c.RPOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	if len(c.RPOrigins) == 0 && c.PublicURL != nil {
		c.RPOrigins = []string{c.PublicURL.String()}
	}
	// A related site runs its ceremonies on the customers' RP ID: its origin must be accepted.
	for _, o := range c.Apps.RelatedOrigins {
		if !slices.Contains(c.RPOrigins, o) {
			c.RPOrigins = append(c.RPOrigins, o)
		}
	}
	if len(c.RPOpaqueOrigins) > 0 && len(c.RPOrigins) > 0 {
		// With an app's origin, go-webauthn holds the web origins to what a related origins
		// document can declare: say so now, with the other problems.
		if _, err := protocol.NewRelatedOrigins(c.RPOrigins...); err != nil {
			errs = append(errs, fmt.Errorf("KAGI_RP_ORIGINS with KAGI_RELATED_ORIGINS: %w", err))
		}
	}
	if c.OIDCClients, err = openid.LoadClients(raw["KAGI_OIDC_CLIENTS"]); err != nil {
		errs = append(errs, fmt.Errorf("KAGI_OIDC_CLIENTS: %w", err))
	}
	if c.OIDCKeyRotation, err = time.ParseDuration(raw["KAGI_OIDC_KEY_ROTATION"]); err != nil || c.OIDCKeyRotation < time.Hour || c.OIDCKeyRotation > 8760*time.Hour {
		errs = append(errs, fmt.Errorf("KAGI_OIDC_KEY_ROTATION %q must be a duration between 1h and 8760h, such as 720h", raw["KAGI_OIDC_KEY_ROTATION"]))
	}
	return errs
}

// androidOriginPrefix starts the origin an Android app's passkey ceremonies carry.
const androidOriginPrefix = protocol.OpaqueOriginPrefixAndroidAPKKeyHash

// loadNotify reads the settings of §7 and §2.12: mail, SMS, the email check and login notices.
func (c *config) loadNotify(raw map[string]string, dev bool) []error {
	var errs []error
	if v := raw["KAGI_SMTP_URL"]; v != "" {
		smtp, err := notify.ParseSMTPURL(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("KAGI_SMTP_URL: %w", err))
		} else {
			// Outside --dev an smtp:// relay must offer STARTTLS (§7): no mail, and no password,
			// goes over a connection anyone on the way can read.
			smtp.RequireTLS = !dev && !smtp.ImplicitTLS
			c.SMTP = &smtp
		}
	}
	c.MailFrom = raw["KAGI_MAIL_FROM"]
	if c.MailFrom == "" && dev {
		c.MailFrom = devMailFrom
	}
	if c.MailFrom != "" {
		from, err := notify.ParseMailFrom(c.MailFrom)
		if err != nil {
			errs = append(errs, fmt.Errorf("KAGI_MAIL_FROM: %w", err))
		}
		c.MailFrom = from
	}
	sid, from := raw["TWILIO_ACCOUNT_SID"], raw["KAGI_SMS_FROM"]
	switch {
	case sid != "" && from != "":
		c.Twilio = &notify.TwilioConfig{AccountSID: sid, AuthToken: c.TwilioAuthToken, From: from, APIURL: raw["KAGI_TWILIO_API_URL"]}
	case sid != "" || from != "":
		errs = append(errs, errors.New("texts need both TWILIO_ACCOUNT_SID and KAGI_SMS_FROM (Twilio Messaging, with TWILIO_AUTH_TOKEN)"))
	}
	for _, f := range []struct {
		env string
		dst *bool
	}{{"KAGI_EMAIL_CHECK", &c.EmailCheck}, {"KAGI_LOGIN_NOTICE", &c.LoginNotice}} {
		on, err := parseSwitch(raw[f.env])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.env, err))
		}
		*f.dst = on
	}
	return errs
}

// brandName reads KAGI_BRAND_NAME, trimmed: one short line of plain text, never anything a
// reader could take for a link, since it opens every text (SPEC §7: no text holds a link).
func brandName(v string, dev, required bool) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && dev:
		return devBrandName, nil
	case v == "" && required:
		return "", errors.New("KAGI_BRAND_NAME must be set outside --dev: every text and call back opens with the " +
			"brokerage's name (such as デモ証券), so that the customer knows who it is from")
	case v == "":
		return "", nil
	case !utf8.ValidString(v) || utf8.RuneCountInString(v) > brandNameMax:
		return "", fmt.Errorf("KAGI_BRAND_NAME %q must be at most %d characters: it opens every text", v, brandNameMax)
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) }):
		return "", fmt.Errorf("KAGI_BRAND_NAME %q must be one line of visible text", v)
	case notify.ContainsLink(v):
		return "", fmt.Errorf("KAGI_BRAND_NAME %q looks like a link or an address: it opens every text, and no text of kagi's holds one", v)
	}
	return v, nil
}

// origin reads an origin setting (KAGI_PUBLIC_URL, KAGI_CONSOLE_URL): http(s), a host, no path;
// https outside --dev; with --dev, for the server, on this machine alone (why says what would
// be exposed otherwise). Nil without a value, which the caller reports as missing.
func origin(env, v, example string, dev, serve bool, why string) (*url.URL, error) {
	if v == "" {
		return nil, nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/"):
		return nil, fmt.Errorf("%s %q must be an http(s) origin such as %s", env, v, example)
	case u.Scheme == "http" && !dev:
		return nil, fmt.Errorf("%s must use https outside --dev", env)
	case dev && serve && !onLoopback(u.Hostname()):
		return nil, fmt.Errorf("%s %q must be on this machine with --dev (localhost, 127.0.0.0/8 or ::1): %s", env, v, why)
	}
	u.Path = ""
	return u, nil
}

// onLoopback reports whether host names this machine alone: localhost or a loopback address.
func onLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// trustedProxies reads KAGI_TRUSTED_PROXIES: "none", or the CIDRs and addresses of the proxies
// in front of kagi. A server outside --dev must be told which: left unset behind a load
// balancer, every client would have the balancer's address.
func trustedProxies(v string, required bool) (web.TrustedProxies, error) {
	v = strings.TrimSpace(v)
	switch {
	case strings.EqualFold(v, "none"):
		return nil, nil
	case len(splitList(v)) == 0 && required:
		return nil, errors.New("KAGI_TRUSTED_PROXIES must be set outside --dev: none when kagi faces clients directly, " +
			"else the CIDRs of the load balancers in front of it — behind a load balancer every client would have its " +
			"address, and every per-address limit would become one limit for the whole brokerage")
	}
	tp, err := web.ParseTrustedProxies(v)
	if err != nil {
		return nil, fmt.Errorf("KAGI_TRUSTED_PROXIES (none, or CIDRs and addresses): %w", err)
	}
	return tp, nil
}

// parseSwitch reads an on/off setting.
func parseSwitch(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "true", "1":
		return true, nil
	case "off", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q must be on or off (true or false)", v)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func listenPort(listen string) string {
	if i := strings.LastIndex(listen, ":"); i >= 0 {
		return listen[i:]
	}
	return ":8080"
}

// devSecrets returns the development secrets, generating and saving them on first use.
func devSecrets() (map[string]string, error) {
	b, err := os.ReadFile(devSecretsFile)
	if err == nil {
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", devSecretsFile, err)
		}
		return m, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	m := map[string]string{}
	for _, s := range settings {
		if s.secret {
			var r [24]byte
			if _, err := rand.Read(r[:]); err != nil {
				return nil, err
			}
			m[s.env] = "dev-" + hex.EncodeToString(r[:])
		}
	}
	if err := os.MkdirAll(filepath.Dir(devSecretsFile), 0o700); err != nil {
		return nil, err
	}
	b, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(devSecretsFile, b, 0o600); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "kagi: generated development secrets in %s:\n%s\n", devSecretsFile, b)
	return m, nil
}

// staffAuthenticators reads the allow-list of staff authenticator models (§6): the AAGUIDs of
// KAGI_STAFF_AAGUIDS, each with its FIDO metadata statement from the file KAGI_STAFF_METADATA
// (a JSON array of MDS3 statements, as the FIDO MDS publishes them per model), whose
// attestation roots prove the model at enrollment. Both unset: no allow-list. The list is
// opt-in, so its problems are refused in every mode, --dev too, all of them at once.
func staffAuthenticators(aaguids, path string) ([]metadata.Statement, error) {
	var ids []uuid.UUID
	var errs []error
	for _, s := range strings.Split(aaguids, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		id, err := uuid.Parse(s)
		if err != nil || id.String() != strings.ToLower(s) {
			errs = append(errs, fmt.Errorf("KAGI_STAFF_AAGUIDS: %q is not an AAGUID in the canonical UUID form, such as 08987058-cadc-4b81-b6e1-30de50dcbe96", s))
			continue
		}
		if id == uuid.Nil {
			errs = append(errs, errors.New("KAGI_STAFF_AAGUIDS: the all-zero AAGUID names no model"))
			continue
		}
		ids = append(ids, id)
	}
	switch {
	case strings.TrimSpace(aaguids) == "" && path == "":
		return nil, nil
	case strings.TrimSpace(aaguids) == "":
		return nil, errors.New("KAGI_STAFF_METADATA is set but KAGI_STAFF_AAGUIDS is not: list the AAGUIDs of the models staff may enroll")
	case len(ids) == 0 && len(errs) == 0:
		return nil, errors.New("KAGI_STAFF_AAGUIDS lists no AAGUID: give the models staff may enroll, or unset it")
	case path == "":
		return nil, errors.Join(append(errs, errors.New("KAGI_STAFF_AAGUIDS needs KAGI_STAFF_METADATA: a file of the models' FIDO metadata statements, "+
			"whose attestation roots prove a key is of a listed model (an AAGUID alone is the key's own claim)"))...)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("KAGI_STAFF_METADATA: %w", err))...)
	}
	var raw []metadata.StatementJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("KAGI_STAFF_METADATA %s: not a JSON array of metadata statements: %w", path, err))...)
	}
	byAAGUID := map[uuid.UUID]metadata.Statement{}
	for i, j := range raw {
		st, err := j.Parse()
		if err != nil {
			errs = append(errs, fmt.Errorf("KAGI_STAFF_METADATA %s: statement %d: %w", path, i+1, err))
			continue
		}
		if st.AaGUID != uuid.Nil {
			byAAGUID[st.AaGUID] = st
		}
	}
	var out []metadata.Statement
	for _, id := range ids {
		st, ok := byAAGUID[id]
		if !ok {
			errs = append(errs, fmt.Errorf("KAGI_STAFF_AAGUIDS: %s has no metadata statement in KAGI_STAFF_METADATA %s", id, path))
			continue
		}
		if len(st.AttestationRootCertificates) == 0 {
			errs = append(errs, fmt.Errorf("KAGI_STAFF_METADATA %s: the statement of %s has no attestationRootCertificates", path, id))
			continue
		}
		if !st.AttestationTypes.HasCertificateTrustPath() {
			errs = append(errs, fmt.Errorf("KAGI_STAFF_METADATA %s: the statement of %s names no attestation type with a certificate chain (basic_full, attca or anonca)", path, id))
			continue
		}
		out = append(out, st)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
