package recovery

// Customer-facing Japanese text of package recovery, kept in one file so that it can be reviewed
// in one read. The wording follows the brokerage's published passkey FAQ where it has any.

// The refusal of a password login whose fallback window closed at the very moment it was used.
const msgWindowClosed = "ログインID・パスワードでの一時的なログインの受付は終了しました。パスキーでログインしてください。"

// Errors of the service API (§3.6). Its callers are the brokerage's servers, but every error body
// carries a Japanese message like the rest of kagi's.
const (
	msgLoginIDRequired = "ログインIDを指定してください。"
)

// The support desk's regular hours in one line as the pages print it (Desk); today's exception
// is the calendar's own (hours.Calendar.TodayText).
const msgHoursLine = "平日 %s / 土日 %s"

// The refusal of a window for an account the back office suspended (§12.2): the operator
// console shows it to staff.
const msgWindowSuspended = "この口座はご利用停止中のため、ログインID・パスワードでの一時的なログインは受け付けられません。"
