package openid

// loggedOutPage is shown after an RP-initiated logout that names no page to go back to.
const loggedOutPage = `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>ログアウトしました</title></head>
<body><p>ログアウトしました。このウィンドウを閉じてください。</p></body></html>
`
