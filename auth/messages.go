package auth

import (
	"fmt"
	"strings"
	"time"

	"kagi/web"
)

// Customer-facing Japanese messages of the auth core, in one place for review.
const (
	msgMissingCredentials           = "ログインIDとパスワードを入力してください。"
	msgPasswordTooLong              = "パスワードが長すぎます。ご登録のパスワードを入力してください。"
	msgInvalidCredentials           = "ログインIDまたはパスワードが正しくありません。"
	msgRateLimited                  = "ログインに続けて失敗したため、しばらくログインできません。時間をおいて再度お試しください。"
	msgUnauthorized                 = "ログインしてください。"
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
	msgNotFound                     = "お探しのページは見つかりません。"
)

// msgLoginNotTried is the refusal of a password login that is not even tried: a field left
// empty, else a password longer than any account's (the caller's limit). A customer who pasted
// a whole page into the field is told what is wrong with it, not to fill in the form.
func msgLoginNotTried(loginID, password string) string {
	if loginID == "" || password == "" {
		return msgMissingCredentials
	}
	return msgPasswordTooLong
}

// msgEmailCheckWrong refuses a wrong pick, which ends the check (§2.12).
const msgEmailCheckWrong = "選択された絵文字が正しくありません。このログインは無効になりました。もう一度ログインからやり直してください。なお、絵文字の選択を続けて間違えると、安全のため、ログインID・パスワードでのログインを24時間停止します。"

// msgClientLimited refuses a request over its address's limit. Many customers can share one
// address (a carrier's NAT), so it blames nobody.
const msgClientLimited = "ただいまお客様のネットワークからのアクセスが集中しているため、ご利用いただけません。恐れ入りますが、しばらくしてから再度お試しください。"

// The passkey_required refusal (§2.2) with the way out as the support desk tells it at the
// moment: the voice line's number, the operators' hours, today's exception and whether they
// answer now. Without a number the sentence names the voice line alone, never a blank. It is
// kept short, for the space under a login button: what to do after the login (create the
// passkey again) the recovery page tells, and the voice line says, when it matters. The
// voice line answers at any hour, the operators only in theirs, so every sentence about the
// hours or about now names the operators: 「ただいま営業時間外です」 right after 「営業時間外も
// ご利用いただけます」 would read as if the voice line were closed.
const (
	msgPasskeyRequiredLead = "パスキーが作成されているため、パスキーでログインしてください。"
	msgWayOutNumbered      = "パスキーでログインできない場合は、自動音声ダイヤル(%s)にお電話いただくと、%sログインID・パスワードでログインできます(営業時間外もご利用いただけます)。"
	msgWayOut              = "パスキーでログインできない場合は、自動音声ダイヤルにお電話いただくと、%sログインID・パスワードでログインできます(営業時間外もご利用いただけます)。"
	msgOperatorHours       = "オペレーターの受付時間は%sです。"
	msgOperatorsOpen       = "オペレーターの受付%sは、ただいま営業時間内です。"
	msgOperatorsClosed     = "オペレーターの受付%sは、ただいま営業時間外です。"
	msgOperatorsOff        = "オペレーターの受付は、現在ご利用いただけません。"
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
	b.WriteString(msgOperators(sup))
	return b.String()
}

// msgOperators is whether the operators answer now, with their hours, then today's exception;
// "" when the desk tells nothing. Switched off, they have no hours to tell.
func msgOperators(sup Support) string {
	var b strings.Builder
	switch hours := sup.Hours; {
	case sup.Status != "" && sup.Open:
		fmt.Fprintf(&b, msgOperatorsOpen, inParens(hours))
	case sup.Status == web.Unavailable:
		return msgOperatorsOff
	case sup.Status != "":
		fmt.Fprintf(&b, msgOperatorsClosed, inParens(hours))
	case hours != "":
		fmt.Fprintf(&b, msgOperatorHours, hours)
	}
	if sup.Today != "" {
		b.WriteString(strings.TrimSuffix(sup.Today, "。") + "。")
	}
	return b.String()
}

