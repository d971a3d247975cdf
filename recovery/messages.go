package recovery

// Customer-facing Japanese text of package recovery, kept in one file so that it can be reviewed
// in one read. The wording follows the brokerage's published passkey FAQ where it has any.

// The refusal of a password login whose fallback window closed at the very moment it was used.
const msgWindowClosed = "ログインID・パスワードでの一時的なログインの受付は終了しました。パスキーでログインしてください。"

// Errors of the service API (§3.6). Its callers are the brokerage's servers, but every error body
// carries a Japanese message like the rest of kagi's.
const (
	msgAPIUnauthorized = "サービスAPIキーが正しくありません。"
	msgLoginIDRequired = "ログインIDを指定してください。"
)

// The support desk's regular hours in one line as the pages print it (Desk); today's exception
// is the calendar's own (hours.Calendar.TodayText).
const msgHoursLine = "平日 %s / 土日 %s"

// Errors of the operator console's staff API (§6). Staff read them, in Japanese like the rest.
const (
	msgStaffUnauthorized  = "ログインしていないか、ログインの有効期限が切れました。スタッフ用ログイン画面からログインしてください。"
	msgStaffForbidden     = "この操作を行う権限がありません。"
	msgInvalidCode        = "登録コードが正しくないか、使用済みまたは有効期限切れです。管理者に新しい登録コードの発行を依頼してください。"
	msgStaffPasskeyFailed = "パスキーの確認ができませんでした。もう一度お試しください。"
	// msgDeviceBoundRequired refuses a synced passkey at enrollment (§6).
	msgDeviceBoundRequired = "同期されるパスキー(個人のクラウドアカウントに保存されるパスキー)はスタッフ用には使用できません。端末に保存されるセキュリティキー、またはパソコン内蔵の認証機能(Windows Hello など)で登録し直してください。"
)

// Refusals of the operator console's account API (§6).
const (
	msgReasonRequired    = "操作の理由を入力してください。"
	msgReasonTooLong     = "操作の理由は500文字以内で入力してください。"
	msgQueryRequired     = "口座番号またはログインIDを入力してください。"
	msgBadCursor         = "ページの指定が正しくありません。"
	msgAccountNotFound   = "該当するお客さまの口座が見つかりません。"
	msgOutsideHours      = "ただいま営業時間外です。一時ログインの受付は営業時間内にのみ開始できます。"
	msgNoOpenWindow      = "開いている一時ログインの受付はありません。"
	msgNoPasskey         = "このお客さまのパスキーは登録されていません。"
	msgStaffReadsLimited = "検索・履歴の表示回数が上限に達しました。しばらく時間をおいてから再度お試しください。"
	msgNothingToClear    = "解除するロックはありません。音声ガイダンスのロックもパスワードの一時停止もかかっていません。"
	// msgNoPasskeyNoWindow refuses a window the customer does not need.
	msgNoPasskeyNoWindow = "このお客さまはパスキーを作成していないため、ログインID・パスワードでそのままログインできます。一時ログインの受付は不要です。"
)

// The staff roles as the console names them.
var staffRoleNames = map[Role]string{
	RoleOperator:   "オペレーター",
	RoleSupervisor: "スーパーバイザー",
}
