package auth

import "slices"

// Phones are the account's registered phone numbers in full. The voice line counts a caller's
// lockout (§4.4) under the number as the caller ID gives it, so the operator console needs them
// to find and clear the lockouts of the customer's own phones; it shows them only masked
// (MaskPhone).
func (va VoiceAccount) Phones() []string { return slices.Clone(va.phones) }
