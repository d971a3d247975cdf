// The login page: login ID + password, the passkey button, and passkey autofill (conditional
// mediation) on the login ID field.
'use strict';

(() => {
  const k = window.kagi;
  const form = document.getElementById('password-form');
  const loginID = document.getElementById('login-id');
  const button = document.getElementById('passkey-login');
  const next = '/settings/security';

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

  // The status area goes right under what the customer is using, the form or the emoji, so
  // that a refusal is on the screen: at the foot of the page, a phone shows it only after
  // scrolling. Under the emoji, its message moves none of them away from the finger.
  const status = document.getElementById('status');
  form.after(status);

  // showForm ends an email check and brings the login form back.
  function showForm() {
    check.hidden = true;
    grid.replaceChildren();
    form.hidden = false;
    form.after(status);
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
    k.show('');
    try {
      await k.api('POST', '/api/v1/login/email-check', { id, choice });
      location.assign(next);
    } catch (err) {
      if (err instanceof k.APIError && err.code === 'wrong_choice') {
        k.show(err.message, 'error');
        busy(false);
        return;
      }
      // Expired, too many wrong picks, or refused: the login starts over.
      showForm();
      k.show(err.message, 'error');
    }
  }

  document.getElementById('email-check-restart').addEventListener('click', () => {
    k.show('');
    showForm();
    password.focus();
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    busy(true);
    k.show('');
    try {
      const res = await k.api('POST', '/api/v1/login/password', {
        login_id: loginID.value.trim(),
        password: password.value,
      });
      if (res.email_check) {
        showEmailCheck(res.email_check);
        return;
      }
      location.assign(next);
    } catch (err) {
      k.show(err.message, 'error');
      busy(false);
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
    try {
      await k.api('POST', '/api/v1/passkeys/login/finish', k.credentialJSON(cred));
    } catch (err) {
      if (err instanceof k.APIError && err.code === 'passkey_failed' && err.body.credential_unknown === true) {
        signalUnknown(begin.publicKey.rpId, k.b64urlEncode(cred.rawId));
      }
      throw err;
    }
    location.assign(next);
  }

  async function startAutofill() {
    if (!k.supported() || typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') {
      return;
    }
    if (!(await PublicKeyCredential.isConditionalMediationAvailable()) || buttonCeremony) {
      return;
    }
    const ctrl = new AbortController();
    const finished = passkeyLogin('conditional', ctrl.signal, {}).catch((err) => {
      if (!ctrl.signal.aborted && err instanceof k.APIError) {
        k.show(err.message, 'error');
      }
    });
    autofill = { ctrl, finished };
  }

  button.addEventListener('click', async () => {
    k.show('');
    if (!k.supported()) {
      k.show(k.msg('unsupported'), 'error');
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
      k.show(k.ceremonyMessage(err), 'error');
      busy(false);
      buttonCeremony = false;
      startAutofill();
    }
  });

  button.hidden = false;
  startAutofill();
})();
