package notify

import (
	"errors"
	"strings"
	"testing"
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
