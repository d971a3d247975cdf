package recovery

import "kagi/web"

// Customer-facing Japanese text of package recovery, kept in one file so that it can be reviewed
// in one read. The wording follows the brokerage's published passkey FAQ where it has any.

// Support status messages (§5). The closed and unavailable sentences are the FAQ's own words.
const (
	msgSupportOpen        = "ただいま営業時間内です"
	msgSupportClosed      = "ただいま営業時間外です"
	msgSupportUnavailable = web.Unavailable
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

// The refusal of a password login whose fallback window closed at the very moment it was used.
const msgWindowClosed = "ログインID・パスワードでの一時的なログインの受付は終了しました。パスキーでログインしてください。"

// Errors of the service API (§3.6). Its callers are the brokerage's servers, but every error body
// carries a Japanese message like the rest of kagi's.
const (
	msgAPIUnauthorized = "サービスAPIキーが正しくありません。"
	msgLoginIDRequired = "ログインIDを指定してください。"
)

// The support desk as the pages print it (Desk): the regular hours in one line and today's
// exception from the calendar.
const (
	msgHoursLine    = "平日 %s / 土日 %s"
	msgTodayClosed  = "本日(%d月%d日)は休業日です"
	msgTodaySpecial = "本日(%d月%d日)の営業時間は%sです"
)
