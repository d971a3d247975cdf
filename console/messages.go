package console

import "kagi/staff"

// Japanese text of the operator console, which staff members read, kept in one file so that it
// can be reviewed in one read.

// Refusals of the console's session checks (§6).
const (
	msgStaffUnauthorized = "ログインしていないか、ログインの有効期限が切れました。スタッフ用ログイン画面からログインしてください。"
	msgStaffForbidden    = "この操作を行う権限がありません。"
)

// Refusals of the console's account API (§6).
const (
	msgReasonRequired    = "操作の理由を入力してください。"
	msgReasonTooLong     = "操作の理由は500文字以内で入力してください。"
	msgReasonUnprintable = "操作の理由に使えない文字（改行や制御文字）が含まれています。"
	msgQueryRequired     = "口座番号またはログインIDを入力してください。"
	msgBadCursor         = "ページの指定が正しくありません。"
	msgAccountNotFound   = "該当するお客さまの口座が見つかりません。"
	msgOutsideHours      = "ただいま営業時間外です。一時ログインの受付は営業時間内にのみ開始できます。"
	msgNoOpenWindow      = "開いている一時ログインの受付はありません。"
	msgNoPasskey         = "このお客さまのパスキーは登録されていません。"
	msgNothingToClear    = "解除するロックはありません。音声ガイダンスのロックもパスワードの一時停止もかかっていません。"
	// msgNoPasskeyNoWindow refuses a window the customer does not need.
	msgNoPasskeyNoWindow = "このお客さまはパスキーを作成していないため、ログインID・パスワードでそのままログインできます。一時ログインの受付は不要です。"
)

// Refusals of the console's staff management (§6 "Staff lifecycle"), for supervisors.
const (
	msgStaffExists   = "このログインIDのスタッフはすでに登録されています。別のログインIDを指定してください。"
	msgStaffNotFound = "該当するスタッフが見つかりません。一覧を読み込み直してください。"
	msgStaffDisabled = "このスタッフは無効化されています。登録コードを再発行するには、先に有効化してください。"
	msgOwnAccount    = "ご自身を無効化・降格することはできません。別のスーパーバイザーに依頼してください。"
	// msgStaffInvalid refuses a new staff member as entered: every rule at once, as the form
	// has all three fields in view.
	msgStaffInvalid = "入力内容を確認してください。ログインIDは半角英数字と「.」「_」「@」「-」で3〜64文字、氏名は必須で100文字以内、役割はオペレーターまたはスーパーバイザーです。"
	msgRoleInvalid  = "役割はオペレーターまたはスーパーバイザーを指定してください。"
)

// The staff roles as the console names them.
var staffRoleNames = map[staff.Role]string{
	staff.RoleOperator:   "オペレーター",
	staff.RoleSupervisor: "スーパーバイザー",
}
