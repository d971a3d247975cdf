package notify

import "testing"

func TestTextable(t *testing.T) {
	for _, tc := range []struct {
		phone string
		want  bool
	}{
		{"+819012345678", true},  // docomo, au, SoftBank… mobiles
		{"+818012345678", true},  //
		{"+817012345678", true},  //
		{"+81312345678", false},  // a Tokyo landline
		{"+81612345678", false},  // an Osaka landline
		{"+815012345678", false}, // an IP phone
		{"+81120123456", false},  // toll-free
		{"+816012345678", false}, // not a mobile prefix the brokerage texts
		{"+81901234567", false},  // a mobile prefix, a digit short
		{"+8190123456789", false},
		{"+4915112345678", true}, // a German mobile
		{"+12025550123", true},   // abroad: texted, as §4.9 says
		{"+447700900123", true},
		{"09012345678", false}, // domestic form, not E.164
		{"819012345678", false},
		{"+81 90 1234 5678", false},
		{"+0901234567", false},
		{"", false},
		{"+", false},
		{"+8190123456７８", false},
	} {
		if got := Textable(tc.phone); got != tc.want {
			t.Errorf("Textable(%q) = %v, want %v", tc.phone, got, tc.want)
		}
	}
}
