// The operator console's pages: enrolling a staff passkey with a one-time code, logging in with
// it (always discoverable), and logging out. Which page runs is the body's data-page. Every
// sentence shown lives in the page templates (data-msg) or comes from the server.
'use strict';

(() => {
  // The helpers of the customers' pages (auth's kagi.js, loaded first): the API's JSON requests
  // and refusals, the WebAuthn JSON forms, the pages' sentences.
  const k = window.kagi;
  const { msg, APIError, creationOptions, requestOptions, credentialJSON, supported } = k;

  // api posts body to path, or GETs path when body is null.
  function api(path, body) {
    return body === null ? k.api('GET', path) : k.api('POST', path, body || {});
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

  // fill replaces {name} in a page sentence.
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
  }

  function jst(iso) {
    if (!iso) {
      return msg('never');
    }
    return new Date(iso).toLocaleString('ja-JP', { timeZone: 'Asia/Tokyo' });
  }

  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) {
      e.textContent = text;
    }
    for (const [k, v] of Object.entries(attrs || {})) {
      e.setAttribute(k, v);
    }
    return e;
  }

  // row is one line of an account card: a term and what the console knows of it.
  function row(dl, term, value) {
    dl.append(el('dt', term));
    const dd = el('dd');
    if (Array.isArray(value)) {
      const ul = el('ul');
      for (const v of value) {
        ul.append(el('li', v));
      }
      dd.append(value.length ? ul : msg('none'));
    } else {
      dd.textContent = value;
    }
    dl.append(dd);
  }

  // The console's actions, each with the role it needs; the server checks the role again.
  const actions = [
    { key: 'open', path: 'window/open', supervisor: false },
    { key: 'close', path: 'window/close', supervisor: false },
    { key: 'clear', path: 'lockout/clear', supervisor: true },
    { key: 'delete', path: 'passkey/delete', supervisor: true },
  ];

  function accountCard(a, isSupervisor, refresh) {
    const card = el('article', null, { class: 'account', 'data-account': a.account_number });
    card.append(el('h3', a.name));
    const dl = el('dl');
    row(dl, msg('account-number'), a.account_number);
    row(dl, msg('login-id'), a.login_id);
    const pk = a.passkey;
    row(dl, msg('passkey'), pk
      ? [pk.provider || msg('provider-unknown'), pk.synced ? msg('synced') : msg('not-synced'),
        msg('created-at') + ' ' + jst(pk.created_at), msg('last-used-at') + ' ' + jst(pk.last_used_at)].join(' / ')
      : msg('passkey-none'));
    row(dl, msg('window'), a.window.open
      ? fill(msg('window-open'), { until: jst(a.window.expires_at), via: msg('via-' + a.window.opened_via) })
      : msg('window-closed'));
    row(dl, msg('lockouts'), a.lockouts.map((l) => l.kind === 'caller'
      ? fill(msg('lockout-caller'), { caller: l.caller, until: jst(l.until) })
      : fill(msg(l.kind === 'password_pause' ? 'lockout-password' : 'lockout-account'), { until: jst(l.until) })));
    row(dl, msg('calls'), a.recent_calls.map((c) => [jst(c.started_at), c.caller, c.outcome].join(' ')));
    card.append(dl);
    for (const act of actions) {
      if (act.supervisor && !isSupervisor) {
        continue;
      }
      const form = el('form', null, { class: 'action', 'data-action': act.key });
      const id = 'reason-' + act.key + '-' + a.account_number;
      form.append(el('label', msg('reason-label'), { for: id }));
      const input = el('input', null, { id, name: 'reason', maxlength: '500', autocomplete: 'off' });
      form.append(input, el('button', msg('action-' + act.key), { type: 'submit' }));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const reason = input.value.trim();
        if (!reason) {
          show(msg('reason-required'), 'error');
          return;
        }
        busy(true);
        try {
          const res = await api('/staff/api/accounts/' + encodeURIComponent(a.account_number) + '/' + act.path, { reason });
          await refresh();
          show(fill(msg('done-' + act.key), { until: jst(res.expires_at) }));
        } catch (err) {
          show(err.message, 'error');
        }
        busy(false);
      });
      card.append(form);
    }
    return card;
  }

  function consoleSection() {
    const section = document.getElementById('console');
    const isSupervisor = section.dataset.role === 'supervisor';
    const results = document.getElementById('results');
    const input = document.getElementById('search-q');

    async function search(q) {
      const res = await api('/staff/api/accounts?q=' + encodeURIComponent(q), null);
      results.replaceChildren();
      if (!res.accounts.length) {
        results.append(el('p', msg('no-match')));
      }
      for (const a of res.accounts) {
        results.append(accountCard(a, isSupervisor, () => search(q)));
      }
      // The audit list is filtered by account number; a login ID found one.
      if (res.accounts.length === 1) {
        document.getElementById('audit-account').value = res.accounts[0].account_number;
      }
    }
    document.getElementById('search-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      show('');
      const q = input.value.trim();
      if (!q) {
        show(msg('query-required'), 'error');
        return;
      }
      busy(true);
      try {
        await search(q);
      } catch (err) {
        show(err.message, 'error');
      }
      busy(false);
    });

    const tbody = document.querySelector('#audit tbody');
    const more = document.getElementById('audit-more');
    let filter = '';
    let next = null;
    async function audit(before) {
      let path = '/staff/api/audit?' + filter;
      if (before) {
        path += '&before=' + encodeURIComponent(before);
      }
      const res = await api(path, null);
      if (!before) {
        tbody.replaceChildren();
        if (!res.events.length) {
          const tr = el('tr');
          tr.append(el('td', msg('audit-empty'), { colspan: '4' }));
          tbody.append(tr);
        }
      }
      for (const e of res.events) {
        const tr = el('tr');
        tr.append(el('td', jst(e.at)), el('td', e.actor), el('td', e.event), el('td', JSON.stringify(e.detail)));
        tbody.append(tr);
      }
      next = res.next;
      more.hidden = !next;
    }
    async function runAudit(before) {
      busy(true);
      try {
        await audit(before);
      } catch (err) {
        show(err.message, 'error');
      }
      busy(false);
    }
    document.getElementById('audit-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const name of ['account_number', 'staff']) {
        const v = ev.target.elements[name].value.trim();
        if (v) {
          p.set(name, v);
        }
      }
      filter = p.toString();
      runAudit(null);
    });
    more.addEventListener('click', () => runAudit(next));
  }

  function homePage() {
    consoleSection();
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
