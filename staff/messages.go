package staff

// Japanese text of package staff, which staff members read, kept in one file so that it can be
// reviewed in one read.

// Refusals of the staff ceremonies and reads (§6).
const (
	msgInvalidCode        = "登録コードが正しくないか、使用済みまたは有効期限切れです。管理者に新しい登録コードの発行を依頼してください。"
	msgStaffPasskeyFailed = "パスキーの確認ができませんでした。もう一度お試しください。"
	// msgPasskeyCloned refuses a login from a key that appears to have been copied: retrying
	// cannot succeed.
	msgPasskeyCloned = "このパスキーは複製された可能性があるため、ログインを止めました。再試行せず、スーパーバイザーに連絡して新しい登録コードの発行を受け、パスキーを登録し直してください。"
	// msgDeviceBoundRequired refuses a synced passkey at enrollment.
	msgDeviceBoundRequired = "同期されるパスキー(個人のクラウドアカウントに保存されるパスキー)はスタッフ用には使用できません。端末に保存されるセキュリティキー、またはパソコン内蔵の認証機能(Windows Hello など)で登録し直してください。"
	// msgAuthenticatorNotAllowed refuses at enrollment a key that is not one of the models the
	// brokerage allows (KAGI_STAFF_AAGUIDS).
	msgAuthenticatorNotAllowed = "このセキュリティキーは、当社がスタッフ用に認めている機種ではありません。会社から支給されたセキュリティキーで登録してください。お手元にない場合はスーパーバイザーに相談してください。"
	// msgLoginAuthenticatorNotAllowed refuses a login with a passkey not enrolled on one of
	// the allowed models (enrolled before the allow-list, or of a model taken off it).
	msgLoginAuthenticatorNotAllowed = "このパスキーは、当社がスタッフ用に認めている機種で登録されたものではありません。スーパーバイザーに新しい登録コードの発行を依頼し、会社から支給されたセキュリティキーで登録し直してください。"
	msgReadsLimited                 = "検索・履歴の表示回数が上限に達しました。しばらく時間をおいてから再度お試しください。"
)
