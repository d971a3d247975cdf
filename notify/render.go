package notify

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ErrLinkLike is why a rendered message was not sent: its text holds something a reader or a
// mail client could take for a link (SPEC §7). The brokerage tells customers that a passkey
// email with a link is phishing, so a message with one must never go out, whatever put it there.
var ErrLinkLike = errors.New("notify: link-like text in a message")

// Render errors that no retry can mend; they are returned wrapped by Permanent.
var (
	errRenderUnknownKind = errors.New("notify: no template for this kind")
	errRenderMissingFact = errors.New("notify: the event lacks a fact its message states")
)

// renderJST is the zone of every time in customer text; Japan has no daylight saving time.
var renderJST = time.FixedZone("JST", 9*60*60)

// renderNameMax bounds a shown name: longer is not a name a brokerage registers.
const renderNameMax = 64

// renderTemplates holds every template of templates.go, parsed once: "subject:<kind>",
// "body:<kind>" and "sms:<kind>", beside the shared parts they call.
var renderTemplates = func() *template.Template {
	t := template.Must(template.New("shared").Option("missingkey=error").Parse(tmplShared))
	for k, e := range tmplEmail {
		template.Must(t.New("subject:" + string(k)).Parse(e.Subject))
		template.Must(t.New("body:" + string(k)).Parse(e.Body))
	}
	for k, s := range tmplSMS {
		template.Must(t.New("sms:" + string(k)).Parse(tmplSMSBrand + s))
	}
	template.Must(t.New("sms:code").Parse(tmplSMSBrand + tmplCodeSMS))
	return t
}()

// renderData is what a template is filled with: every value already in the words and layout
// the customer reads.
type renderData struct {
	Name      string
	At        string
	Until     string
	Channel   string
	Method    string
	Emoji     string
	Provider  string
	Recovery  bool
	Confirmed string
	Code      string
	Brand     string
	Contacts  string
}

// RenderEmail fills the email template of ev.Kind, signed with brand, the brokerage's name
// (Config.Brand), when it is not empty. A name that cannot be shown safely is replaced by
// 「お客様」, so a hostile display name can neither carry a link nor stop a security
// notice; any other field that makes the text link-like — an address too, even the sender's,
// which the From header already shows — gets the message refused with ErrLinkLike. Other
// failures are wrapped by Permanent: retrying cannot mend them.
func RenderEmail(ev Event, brand string) (Message, error) {
	if _, ok := tmplEmail[ev.Kind]; !ok {
		return Message{}, Permanent(fmt.Errorf("render email %q: %w", ev.Kind, errRenderUnknownKind))
	}
	d, err := renderFacts(ev, tmplTimeLayout)
	if err != nil {
		return Message{}, err
	}
	d.Name = renderName(ev.Name)
	d.Brand = brand
	subject, err := renderExec("subject:"+string(ev.Kind), d)
	if err != nil {
		return Message{}, err
	}
	body, err := renderExec("body:"+string(ev.Kind), d)
	if err != nil {
		return Message{}, err
	}
	if ContainsLink(subject) {
		return Message{}, fmt.Errorf("render %s email subject: %w", ev.Kind, ErrLinkLike)
	}
	if ContainsLink(body) {
		return Message{}, fmt.Errorf("render %s email body: %w", ev.Kind, ErrLinkLike)
	}
	return Message{Subject: subject, Body: body}, nil
}

// RenderSMS fills the text template of ev.Kind; only the kinds that are texted have one. The
// text opens with brand, the brokerage's name (Config.Brand, SPEC §4.9): 「【デモ証券】…」; an
// empty brand leaves it out. Like RenderEmail it refuses link-like text with ErrLinkLike.
func RenderSMS(ev Event, brand string) (string, error) {
	if _, ok := tmplSMS[ev.Kind]; !ok {
		return "", Permanent(fmt.Errorf("render SMS %q: %w", ev.Kind, errRenderUnknownKind))
	}
	d, err := renderFacts(ev, tmplShortTimeLayout)
	if err != nil {
		return "", err
	}
	d.Brand = brand
	body, err := renderExec("sms:"+string(ev.Kind), d)
	if err != nil {
		return "", err
	}
	if ContainsLink(body) {
		return "", fmt.Errorf("render %s SMS: %w", ev.Kind, ErrLinkLike)
	}
	return body, nil
}

