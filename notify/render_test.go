package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb/pgtest"
)

const (
	testSender = "noreply@notice.example.co.jp"
	testBrand  = "デモ証券"
)

// faqNoLink is the brokerage FAQ's warning that passkey emails never carry a link.
const faqNoLink = "当社からのパスキー関連メールには、パスキー設定ページへのリンクは一切ありません。\n" +
	"リンクがあるメールは全てフィッシング詐欺です。絶対にクリックしないでください。"

var (
	testAt    = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) // 19:00 in Tokyo
	testUntil = testAt.Add(30 * time.Minute)
)

// testEvent is an ordinary event of kind k, with every fact its message may state.
func testEvent(k Kind) Event {
	ev := Event{Kind: k, At: testAt, Name: "山田 太郎", Recovery: true}
	switch k {
	case KindLogin:
		ev.Method = "passkey"
	case KindWindowOpened, KindWindowLogin:
		ev.Channel = ChannelIVR
		ev.Until = testUntil
	case KindEmailCheck:
		ev.Emoji = "🐧"
		ev.Until = testAt.Add(5 * time.Minute)
	case KindPasskeyCreated, KindPasskeyReplaced, KindPasskeyDeleted:
		ev.Provider = "iCloud キーチェーン"
	case KindVoiceLockout, KindPasswordPaused:
		ev.Until = testAt.Add(24 * time.Hour)
	case KindPasswordPauseLifted:
		ev.Channel = ChannelIVR
	case KindPasskeyAdded:
		ev.Provider = "Google パスワードマネージャー"
		ev.Until = testAt.Add(72 * time.Hour)
	case KindContactChanged:
		ev.Contacts = []string{ContactEmail, ContactPhones}
		ev.Until = testAt.Add(72 * time.Hour)
	}
	return ev
}

// eventWith is testEvent(k) changed by change.
func eventWith(k Kind, change func(*Event)) Event {
	ev := testEvent(k)
	change(&ev)
	return ev
}

// footerEnd is how every email ends, signed with the brand when there is one.
func footerEnd(brand string) string {
	if brand != "" {
		brand += "\n"
	}
	return "\n――――――――――――――――――――\n" + brand + "このメールは送信専用です。ご返信いただいてもお答えできませんので、ご了承ください。\n"
}

// mustBeClean fails t when a rendered email shows a link or an address anywhere, the sender's
// included, or lacks its fixed footer.
func mustBeClean(t *testing.T, msg Message) {
	t.Helper()
	if ContainsLink(msg.Subject) {
		t.Errorf("subject is link-like: %q", msg.Subject)
	}
	if ContainsLink(msg.Body) || strings.Contains(msg.Body, "@") || strings.Contains(msg.Body, "送信元") {
		t.Errorf("body is link-like or names an address:\n%s", msg.Body)
	}
	if !strings.HasSuffix(msg.Body, footerEnd(testBrand)) {
		t.Errorf("body does not end with the footer:\n%s", msg.Body)
	}
}