// msgOperatorsNow says whether the operators answer now, for a page that shows their hours
// beside it; "" when the desk does not say.
func msgOperatorsNow(sup Support) string {
	return msgOperators(Support{Open: sup.Open, Status: sup.Status})
}

func inParens(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
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

// The customer's own password change (SPEC §12.3): the refusals of POST /api/v1/password.
const (
	msgPasswordChangeMissing = "現在のパスワードと新しいパスワードを入力してください。"
	msgCurrentPasswordWrong  = "現在のパスワードが正しくありません。"
	// msgCurrentPasswordTooLong is a current password longer than any account's: not tried.
	msgCurrentPasswordTooLong = "現在のパスワードが長すぎます。ご登録のパスワードを入力してください。"
	msgPasswordLength         = "新しいパスワードは8文字以上256文字以内で入力してください。"
	msgPasswordUnchanged      = "新しいパスワードには、現在のパスワードと異なるものを入力してください。"
	msgPasswordIsLoginID      = "ログインIDと同じ文字列は、パスワードに設定できません。"
	// msgPasswordChangeLimited answers a change whose login ID is throttled: the wrong current
	// passwords counted where the login's wrong passwords count, so the login is held too.
	msgPasswordChangeLimited = "パスワードの入力に続けて失敗したため、しばらくパスワードの変更とログインID・パスワードでのログインができません。時間をおいて再度お試しください。"
	msgPasswordChangeBusy    = "ただいま大変混み合っています。恐れ入りますが、しばらくしてから再度お試しください。"
	// msgPasswordChangeRecovery refuses the change to a recovery-only session (§2.11).
	msgPasswordChangeRecovery = "自動音声ダイヤルでの本人確認による一時的なログインでは、パスワードを変更できません。パスキーの作成・削除の後、もう一度ログインしてから変更してください。"
)

// passwordFormText is what the security settings page's password change form says (§12.3): its
// heading, what the change does, the fields, the button, the rule a new password follows, and
// what the page's script shows by the form — the change done, or the two new passwords apart.
// Refusals come from the API's messages above.
var passwordFormText = passwordFormTextView{
	Title:    "パスワードの変更",
	Lead:     "ログインID・パスワードでのログイン(自動音声ダイヤルによる一時的なログインを含む)に使うパスワードを変更します。変更すると、ほかの端末やブラウザーでのログインはすべて終了し、メールとSMS(携帯電話番号をご登録の場合)でお知らせします。",
	Current:  "現在のパスワード",
	New:      "新しいパスワード",
	Confirm:  "新しいパスワード(確認)",
	Rule:     "8文字以上256文字以内で、ログインIDや現在のパスワードと異なるものを設定してください。",
	Submit:   "パスワードを変更",
	Done:     "パスワードを変更しました。ほかの端末やブラウザーでのログインは終了しました。次回から新しいパスワードでログインしてください。",
	Mismatch: "新しいパスワードと確認用のパスワードが一致しません。",
}

// The back-office API (§12.2). Its callers are the brokerage's servers and staff, but every
// error body carries a Japanese message like the rest of kagi's.
const (
	msgBackOfficeNotFound     = "指定された口座番号の口座は見つかりません。"
	msgBackOfficeInvalid      = "入力内容に誤りがあります。problems の各項目をご確認ください。"
	msgBackOfficeLoginIDInUse = "このログインIDは、すでに他の口座で使用されています。"
	msgBackOfficeNumberInUse  = "この口座番号の口座は、すでに登録されています。"
	msgBackOfficeBusy         = "ただいま大変混み合っています。恐れ入りますが、しばらくしてから再度お試しください。"
)

// The account_suspended refusal (§12.2): every login of a suspended account, whatever was
// typed, names the support desk and, when the desk tells them, the operators' hours.
const msgAccountSuspendedLead = "お客様の口座は、現在ご利用を停止しております。ログインについては、サポート窓口までお電話でお問い合わせください。"

// msgAccountSuspended is the account_suspended message at the moment sup describes.
func msgAccountSuspended(sup Support) string {
	return msgAccountSuspendedLead + msgOperators(sup)
}
