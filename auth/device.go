package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"time"
)

// Device cookies (OWASP's "slow down online guessing attacks with device cookies"): after a
// successful login the browser gets a cookie signed for that login ID, and password attempts
// that carry a valid one are counted apart from the rest (deviceThrottleKey). Someone who knows
// a customer's login ID and sends wrong passwords then locks out the unknown devices for that
// login ID, never the customer's own known browser; wrong passwords from the known browser are
// limited on their own count.
const (
	DeviceCookie       = "kagi_device"
	SecureDeviceCookie = "__Host-" + DeviceCookie
	// deviceCookieTTL is how long a browser stays known without logging in again.
	deviceCookieTTL = 180 * 24 * time.Hour
	deviceNonceSize = 16
)

// deviceKeyFrom derives the device cookies' signing key from the service's server secret (the
// PIN key) under a label of its own, so no other use of that secret can produce a valid
// device cookie: one secret to keep, two independent keys.
func deviceKeyFrom(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kagi device cookie v1"))
	return m.Sum(nil)
}

// deviceMAC signs a cookie's payload (nonce and expiry) for one login ID.
func (s *Service) deviceMAC(loginID string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("kagi-device\x00"))
	m.Write([]byte(loginID))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// deviceCookieName is the cookie's name on this deployment: __Host- prefixed over https.
func (s *Service) deviceCookieName() string {
	if s.secure {
		return SecureDeviceCookie
	}
	return DeviceCookie
}

// setDeviceCookie marks the browser as a known device of loginID, after a successful login.
// Each login gives a new nonce, so the count of an earlier cookie does not follow it.
func (s *Service) setDeviceCookie(w http.ResponseWriter, loginID string) {
	expires := s.now().Add(deviceCookieTTL)
	payload := make([]byte, deviceNonceSize, deviceNonceSize+8)
	copy(payload, randomBytes(deviceNonceSize))
	payload = binary.BigEndian.AppendUint64(payload, uint64(expires.Unix()))
	value := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.deviceMAC(loginID, payload))
	http.SetCookie(w, &http.Cookie{
		Name: s.deviceCookieName(), Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// deviceCookieOf returns the device cookie the request carries, "" if none.
func (s *Service) deviceCookieOf(r *http.Request) string {
	c, err := r.Cookie(s.deviceCookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

// knownDevice checks a device cookie's value for loginID: its nonce when it was signed for
// that login ID and has not expired. A tampered, foreign or expired cookie counts as none.
func (s *Service) knownDevice(value, loginID string) ([]byte, bool) {
	p, m, ok := strings.Cut(value, ".")
	if !ok {
		return nil, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) != deviceNonceSize+8 {
		return nil, false
	}
	if !hmac.Equal(mac, s.deviceMAC(loginID, payload)) {
		return nil, false
	}
	if expires := time.Unix(int64(binary.BigEndian.Uint64(payload[deviceNonceSize:])), 0); !expires.After(s.now()) {
		return nil, false
	}
	return payload[:deviceNonceSize], true
}

// deviceThrottleKey counts the password attempts on a login ID from one known device. Its
// prefix differs from the other keys', so no login ID typed into the form can name it.
func deviceThrottleKey(loginID string, nonce []byte) []byte {
	h := sha256.New()
	h.Write([]byte("kagi-login-throttle-device\x00"))
	h.Write(nonce)
	h.Write([]byte{0})
	h.Write([]byte(loginID))
	return h.Sum(nil)
}