// RenderCodeSMS is the text carrying the voice line's confirmation code (§4.8), valid until
// until, opened like every text with brand, the brokerage's name (SPEC §4.9; empty leaves it
// out). It says what the code unlocks, that nobody at the brokerage ever asks for it, and what
// to do without having called. The code must be the digits the line asks for; anything else is
// refused.
func RenderCodeSMS(brand, code string, until time.Time) (string, error) {
	if len(code) < 4 || len(code) > 8 || strings.Trim(code, "0123456789") != "" || until.IsZero() {
		return "", Permanent(errors.New("render code SMS: a code is 4 to 8 digits with an end"))
	}
	body, err := renderExec("sms:code", renderData{Brand: brand, Code: code, Until: until.In(renderJST).Format(tmplShortTimeLayout)})
	if err != nil {
		return "", err
	}
	if ContainsLink(body) {
		return "", fmt.Errorf("render code SMS: %w", ErrLinkLike)
	}
	return body, nil
}

// brandMax bounds the brokerage's name: it opens every text, which must stay short.
const brandMax = 20

// checkBrand reports why brand cannot be the brokerage's name in the messages, or nil.
func checkBrand(brand string) error {
	switch {
	case brand == "":
		return nil
	case !utf8.ValidString(brand) || utf8.RuneCountInString(brand) > brandMax || strings.TrimSpace(brand) != brand:
		return fmt.Errorf("notify: brand name %q is not up to %d characters of text without surrounding spaces", brand, brandMax)
	case strings.ContainsAny(brand, "【】"):
		return fmt.Errorf("notify: brand name %q: leave out 【】, the texts add them", brand)
	case ContainsLink(brand):
		return fmt.Errorf("notify: brand name %q reads as a link, which no message may hold", brand)
	}
	for _, r := range brand {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs) || r == utf8.RuneError {
			return fmt.Errorf("notify: brand name %q holds control or invisible characters", brand)
		}
	}
	return nil
}

// renderFacts turns ev into the words of its message, checking that the facts its kind states
// are there: a notice that says "until" must say until when.
func renderFacts(ev Event, layout string) (renderData, error) {
	missing := func(fact string) (renderData, error) {
		return renderData{}, Permanent(fmt.Errorf("render %s: %s: %w", ev.Kind, fact, errRenderMissingFact))
	}
	if ev.At.IsZero() {
		return missing("at")
	}
	d := renderData{
		At:       ev.At.In(renderJST).Format(layout),
		Emoji:    ev.Emoji,
		Provider: strings.TrimSpace(ev.Provider),
		Recovery: ev.Recovery,
	}
	if !ev.Until.IsZero() {
		d.Until = ev.Until.In(renderJST).Format(layout)
	}
	d.Channel = tmplChannels[ev.Channel]
	d.Confirmed = tmplConfirmations[ev.ConfirmedBy]
	d.Method = tmplMethods[ev.Method]
	var contacts []string
	for _, c := range ev.Contacts {
		if w, ok := tmplContacts[c]; ok {
			contacts = append(contacts, w)
		}
	}
	d.Contacts = strings.Join(contacts, tmplContactsSep)
	switch ev.Kind {
	case KindLogin:
		if d.Method == "" {
			return missing("method")
		}
	case KindWindowOpened:
		if d.Channel == "" {
			return missing("channel")
		}
		if d.Until == "" {
			return missing("until")
		}
	case KindEmailCheck:
		if strings.TrimSpace(ev.Emoji) == "" {
			return missing("emoji")
		}
		if d.Until == "" {
			return missing("until")
		}
	case KindVoiceLockout, KindPasswordPaused, KindPasskeyAdded:
		if d.Until == "" {
			return missing("until")
		}
	case KindPasswordPauseLifted:
		if d.Channel == "" {
			return missing("channel")
		}
	case KindContactChanged:
		if d.Contacts == "" {
			return missing("contacts")
		}
	}
	return d, nil
}

func renderExec(name string, d renderData) (string, error) {
	var b strings.Builder
	if err := renderTemplates.ExecuteTemplate(&b, name, d); err != nil {
		return "", Permanent(fmt.Errorf("render %s: %w", name, err))
	}
	return b.String(), nil
}

// renderName is how the message addresses the account holder: the registered name with 「様」,
// or 「お客様」 when the name is empty, too long, not clean text, or link-like as it would be
// shown.
func renderName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > renderNameMax {
		return tmplAnonymous
	}
	for _, r := range name {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Cs) || r == utf8.RuneError {
			return tmplAnonymous
		}
	}
	shown := name + tmplHonorific
	if ContainsLink(shown) {
		return tmplAnonymous
	}
	return shown
}

// ContainsLink reports whether s holds anything a reader or a mail client could take for a
// link: a URL of any scheme (also defanged, such as hxxp://), www., a domain name (also with an
// IDN or punycode label, or with a look-alike of a dot between its labels, such as example・com
// or example。コム), an IPv4 address or an email address (any, the sender's too). The text is
// first brought to one form — compatibility decomposition (full-width letters and dots become
// ASCII), invisible characters and combining marks dropped, lower case, dot and colon
// look-alikes made 「。」 and colons — so disguised links are caught. It errs on the side of
// finding a link; plain Japanese text (ログインID・パスワード), dates, times such as 19:00 and
// numbers are not links.
func ContainsLink(s string) bool {
	n := linkNormalize(s)
	return linkMayMatch(n) && linkPattern.MatchString(n)
}

