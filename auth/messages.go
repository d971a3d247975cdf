package auth

// Customer-facing Japanese messages of the auth core, in one place for review.
const (
	msgMissingCredentials  = "ログインIDとパスワードを入力してください。"
	msgInvalidCredentials  = "ログインIDまたはパスワードが正しくありません。"
	msgPasskeyRequired     = "パスキーが作成されているため、パスキーでログインしてください。パスキーでログインできない場合は、自動音声ダイヤルにお電話いただくと、一時的(30分間)にログインID・パスワードでログインできます。"
	msgRateLimited         = "ログインに続けて失敗したため、しばらくログインできません。時間をおいて再度お試しください。"
	msgUnauthorized        = "ログインしてください。"
	msgRecoverySessionOnly = "このログインではパスキーの作成・削除のみ行えます。パスキーを作成してから、パスキーでログインし直してください。"
	msgPasskeyExists       = "お客様ひとつのアカウントにつき作成可能なパスキーはひとつです。パスキーを利用する端末を変更する場合は、作成済みのパスキーを削除後、新しい端末にて再度パスキーの作成を行ってください。"
	msgSmartphoneRequired  = "パスキーの作成・利用にはスマートフォンをご利用ください。"
	msgNoPasskey           = "パスキーは作成されていません。"
	msgReauthRequired      = "パスキーを削除するには、もう一度ログインしてください。"
	msgCeremonyFailed      = "パスキーの確認ができませんでした。もう一度お試しください。"
	msgCeremonyExpired     = "時間切れです。もう一度最初からお試しください。"
)
