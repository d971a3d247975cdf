package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// AccountLine is one account as the brokerage hands it over (§12.1): a line of `kagi import`
// and the body of the back office's POST /api/v1/accounts (§12.2).
type AccountLine struct {
	AccountNumber string   `json:"account_number"`
	LoginID       string   `json:"login_id"`
	Name          string   `json:"name"`
	Email         string   `json:"email"`
	Phones        []string `json:"phones"`
	Password      Secret   `json:"password"`
	PIN           Secret   `json:"pin"`
}

// Secret is a password or PIN as the old system has it: a hash of a kind kagi verifies
// (CheckStoredHash), or the plain value, which kagi hashes itself. Exactly one is set.
type Secret struct {
	Hash  *string `json:"hash,omitempty"`
	Plain *string `json:"plain,omitempty"`
}

// ParseAccountLine reads one JSON object strictly: an unknown field (a typo that would
// otherwise drop data silently), a second value or trailing bytes are errors.
func ParseAccountLine(data []byte) (AccountLine, error) {
	var l AccountLine
	if err := decodeStrictJSON(data, &l); err != nil {
		return AccountLine{}, fmt.Errorf("not an account object: %w", err)
	}
	return l, nil
}

// decodeStrictJSON reads exactly one JSON value into v, refusing unknown fields, a second
// value and trailing bytes; its errors never repeat the input.
func decodeStrictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

// jsonProblem says what encoding/json found without echoing the input, which may hold a
// password.
func jsonProblem(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("JSON syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q must be %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("incomplete JSON")
	}
	return err // unknown field "…": names only the field
}

// Validate lists every problem with l at once, naming fields and never a secret's value.
func (l AccountLine) Validate() error {
	errs := validateContacts(l.LoginID, l.AccountNumber, l.Name, l.Email, l.Phones)
	if err := l.Password.check("password", checkPasswordPolicy); err != nil {
		errs = append(errs, err)
	}
	checkPIN := func(pin string) error {
		if !pinPattern.MatchString(pin) {
			return errors.New("PIN must be exactly 4 digits")
		}
		return nil
	}
	if err := l.PIN.check("pin", checkPIN); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (sec Secret) check(field string, plainRule func(string) error) error {
	switch {
	case sec.Hash != nil && sec.Plain != nil:
		return fmt.Errorf("%s: give either hash or plain, not both", field)
	case sec.Hash != nil:
		if err := CheckStoredHash(*sec.Hash); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		return nil
	case sec.Plain != nil:
		return plainRule(*sec.Plain)
	}
	return fmt.Errorf("%s: {\"hash\":…} or {\"plain\":…} is required", field)
}

// preparedAccount is an AccountLine ready to store: its secrets hashed as kagi keeps them.
type preparedAccount struct {
	AccountLine
	passwordHash string
	pinHash      []byte  // kagi's keyed hash, or nil
	pinLegacy    *string // a legacy hash kept until the next verified call, or nil
	userHandle   []byte
}

// prepareAccount validates l and hashes its plain secrets: a plain password with kagi's
// Argon2id (on the hasher's bounded slots), a plain PIN with the PIN key; a legacy hash is
// kept as it is.
func (s *Service) prepareAccount(ctx context.Context, l AccountLine) (preparedAccount, error) {
	if err := l.Validate(); err != nil {
		return preparedAccount{}, err
	}
	p := preparedAccount{AccountLine: l, userHandle: randomBytes(32)}
	if l.Password.Hash != nil {
		p.passwordHash = *l.Password.Hash
	} else {
		h, err := s.passwords.Hash(ctx, *l.Password.Plain)
		if err != nil {
			return preparedAccount{}, err
		}
		p.passwordHash = h
	}
	if l.PIN.Hash != nil {
		p.pinLegacy = l.PIN.Hash
	} else {
		p.pinHash = s.PINHash(l.AccountNumber, *l.PIN.Plain)
	}
	return p, nil
}
