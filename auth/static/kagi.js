// Shared helpers of kagi's pages: JSON requests to the API, the WebAuthn JSON forms (with a
// hand-written fallback for browsers that lack parse*FromJSON / toJSON) and the messages shown
// by the controls.
'use strict';

window.kagi = (() => {
  // msg returns the page's text for key: every customer-facing sentence lives in the page
  // templates, as hidden elements with a data-msg attribute.
  function msg(key) {
    const el = document.querySelector('[data-msg="' + key + '"]');
    return el ? el.textContent.trim() : key;
  }

  // say puts text into el, the message element right by the control the customer used (an
  // alert, so screen readers announce it), with the voice line's number as a link to dial, or
  // empties and hides it when text is "". With focus
  // it also takes the focus, which the disabled control lost, and is scrolled into view if it
  // is not.
  function say(el, text, focus) {
    el.replaceChildren(...withTelLinks(text));
    el.hidden = !text;
    if (text && focus) {
      el.focus({ preventScroll: true });
      el.scrollIntoView({ block: 'nearest' });
    }
  }

  // withTelLinks splits text into text and links: wherever a message names the voice line's
  // number, the number is the same link a phone dials at a tap as on the page (a.tel).
  function withTelLinks(text) {
    const tel = document.querySelector('a.tel');
    const number = tel ? tel.textContent : '';
    if (!text || !number) {
      return [text];
    }
    const out = [];
    text.split(number).forEach((part, i) => {
      if (i > 0) {
        const a = document.createElement('a');
        a.className = 'tel';
        a.href = tel.getAttribute('href');
        a.textContent = number;
        out.push(a);
      }
      if (part) {
        out.push(part);
      }
    });
    return out;
  }

  // APIError is a refusal from the server: its code, the Japanese message to show and the
  // whole answer (some refusals carry more, such as credential_unknown).
  class APIError extends Error {
    constructor(status, code, message, body) {
      super(message);
      this.status = status;
      this.code = code;
      this.body = body || {};
    }
  }

  // api sends a JSON request and returns the decoded answer, or throws an APIError; signal,
  // when given, ends the request.
  async function api(method, path, body, signal) {
    const init = {
      method,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    if (signal) {
      init.signal = signal;
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      if (signal && signal.aborted) {
        throw e;
      }
      throw new APIError(0, 'network', msg('network'));
    }
    let data = {};
    try {
      data = await res.json();
    } catch (e) {
      data = {};
    }
    if (!res.ok) {
      throw new APIError(res.status, data.error || 'internal', data.message || msg('network'), data);
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

  function decodeDescriptors(list) {
    return (list || []).map((d) => Object.assign({}, d, { id: b64urlDecode(d.id) }));
  }

  // creationOptions turns PublicKeyCredentialCreationOptionsJSON into what
  // navigator.credentials.create takes.
  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    const o = Object.assign({}, json);
    o.challenge = b64urlDecode(json.challenge);
    o.user = Object.assign({}, json.user, { id: b64urlDecode(json.user.id) });
    if (json.excludeCredentials) {
      o.excludeCredentials = decodeDescriptors(json.excludeCredentials);
    }
    return o;
  }

  // requestOptions turns PublicKeyCredentialRequestOptionsJSON into what
  // navigator.credentials.get takes.
  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    const o = Object.assign({}, json);
    o.challenge = b64urlDecode(json.challenge);
    if (json.allowCredentials) {
      o.allowCredentials = decodeDescriptors(json.allowCredentials);
    }
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
      if (typeof r.getAuthenticatorData === 'function') {
        response.authenticatorData = b64urlEncode(r.getAuthenticatorData());
      }
      if (typeof r.getPublicKeyAlgorithm === 'function') {
        response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
      }
      if (typeof r.getPublicKey === 'function' && r.getPublicKey()) {
        response.publicKey = b64urlEncode(r.getPublicKey());
      }
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

  // supported reports whether the browser can run WebAuthn ceremonies at all.
  function supported() {
    return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
  }

  // ceremonyMessage is what to tell the customer when the browser's ceremony failed.
  function ceremonyMessage(err) {
    if (err instanceof APIError) {
      return err.message;
    }
    if (err && err.name === 'NotAllowedError') {
      return msg('cancelled');
    }
    if (err && err.name === 'InvalidStateError') {
      return msg('already-on-device');
    }
    return msg('ceremony-failed');
  }

  return { msg, say, api, APIError, b64urlEncode, b64urlDecode, creationOptions, requestOptions, credentialJSON, supported, ceremonyMessage };
})();
