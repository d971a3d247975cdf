package auth

import (
	"regexp"
	"strconv"
	"strings"
)

// The values of Config.CreatePlatforms (KAGI_PASSKEY_CREATE_PLATFORMS).
const (
	PlatformIOS     = "ios"
	PlatformAndroid = "android"
	PlatformAny     = "any"
)

// minMajor is the oldest OS release per platform on which a passkey may be created (§2.4): the
// brokerage supports passkeys saved to the phone's own password manager from iOS 16 and
// Android 9 on.
var minMajor = map[string]int{PlatformIOS: 16, PlatformAndroid: 9}

var (
	// iPhoneOS matches the device token of Safari and every other browser or in-app web view on
	// an iPhone: "(iPhone; CPU iPhone OS 17_5 like Mac OS X)". An iPad says "(iPad; CPU OS …"
	// or, since iPadOS 13, presents itself as a Mac; an iPod touch says "(iPod touch; …".
	iPhoneOS = regexp.MustCompile(`\(iPhone;(?: U;)? CPU iPhone OS (\d+)[_ ]`)
	// androidVersion matches "Android 10;" (Chrome's reduced User-Agent always reports
	// "Android 10; K"), "Android 8.1.0;" and Firefox's "(Android 14; Mobile; …".
	androidVersion = regexp.MustCompile(`\bAndroid (\d+)(?:[.;)]|\s)`)
)

// smartphone reads a User-Agent: the platform ("ios" or "android") and the OS major version
// when it is a phone. Tablets are not phones: Android tablets leave out the "Mobile" token that
// every Android phone browser sends.
func smartphone(userAgent string) (platform string, major int, ok bool) {
	if m := iPhoneOS.FindStringSubmatch(userAgent); m != nil {
		v, err := strconv.Atoi(m[1])
		return PlatformIOS, v, err == nil
	}
	if m := androidVersion.FindStringSubmatch(userAgent); m != nil && strings.Contains(userAgent, "Mobile") {
		v, err := strconv.Atoi(m[1])
		return PlatformAndroid, v, err == nil
	}
	return "", 0, false
}

// creationAllowed applies §2.4 to the User-Agent of a passkey creation request: only from an
// iPhone on iOS 16+ or an Android phone on Android 9+, as far as platforms allows; "any" lifts
// the rule. The User-Agent is the customer's claim, not proof: the rule steers customers to the
// device the FAQ supports, it is not a security boundary.
func creationAllowed(platforms []string, userAgent string) bool {
	platform, major, phone := smartphone(userAgent)
	for _, p := range platforms {
		if p == PlatformAny {
			return true
		}
		if phone && p == platform && major >= minMajor[platform] {
			return true
		}
	}
	return false
}
