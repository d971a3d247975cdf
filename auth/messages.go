package auth

import "fmt"

// Customer-facing Japanese messages of the auth core, in one place for review.
const (
	msgMissingCredentials           = "ログインIDとパスワードを入力してください。"
	msgInvalidCredentials           = "ログインIDまたはパスワードが正しくありません。"
	msgPasskeyRequired              = "パスキーが作成されているため、パスキーでログインしてください。パスキーでログインできない場合は、自動音声ダイヤルにお電話いただくと、一時的(30分間)にログインID・パスワードでログインできます。"
	msgRateLimited                  = "ログインに続けて失敗したため、しばらくログインできません。時間をおいて再度お試しください。"
	msgUnauthorized                 = "ログインしてください。"
	msgRecoverySessionOnly          = "このログインではパスキーの作成・削除のみ行えます。パスキーを作成してから、パスキーでログインし直してください。"
	msgPasskeyExists                = "お客様ひとつのアカウントにつき作成可能なパスキーはひとつです。パスキーを利用する端末を変更する場合は、作成済みのパスキーを削除後、新しい端末にて再度パスキーの作成を行ってください。"
	msgSmartphoneRequired           = "パスキーの作成・利用にはスマートフォンをご利用ください。"
	msgNoPasskey                    = "パスキーは作成されていません。"
	msgReauthRequired               = "パスキーを削除するには、もう一度ログインしてください。"
	msgCeremonyFailed               = "パスキーの確認ができませんでした。もう一度お試しください。"
	msgCeremonyExpired              = "時間切れです。もう一度最初からお試しください。"
	msgEmailCheckExpired            = "確認の有効期限(5分)が切れました。お手数ですが、もう一度ログインからやり直してください。"
	msgEmailCheckTooManyWrong       = "絵文字の選択を3回間違えたため、このログインは無効になりました。もう一度ログインからやり直してください。"
	msgEmailCheckChoose             = "メールに記載された絵文字を選択してください。"
	msgConditionalOnlyAfterRecovery = "この方法でのパスキーの作成は、一時的なログインの直後にのみ行えます。「パスキーを作成」ボタンからお試しください。"
	msgBadMediation                 = "リクエストの形式が正しくありません。"
	msgBusy                         = "ただいまログインが大変混み合っています。恐れ入りますが、しばらくしてから再度お試しください。"
)

// msgEmailCheckWrong is the refusal of a wrong pick, with the picks left.
func msgEmailCheckWrong(left int) string {
	return fmt.Sprintf("選択された絵文字が正しくありません。メールに記載された絵文字を選択してください(あと%d回)。", left)
}

// msgClientLimited refuses a request over its address's limit. Many customers can share one
// address (a carrier's NAT), so it blames nobody.
const msgClientLimited = "ただいまお客様のネットワークからのアクセスが集中しているため、ご利用いただけません。恐れ入りますが、しばらくしてから再度お試しください。"
