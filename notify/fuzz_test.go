package notify

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzRenderNoLink renders every kind with arbitrary name, provider and emoji: the result is a
// refusal or text without a link, a name never causes the refusal, and nothing panics.
func FuzzRenderNoLink(f *testing.F) {
	for i, s := range hostileNames {
		f.Add(s, "iCloud キーチェーン", "🐧", i)
	}
	f.Add("山田 太郎", "https://x.example", "🐧", 3)
	f.Add("山田 太郎", "", "evil.com", 2)
	f.Add("山田 太郎", testSender, "", 5)
	f.Add("", "\n送信元: "+testSender, "mailto:x", -1)
	f.Add("example・com", "example。コム", "exampleꞏcom", 4)
	f.Add("exa\u200bmple.com", "ｅｖｉｌ．ｃｏｍ", "a@b.jp", len(Kinds))
	f.Fuzz(func(t *testing.T, name, provider, emoji string, kind int) {
		ev := Event{Kind: Kind("unknown"), At: testAt, Name: name, Provider: provider, Emoji: emoji, Recovery: true}
		if kind >= 0 && kind < len(Kinds) {
			ev = testEvent(Kinds[kind])
			ev.Name, ev.Provider, ev.Emoji = name, provider, emoji
		}
		msg, err := RenderEmail(ev, testBrand)
		switch {
		case errors.Is(err, errRenderUnknownKind):
			if _, known := tmplEmail[ev.Kind]; known {
				t.Fatalf("known kind %s refused as unknown", ev.Kind)
			}
		case errors.Is(err, errRenderMissingFact):
			if ev.Kind != KindEmailCheck || strings.TrimSpace(emoji) != "" {
				t.Fatalf("RenderEmail: %v", err)
			}
		case errors.Is(err, ErrLinkLike):
			if msg != (Message{}) {
				t.Fatalf("a refused render returned a message: %+v", msg)
			}
			plain := ev
			plain.Name = "山田 太郎"
			if _, err := RenderEmail(plain, testBrand); !errors.Is(err, ErrLinkLike) {
				t.Fatalf("the name %q alone made the message refused", name)
			}
		case err != nil:
			t.Fatalf("RenderEmail: %v", err)
		default:
			if ContainsLink(msg.Subject) || ContainsLink(msg.Body) {
				t.Fatalf("link-like email rendered:\n%s\n%s", msg.Subject, msg.Body)
			}
			if !strings.HasPrefix(msg.Body, "お客様\n") && !strings.HasPrefix(msg.Body, strings.TrimSpace(name)+"様\n") {
				t.Fatalf("body addresses neither the name nor お客様:\n%s", msg.Body)
			}
		}
		if ev.Texted() {
			body, err := RenderSMS(ev, testBrand)
			if err != nil || ContainsLink(body) {
				t.Fatalf("RenderSMS = %q, %v", body, err)
			}
		}
	})
}

// linkNormalizeWhole is linkNormalize as it reads: the whole text decomposed at once, with no
// character looked up. The faster linkNormalize must agree with it on every text.
func linkNormalizeWhole(s string) string {
	var b strings.Builder
	linkDecompose(&b, s)
	return linkDefang.Replace(b.String())
}

// linkSeeds are texts to start from: links and their disguises, hostile names and every
// rendered message.
func linkSeeds() []string {
	seeds := append([]string{"ex\u0301ample.com", "が\u0334\u302e\u302f\u0323", "ＡＢＣ：ｄｅｆ", "http://x", "a[.]b", "19:00"}, hostileNames...)
	for _, d := range linkDots {
		seeds = append(seeds, "example"+string(d.dot)+"com", "ログインID"+string(d.dot)+"パスワード", "3"+string(d.dot)+"14")
	}
	for _, k := range Kinds {
		if msg, err := RenderEmail(testEvent(k), testBrand); err == nil {
			seeds = append(seeds, msg.Subject, msg.Body)
		}
		if body, err := RenderSMS(testEvent(k), testBrand); err == nil {
			seeds = append(seeds, body)
		}
	}
	return seeds
}

// The link check reads the text as if it were decomposed as a whole, and finds a link exactly
// when the pattern finds one in that: looking characters up and skipping the pattern for text
// that cannot hold a link change nothing.
func FuzzContainsLinkAsAWhole(f *testing.F) {
	for _, s := range linkSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		whole := linkNormalizeWhole(s)
		if got := linkNormalize(s); got != whole {
			t.Fatalf("linkNormalize(%q) = %q, decomposed as a whole %q", s, got, whole)
		}
		if got, want := ContainsLink(s), linkPattern.MatchString(whole); got != want {
			t.Fatalf("ContainsLink(%q) = %v, the pattern on the whole text says %v", s, got, want)
		}
	})
}

// Every character, alone and among others — letters, marks before and after, a dot and a
// top-level domain — is read as the whole text's decomposition reads it.
func TestContainsLinkEveryCharacterAsAWhole(t *testing.T) {
	t.Parallel()
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) || r >= 1<<16 && r%61 != 0 && !unicode.IsMark(r) {
			continue // beyond the BMP, which is looked up, a sample and every mark
		}
		c := string(r)
		for _, s := range []string{"a" + c + "\u0301b", "が" + c + "\u302e。com", "1" + c + "1.1.1", "x" + c + ":y" + c + "ー"} {
			whole := linkNormalizeWhole(s)
			if got := linkNormalize(s); got != whole {
				t.Fatalf("linkNormalize(%q) = %q, decomposed as a whole %q", s, got, whole)
			}
			if got, want := ContainsLink(s), linkPattern.MatchString(whole); got != want {
				t.Fatalf("ContainsLink(%q) = %v, the pattern on the whole text says %v", s, got, want)
			}
		}
	}
}
