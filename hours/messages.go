package hours

// Customer-facing Japanese text of package hours, kept in one file so that it can be reviewed in
// one read. The wording follows the brokerage's published passkey FAQ where it has any.

// Support status messages (§5). The closed and unavailable sentences are the FAQ's own words;
// the unavailable one is web.Unavailable, written out here because this package is a leaf
// (recovery's desk test holds the two together).
const (
	msgSupportOpen        = "ただいま営業時間内です"
	msgSupportClosed      = "ただいま営業時間外です"
	msgSupportUnavailable = "現在、こちらのサービスは利用できません"
)

// Pieces of the printed business hours: 「平日は8時30分から17時まで、土曜日・日曜日は9時から17時までです」.
const (
	msgHoursWeekdays = "平日は"
	msgHoursWeekend  = "土曜日・日曜日は"
	msgHoursFromTo   = "%sから%sまで"
	msgHoursJoin     = "、"
	msgHoursEnd      = "です"
	msgClockHour     = "%d時"
	msgClockMinute   = "%d時%d分"
)

// Today's exception from the calendar as the pages print it (Calendar.TodayText).
const (
	msgTodayClosed  = "本日(%d月%d日)は休業日です"
	msgTodaySpecial = "本日(%d月%d日)の営業時間は%sです"
)
