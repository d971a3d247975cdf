package ivr

import "kagi/web"

// Everything the voice line says, in one place so that it can be reviewed in one read. The
// wording follows the brokerage's published passkey FAQ where it has any (「現在、こちらのサービス
// は利用できません」, 「ただいま営業時間外です」, the 30-minute ID/password login and re-creating
// the passkey after logging in). Sentences end with 「。」 so that the speech pauses between them.

// Speech settings of every <Say>.
const sayLanguage = "ja-JP"

// Withheld caller ID (§4.3.1): the number is how the caller is recognised, so ask for it.
const promptWithheld = "お客様の電話番号が通知されていないため、お手続きができません。" +
	"お手数ですが、電話番号の前に186をつけて、おかけ直しください。"

// The menu (§4.3.2).
const (
	promptWelcome = "お電話ありがとうございます。こちらは、パスキー専用の自動音声ダイヤルです。"
	promptMenu    = "パスキーでログインできないお客様が、一時的にログインID、パスワードでログインするためのお手続きは、1を、" +
		"オペレーターへのおつなぎは、0を、もう一度お聞きになる場合は、9を押してください。"
)

// The operator option (§4.3.2, §5). Outside hours the caller hears when the desk opens next
// (「次の受付開始は、12月26日の9時です。」), or the regular hours when that is not known; with
// support switched off, the FAQ's unavailable sentence.
const (
	promptConnecting         = "オペレーターにおつなぎします。"
	promptClosed             = "ただいま営業時間外です。"
	promptNextOpen           = "次の受付開始は、%sの%sです。" // the day (promptDate) and the time
	promptDate               = "%d月%d日"
	promptHours              = "営業時間は、%s。" // the calendar's hours sentence
	promptNoOperator         = "申し訳ございません。ただいまオペレーターにおつなぎできません。"
	promptSupportUnavailable = promptUnavailable
)

// Keyed input (§4.3.3, §4.3.4).
const (
	promptAccount      = "口座番号を入力し、最後にシャープを押してください。"
	promptPIN          = "ご登録の4桁の暗証番号を入力してください。"
	promptNotRecognise = "入力を確認できませんでした。"
)

// The second channel by text (§4.8): the code goes to the registered phone the call came from.
const (
	promptCodeSent          = "ご登録の電話番号に、SMSで6桁の確認コードをお送りしました。"
	promptCode              = "SMSに記載された6桁の確認コードを入力してください。"
	promptCodeVerifiedUntil = "確認コードの確認が取れました。%sまで、ログインID、パスワードを利用してログインが可能です。"
)

// Results (§4.3.5, §4.3.6, §4.4). promptFailed is the one sentence for every failed
// verification, whichever check failed; promptLocked is the one sentence for every lockout,
// whichever lock applies.
const (
	promptVerifiedUntil  = "確認が取れました。%sまで、ログインID、パスワードを利用してログインが可能です。"
	promptVerifiedWindow = "確認が取れました。一時的に、ログインID、パスワードを利用してログインが可能です。"
	promptRecreate       = "ウェブサイトにログイン後、セキュリティ設定画面から、パスキーを再作成してください。"
	promptNoPasskey      = "確認が取れました。お客様はパスキーを作成されていないため、ログインID、パスワードでそのままログインできます。"
	promptFailed         = "入力された内容では、お手続きができませんでした。"
	promptRetry          = "もう一度、口座番号から入力してください。"
	promptLocked         = "現在、お電話でのお手続きはご利用いただけません。恐れ入りますが、営業時間内にオペレーターまでお問い合わせください。"
	// promptLockedNoDesk replaces promptLocked while the support desk is switched off
	// (KAGI_SUPPORT_ENABLED=false): there is no operator to send the caller to.
	promptLockedNoDesk = "現在、お電話でのお手続きはご利用いただけません。"
	promptTooMany      = "お手続きを終了します。"
	promptGoodbye      = "お電話ありがとうございました。"
)

// promptUnavailable is said whenever the line cannot do its work (database down, panic,
// Twilio's fallback URL): the FAQ's sentence.
const promptUnavailable = web.Unavailable + "。"

// The second channel by call back (§4.8): the line hangs up and calls the registered number,
// whose answerer confirms with 1. promptCallbackAsk is the first thing the answerer hears.
const (
	promptCallbackPlaced = "ご本人確認のため、ご登録の電話番号に折り返しお電話します。いったんお電話をお切りになり、そのままお待ちください。"
	promptCallbackAsk    = "こちらは、パスキー専用の自動音声ダイヤルです。ただいま、お客様の口座で、一時的にログインID、パスワードでログインするためのお手続きがありました。" +
		"お客様ご自身のお手続きであれば、1を押してください。お心当たりがない場合は、2を押してください。"
	promptCallbackVerifiedUntil = "折り返しのお電話で確認が取れました。%sまで、ログインID、パスワードを利用してログインが可能です。"
	promptCallbackDeclined      = "お手続きを中止しました。お心当たりのないお手続きについては、営業時間内にオペレーターまでお問い合わせください。"
	promptCallbackNoKey         = "入力を確認できなかったため、お手続きを中止しました。"
)
