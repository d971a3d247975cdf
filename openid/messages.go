package openid

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