// linkMayMatch reports whether linkPattern could match n, normalised text. Each of the
// pattern's alternatives holds one of the marks checked here, with the neighbours it needs:
// text without any — most Japanese text, whose 「。」 follows kana and whose times' colons follow
// digits — holds no link, and the regular expression, the costly part of a notice's check,
// need not read it.
func linkMayMatch(n string) bool {
	if strings.ContainsRune(n, '@') || strings.Contains(n, "//") || strings.Contains(n, "www") || strings.Contains(n, "xn--") {
		return true
	}
	prev := rune(-1)
	// scheme is whether the run of [a-z0-9+.\-] that ends at prev holds a letter, as a scheme
	// must before its colon.
	scheme := false
	for i, r := range n {
		switch r {
		case ':':
			if scheme && i+1 < len(n) && !strings.ContainsRune("\t\n\f\r ", rune(n[i+1])) {
				return true // a scheme
			}
		case '.':
			if next, _ := utf8.DecodeRuneInString(n[i+1:]); unicode.IsLetter(next) || unicode.IsDigit(prev) {
				return true // a label and a top-level domain, or an IPv4 address
			}
		case '。':
			next, _ := utf8.DecodeRuneInString(n[i+len("。"):])
			if 'a' <= next && next <= 'z' || unicode.IsDigit(prev) || unicode.In(prev, unicode.Latin, unicode.Greek, unicode.Cyrillic) {
				return true // a top-level domain after a look-alike dot, or a label before it
			}
		}
		switch {
		case 'a' <= r && r <= 'z':
			scheme = true
		case '0' <= r && r <= '9' || r == '+' || r == '.' || r == '-':
		default:
			scheme = false
		}
		prev = r
	}
	return false
}

// linkPattern matches normalised text (linkNormalize): ASCII dots are '.', every other dot
// look-alike is '。'. A look-alike joins labels only where Japanese text does not put its
// 「・」 or 「。」: between two runs of Latin-like letters or digits (example・com; not
// ID・パスワード), or before a word that reads as a top-level domain (例え・com, example。コム).
var linkPattern = regexp.MustCompile(strings.Join([]string{
	`[a-z][a-z0-9+.\-]*:\S`, // a scheme: http:, hxxp:, javascript:, mailto:, tel:, localhost:8080
	`//[^\s/]`,              // an authority, as in a scheme-relative URL
	`www[.。]`,
	`xn--`,                               // a punycode label
	`[^\s.]\.\pL\pL`,                     // label.tld, any script (例え.jp, example.com, example.コム)
	linkLabel + `。` + linkLetter + `{2}`, // example・com, exampleꞏcom, ｅｖｉｌ｡ｃｏｍ
	`[^\s.。]。(?:` + linkWords(linkTLDs) + `)(?:[^a-z0-9\-]|$)`,                      // 例え・com
	linkLabel + `。(?:` + linkWords(linkKanaTLDs) + `)(?:[^\p{Katakana}\x{30FC}]|$)`, // example。コム, not ID・ネットワーク
	`\p{Nd}{1,3}[.。]\p{Nd}{1,3}[.。]\p{Nd}{1,3}[.。]\p{Nd}{1,3}`,                      // IPv4
	`[^\s@]@[^\s@]`, // an email address
}, "|"))

// A label's last character and a top-level domain's letters, where a look-alike dot joins
// them: letters of the scripts host names are spoofed in (Cyrillic е for e) and digits, never
// kana or kanji, which is where Japanese text puts 「・」.
const (
	linkLabel  = `[\p{Latin}\p{Greek}\p{Cyrillic}0-9]`
	linkLetter = `[\p{Latin}\p{Greek}\p{Cyrillic}]`
)

// linkTLDs are top-level domains (and the second-level ones of .jp) that end a host name after
// any label, Japanese too: 例え・com.
var linkTLDs = []string{
	"com", "net", "org", "info", "biz", "jp", "co", "ne", "or", "go", "ac", "ad", "ed", "gr", "lg",
	"io", "app", "dev", "xyz", "top", "site", "online", "shop", "tokyo", "me", "tv", "cn", "kr", "ru", "us", "uk",
}

// linkKanaTLDs are top-level domains written in kana as a reader would say them (.コム is a
// real one), which end a host name after a Latin label: example。コム, example・ジェーピー.
var linkKanaTLDs = []string{"コム", "ネット", "オルグ", "ジェーピー", "ジェイピー", "インフォ", "ビズ", "みんな"}

