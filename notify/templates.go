package notify

// Every word notify says to a customer is in this file, so it can be reviewed in one read.
// The wording follows the brokerage's passkey FAQ. No template may hold a link, an address, a
// phone number or anything a mail client could turn into one: RenderEmail and RenderSMS refuse
// such output (SPEC §7), and the tests render every template.

// Layouts of times in customer text, in JST: the year is left out of texts, which are short.
const (
	tmplTimeLayout      = "2006年1月2日 15:04"
	tmplShortTimeLayout = "1月2日 15:04"
)

// tmplHonorific follows the account holder's name; tmplAnonymous stands for a name that cannot
// be shown.
const (
	tmplHonorific = "様"
	tmplAnonymous = "お客様"
)

// tmplChannels names who opened a fallback window, as the FAQ does.
var tmplChannels = map[string]string{
	ChannelIVR:      "自動音声ダイヤル",
	ChannelOperator: "サポート窓口",
}

// tmplConfirmations names the second channel that confirmed a voice-line caller (§4.8).
var tmplConfirmations = map[string]string{
	"sms":      "ご登録の電話番号へのSMS(確認コード)",
	"callback": "ご登録の電話番号への折り返しのお電話",
}

// tmplMethods names how a login was made.
var tmplMethods = map[string]string{
	"passkey":  "パスキー",
	"password": "ログインID・パスワード",
}

// tmplContacts names what the back office changed (Event.Contacts), joined by tmplContactsSep.
var tmplContacts = map[string]string{
	ContactName:   "お名前",
	ContactEmail:  "メールアドレス",
	ContactPhones: "電話番号",
}

const tmplContactsSep = "・"

// tmplShared are the parts the emails have in common. "notYou" is for events the customer may
// not have started; "footer" ends every email, signed with the brokerage's name when it is
// configured (KAGI_BRAND_NAME). No part names the sender's address: the From header shows it,
// and no body may hold an address (SPEC §7).
const tmplShared = `
{{- define "greeting"}}{{.Name}}

いつも当社をご利用いただき、ありがとうございます。
{{end}}

{{- define "notYou"}}
お心当たりがない場合は、第三者による不正な操作のおそれがあります。
至急、サポート窓口までお電話でご連絡ください。
{{template "supportNumber"}}
{{template "noLink"}}
{{- end}}

{{- define "supportNumber"}}サポート窓口の電話番号は、このメールには記載しておりません。
お手元の書類や、普段お使いの当社ウェブサイトでご確認ください。
{{end}}

{{- define "noLink"}}当社からのパスキー関連メールには、パスキー設定ページへのリンクは一切ありません。
リンクがあるメールは全てフィッシング詐欺です。絶対にクリックしないでください。
{{end}}

{{- define "footer"}}
――――――――――――――――――――
{{if .Brand}}{{.Brand}}
{{end}}このメールは送信専用です。ご返信いただいてもお答えできませんので、ご了承ください。
{{end}}`