func TestRenderEmailEveryKind(t *testing.T) {
	cases := []struct {
		name   string
		ev     Event
		want   []string
		notYou bool
	}{
		{"login with passkey", testEvent(KindLogin), []string{"ログイン方法：パスキー"}, true},
		{"login with password", eventWith(KindLogin, func(ev *Event) { ev.Method = "password" }),
			[]string{"ログイン方法：ログインID・パスワード"}, true},
		{"window login", testEvent(KindWindowLogin), []string{"2026年11月25日 19:30まで", "パスキーを再作成"}, true},
		{"email check", testEvent(KindEmailCheck), []string{"絵文字：🐧", "2026年11月25日 19:05まで", "ログイン画面",
			"パスワードを知っているおそれ", "パスワードを変更", "サポート窓口までお電話"}, false},
		{"passkey created", testEvent(KindPasskeyCreated), []string{"パスキーが作成されました", "iCloud キーチェーン"}, true},
		{"passkey created, provider unknown", eventWith(KindPasskeyCreated, func(ev *Event) { ev.Provider = "" }),
			[]string{"パスキーが作成されました"}, true},
		{"passkey replaced", testEvent(KindPasskeyReplaced), []string{"パスキーが再作成されました", "iCloud キーチェーン"}, true},
		{"passkey deleted by a recovery", testEvent(KindPasskeyDeleted), []string{"パスキーが削除されました", "本人確認のお手続き"}, true},
		{"passkey deleted by its owner", eventWith(KindPasskeyDeleted, func(ev *Event) { ev.Recovery = false }),
			[]string{"パスキーが削除されました"}, true},
		{"window opened by the voice line", testEvent(KindWindowOpened),
			[]string{"受付窓口：自動音声ダイヤル", "利用期限：2026年11月25日 19:30まで"}, true},
		{"window opened by an operator", eventWith(KindWindowOpened, func(ev *Event) { ev.Channel = ChannelOperator }),
			[]string{"受付窓口：サポート窓口", "利用期限：2026年11月25日 19:30まで"}, true},
		{"voice lockout", testEvent(KindVoiceLockout),
			[]string{"停止期限：2026年11月26日 19:00まで", "平日 8:30〜17:00、土日 9:00〜17:00", "サポート窓口までお電話"}, true},
		{"window closed by the support desk", testEvent(KindWindowClosed),
			[]string{"受付を終了しました", "終了日時：2026年11月25日 19:00", "パスキーが必要"}, true},
		{"voice lockout cleared by the support desk", testEvent(KindVoiceLockoutCleared),
			[]string{"ご利用停止を解除しました", "解除日時：2026年11月25日 19:00"}, true},
		{"password paused", testEvent(KindPasswordPaused), []string{
			"ログイン追加認証", "3回", "ログインID・パスワードによるログインを一時的に停止",
			"停止期限：2026年11月26日 19:00まで", "パスキーでのログインは、これまでどおりご利用いただけます",
			"停止期限を過ぎると再びご利用いただけます", "自動音声ダイヤルにお電話いただき、本人確認が完了すると、期限前でも停止を解除",
			"自動音声ダイヤルの電話番号は、このメールには記載しておりません", "ログイン画面", "お手元の書類",
			"第三者がお客様のパスワードを知っているおそれ", "パスワードを変更", "サポート窓口までお電話", faqNoLink}, false},
		{"password pause lifted by a verified call", testEvent(KindPasswordPauseLifted),
			[]string{"自動音声ダイヤルでのお手続きにより", "一時停止を解除しました", "解除窓口：自動音声ダイヤル", "解除日時：2026年11月25日 19:00"}, true},
		{"password pause lifted by the support desk", eventWith(KindPasswordPauseLifted, func(ev *Event) { ev.Channel = ChannelOperator }),
			[]string{"サポート窓口でのお手続きにより", "一時停止を解除しました", "解除窓口：サポート窓口"}, true},
		{"first passkey added from a password session", testEvent(KindPasskeyAdded), []string{
			"初めてのパスキーが作成されました", "作成日時：2026年11月25日 19:00", "パスキー保存先：Google パスワードマネージャー",
			"以降のログインはすべてパスキー認証に切り替わります", "出金と出金先の金融機関口座の変更は、2026年11月28日 19:00までお受けできません"}, true},
		{"first passkey added, provider unknown", eventWith(KindPasskeyAdded, func(ev *Event) { ev.Provider = "" }),
			[]string{"初めてのパスキーが作成されました", "2026年11月28日 19:00まで"}, true},
		{"call back declined", testEvent(KindCallbackDeclined), []string{
			"口座番号と暗証番号で、自動音声ダイヤルへのお電話がありました", "折り返しお電話", "お心当たりがない",
			"一時的なログインは受け付けておりません", "暗証番号を知っているおそれ", "至急、サポート窓口までお電話でご連絡ください",
			"このメールには記載しておりません", "1以外のボタン", faqNoLink}, false},
		{"password changed", testEvent(KindPasswordChanged), []string{
			"ログインパスワードが変更されました", "ほかの端末やブラウザーでのログインはすべて終了しました",
			"変更日時：2026年11月25日 19:00"}, true},
		{"contacts changed by the back office", testEvent(KindContactChanged), []string{
			"ご登録内容（メールアドレス・電話番号）を変更", "変更前と変更後のご連絡先の両方", "変更日時：2026年11月25日 19:00",
			"出金と出金先の金融機関口座の変更は、2026年11月28日 19:00までお受けできません"}, true},
		{"name changed by the back office", eventWith(KindContactChanged, func(ev *Event) {
			ev.Contacts, ev.Until = []string{ContactName}, time.Time{}
		}), []string{"ご登録内容（お名前）を変更", "変更内容：お名前"}, true},
		{"password set by the brokerage", testEvent(KindPasswordReset), []string{
			"パスワードを再設定", "以前のパスワードは、ご利用いただけなくなりました", "書面", "すべての端末でログアウト",
			"再設定日時：2026年11月25日 19:00"}, true},
		{"account suspended", testEvent(KindAccountSuspended), []string{
			"口座のご利用を停止", "いずれでもログインできません", "自動音声ダイヤル", "すべての端末で、ログアウト",
			"停止日時：2026年11月25日 19:00", "サポート窓口までお電話でお問い合わせください", "このメールには記載しておりません", faqNoLink}, false},
		{"account resumed", testEvent(KindAccountResumed), []string{"ご利用停止を解除", "再開日時：2026年11月25日 19:00"}, true},
	}
	covered := map[Kind]bool{}
	for _, c := range cases {
		covered[c.ev.Kind] = true
		t.Run(c.name, func(t *testing.T) {
			msg, err := RenderEmail(c.ev, testBrand)
			if err != nil {
				t.Fatalf("RenderEmail: %v", err)
			}
			mustBeClean(t, msg)
			if msg.Subject == "" || strings.ContainsAny(msg.Subject, "\r\n") {
				t.Errorf("subject %q is not one line", msg.Subject)
			}
			want := append([]string{"山田 太郎様\n", "2026年11月25日 19:00"}, c.want...)
			if c.notYou {
				want = append(want, "お心当たりがない場合", "サポート窓口までお電話でご連絡ください", faqNoLink)
			}
			for _, w := range want {
				if !strings.Contains(msg.Body, w) {
					t.Errorf("body lacks %q:\n%s", w, msg.Body)
				}
			}
			if !strings.HasPrefix(msg.Body, "山田 太郎様\n") {
				t.Errorf("body does not open with the name:\n%s", msg.Body)
			}
		})
	}
	for _, k := range Kinds {
		if !covered[k] {
			t.Errorf("kind %s has no case", k)
		}
	}
}