// linkWords is an alternation of words as linkNormalize leaves them (ジェーピー loses its
// voicing marks).
func linkWords(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = regexp.QuoteMeta(linkNormalize(w))
	}
	return strings.Join(quoted, "|")
}

// linkDefang undoes the usual ways of writing a link so it is not one.
var linkDefang = strings.NewReplacer(
	"[.]", ".", "(.)", ".", "{.}", ".", "[dot]", ".", "(dot)", ".", "[。]", "。",
	"[:]", ":", "[@]", "@", "[at]", "@", "(at)", "@",
)

// linkNormalize brings s to the one form linkPattern reads. Dot look-alikes are made 「。」
// before the decomposition too, which would turn some (˙) into a space and a mark.
//
// Nearly every character of a notice — kanji, kana, ASCII, full-width forms — comes out as one
// character whatever surrounds it (linkSimple), and is looked up; only runs of the others are
// decomposed together (linkDecompose). The result is the same as decomposing the whole text.
func linkNormalize(s string) string {
	simple := linkSimple()
	var b strings.Builder
	b.Grow(len(s))
	from := -1 // where the run of characters to decompose together began, or -1
	for i, r := range s {
		var out rune
		if r < 1<<16 {
			out = rune(simple[r])
		}
		if out == 0 {
			if from < 0 {
				from = i
			}
			continue
		}
		if from >= 0 {
			linkDecompose(&b, s[from:i])
			from = -1
		}
		b.WriteRune(out)
	}
	if from >= 0 {
		linkDecompose(&b, s[from:])
	}
	n := b.String()
	if strings.ContainsAny(n, "[({") {
		n = linkDefang.Replace(n)
	}
	return n
}

// linkDecompose writes s, decomposed and reduced to the form linkPattern reads, to b.
func linkDecompose(b *strings.Builder, s string) {
	s = norm.NFKD.String(strings.Map(func(r rune) rune {
		if linkDot(r) {
			return '。'
		}
		return r
	}, s))
	for _, r := range s {
		switch {
		case linkDropped(r):
		case linkDot(r):
			b.WriteRune('。')
		case linkColon(r):
			b.WriteByte(':')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
}

// linkDropped reports the characters normalisation leaves out: marks, format characters and
// invisible letters.
func linkDropped(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) || linkInvisible(r)
}

// linkSimple maps each character of the Basic Multilingual Plane that comes out of
// linkDecompose as one character, whatever text surrounds it, to that character; the others
// to 0. Such a character is a starter whose decomposition begins with a starter, so the
// decomposition reorders nothing across its start; and whatever marks its decomposition ends
// with are dropped (が is か and a voicing mark), so the marks of the text after it that are
// kept stay in their order.
var linkSimple = sync.OnceValue(func() *[1 << 16]uint16 {
	var simple [1 << 16]uint16
	var b strings.Builder
	for r := rune(1); r < 1<<16; r++ {
		p := norm.NFKD.PropertiesString(string(r))
		if !utf8.ValidRune(r) || p.CCC() != 0 || p.LeadCCC() != 0 {
			continue
		}
		marksDropped := true
		for _, d := range norm.NFKD.String(string(r)) {
			if norm.NFKD.PropertiesString(string(d)).CCC() != 0 && !linkDropped(d) {
				marksDropped = false
			}
		}
		b.Reset()
		linkDecompose(&b, string(r))
		out, size := utf8.DecodeRuneInString(b.String())
		if marksDropped && size > 0 && size == b.Len() && out > 0 && out < 1<<16 {
			simple[r] = uint16(out)
		}
	}
	return &simple
})

// linkInvisible reports the blank characters that are letters, not format characters: Hangul
// fillers.
func linkInvisible(r rune) bool {
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0:
		return true
	}
	return false
}

// linkDot reports the characters, other than the ASCII full stop, that pass for a dot in a host
// name. Decomposition makes '．', '﹒' and '․' ASCII, '｡' and '︒' ideographic, '･' 「・」 and
// Greek '·' the middle dot; '˙' is caught before it decomposes.
func linkDot(r rune) bool {
	switch r {
	case '。', '・', '·', '‧', '∙', '⋅', '•', '⸳', '⸼', '⸱', '⸰', '۔', '܁', '܂', 'ꓸ', '꘎', '᛫',
		'˙', 'ˑ', 'ꞏ', 'ㆍ', 'ᆞ', '་', '༌', 'ᐧ', '⦁', '𐄁', '𐤟':
		return true
	}
	return false
}

// linkColon reports the characters, other than the ASCII colon, that pass for one after a scheme.
func linkColon(r rune) bool {
	switch r {
	case '∶', '꞉', 'ː', '։', '׃', '˸', '᠄', '܃', '܄':
		return true
	}
	return false
}
