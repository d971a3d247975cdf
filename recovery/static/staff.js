// The operator console's pages: enrolling a staff passkey with a one-time code, logging in with
// it (always discoverable), and logging out. Which page runs is the body's data-page. Every
// sentence shown lives in the page templates (data-msg) or comes from the server.
'use strict';

(() => {
  function msg(key) {
    const el = document.querySelector('[data-msg="' + key + '"]');
    return el ? el.textContent.trim() : key;
  }

  function show(text, kind) {
    const el = document.getElementById('status');
    el.textContent = text;
    el.dataset.kind = kind || 'info';
    el.hidden = !text;
  }

  function busy(on) {
    for (const el of document.querySelectorAll('button')) {
      el.disabled = on;
    }
  }

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, body) {
    let res;
    try {
      res = await fetch(path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body || {}),
      });
    } catch (e) {
      throw new APIError(0, 'network', msg('network'));
    }
    let data = {};
    try {
      data = await res.json();
    } catch (e) {
      data = {};
    }
    if (!res.ok) {
      throw new APIError(res.status, data.error || 'internal', data.message || msg('network'));
    }
    return data;
  }

  function b64urlEncode(buf) {
    const bytes = new Uint8Array(buf);
    let s = '';
    for (let i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function b64urlDecode(str) {
    const b64 = str.replace(/-/g, '+').replace(/_/g, '/');
    const s = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      bytes[i] = s.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function descriptors(list) {
    return (list || []).map((d) => Object.assign({}, d, { id: b64urlDecode(d.id) }));
  }

  // creationOptions and requestOptions turn the server's WebAuthn JSON into what the browser's
  // create() and get() take, by hand where parse*FromJSON is missing.
  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    const o = Object.assign({}, json);
    o.challenge = b64urlDecode(json.challenge);
    o.user = Object.assign({}, json.user, { id: b64urlDecode(json.user.id) });
    o.excludeCredentials = descriptors(json.excludeCredentials);
    return o;
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    const o = Object.assign({}, json);
    o.challenge = b64urlDecode(json.challenge);
    o.allowCredentials = descriptors(json.allowCredentials);
    return o;
  }

  // credentialJSON is credential.toJSON(), built by hand where the browser lacks it.
  function credentialJSON(cred) {
    if (typeof cred.toJSON === 'function') {
      return cred.toJSON();
    }
    const r = cred.response;
    const response = { clientDataJSON: b64urlEncode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = b64urlEncode(r.attestationObject);
      response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    } else {
      response.authenticatorData = b64urlEncode(r.authenticatorData);
      response.signature = b64urlEncode(r.signature);
      if (r.userHandle) {
        response.userHandle = b64urlEncode(r.userHandle);
      }
    }
    return {
      id: cred.id,
      rawId: b64urlEncode(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      response,
      clientExtensionResults: cred.getClientExtensionResults(),
    };
  }

  function supported() {
    return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
  }

  function failure(err) {
    if (err instanceof APIError) {
      return err.message;
    }
    if (err && err.name === 'NotAllowedError') {
      return msg('cancelled');
    }
    return msg('ceremony-failed');
  }

  // run does one ceremony behind the page's buttons, showing what went wrong.
  async function run(fn) {
    show('');
    if (!supported()) {
      show(msg('unsupported'), 'error');
      return;
    }
    busy(true);
    try {
      await fn();
    } catch (err) {
      show(failure(err), 'error');
      busy(false);
    }
  }

  function enrollPage() {
    const form = document.getElementById('enroll-form');
    const input = document.getElementById('code');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const code = input.value.trim();
      if (!code) {
        show(msg('code-required'), 'error');
        return;
      }
      run(async () => {
        const begin = await api('/staff/api/enroll/begin', { code });
        const cred = await navigator.credentials.create({ publicKey: creationOptions(begin.publicKey) });
        await api('/staff/api/enroll/finish', { code, credential: credentialJSON(cred) });
        location.assign('/staff/');
      });
    });
  }

  // A staff login never signals an unknown credential to the password manager: the customers'
  // passkeys of the same relying party show in the same picker, and must not be forgotten
  // because a staff member picked one here.
  function loginPage() {
    document.getElementById('staff-login').addEventListener('click', () => {
      run(async () => {
        const begin = await api('/staff/api/login/begin', {});
        const cred = await navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) });
        await api('/staff/api/login/finish', credentialJSON(cred));
        location.assign('/staff/');
      });
    });
  }

  function homePage() {
    document.getElementById('staff-logout').addEventListener('click', async () => {
      busy(true);
      try {
        await api('/staff/api/logout', {});
      } catch (err) {
        if (!(err instanceof APIError) || err.status !== 401) {
          show(err.message, 'error');
          busy(false);
          return;
        }
      }
      location.assign('/staff/login');
    });
  }

  const pages = { enroll: enrollPage, login: loginPage, home: homePage };
  const page = pages[document.body.dataset.page];
  if (page) {
    page();
  }
})();