// SMS lengths: one message holds 70 characters of Japanese; a longer text goes as parts of 67.
const (
	smsOne = 70
	smsTwo = 2 * 67
)

func TestRenderSMSEveryTextedKind(t *testing.T) {
	want := map[Kind][]string{
		KindWindowOpened:        {"自動音声ダイヤル", "11月25日 19:30まで"},
		KindPasskeyReplaced:     {"11月25日 19:00", "再作成"},
		KindPasskeyDeleted:      {"11月25日 19:00", "削除"},
		KindVoiceLockout:        {"11月26日 19:00まで", "自動音声ダイヤル"},
		KindVoiceLockoutCleared: {"11月25日 19:00", "解除"},
		KindPasswordPaused:      {"ログイン追加認証", "11月26日 19:00まで", "ID・パスワードでのログインを停止", "パスキーは使えます", "自動音声ダイヤル", "パスワード漏えい"},
		KindPasswordPauseLifted: {"自動音声ダイヤルの手続き", "ログイン停止が解除"},
		KindPasskeyAdded:        {"11月25日 19:00", "パスキーが作成", "出金・出金先の変更は11月28日 19:00まで停止"},
		KindPasswordChanged:     {"11月25日 19:00", "パスワードが変更"},
		KindContactChanged:      {"11月25日 19:00", "メールアドレス・電話番号が変更", "出金・出金先の変更は11月28日 19:00まで停止"},
		KindPasswordReset:       {"11月25日 19:00", "パスワードが再設定", "ログアウト"},
	}
	// The texts that fit one message beside a brand's name of four characters.
	oneMessage := map[Kind]bool{KindPasskeyReplaced: true, KindPasskeyDeleted: true, KindVoiceLockoutCleared: true,
		KindPasswordPauseLifted: true, KindPasswordChanged: true}
	for _, k := range Kinds {
		ev := testEvent(k)
		t.Run(string(k), func(t *testing.T) {
			body, err := RenderSMS(ev, testBrand)
			if !ev.Texted() {
				if err == nil {
					t.Fatalf("RenderSMS of an untexted kind = %q, want an error", body)
				}
				return
			}
			if err != nil {
				t.Fatalf("RenderSMS: %v", err)
			}
			if ContainsLink(body) {
				t.Errorf("SMS is link-like: %q", body)
			}
			if !strings.HasPrefix(body, "【デモ証券】") {
				t.Errorf("SMS does not open with the brokerage's name: %q", body)
			}
			limit := smsTwo
			if oneMessage[k] {
				limit = smsOne
			}
			if n := utf8.RuneCountInString(body); n > limit {
				t.Errorf("SMS is %d characters, more than %d: %q", n, limit, body)
			}
			for _, w := range append(want[k], "心当たりがなければ", "サポート窓口へお電話ください") {
				if !strings.Contains(body, w) {
					t.Errorf("SMS lacks %q: %q", w, body)
				}
			}
			unbranded, err := RenderSMS(ev, "")
			if err != nil || "【デモ証券】"+unbranded != body {
				t.Errorf("without a brand: %q, %v; want the same text without its name", unbranded, err)
			}
		})
	}
	t.Run("window opened by an operator", func(t *testing.T) {
		ev := testEvent(KindWindowOpened)
		ev.Channel = ChannelOperator
		body, err := RenderSMS(ev, testBrand)
		if err != nil || !strings.HasPrefix(body, "【デモ証券】サポート窓口の手続きで") {
			t.Errorf("RenderSMS = %q, %v; want it to name the support desk", body, err)
		}
	})
}

