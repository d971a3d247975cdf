package openid

import "html/template"

// loggedOutPage is shown after an RP-initiated logout that names no page to go back to.
const loggedOutPage = `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>ログアウトしました</title></head>
<body><p>ログアウトしました。このウィンドウを閉じてください。</p></body></html>
`

// refusedPage is shown when an application's login request cannot be answered, nor sent back
// to the application (an unknown application, a return address it did not register).
const refusedPage = `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>ログインを始められません</title></head>
<body><p>このアプリからのログインの要求を受け付けられませんでした。アプリを閉じて、もう一度はじめからお試しください。解決しない場合はサポートデスクにお問い合わせください。</p></body></html>
`

// confirmLogoutPage asks before an application's logout request that carries no ID token.
var confirmLogoutPage = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>ログアウトの確認</title></head>
<body><form method="post" action="{{.Action}}">
<p>ログアウトしますか？</p>
<input type="hidden" name="confirm" value="1">
{{if .ClientID}}<input type="hidden" name="client_id" value="{{.ClientID}}">{{end}}
{{if .Redirect}}<input type="hidden" name="post_logout_redirect_uri" value="{{.Redirect}}">{{end}}
{{if .State}}<input type="hidden" name="state" value="{{.State}}">{{end}}
<button type="submit">ログアウトする</button>
</form></body></html>
`))