// tmplEmail is the subject and body of each kind's email.
var tmplEmail = map[Kind]struct{ Subject, Body string }{
	KindLogin: {
		Subject: "ログインのお知らせ",
		Body: `{{template "greeting" .}}
お客様の口座へのログインがありましたので、お知らせいたします。

ログイン日時：{{.At}}
ログイン方法：{{.Method}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindWindowLogin: {
		Subject: "【重要】ログインID・パスワードによるログインのお知らせ",
		Body: `{{template "greeting" .}}
一時的に利用可能となっているログインID・パスワードで、お客様の口座へのログインがありました。

ログイン日時：{{.At}}
{{- if .Until}}
ログインID・パスワードの利用期限：{{.Until}}まで
{{- end}}

ログイン後、セキュリティ設定画面からパスキーを再作成してください。
パスキーを作成すると、以降のログインはすべてパスキー認証に切り替わります。
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindEmailCheck: {
		Subject: "【ログイン追加認証】絵文字のお知らせ",
		Body: `{{template "greeting" .}}
ログイン追加認証のための絵文字をお知らせいたします。
ログイン画面に表示される絵文字の中から、下記と同じ絵文字を選択してください。

絵文字：{{.Emoji}}
有効期限：{{.Until}}まで
ログイン操作の日時：{{.At}}

有効期限を過ぎた場合は、お手数ですが最初からログインをやり直してください。
この絵文字は、他の人には絶対に教えないでください。

ログインのお心当たりがない場合は、第三者がお客様のパスワードを知っているおそれがあります。
至急パスワードを変更のうえ、サポート窓口までお電話でご連絡ください。
サポート窓口の電話番号は、このメールには記載しておりません。
お手元の書類や、普段お使いの当社ウェブサイトでご確認ください。

ログイン追加認証のメールに、リンクが記載されることはありません。
{{template "footer" .}}`,
	},
	KindPasskeyCreated: {
		Subject: "【重要】パスキー作成のお知らせ",
		Body: `{{template "greeting" .}}
お客様の口座にパスキーが作成されました。
以降のログインはすべてパスキー認証に切り替わります。

作成日時：{{.At}}
{{- if .Provider}}
パスキー保存先：{{.Provider}}
{{- end}}

パスキーを削除することで、ログインID・パスワードでのログインに戻すことができます。
パスキーの削除は、ログイン後のセキュリティ設定画面から行えます。
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindPasskeyReplaced: {
		Subject: "【重要】パスキー再作成のお知らせ",
		Body: `{{template "greeting" .}}
一時的に利用可能となったログインID・パスワードでのログイン後に、パスキーが再作成されました。
以前のパスキーは削除され、ご利用いただけなくなりました。
以降のログインは、新しいパスキーで行ってください。

再作成日時：{{.At}}
{{- if .Provider}}
パスキー保存先：{{.Provider}}
{{- end}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindPasskeyDeleted: {
		Subject: "【重要】パスキー削除のお知らせ",
		Body: `{{template "greeting" .}}
お客様の口座のパスキーが削除されました。
{{- if .Recovery}}
この削除は、自動音声ダイヤルまたはサポート窓口での本人確認のお手続きを経て行われました。
{{- end}}
以降のログインは、ログインID・パスワードでのログインに戻ります。

削除日時：{{.At}}
{{- if .Provider}}
削除されたパスキーの保存先：{{.Provider}}
{{- end}}

パスキーは、ログイン後のセキュリティ設定画面から再度作成できます。
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindWindowOpened: {
		Subject: "【重要】ログインID・パスワードでのログイン受付のお知らせ",
		Body: `{{template "greeting" .}}
{{.Channel}}でのお手続きにより、お客様の口座で、ログインID・パスワードを利用したログインが一時的に可能となりました。

受付日時：{{.At}}
受付窓口：{{.Channel}}
{{- if .Confirmed}}
確認方法：{{.Confirmed}}
{{- end}}
利用期限：{{.Until}}まで

期限までにログインID・パスワードでログインし、セキュリティ設定画面からパスキーを再作成してください。
期限を過ぎると、ログインには再びパスキーが必要になります。
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindVoiceLockout: {
		Subject: "【重要】自動音声ダイヤルのご利用停止のお知らせ",
		Body: `{{template "greeting" .}}
自動音声ダイヤルでの本人確認に続けて失敗があったため、お客様の口座での自動音声ダイヤルのご利用を一時的に停止いたしました。

停止日時：{{.At}}
停止期限：{{.Until}}まで

お急ぎの場合は、営業時間内（平日 8:30〜17:00、土日 9:00〜17:00）に、サポート窓口までお電話でご連絡ください。
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindWindowClosed: {
		Subject: "【重要】ログインID・パスワードでのログイン受付終了のお知らせ",
		Body: `{{template "greeting" .}}
サポート窓口でのお手続きにより、お客様の口座でのログインID・パスワードを利用した一時的なログインの受付を終了しました。
以降のログインには、パスキーが必要です。

終了日時：{{.At}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindVoiceLockoutCleared: {
		Subject: "【重要】自動音声ダイヤルのご利用再開のお知らせ",
		Body: `{{template "greeting" .}}
サポート窓口でのお手続きにより、お客様の口座での自動音声ダイヤルのご利用停止を解除しました。
自動音声ダイヤルでの本人確認を、再びご利用いただけます。

解除日時：{{.At}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindPasswordPaused: {
		Subject: "【重要】ログインID・パスワードでのログイン一時停止のお知らせ",
		Body: `{{template "greeting" .}}
24時間以内に、ログイン追加認証（メールでの絵文字認証）で誤った絵文字が3回選択されたため、お客様の口座でのログインID・パスワードによるログインを一時的に停止いたしました。

停止日時：{{.At}}
停止期限：{{.Until}}まで

パスキーでのログインは、これまでどおりご利用いただけます。
ログインID・パスワードでのログインは、停止期限を過ぎると再びご利用いただけます。
お急ぎの場合は、自動音声ダイヤルにお電話いただき、本人確認が完了すると、期限前でも停止を解除いたします。
自動音声ダイヤルの電話番号は、このメールには記載しておりません。
当社ウェブサイトのログイン画面や、お手元の書類でご確認ください。

ログインのお心当たりがない場合は、第三者がお客様のパスワードを知っているおそれがあります。
ログインできるようになりましたら、至急パスワードを変更してください。
ご不明な点は、サポート窓口までお電話でご連絡ください。
{{template "supportNumber"}}
{{template "noLink"}}{{template "footer" .}}`,
	},
	KindPasswordPauseLifted: {
		Subject: "【重要】ログインID・パスワードでのログイン一時停止の解除のお知らせ",
		Body: `{{template "greeting" .}}
{{.Channel}}でのお手続きにより、お客様の口座でのログインID・パスワードによるログインの一時停止を解除しました。
ログインID・パスワードでのログインを、再びご利用いただけます。

解除日時：{{.At}}
解除窓口：{{.Channel}}

パスワードにご不安がある場合は、ログイン後、パスワードを変更してください。
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindPasskeyAdded: {
		Subject: "【重要】パスキー作成と出金等の一時制限のお知らせ",
		Body: `{{template "greeting" .}}
ログインID・パスワードでのログイン後に、お客様の口座に初めてのパスキーが作成されました。
以降のログインはすべてパスキー認証に切り替わります。

作成日時：{{.At}}
{{- if .Provider}}
パスキー保存先：{{.Provider}}
{{- end}}

お客様の資産を守るため、出金と出金先の金融機関口座の変更は、{{.Until}}までお受けできません。
期限を過ぎると、通常どおりご利用いただけます。
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindCallbackDeclined: {
		Subject: "【重要】自動音声ダイヤルでのお手続きについてのお知らせ",
		Body: `{{template "greeting" .}}
お客様の口座番号と暗証番号で、自動音声ダイヤルへのお電話がありました。
ご本人確認のため、ご登録の電話番号へ折り返しお電話したところ、「お心当たりがない」とのご回答をいただきました。
このため、ログインID・パスワードでの一時的なログインは受け付けておりません。

ご回答日時：{{.At}}

第三者がお客様の口座番号と暗証番号を知っているおそれがあります。
至急、サポート窓口までお電話でご連絡ください。
{{template "supportNumber"}}
お客様ご自身のお手続きで、誤って1以外のボタンを押された場合は、お手数ですが、改めて自動音声ダイヤルからお手続きください。

{{template "noLink"}}{{template "footer" .}}`,
	},
	KindPasswordChanged: {
		Subject: "【重要】パスワード変更のお知らせ",
		Body: `{{template "greeting" .}}
お客様の口座のログインパスワードが変更されました。
安全のため、ほかの端末やブラウザーでのログインはすべて終了しました。
次回から、ログインID・パスワードでのログインには新しいパスワードをご利用ください。

変更日時：{{.At}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindContactChanged: {
		Subject: "【重要】ご登録内容変更のお知らせ",
		Body: `{{template "greeting" .}}
当社にて、お客様のご登録内容（{{.Contacts}}）を変更いたしました。
このお知らせは、変更前と変更後のご連絡先の両方にお送りしています。

変更日時：{{.At}}
変更内容：{{.Contacts}}
{{- if .Until}}

お客様の資産を守るため、出金と出金先の金融機関口座の変更は、{{.Until}}までお受けできません。
期限を過ぎると、通常どおりご利用いただけます。
{{- end}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindPasswordReset: {
		Subject: "【重要】パスワード再設定のお知らせ",
		Body: `{{template "greeting" .}}
当社にて、お客様のログインパスワードを再設定いたしました。
以前のパスワードは、ご利用いただけなくなりました。
新しいパスワードは、当社からお届けする書面などでご確認ください。
安全のため、ご利用中のすべての端末でログアウトしております。

再設定日時：{{.At}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
	KindAccountSuspended: {
		Subject: "【重要】口座のご利用停止のお知らせ",
		Body: `{{template "greeting" .}}
当社にて、お客様の口座のご利用を停止いたしました。
ご利用停止中は、パスキー、ログインID・パスワードのいずれでもログインできません。
自動音声ダイヤルでのお手続きも、ご利用いただけません。
ご利用中のすべての端末で、ログアウトしております。

停止日時：{{.At}}

ご不明な点は、サポート窓口までお電話でお問い合わせください。
{{template "supportNumber"}}
{{template "noLink"}}{{template "footer" .}}`,
	},
	KindAccountResumed: {
		Subject: "【重要】口座のご利用再開のお知らせ",
		Body: `{{template "greeting" .}}
当社にて、お客様の口座のご利用停止を解除いたしました。
これまでどおり、ログインいただけます。

再開日時：{{.At}}
{{template "notYou" .}}{{template "footer" .}}`,
	},
}

// tmplSMSBrand opens every text with the brokerage's name (SPEC §4.9), so the customer knows
// who writes before reading on; without a configured name (KAGI_BRAND_NAME) it is left out.
const tmplSMSBrand = `{{if .Brand}}【{{.Brand}}】{{end}}`

// tmplSMS is the text of each kind that is texted (Event.Texted), after tmplSMSBrand: short (one
// SMS of 70 characters where the brand's name leaves room), no name, no link. Times are in the
// short layout.
var tmplSMS = map[Kind]string{
	KindWindowOpened:        `{{.Channel}}の手続きで{{.Until}}までID・パスワードでログインできます。心当たりがなければサポート窓口へお電話ください。`,
	KindPasskeyReplaced:     `{{.At}}にパスキーが再作成されました。心当たりがなければ至急サポート窓口へお電話ください。`,
	KindPasskeyDeleted:      `{{.At}}にパスキーが削除されました。心当たりがなければ至急サポート窓口へお電話ください。`,
	KindVoiceLockout:        `本人確認の失敗が続き、自動音声ダイヤルを{{.Until}}まで停止します。心当たりがなければ営業時間内にサポート窓口へお電話ください。`,
	KindVoiceLockoutCleared: `{{.At}}に自動音声ダイヤルの停止が解除されました。心当たりがなければ至急サポート窓口へお電話ください。`,
	KindPasswordPaused: `ログイン追加認証に3回失敗し、{{.Until}}までID・パスワードでのログインを停止します。パスキーは使えます。` +
		`自動音声ダイヤルでの本人確認で早く解除できます。心当たりがなければパスワード漏えいのおそれがあります。サポート窓口へお電話ください。`,
	KindPasswordPauseLifted: `{{.Channel}}の手続きでID・パスワードでのログイン停止が解除されました。心当たりがなければ至急サポート窓口へお電話ください。`,
	KindPasskeyAdded:        `{{.At}}にパスキーが作成されました。出金・出金先の変更は{{.Until}}まで停止します。心当たりがなければ至急サポート窓口へお電話ください。`,
	KindPasswordChanged:     `{{.At}}にパスワードが変更されました。心当たりがなければ至急サポート窓口へお電話ください。`,
	KindContactChanged: `{{.At}}にご登録の{{.Contacts}}が変更されました。{{if .Until}}出金・出金先の変更は{{.Until}}まで停止します。{{end}}` +
		`心当たりがなければ至急サポート窓口へお電話ください。`,
	KindPasswordReset: `{{.At}}にパスワードが再設定され、すべての端末でログアウトしました。心当たりがなければ至急サポート窓口へお電話ください。`,
}

// tmplCodeSMS is the text of the voice line's confirmation code (§4.8, §4.9), after
// tmplSMSBrand: the code, until when it works, what it unlocks, that the brokerage — its staff
// included — never asks anyone for it, since whoever reads it to the line opens the temporary
// login, and what to do when the customer did not call. No name, no link, no phone number; at
// most two messages (134 characters) with a brand's name of four.
const tmplCodeSMS = `確認コード{{.Code}}（{{.Until}}まで有効）。ログインID・パスワードでの一時的なログイン用です。` +
	`当社や社員がこのコードを尋ねることはありません。誰にも教えないでください。お電話されていない場合は入力せず、サポート窓口へご連絡ください。`