// Emails are signed with the brokerage's name when it is configured, and end as before when not.
func TestRenderEmailSignsWithTheBrand(t *testing.T) {
	for _, brand := range []string{testBrand, ""} {
		for _, k := range Kinds {
			msg, err := RenderEmail(testEvent(k), brand)
			if err != nil {
				t.Fatalf("%s, brand %q: %v", k, brand, err)
			}
			if !strings.HasSuffix(msg.Body, footerEnd(brand)) {
				t.Errorf("%s, brand %q: body does not end with the footer:\n%s", k, brand, msg.Body)
			}
			if brand == "" && strings.Contains(msg.Body, testBrand) {
				t.Errorf("%s: an unbranded email names %s", k, testBrand)
			}
		}
	}
}

// A brand name that could not open a text or sign an email stops the outbox at start.
func TestNewChecksTheBrand(t *testing.T) {
	pool := pgtest.New(t, testSchema)
	audit := func(context.Context, pgx.Tx, int64, string, map[string]any) error { return nil }
	for _, tc := range []struct {
		brand string
		ok    bool
	}{
		{"デモ証券", true},
		{"", true},
		{"カギ証券株式会社", true},
		{"SBI証券", true},
		{"demo-sec.jp", false},
		{"デモ証券・jp", false},
		{"【デモ証券】", false},
		{"デモ\n証券", false},
		{" デモ証券", false},
		{"デモ\u200b証券", false},
		{strings.Repeat("デ", brandMax+1), false},
	} {
		_, err := New(Config{Pool: pool, Audit: audit, Brand: tc.brand})
		if (err == nil) != tc.ok {
			t.Errorf("New with brand %q: %v, want ok %v", tc.brand, err, tc.ok)
		}
	}
}

// hostileNames are display names that try to put a link into a notice or stop it.
var hostileNames = []string{
	"http://evil.example/login",
	"evil.com",
	"ｅｖｉｌ．ｃｏｍ",
	"a@b.jp",
	"exa\u200bmple.com",
	"evil。com",
	"example・com",
	"example˙com",
	"例え.jp",
	"xn--r8jz45g.jp",
	"192.168.0.1",
	"www.evil",
	"javascript:alert(1)",
	"hxxp://evil[.]com",
	"山田.太", // a link only once 「様」 follows
	"山田\n送信元: phish@evil.jp",
	"山田\u202e太郎",
	strings.Repeat("山", renderNameMax+1),
}

