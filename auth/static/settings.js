// The security settings page: create or delete the one passkey, keep the password manager in
// step with it (WebAuthn Signal API), offer the passkey right after a recovery login
// (conditional create), change the password, log out.
'use strict';

(() => {
  const k = window.kagi;
  const page = document.getElementById('security').dataset;
  const create = document.getElementById('passkey-create');
  const del = document.getElementById('passkey-delete');
  const dialog = document.getElementById('delete-dialog');
  const passwordForm = document.getElementById('password-change-form');
  // The messages, each by its button.
  const createMsg = document.getElementById('create-msg');
  const deleteMsg = document.getElementById('delete-msg');
  const logoutMsg = document.getElementById('logout-msg');
  const passwordMsg = document.getElementById('password-change-msg');

  function clearMessages() {
    for (const el of [createMsg, deleteMsg, logoutMsg, passwordMsg]) {
      if (el) {
        k.say(el, '');
      }
    }
  }

  // The conditional create in flight, so the button's ceremony can end it first; and whether the
  // button's ceremony runs, so the offer does not start beside it.
  let offer = null;
  let buttonCeremony = false;

  function busy(on) {
    for (const el of document.querySelectorAll('button')) {
      el.disabled = on;
    }
  }

  // signalCurrent tells the password manager which passkey is the account's only one and how
  // the account is named, so it hides deleted or replaced passkeys and stale names.
  function signalCurrent() {
    if (!k.supported() || !page.userId) {
      return;
    }
    if (typeof PublicKeyCredential.signalAllAcceptedCredentials === 'function') {
      PublicKeyCredential.signalAllAcceptedCredentials({
        rpId: page.rpId,
        userId: page.userId,
        allAcceptedCredentialIds: page.credentialId ? [page.credentialId] : [],
      }).catch(() => {});
    }
    if (typeof PublicKeyCredential.signalCurrentUserDetails === 'function') {
      PublicKeyCredential.signalCurrentUserDetails({
        rpId: page.rpId,
        userId: page.userId,
        name: page.userName,
        displayName: page.displayName,
      }).catch(() => {});
    }
  }

  // register runs one creation ceremony: begin, the browser's prompt, finish; then the page is
  // shown again with the new passkey.
  async function register(mediation, signal) {
    const begin = await k.api('POST', '/api/v1/passkeys/register/begin', mediation ? { mediation } : {}, signal);
    const options = { publicKey: k.creationOptions(begin.publicKey) };
    if (mediation) {
      options.mediation = mediation;
    }
    if (signal) {
      options.signal = signal;
    }
    const cred = await navigator.credentials.create(options);
    await k.api('POST', '/api/v1/passkeys/register/finish', k.credentialJSON(cred));
    done('passkey_created');
  }

  // done shows the page again after a change, saying what changed. A recovery session ends
  // with its window, which the change closes, so it goes on to the login page, which says what
  // to do next.
  function done(what) {
    if (page.assurance === 'password_fallback') {
      location.assign('/login?done=' + what);
    } else {
      location.assign('/settings/security?done=' + what);
    }
  }

  // ended turns a recovery page whose window has ended into what the customer can do now. The
  // session ended with the window, so the page no longer offers to create or delete the
  // passkey (what carries data-live): it says that the temporary login is over and to call the
  // voice line again (#recovery-ended).
  let over = false;
  function ended() {
    if (over) {
      return;
    }
    over = true;
    if (offer) {
      offer.ctrl.abort();
      offer = null;
    }
    if (dialog && dialog.open) {
      dialog.close();
    }
    for (const el of document.querySelectorAll('[data-live]')) {
      el.remove();
    }
    busy(false);
    const notice = document.getElementById('recovery-ended');
    notice.hidden = false;
    notice.focus({ preventScroll: true });
    notice.scrollIntoView({ block: 'nearest' });
  }

  // sessionEnded tells whether err is the server's answer to a recovery session that is gone:
  // its window ended, or closed early (an operator closed it).
  function sessionEnded(err) {
    return page.assurance === 'password_fallback' && err instanceof k.APIError && err.status === 401;
  }

  // The change is told once: reloading the page later does not tell it again.
  if (new URLSearchParams(location.search).has('done')) {
    history.replaceState(null, '', location.pathname);
  }

  // offerAfterRecovery asks the password manager to create the passkey without a prompt of its
  // own, right after a recovery login; where it cannot, the button remains.
  async function offerAfterRecovery() {
    if (!create || page.assurance !== 'password_fallback' || !k.supported() ||
        typeof PublicKeyCredential.getClientCapabilities !== 'function') {
      return;
    }
    let caps;
    try {
      caps = await PublicKeyCredential.getClientCapabilities();
    } catch (e) {
      return;
    }
    if (!caps || !caps.conditionalCreate || buttonCeremony) {
      return;
    }
    const ctrl = new AbortController();
    const finished = register('conditional', ctrl.signal).catch((err) => {
      // Ended by the button's ceremony, or passed over by the password manager: nothing to
      // say. Anything else (the server refused the passkey, the network failed) is shown.
      if (ctrl.signal.aborted || (err && (err.name === 'AbortError' || err.name === 'NotAllowedError'))) {
        return;
      }
      if (sessionEnded(err)) {
        ended();
        return;
      }
      k.say(createMsg, k.ceremonyMessage(err), false);
    });
    offer = { ctrl, finished };
  }

  if (create) {
    create.addEventListener('click', async () => {
      clearMessages();
      if (!k.supported()) {
        k.say(createMsg, k.msg('unsupported'), true);
        return;
      }
      busy(true);
      buttonCeremony = true;
      if (offer) {
        offer.ctrl.abort();
        await offer.finished;
        offer = null;
      }
      try {
        await register('', null);
      } catch (err) {
        if (sessionEnded(err)) {
          ended();
          return;
        }
        busy(false);
        k.say(createMsg, k.ceremonyMessage(err), true);
      }
    });
  }

  if (del) {
    del.addEventListener('click', () => {
      clearMessages();
      dialog.showModal();
    });
    document.getElementById('delete-cancel').addEventListener('click', () => dialog.close());
    document.getElementById('delete-confirm').addEventListener('click', async () => {
      dialog.close();
      busy(true);
      try {
        await k.api('DELETE', '/api/v1/passkeys/current');
        done('passkey_deleted');
      } catch (err) {
        if (sessionEnded(err)) {
          ended();
          return;
        }
        if (err.code === 'reauth_required') {
          document.getElementById('reauth').hidden = false;
        }
        busy(false);
        k.say(deleteMsg, err.message, true);
      }
    });
  }

  // The password change (not offered to a recovery session): the new password typed twice,
  // checked alike here; what the server says — the change made, or why not — by the form.
  if (passwordForm) {
    const current = document.getElementById('current-password');
    const next = document.getElementById('new-password');
    const confirm = document.getElementById('confirm-password');
    const sayPassword = (text, ok) => {
      passwordMsg.classList.toggle('ok', ok);
      k.say(passwordMsg, text, true);
    };
    passwordForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearMessages();
      if (next.value !== confirm.value) {
        sayPassword(k.msg('password-mismatch'), false);
        return;
      }
      busy(true);
      try {
        await k.api('POST', '/api/v1/password', { current: current.value, new: next.value });
        passwordForm.reset();
        busy(false);
        sayPassword(k.msg('password-changed'), true);
      } catch (err) {
        busy(false);
        sayPassword(err.message, false);
      }
    });
  }

  async function logout() {
    busy(true);
    try {
      await k.api('POST', '/api/v1/logout');
    } catch (err) {
      if (err.status !== 401) {
        busy(false);
        k.say(logoutMsg, err.message, true);
        return;
      }
    }
    location.assign('/login');
  }
  for (const el of document.querySelectorAll('[data-action="logout"]')) {
    el.addEventListener('click', logout);
  }

  // countDown keeps the recovery session's minutes left current: once every 15 seconds, at
  // once when the customer comes back to the tab (a phone stops the timers of a tab in the
  // background) or to the page (the back button), and at the end, when the page turns into
  // what the customer can do then (ended). It reckons from the time left the server gave, on
  // the browser's own clock, so a clock set wrong does not move the end.
  function countDown() {
    const left = document.getElementById('recovery-left');
    if (!left) {
      return;
    }
    const end = Date.now() + Number(left.dataset.leftMs);
    const minutes = document.getElementById('recovery-minutes');
    let timer = 0;
    let endTimer = 0;
    function tick() {
      const ms = end - Date.now();
      clearTimeout(endTimer);
      if (ms <= 0) {
        clearInterval(timer);
        document.removeEventListener('visibilitychange', tick);
        window.removeEventListener('pageshow', tick);
        ended();
        return;
      }
      minutes.textContent = String(Math.ceil(ms / 60000));
      endTimer = setTimeout(tick, ms);
    }
    timer = setInterval(tick, 15000);
    document.addEventListener('visibilitychange', tick);
    window.addEventListener('pageshow', tick);
    tick();
  }

  signalCurrent();
  countDown();
  offerAfterRecovery();
})();
