package auth

import "testing"

func TestPasskeyCreationPlatformRule(t *testing.T) {
	t.Parallel()
	phones := []string{PlatformIOS, PlatformAndroid}
	for _, tc := range []struct {
		name      string
		ua        string
		platforms []string
		want      bool
	}{
		{"iPhone Safari iOS 16", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1", phones, true},
		{"iPhone Safari iOS 17.5", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", phones, true},
		{"iPhone Safari iOS 18.1", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1", phones, true},
		{"iPhone Chrome iOS 17", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", phones, true},
		{"iPhone in-app web view iOS 16", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", phones, true},
		{"iPhone Safari iOS 15 refused", "Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1", phones, false},
		{"iPad iPadOS 17 refused", "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", phones, false},
		{"iPad desktop-class Safari refused", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", phones, false},
		{"iPod touch refused", "Mozilla/5.0 (iPod touch; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1", phones, false},
		{"Android Chrome reduced UA", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", phones, true},
		{"Android 9 Chrome", "Mozilla/5.0 (Linux; Android 9; SM-G960F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/110.0.0.0 Mobile Safari/537.36", phones, true},
		{"Android 13 Samsung Internet", "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/21.0 Chrome/110.0.5481.154 Mobile Safari/537.36", phones, true},
		{"Android 14 Firefox", "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", phones, true},
		{"Android 8.1 refused", "Mozilla/5.0 (Linux; Android 8.1.0; Nexus 5X Build/OPM7.181205.001) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 Mobile Safari/537.36", phones, false},
		{"Android 8 refused", "Mozilla/5.0 (Linux; Android 8.0.0; SM-G950F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.91 Mobile Safari/537.36", phones, false},
		{"Android tablet refused", "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", phones, false},
		{"Windows Chrome refused", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", phones, false},
		{"Windows Edge refused", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", phones, false},
		{"Mac Safari refused", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", phones, false},
		{"Mac Chrome refused", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", phones, false},
		{"Linux Firefox refused", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", phones, false},
		{"empty User-Agent refused", "", phones, false},
		{"curl refused", "curl/8.5.0", phones, false},
		{"iPhone refused when only android", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", []string{PlatformAndroid}, false},
		{"Android refused when only ios", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", []string{PlatformIOS}, false},
		{"any allows Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", []string{PlatformAny}, true},
		{"any allows iOS 15", "Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1", []string{PlatformAny}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := creationAllowed(tc.platforms, tc.ua); got != tc.want {
				t.Errorf("creationAllowed(%v, %q) = %v, want %v", tc.platforms, tc.ua, got, tc.want)
			}
		})
	}
}

func FuzzSmartphone(f *testing.F) {
	f.Add("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)")
	f.Add("Mozilla/5.0 (Linux; Android 10; K) Mobile")
	f.Add("(iPhone; CPU iPhone OS 99999999999999999999_0 like Mac OS X)")
	f.Fuzz(func(t *testing.T, ua string) {
		platform, major, ok := smartphone(ua)
		if ok && (platform != PlatformIOS && platform != PlatformAndroid || major < 0) {
			t.Fatalf("smartphone(%q) = %q, %d, true", ua, platform, major)
		}
	})
}