func TestRenderHostileNameIsReplaced(t *testing.T) {
	for _, name := range hostileNames {
		for _, k := range Kinds {
			ev := testEvent(k)
			ev.Name = name
			t.Run(string(k)+" "+name, func(t *testing.T) {
				msg, err := RenderEmail(ev, testBrand)
				if err != nil {
					t.Fatalf("RenderEmail: %v; a name must never stop a notice", err)
				}
				mustBeClean(t, msg)
				if !strings.HasPrefix(msg.Body, "お客様\n") {
					t.Errorf("body does not address お客様:\n%s", msg.Body)
				}
				if strings.Contains(msg.Body, name) {
					t.Errorf("body shows the hostile name:\n%s", msg.Body)
				}
			})
		}
	}
}

func TestRenderRefusesLinkInOtherFields(t *testing.T) {
	cases := []struct {
		name string
		ev   Event
	}{
		{"provider URL", eventWith(KindPasskeyCreated, func(ev *Event) { ev.Provider = "https://x.example" })},
		{"provider full-width domain", eventWith(KindPasskeyReplaced, func(ev *Event) { ev.Provider = "ｅｖｉｌ．ｃｏｍ" })},
		{"emoji domain", eventWith(KindEmailCheck, func(ev *Event) { ev.Emoji = "evil.com" })},
		{"emoji mailto", eventWith(KindEmailCheck, func(ev *Event) { ev.Emoji = "mailto:x" })},
		{"the sender's own address", eventWith(KindPasskeyDeleted, func(ev *Event) { ev.Provider = testSender })},
		{"a sender line as the old footer had", eventWith(KindPasskeyCreated, func(ev *Event) { ev.Provider = "iCloud\n送信元: " + testSender })},
		{"an address with a full-width at sign", eventWith(KindPasskeyCreated, func(ev *Event) { ev.Provider = "noreply＠notice" })},
		{"a domain with a katakana middle dot", eventWith(KindPasskeyReplaced, func(ev *Event) { ev.Provider = "notice・example・co・jp" })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, err := RenderEmail(c.ev, testBrand)
			if !errors.Is(err, ErrLinkLike) {
				t.Fatalf("RenderEmail = %v; want ErrLinkLike", err)
			}
			if msg != (Message{}) {
				t.Errorf("a refused render returned a message: %+v", msg)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	cases := []struct {
		name string
		ev   Event
		want error
	}{
		{"unknown kind", Event{Kind: "bogus", At: testAt, Name: "山田"}, errRenderUnknownKind},
		{"login without method", eventWith(KindLogin, func(ev *Event) { ev.Method = "" }), errRenderMissingFact},
		{"window without channel", eventWith(KindWindowOpened, func(ev *Event) { ev.Channel = "web" }), errRenderMissingFact},
		{"window without end", eventWith(KindWindowOpened, func(ev *Event) { ev.Until = time.Time{} }), errRenderMissingFact},
		{"email check without emoji", eventWith(KindEmailCheck, func(ev *Event) { ev.Emoji = " " }), errRenderMissingFact},
		{"lockout without end", eventWith(KindVoiceLockout, func(ev *Event) { ev.Until = time.Time{} }), errRenderMissingFact},
		{"password pause without end", eventWith(KindPasswordPaused, func(ev *Event) { ev.Until = time.Time{} }), errRenderMissingFact},
		{"pause lifted without channel", eventWith(KindPasswordPauseLifted, func(ev *Event) { ev.Channel = "" }), errRenderMissingFact},
		{"first passkey without the hold's end", eventWith(KindPasskeyAdded, func(ev *Event) { ev.Until = time.Time{} }), errRenderMissingFact},
		{"no time", eventWith(KindPasskeyCreated, func(ev *Event) { ev.At = time.Time{} }), errRenderMissingFact},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := RenderEmail(c.ev, testBrand)
			if !errors.Is(err, c.want) || !IsPermanent(err) {
				t.Errorf("RenderEmail = %v; want permanent %v", err, c.want)
			}
		})
	}
	if _, err := RenderSMS(Event{Kind: "bogus", At: testAt}, testBrand); !errors.Is(err, errRenderUnknownKind) {
		t.Errorf("RenderSMS of an unknown kind = %v; want errRenderUnknownKind", err)
	}
}

func TestContainsLink(t *testing.T) {
	links := []string{
		"http://evil.example/login",
		"HTTPS://EVIL.EXAMPLE",
		"hxxp://evil",
		"javascript:alert(1)",
		"mailto:x",
		"tel:0120000000",
		"//evil",
		"www.evil",
		"www。evil",
		"evil.com",
		"sub.example.co.jp",
		"ｅｖｉｌ．ｃｏｍ",
		"evil。com",
		"evil｡com",
		"evil・com",
		"evil·com",
		"evil[.]com",
		"exa\u200bmple.com",
		"exa\u00admple.com",
		"exa\u2060mple.com",
		"\ufeffevil.com",
		"ex\u0301ample.com",
		"例え.jp",
		"例え.コム",
		"xn--r8jz45g",
		"еvil.com", // Cyrillic е
		"𝐞𝐯𝐢𝐥.𝐜𝐨𝐦",
		"127.0.0.1",
		"１２７．０．０．１",
		"127。0。0。1",
		"a@b.jp",
		"a＠b",
		"localhost:8080",
		"ご確認はevil.comから",
	}
	for _, s := range links {
		if !ContainsLink(s) {
			t.Errorf("ContainsLink(%q) = false, want true", s)
		}
	}
	plain := []string{
		"",
		"山田 太郎様",
		"2026年11月25日 19:00",
		"19:00",
		"平日 8:30〜17:00、土日 9:00〜17:00",
		"ログインID・パスワード",
		"ご確認ください。ありがとうございます。",
		"1,234,567円",
		"3.14",
		"Ver.2",
		"e.g. U.S.A",
		"0120-123-456",
		"iCloud キーチェーン",
		"Google パスワードマネージャー",
		"🐧",
		"👨‍👩‍👧",
		"送信元: ",
		"iCloud Keychain (Managed)",
		"Microsoft Password Manager",
		"1Password",
	}
	for _, s := range plain {
		if ContainsLink(s) {
			t.Errorf("ContainsLink(%q) = true, want false", s)
		}
	}
}

// linkDots are the characters that pass for a dot between the labels of a host name.
var linkDots = []struct {
	name string
	dot  rune
}{
	{"ideographic full stop", '。'},
	{"half-width ideographic full stop", '｡'},
	{"vertical ideographic full stop", '︒'},
	{"full-width full stop", '．'},
	{"small full stop", '﹒'},
	{"one dot leader", '․'},
	{"katakana middle dot", '・'},
	{"half-width katakana middle dot", '･'},
	{"middle dot", '·'},
	{"Greek ano teleia", '\u0387'},
	{"hyphenation point", '‧'},
	{"bullet operator", '∙'},
	{"dot operator", '⋅'},
	{"bullet", '•'},
	{"word separator middle dot", '⸱'},
	{"raised dot", '⸳'},
	{"stenographic full stop", '⸼'},
	{"Latin letter sinological dot", 'ꞏ'},
	{"Hangul letter araea", 'ㆍ'},
	{"Hangul jungseong araea", 'ᆞ'},
	{"dot above", '˙'},
	{"modifier letter half triangular colon", 'ˑ'},
	{"Arabic full stop", '۔'},
	{"Lisu letter tone mya ti", 'ꓸ'},
	{"Vai full stop", '꘎'},
	{"runic single punctuation", '᛫'},
	{"Tibetan tsheg", '་'},
	{"Canadian syllabics final middle dot", 'ᐧ'},
	{"Z notation spot", '⦁'},
	{"Aegean word separator dot", '𐄁'},
}

// Every dot look-alike between labels makes a host name; none of them between the words of
// Japanese text, the way 「ログインID・パスワード」 writes 「・」, does.
func TestContainsLinkLookAlikeDots(t *testing.T) {
	hosts := []string{"example%ccom", "example%cコム", "example%cジェーピー", "例え%ccom", "notice%cexample%cco%cjp",
		"ご確認はevil%ccomから", "ＥＸＡＭＰＬＥ%cＣＯＭ", "exa\u200bmple%ccom", "еxample%cсom"}
	text := []string{"ログインID%cパスワード", "出金%c出金先の変更", "3%c14", "パスワード%cPIN", "iCloud キーチェーン%cパスワード",
		"e%cg", "ID%cネットワーク", "暗証番号%cPIN", "ID%cパスワード%c暗証番号", "スマホ%cネット"}
	fill := func(format string, dot rune) string {
		return strings.ReplaceAll(format, "%c", string(dot))
	}
	for _, d := range linkDots {
		t.Run(d.name, func(t *testing.T) {
			for _, h := range hosts {
				if s := fill(h, d.dot); !ContainsLink(s) {
					t.Errorf("ContainsLink(%q) = false, want true", s)
				}
			}
			for _, p := range text {
				if s := fill(p, d.dot); ContainsLink(s) && !strings.ContainsRune(".．﹒․", d.dot) {
					t.Errorf("ContainsLink(%q) = true, want false", s)
				}
			}
		})
	}
}

func TestRenderCodeSMS(t *testing.T) {
	until := testAt.Add(10 * time.Minute)
	body, err := RenderCodeSMS(testBrand, "042917", until)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"042917", "11月25日 19:10まで有効", // the code and until when
		"ログインID・パスワードでの一時的なログイン",                  // what it unlocks
		"当社や社員がこのコードを尋ねることはありません", "誰にも教えないでください", // nobody asks; tell nobody
		"お電話されていない場合は入力せず", "サポート窓口へご連絡ください", // not the caller: do not enter it
	} {
		if !strings.Contains(body, want) {
			t.Errorf("code SMS %q lacks %q", body, want)
		}
	}
	if !strings.HasPrefix(body, "【デモ証券】確認コード") {
		t.Errorf("code SMS %q does not open with the brokerage's name", body)
	}
	if n := utf8.RuneCountInString(body); ContainsLink(body) || n > smsTwo {
		t.Errorf("code SMS %q: a link, or %d characters, more than two messages", body, n)
	}
	if unbranded, err := RenderCodeSMS("", "042917", until); err != nil || "【デモ証券】"+unbranded != body {
		t.Errorf("without a brand: %q, %v", unbranded, err)
	}
	if _, err := RenderCodeSMS("evil.example", "042917", until); !errors.Is(err, ErrLinkLike) {
		t.Errorf("a link-like brand: %v, want ErrLinkLike", err)
	}
	for _, bad := range []string{"", "12", "12345a", "evil.com", "123456789"} {
		if _, err := RenderCodeSMS(testBrand, bad, until); err == nil {
			t.Errorf("code %q rendered", bad)
		}
	}
}

func TestRenderWindowOpenedSaysWhatConfirmedIt(t *testing.T) {
	msg, err := RenderEmail(eventWith(KindWindowOpened, func(ev *Event) { ev.ConfirmedBy = "sms" }), testBrand)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Body, "確認方法：ご登録の電話番号へのSMS(確認コード)") {
		t.Errorf("window mail does not say the SMS confirmed it:\n%s", msg.Body)
	}
	byCall, err := RenderEmail(eventWith(KindWindowOpened, func(ev *Event) { ev.ConfirmedBy = "callback" }), testBrand)
	if err != nil || !strings.Contains(byCall.Body, "確認方法：ご登録の電話番号への折り返しのお電話") {
		t.Errorf("window mail does not say the call back confirmed it: %v\n%s", err, byCall.Body)
	}
	plain, err := RenderEmail(testEvent(KindWindowOpened), testBrand)
	if err != nil || strings.Contains(plain.Body, "確認方法") {
		t.Errorf("without a second channel: %v\n%s", err, plain.Body)
	}
}
