package ivr

import "kagi/web"

// Everything the voice line says, in one place so that it can be reviewed in one read. The
// wording follows the brokerage's published passkey FAQ where it has any (「現在、こちらのサービス
// は利用できません」, 「ただいま営業時間外です」, the 30-minute ID/password login and re-creating
// the passkey after logging in), except that the FAQ's written 「ログインID、パスワード」 is said
// 「ログインIDとパスワード」: a comma is not heard. Sentences are short and end with 「。」 so
// that the speech pauses between them.

// Speech settings of every <Say>.
const sayLanguage = "ja-JP"

// Withheld caller ID (§4.3.1): the number is how the caller is recognised, so ask for it. The
// prefix is spelled out digit by digit: a Japanese voice reads the figures 186 as a number
// (「ひゃくはちじゅうろく」), which is not what to key in.
const promptWithheld = "お客様の電話番号が通知されていないため、お手続きができません。" +
	"お手数ですが、電話番号の前に、いち・はち・ろく、をつけて、おかけ直しください。"

// The menu (§4.3.2): one short clause per key, the key at its end (「…は1を、」), so the caller
// hears what a key does before hearing the key, and the comma pauses between them. It is said
// once in every call, so it is kept short: a whole recovery must stay within
// maxSpokenRecovery characters.
const (
	promptWelcome = "お電話ありがとうございます。パスキー専用の自動音声ダイヤルです。"
	promptMenu    = "ログインIDとパスワードでの一時的なログインは1を、" +
		"オペレーターは0を、" +
		"もう一度お聞きになるには9を、押してください。"
)

// The operator option (§4.3.2, §5). Outside hours the caller hears the regular hours and, when
// it is known, when the desk opens next (「次の受付開始は、12月26日の午前9時です。」), which
// holds on closed days and days of special hours too; with support switched off, the FAQ's
// unavailable sentence. A transfer nobody answers (busy, no answer, failed) comes back to the
// menu with promptOperatorBusy.
const (
	promptConnecting = "オペレーターにおつなぎします。"
	promptClosed     = "ただいま営業時間外です。"
	// promptHours says Config.HoursText, the regular hours (promptRegularHours with four times
	// of day).
	promptHours        = "営業時間は、%s。"
	promptRegularHours = "平日は%sから%sまで、土曜日・日曜日は%sから%sまでです"
	// promptNextOpen says the day (promptOnDate) and the time of day.
	promptNextOpen           = "次の受付開始は、%s%sです。"
	promptNoOperator         = "申し訳ございません。ただいまオペレーターにおつなぎできません。"
	promptOperatorBusy       = "申し訳ございません。ただいまオペレーターが大変混み合っております。"
	promptSupportUnavailable = promptUnavailable
)

// Times of day and lengths of time, as the line says them: a 12-hour clock with 午前/午後 and
// no 「0分」 (「午前0時3分」, 「午後5時」), a day only when it is not today (「明日の」,
// 「12月26日の」), a length in minutes or hours (「30分間」, 「24時間」).
const (
	promptMorning       = "午前"
	promptAfternoon     = "午後"
	promptClockHour     = "%s%d時"
	promptClockMinute   = "%s%d時%d分"
	promptTomorrow      = "明日の"
	promptOnDate        = "%d月%d日の"
	promptForMinutes    = "%d分間"
	promptForHours      = "%d時間"
	promptForHoursMins  = "%d時間%d分間"
	promptLengthAndTime = "%s、%s" // the length, then the day and time
)

// Keyed input (§4.3.3, §4.3.4). The account number is 1 to maxAccountDigits digits, as the auth
// core accepts them. promptNotRecognise answers no input, or input that is not what was asked
// for (too few digits); promptNotOnMenu a key the menu does not offer, before the menu again.
const (
	promptAccount      = "12桁以内の口座番号を入力し、最後にシャープを押してください。"
	promptPIN          = "4桁の暗証番号を入力してください。"
	promptNotRecognise = "入力を確認できませんでした。"
	promptNotOnMenu    = "押された番号は、メニューにありません。"
)

