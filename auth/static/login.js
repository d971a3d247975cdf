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

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    busy(true);
    k.show('');
    try {
      await k.api('POST', '/api/v1/login/password', {
        login_id: loginID.value.trim(),
        password: document.getElementById('password').value,
      });
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
