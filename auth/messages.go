package auth

import (
	"fmt"
	"strings"
	"time"
)

// Customer-facing Japanese messages of the auth core, in one place for review.
const (
	msgMissingCredentials           = "ログインIDとパスワードを入力してください。"
	msgInvalidCredentials           = "ログインIDまたはパスワードが正しくありません。"
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
	msgEmailCheckChoose             = "メールに記載された絵文字を選択してください。"
	msgConditionalOnlyAfterRecovery = "この方法でのパスキーの作成は、一時的なログインの直後にのみ行えます。「パスキーを作成」ボタンからお試しください。"
	msgBadMediation                 = "リクエストの形式が正しくありません。"
	msgBusy                         = "ただいまログインが大変混み合っています。恐れ入りますが、しばらくしてから再度お試しください。"
)

// msgEmailCheckWrong refuses a wrong pick, which ends the check (§2.12).
const msgEmailCheckWrong = "選択された絵文字が正しくありません。このログインは無効になりました。もう一度ログインからやり直してください。なお、絵文字の選択を続けて間違えると、安全のため、ログインID・パスワードでのログインを24時間停止します。"

// msgClientLimited refuses a request over its address's limit. Many customers can share one
// address (a carrier's NAT), so it blames nobody.
const msgClientLimited = "ただいまお客様のネットワークからのアクセスが集中しているため、ご利用いただけません。恐れ入りますが、しばらくしてから再度お試しください。"

// The passkey_required refusal (§2.2) with the way out as the support desk tells it at the
// moment: the voice line's number, the operators' hours, today's exception and whether they
// answer now. Without a number the sentence names the voice line alone, never a blank.
const (
	msgPasskeyRequiredLead = "パスキーが作成されているため、パスキーでログインしてください。"
	msgWayOutNumbered      = "機種変更などでパスキーを利用したログインができない場合は、自動音声ダイヤル(%s)にお電話いただくと、%sログインID・パスワードでログインできます(営業時間外もご利用いただけます)。ログイン後、パスキーを再作成してください。"
	msgWayOut              = "機種変更などでパスキーを利用したログインができない場合は、自動音声ダイヤルにお電話いただくと、%sログインID・パスワードでログインできます(営業時間外もご利用いただけます)。ログイン後、パスキーを再作成してください。"
	msgOperatorHours       = "オペレーターの受付時間は%sです。"
)

// msgPasskeyRequired is the passkey_required message at the moment sup describes.
func msgPasskeyRequired(sup Support) string {
	var b strings.Builder
	b.WriteString(msgPasskeyRequiredLead)
	if sup.VoiceLine != "" {
		fmt.Fprintf(&b, msgWayOutNumbered, sup.VoiceLine, sup.Temporarily())
	} else {
		fmt.Fprintf(&b, msgWayOut, sup.Temporarily())
	}
	if sup.Hours != "" {
		fmt.Fprintf(&b, msgOperatorHours, sup.Hours)
	}
	for _, s := range []string{sup.Today, sup.Status} {
		if s != "" {
			b.WriteString(strings.TrimSuffix(s, "。") + "。")
		}
	}
	return b.String()
}

// providerNamesJa are the providers' names as the FAQ writes them (Apple's is the 「パスワード」
// app, which keeps the iCloud Keychain); the others are brand names, shown as they are.
var providerNamesJa = map[string]string{
	"iCloud Keychain":            "「パスワード」(iCloud キーチェーン)",
	"iCloud Keychain (Managed)":  "「パスワード」(iCloud キーチェーン・管理対象)",
	"Google Password Manager":    "Googleパスワードマネージャー",
	"Microsoft Password Manager": "Microsoftパスワードマネージャー",
}

// The password_paused refusal (§2.12): why, until when, and the voice line that lifts it at
// once. Passkey login is not paused.
const (
	msgPasswordPausedLead     = "ログイン追加認証に続けて失敗したため、安全のため、ログインID・パスワードでのログインを%sまで停止しています。"
	msgPasswordPausedNumbered = "自動音声ダイヤル(%s)にお電話いただき、ご本人確認ができると、すぐにログインできるようになります。"
	msgPasswordPausedLine     = "自動音声ダイヤルにお電話いただき、ご本人確認ができると、すぐにログインできるようになります。"
	msgPasswordPausedPasskey  = "パスキーでのログインは、これまでどおりご利用いただけます。"
)

// msgPasswordPaused is the password_paused message of a pause that ends at until.
func msgPasswordPaused(sup Support, until time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, msgPasswordPausedLead, formatJST(until))
	if sup.VoiceLine != "" {
		fmt.Fprintf(&b, msgPasswordPausedNumbered, sup.VoiceLine)
	} else {
		b.WriteString(msgPasswordPausedLine)
	}
	b.WriteString(msgPasswordPausedPasskey)
	return b.String()
}