// The second channel by text (§4.8): the code goes to the registered phone the call came from.
// A wrong code is asked for again (promptCodeWrong, then promptCode): the code texted stays
// valid, so the caller need not start over.
const (
	promptCodeSent          = "ご登録の電話番号に、SMSで6桁の確認コードをお送りしました。"
	promptCode              = "確認コードを入力してください。"
	promptCodeWrong         = "確認コードが正しくありません。"
	promptCodeVerifiedUntil = "確認コードを確認しました。%sまで、ログインIDとパスワードを利用してログインが可能です。"
)

// Sends are capped (§4.8): past the cap nothing is texted or called, and the caller is told the
// registered phone was contacted already, then how to reach the operator (promptLockedOperator
// and the hours). A code is good only on the call it was texted for, so the caller is never
// told to key in an earlier one; a call back already placed may still be on its way.
const (
	promptCodeCapped     = "ご登録の電話番号には、すでに何度か確認コードをお送りしているため、ただいまはお送りできません。しばらくたってから、おかけ直しください。"
	promptCallbackCapped = "ご登録の電話番号には、すでに何度か折り返しのお電話をしているため、ただいまはおかけできません。折り返しのお電話をお待ちいただくか、しばらくたってから、おかけ直しください。"
)

// Results (§4.3.5, §4.3.6, §4.4). The %s of the window's end is its length and end
// (「30分間、明日の午前0時3分」). promptFailed is the one sentence for every failed
// verification, whichever check failed; promptLocked is the one sentence for every lockout,
// whichever lock applies (both last 24 hours, recovery.DefaultLockout), followed by how to reach
// the operator (promptLockedOperator and the hours) or, while the support desk is switched off
// (KAGI_SUPPORT_ENABLED=false), the unavailable sentence.
const (
	promptVerifiedUntil  = "確認が取れました。%sまで、ログインIDとパスワードを利用してログインが可能です。"
	promptRecreate       = "ログイン後、セキュリティ設定画面から、パスキーを再作成してください。"
	promptPauseLifted    = "ログインIDとパスワードでのログインの停止を、解除しました。"
	promptNoPasskey      = "確認が取れました。お客様はパスキーを作成されていないため、ログインIDとパスワードでそのままログインできます。"
	promptFailed         = "入力された内容では、お手続きができませんでした。"
	promptRetry          = "もう一度、口座番号から入力してください。"
	promptLocked         = "現在、お電話でのお手続きはご利用いただけません。入力の誤りが続いたため、お手続きを24時間停止しております。"
	promptLockedOperator = "オペレーターへのお問い合わせは、営業時間内にお電話いただき、メニューで0を押してください。"
	promptTooMany        = "お手続きを終了します。"
	// promptSuspended refuses an account the brokerage has suspended (§12.2), said only to a
	// caller who passed the keyed checks, then how to reach the operators of the support desk.
	promptSuspended = "お客様の口座は、現在ご利用を停止しているため、お電話でのお手続きはお受けできません。お手続きについては、サポート窓口までお問い合わせください。"
	promptGoodbye   = "お電話ありがとうございました。"
)

// promptUnavailable is said whenever the line cannot do its work (database down, panic,
// Twilio's fallback URL): the FAQ's sentence.
const promptUnavailable = web.Unavailable + "。"

// The second channel by call back (§4.8): the line hangs up and calls the registered number,
// whose answerer confirms with 1. The first thing the answerer hears is who is calling
// (promptCallbackBrand with Config.Brand, §4.9), then promptCallbackAsk.
const (
	promptCallbackPlaced = "ご本人確認のため、ご登録の電話番号に折り返しお電話します。いったんお電話をお切りになり、そのままお待ちください。"
	promptCallbackBrand  = "こちらは、%sです。"
	promptCallbackAsk    = "パスキー専用の自動音声ダイヤルから、お電話しています。ただいま、お客様の口座で、一時的にログインIDとパスワードでログインするためのお手続きがありました。" +
		"お客様ご自身のお手続きであれば、1を押してください。お心当たりがない場合は、2を押してください。"
	promptCallbackVerifiedUntil = "折り返しのお電話で確認が取れました。%sまで、ログインIDとパスワードを利用してログインが可能です。"
	promptCallbackDeclined      = "お手続きを中止しました。お心当たりのないお手続きについては、営業時間内にオペレーターまでお問い合わせください。"
	promptCallbackNoKey         = "入力を確認できなかったため、お手続きを中止しました。"
)
