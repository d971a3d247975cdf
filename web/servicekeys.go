package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"kagi"
)

// MinServiceKeyLen is the shortest bearer key of the service API kagi accepts.
const MinServiceKeyLen = 16

// serviceKeyName is what a key's name may be: it is written into every audit line the key's
// calls leave (actor "api:NAME"), so it stays short and plain.
var serviceKeyName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// ServiceKey is one bearer key of the service API and the name its calls are audited under.
type ServiceKey struct {
	Name string
	Key  string
}

// ParseServiceKeys reads KAGI_API_KEYS: comma-separated entries, each `name:key` (name
// [a-z0-9_-]{1,32}, key at least MinServiceKeyLen characters). A bare key — an entry without
// a name, as every key was before keys had names — is accepted and named by its position in
// the list, "key1", "key2", …; bare reports how many there were, so the server can warn that
// the audit trail will not say whose they are. An entry with a ':' is always name:key, so a key
// that holds a ':' must be given a name. Every problem is reported at once; no key's value
// appears in a problem.
func ParseServiceKeys(list string) (keys []ServiceKey, bare int, err error) {
	var errs []error
	pos := 0
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pos++
		k := ServiceKey{Name: "key" + strconv.Itoa(pos), Key: entry}
		if name, key, ok := strings.Cut(entry, ":"); !ok {
			bare++
		} else if !serviceKeyName.MatchString(name) {
			// Never taken for a bare key: a mistyped name would silently become part of the key.
			errs = append(errs, fmt.Errorf("entry %d: the name before ':' must be 1-32 of a-z, 0-9, '_' or '-'", pos))
			continue
		} else {
			k = ServiceKey{Name: name, Key: key}
		}
		keys = append(keys, k)
	}
	if _, err := NewServiceKeys(keys); err != nil {
		errs = append(errs, err)
	}
	return keys, bare, errors.Join(errs...)
}

// ServiceKeys checks the bearer key of a service API request (SPEC §3.6, §12.2) and says whose
// it is. Keys are kept as SHA-256 digests and a presented key is compared with every one in
// constant time, so neither the time taken nor which key matched tells anything about the keys.
// The zero value, or nil, accepts no key.
type ServiceKeys struct {
	keys []serviceKeyDigest
}

type serviceKeyDigest struct {
	name   string
	digest [sha256.Size]byte
}

// NewServiceKeys checks keys — valid, distinct names; keys of at least MinServiceKeyLen
// characters, no two alike — naming every problem, never a key.
func NewServiceKeys(keys []ServiceKey) (*ServiceKeys, error) {
	var errs []error
	names := map[string]bool{}
	digests := map[[sha256.Size]byte]string{}
	sk := &ServiceKeys{}
	for _, k := range keys {
		if !serviceKeyName.MatchString(k.Name) {
			errs = append(errs, fmt.Errorf("service key name %q must be 1-32 of a-z, 0-9, '_' or '-'", k.Name))
		}
		if names[k.Name] {
			errs = append(errs, fmt.Errorf("service key name %q is given twice", k.Name))
		}
		names[k.Name] = true
		if len(k.Key) < MinServiceKeyLen {
			errs = append(errs, fmt.Errorf("service key %q must be at least %d characters", k.Name, MinServiceKeyLen))
		}
		d := sha256.Sum256([]byte(k.Key))
		if other, dup := digests[d]; dup {
			errs = append(errs, fmt.Errorf("service keys %q and %q are the same key", other, k.Name))
		}
		digests[d] = k.Name
		sk.keys = append(sk.keys, serviceKeyDigest{name: k.Name, digest: d})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return sk, nil
}

// Names lists the keys' names in the order they were given.
func (k *ServiceKeys) Names() []string {
	if k == nil {
		return nil
	}
	names := make([]string, len(k.keys))
	for i, d := range k.keys {
		names[i] = d.name
	}
	return names
}

// Check reports the name of the key an Authorization header ("Bearer KEY") presents, and
// whether it is one of the keys. Every key's digest is compared, whichever matches.
func (k *ServiceKeys) Check(authorization string) (string, bool) {
	scheme, key, _ := strings.Cut(authorization, " ")
	if k == nil || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", false
	}
	digest := sha256.Sum256([]byte(key))
	match := -1
	for i, d := range k.keys {
		eq := subtle.ConstantTimeCompare(digest[:], d.digest[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return "", false
	}
	return k.keys[match].name, true
}

// ServiceHandlerFunc is a service API handler, told the name of the key the request carried:
// what it does is audited as actor "api:NAME".
type ServiceHandlerFunc func(w http.ResponseWriter, r *http.Request, keyName string) error

// errServiceUnauthorized answers a service API request without one of the keys.
var errServiceUnauthorized = kagi.Errorf(kagi.Unauthorized, "unauthorized", msgServiceUnauthorized)

// Require lets a request through to h only with one of the keys (401 unauthorized otherwise,
// with a WWW-Authenticate challenge). Service API answers are JSON for other servers: they set
// no cookie and need no browser protection, only nosniff.
func (k *ServiceKeys) Require(h ServiceHandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		name, ok := k.Check(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kagi"`)
			return errServiceUnauthorized
		}
		return h(w, r, name)
	}
}
