// The login page: login ID + password, the passkey button, and passkey autofill (conditional
// mediation) on the login ID field.
'use strict';

(() => {
  const k = window.kagi;
  const form = document.getElementById('password-form');
  const loginID = document.getElementById('login-id');
  const button = document.getElementById('passkey-login');
  const next = '/settings/security';
  // An application's authorization request (OpenID Connect) the page was opened for: each
  // login API is told of it, and answers where the browser goes on to.
  const authRequest = new URLSearchParams(location.search).get('auth_request');
  const forRequest = (path) => (authRequest ? path + '?auth_request=' + encodeURIComponent(authRequest) : path);

  // goOn leaves the page after a login: where the answer says (a path on this origin, which
  // finishes the application's authorization), else to the security settings.
  function goOn(res) {
    const to = res && res.redirect;
    const here = typeof to === 'string' && to.startsWith('/') && !to.startsWith('//') && !to.startsWith('/\\');
    location.assign(here ? to : next);
  }

  // The autofill request in flight, so the button's ceremony can end it first; and whether the
  // button's ceremony runs, so autofill does not start beside it.
  let autofill = null;
  let buttonCeremony = false;

  function busy(on) {
    for (const el of document.querySelectorAll('button')) {
      el.disabled = on;
    }
  }

  const check = document.getElementById('email-check');
  const grid = document.getElementById('emoji-choices');
  const password = document.getElementById('password');

  // Each control has its message right by it, so that a refusal is on the screen where the
  // customer looks: under the form's button, under the emoji (which it moves none of away
  // from the finger), under the passkey button.
  const formMsg = document.getElementById('password-msg');
  const checkMsg = document.getElementById('email-check-msg');
  const passkeyMsg = document.getElementById('passkey-msg');

  function clearMessages() {
    for (const el of [formMsg, checkMsg, passkeyMsg]) {
      k.say(el, '');
    }
  }

  // showForm ends an email check and brings the login form back.
  function showForm() {
    check.hidden = true;
    grid.replaceChildren();
    k.say(checkMsg, '');
    form.hidden = false;
    password.value = '';
    busy(false);
  }

  // showEmailCheck replaces the form with the nine emoji of the email check (ログイン追加認証):
  // the customer picks the one that was mailed.
  function showEmailCheck(ec) {
    form.hidden = true;
    grid.replaceChildren();
    for (const emoji of ec.choices) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'emoji';
      b.textContent = emoji;
      b.addEventListener('click', () => pick(ec.id, emoji));
      grid.append(b);
    }
    grid.after(status);
    check.hidden = false;
    busy(false);
    grid.querySelector('button').focus();
  }

  async function pick(id, choice) {
    busy(true);
    clearMessages();
    try {
      goOn(await k.api('POST', forRequest('/api/v1/login/email-check'), { id, choice }));
    } catch (err) {
      // A wrong pick ends the check, as do its end and every refusal: the login starts over.
      showForm();
      k.say(formMsg, err.message, true);
    }
  }

  document.getElementById('email-check-restart').addEventListener('click', () => {
    clearMessages();
    showForm();
    password.focus();
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    busy(true);
    clearMessages();
    try {
      const res = await k.api('POST', forRequest('/api/v1/login/password'), {
        login_id: loginID.value.trim(),
        password: password.value,
      });
      if (res.email_check) {
        showEmailCheck(res.email_check);
        return;
      }
      goOn(res);
    } catch (err) {
      busy(false);
      k.say(formMsg, err.message, true);
    }
  });

  // signalUnknown tells the password manager that the server does not know the credential,
  // so it stops offering a passkey that can no longer log in. rpId is the relying party the
  // ceremony ran for, from the begin options: the page's host name is wrong when the RP ID is
  // a parent domain of it.
  function signalUnknown(rpId, credentialId) {
    if (!rpId || typeof PublicKeyCredential.signalUnknownCredential !== 'function') {
      return;
    }
    PublicKeyCredential.signalUnknownCredential({ rpId, credentialId }).catch(() => {});
  }

  // passkeyLogin runs one login ceremony: begin, the browser's prompt, finish.
  async function passkeyLogin(mediation, signal, body) {
    const begin = await k.api('POST', '/api/v1/passkeys/login/begin', body, signal);
    const options = { publicKey: k.requestOptions(begin.publicKey) };
    if (mediation) {
      options.mediation = mediation;
    }
    if (signal) {
      options.signal = signal;
    }
    const cred = await navigator.credentials.get(options);
    let res;
    try {
      res = await k.api('POST', forRequest('/api/v1/passkeys/login/finish'), k.credentialJSON(cred));
    } catch (err) {
      if (err instanceof k.APIError && err.code === 'passkey_failed' && err.body.credential_unknown === true) {
        signalUnknown(begin.publicKey.rpId, k.b64urlEncode(cred.rawId));
      }
      throw err;
    }
    goOn(res);
  }

  async function startAutofill() {
    if (!k.supported() || typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') {
      return;
    }
    if (!(await PublicKeyCredential.isConditionalMediationAvailable()) || buttonCeremony) {
      return;
    }
    const ctrl = new AbortController();
    // Autofill runs from the login ID field: its refusal is shown under the form, without
    // taking the focus from the field the customer may be typing in.
    const finished = passkeyLogin('conditional', ctrl.signal, {}).catch((err) => {
      if (!ctrl.signal.aborted && err instanceof k.APIError) {
        k.say(formMsg, loginFailure(err), false);
      }
    });
    autofill = { ctrl, finished };
  }

  // loginFailure is what to tell the customer when a passkey login failed. The browser does
  // not tell a cancelled prompt from a device that holds no passkey of ours — after a phone
  // change, on a new device — so both get the way out, not just "try again"; a passkey the
  // server no longer knows (deleted, or replaced from another device) gets it too.
  function loginFailure(err) {
    if (err instanceof k.APIError && err.code === 'passkey_failed' && err.body.credential_unknown === true) {
      return k.msg('passkey-unknown');
    }
    if (err && err.name === 'NotAllowedError') {
      return k.msg('passkey-not-here');
    }
    return k.ceremonyMessage(err);
  }

  button.addEventListener('click', async () => {
    clearMessages();
    if (!k.supported()) {
      k.say(passkeyMsg, k.msg('unsupported'), true);
      return;
    }
    busy(true);
    buttonCeremony = true;
    if (autofill) {
      autofill.ctrl.abort();
      await autofill.finished;
      autofill = null;
    }
    const id = loginID.value.trim();
    try {
      await passkeyLogin('', null, id ? { login_id: id } : {});
    } catch (err) {
      busy(false);
      k.say(passkeyMsg, loginFailure(err), true);
      buttonCeremony = false;
      startAutofill();
    }
  });

  button.hidden = false;
  startAutofill();
})();
