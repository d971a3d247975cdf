// The operator console's pages: enrolling a staff passkey with a one-time code, logging in with
// it (always discoverable), logging out, and the console itself (search, the account's actions,
// the audit trail, and for supervisors the staff). Which page runs is the body's data-page. Every sentence shown lives in the
// page templates (data-msg) or comes from the server. Every result or refusal is shown in the
// message element next to the control that caused it, and scrolled into view.
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

  // has reports whether the page has a sentence for key.
  function has(key) {
    return document.querySelector('[data-msg="' + CSS.escape(key) + '"]') !== null;
  }

  // word is the page's word for a value of a kind (event-…, actor-…, value-…), or the value as
  // it is when the page has none.
  function word(kind, value) {
    const key = kind + '-' + value;
    return has(key) ? msg(key) : String(value);
  }

  // show puts text into the message element el, right by the control it is about, and brings it
  // into view; kind is 'error' (the default of .msg), 'ok' or 'info'. An empty text hides it.
  // block 'start' brings it to the top of the window, for what comes under it (a table).
  function show(el, text, kind, block) {
    el.textContent = text || '';
    el.dataset.kind = kind || 'error';
    el.classList.remove('fatal');
    el.hidden = !text;
    if (text) {
      if (kind !== 'info') {
        el.focus({ preventScroll: true });
      }
      el.scrollIntoView({ block: block || 'nearest' });
    }
  }

  function busy(on, scope) {
    for (const el of (scope || document).querySelectorAll('button')) {
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

  // run does one ceremony behind the page's button, showing what went wrong in status.
  async function run(status, fn) {
    show(status, '');
    if (!supported()) {
      show(status, msg('unsupported'));
      return;
    }
    busy(true);
    try {
      await fn();
    } catch (err) {
      // A passkey that may have been copied will not log in however often it is tried: say so,
      // and who gives a new enrollment code.
      if (err instanceof APIError && err.code === 'passkey_cloned') {
        show(status, msg('passkey-cloned'));
        status.classList.add('fatal');
      } else {
        show(status, failure(err));
      }
      busy(false);
    }
  }

  function enrollPage() {
    const form = document.getElementById('enroll-form');
    const input = document.getElementById('code');
    const status = document.getElementById('enroll-status');
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const code = input.value.trim();
      if (!code) {
        show(status, msg('code-required'));
        input.setAttribute('aria-invalid', 'true');
        return;
      }
      input.removeAttribute('aria-invalid');
      run(status, async () => {
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
    const status = document.getElementById('login-status');
    document.getElementById('staff-login').addEventListener('click', () => {
      run(status, async () => {
        const begin = await api('/staff/api/login/begin', {});
        const cred = await navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) });
        await api('/staff/api/login/finish', credentialJSON(cred));
        location.assign('/staff/');
      });
    });
  }

  // fill replaces {name} in a page sentence.
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? values[name] : m));
  }

  // jst writes an instant as Japan's wall clock, YYYY-MM-DD HH:MM:SS (Japan has no summer time,
  // so it is UTC+9 all year).
  function jst(iso) {
    if (!iso) {
      return msg('never');
    }
    const t = new Date(iso);
    if (Number.isNaN(t.getTime())) {
      return String(iso);
    }
    const d = new Date(t.getTime() + 9 * 3600 * 1000);
    const p = (n) => String(n).padStart(2, '0');
    return d.getUTCFullYear() + '-' + p(d.getUTCMonth() + 1) + '-' + p(d.getUTCDate()) + ' ' +
      p(d.getUTCHours()) + ':' + p(d.getUTCMinutes()) + ':' + p(d.getUTCSeconds());
  }

  const isoTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;

  function el(tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) {
      e.textContent = text;
    }
    for (const [name, v] of Object.entries(attrs || {})) {
      e.setAttribute(name, v);
    }
    return e;
  }

  function statusEl(id) {
    return el('p', null, { id, class: 'msg', role: 'status', 'aria-live': 'polite', tabindex: '-1', hidden: '' });
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

  // callbackEnds groups how a call back ended as the server reports it (callback_outcome) into
  // what the operator needs to know: the keys pressed, or Twilio's status of a call back nobody
  // decided on.
  const callbackEnds = {
    confirmed: 'callback_confirmed', declined: 'callback_declined', 'no-key': 'callback_no_key',
    locked: 'callback_locked', 'no-answer': 'callback_unanswered', busy: 'callback_unanswered',
    failed: 'callback_unanswered', canceled: 'callback_unanswered', completed: 'callback_no_key',
  };

  // callWords says what became of a voice-line call: its outcome in words. A call back's own
  // result, once it ended, is said instead of "placed".
  function callWords(c) {
    let outcome = c.outcome || 'none';
    if (outcome === 'callback_placed' && c.callback_outcome) {
      outcome = callbackEnds[c.callback_outcome] || 'callback_unanswered';
    }
    return fill(msg('call-line'), { at: jst(c.started_at), caller: c.caller, outcome: word('call', outcome) });
  }

  // The console's actions, each with the role it needs; the server checks the role again.
  const actions = [
    { key: 'open', path: 'window/open', supervisor: false },
    { key: 'close', path: 'window/close', supervisor: false },
    { key: 'clear', path: 'lockout/clear', supervisor: true },
    { key: 'delete', path: 'passkey/delete', supervisor: true, confirm: true },
  ];

  // confirmIn asks in the page's dialog prefix-dialog, after what is set to say what is about to
  // happen; it resolves true for its prefix-confirm button and false for prefix-cancel (or
  // Escape).
  function confirmIn(prefix) {
    const dialog = document.getElementById(prefix + '-dialog');
    return new Promise((resolve) => {
      const yes = document.getElementById(prefix + '-confirm');
      const no = document.getElementById(prefix + '-cancel');
      const done = (answer) => {
        yes.removeEventListener('click', onYes);
        no.removeEventListener('click', onNo);
        dialog.removeEventListener('cancel', onNo);
        if (dialog.open) {
          dialog.close();
        }
        resolve(answer);
      };
      const onYes = () => done(true);
      const onNo = (ev) => {
        if (ev) {
          ev.preventDefault();
        }
        done(false);
      };
      yes.addEventListener('click', onYes);
      no.addEventListener('click', onNo);
      dialog.addEventListener('cancel', onNo);
      yes.disabled = false;
      no.disabled = false;
      dialog.showModal();
      no.focus();
    });
  }

  // confirmDelete asks before a passkey is deleted.
  function confirmDelete(a) {
    document.getElementById('delete-what').textContent = fill(msg('delete-what'),
      { name: a.name, number: a.account_number, provider: (a.passkey && a.passkey.provider) || msg('provider-unknown') });
    return confirmIn('delete');
  }

  function accountCard(a, isSupervisor) {
    const card = el('article', null, { class: 'account', 'data-account': a.account_number });
    card.append(el('h3', a.name));
    const dl = el('dl');
    row(dl, msg('account-number'), a.account_number);
    row(dl, msg('login-id'), a.login_id);
    if (a.suspended_at) {
      row(dl, msg('suspended'), fill(msg('suspended-since'), { at: jst(a.suspended_at) }));
    }
    const pk = a.passkey;
    row(dl, msg('passkey'), pk
      ? [pk.provider || msg('provider-unknown'), pk.synced ? msg('synced') : msg('not-synced'),
        msg('created-at') + ' ' + jst(pk.created_at), msg('last-used-at') + ' ' + jst(pk.last_used_at)].join(' / ')
      : msg('passkey-none'));
    row(dl, msg('window'), a.window.open
      ? fill(msg('window-open'), { until: jst(a.window.expires_at), via: word('via', a.window.opened_via) })
      : msg('window-closed'));
    row(dl, msg('lockouts'), a.lockouts.map((l) => l.kind === 'caller'
      ? fill(msg('lockout-caller'), { caller: l.caller, until: jst(l.until) })
      : fill(msg(l.kind === 'password_pause' ? 'lockout-password' : 'lockout-account'), { until: jst(l.until) })));
    row(dl, msg('calls'), a.recent_calls.map(callWords));
    card.append(dl);

    // One reason for every action on the account, its message under it, then the buttons.
    const side = el('div', null, { class: 'account-actions' });
    const id = 'reason-' + a.account_number;
    const statusID = 'status-' + a.account_number;
    side.append(el('label', msg('reason-label'), { for: id }));
    const input = el('input', null, {
      type: 'text', id, name: 'reason', maxlength: '500', autocomplete: 'off',
      placeholder: msg('reason-placeholder'), 'aria-describedby': statusID,
    });
    const buttons = el('div', null, { class: 'actions' });
    const status = statusEl(statusID);
    // The message goes between the reason and the buttons: by the field a refusal is about and
    // right above the button that was pressed.
    side.append(input, status, buttons);
    input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
    for (const act of actions) {
      if (act.supervisor && !isSupervisor) {
        continue;
      }
      const button = el('button', msg('action-' + act.key), {
        type: 'button', 'data-action': act.key, class: act.key === 'delete' ? 'danger' : '', 'aria-describedby': statusID,
      });
      button.addEventListener('click', async () => {
        const reason = input.value.trim();
        if (!reason) {
          input.setAttribute('aria-invalid', 'true');
          show(status, msg('reason-required'));
          input.focus({ preventScroll: true });
          return;
        }
        if (act.confirm && !(await confirmDelete(a))) {
          show(status, msg('delete-cancelled'), 'info');
          return;
        }
        show(status, msg('working'), 'info');
        busy(true, card);
        let res;
        try {
          res = await api('/staff/api/accounts/' + encodeURIComponent(a.account_number) + '/' + act.path, { reason });
        } catch (err) {
          busy(false, card);
          show(status, failure(err));
          return;
        }
        // The answer carries the account as it is now: the card is drawn again from it and the
        // result said on the new one, with no new search (which would be a read of its own).
        const text = fill(msg('done-' + act.key), { until: jst(res.expires_at), n: res.cleared });
        card.replaceWith(accountCard(res.account, isSupervisor));
        show(document.getElementById(statusID) || status, text, 'ok');
      });
      buttons.append(button);
    }
    card.append(side);
    return card;
  }

  // actorWords says who did something: a staff member, the customer, the voice line, the system.
  function actorWords(actor) {
    const s = String(actor || '');
    if (has('actor-' + s)) {
      return fill(msg('actor-' + s), { id: '' }).trim();
    }
    const i = s.indexOf(':');
    if (i > 0 && has('actor-' + s.slice(0, i))) {
      return fill(msg('actor-' + s.slice(0, i)), { id: s.slice(i + 1) });
    }
    return s;
  }

  // valueWords writes a detail's value as text: times in JST, yes and no, known codes in words,
  // lists and objects as "key: value" again, never as JSON.
  function valueWords(v, event) {
    if (v === null || v === undefined || v === '') {
      return msg('none');
    }
    if (Array.isArray(v)) {
      return v.map((x) => valueWords(x, event)).join('、');
    }
    if (typeof v === 'object') {
      return '(' + Object.entries(v).map(([key, x]) => keyWords(key, event) + ': ' + valueWords(x, event)).join('、') + ')';
    }
    if (typeof v === 'string' && isoTime.test(v)) {
      return jst(v);
    }
    return word('value', v);
  }

  function keyWords(key, event) {
    if (key === 'to' && String(event).startsWith('notification_')) {
      return msg('key-to_addr');
    }
    return word('key', key);
  }

  // A reason in the trail is the one a person typed when a staff member (or the kagi command)
  // acted; elsewhere detail.reason is the system's code for why, said in words with the rest.
  function typedReason(line) {
    const actor = String(line.actor || '');
    return (actor.startsWith('staff:') || actor === 'cli' || actor.startsWith('cli:')) &&
      line.detail && typeof line.detail.reason === 'string';
  }

  function trailRow(line) {
    const tr = el('tr', null, { 'data-event': line.event });
    tr.append(el('td', jst(line.at), { class: 'at' }));
    tr.append(el('td', actorWords(line.actor), { class: 'actor', title: line.actor }));
    const ev = el('td', word('event', line.event), { class: 'event' });
    tr.append(ev);
    const typed = typedReason(line);
    tr.append(el('td', typed ? line.detail.reason : '', { class: 'reason' }));
    const details = el('td', null, { class: 'detail' });
    const entries = Object.entries(line.detail || {}).filter(([key]) => !(typed && key === 'reason'));
    if (entries.length) {
      const ul = el('ul');
      for (const [key, v] of entries) {
        ul.append(el('li', keyWords(key, line.event) + ': ' + valueWords(v, line.event)));
      }
      details.append(ul);
    }
    tr.append(details);
    return tr;
  }

  function consoleSection() {
    const section = document.getElementById('console');
    const isSupervisor = section.dataset.role === 'supervisor';
    const results = document.getElementById('results');
    const input = document.getElementById('search-q');
    const searchForm = document.getElementById('search-form');
    const searchStatus = document.getElementById('search-status');

    // search draws the accounts q finds, and returns how many.
    async function search(q) {
      const res = await api('/staff/api/accounts?q=' + encodeURIComponent(q), null);
      results.replaceChildren();
      for (const a of res.accounts) {
        results.append(accountCard(a, isSupervisor));
      }
      // The audit list is filtered by account number; a login ID found one.
      if (res.accounts.length === 1) {
        document.getElementById('audit-account').value = res.accounts[0].account_number;
      }
      return res.accounts.length;
    }
    searchForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const q = input.value.trim();
      if (!q) {
        input.setAttribute('aria-invalid', 'true');
        show(searchStatus, msg('query-required'));
        return;
      }
      input.removeAttribute('aria-invalid');
      show(searchStatus, msg('searching'), 'info');
      busy(true, searchForm);
      try {
        const count = await search(q);
        if (count) {
          show(searchStatus, fill(msg('found'), { n: count }), 'info');
        } else {
          show(searchStatus, msg('no-match'));
        }
      } catch (err) {
        show(searchStatus, failure(err));
      }
      busy(false, searchForm);
    });

    const auditForm = document.getElementById('audit-form');
    const auditStatus = document.getElementById('audit-status');
    const table = document.getElementById('audit');
    const tbody = table.querySelector('tbody');
    const more = document.getElementById('audit-more');
    const moreStatus = document.getElementById('audit-more-status');
    let filter = '';
    let next = null;
    async function audit(before) {
      let path = '/staff/api/audit?' + filter;
      if (before) {
        path += (filter ? '&' : '') + 'before=' + encodeURIComponent(before);
      }
      const res = await api(path, null);
      if (!before) {
        tbody.replaceChildren();
      }
      for (const line of res.events) {
        tbody.append(trailRow(line));
      }
      table.hidden = tbody.rows.length === 0;
      next = res.next;
      more.hidden = !next;
      return tbody.rows.length;
    }
    async function runAudit(before, status, scope) {
      show(moreStatus, '');
      show(status, msg('audit-loading'), 'info');
      busy(true, scope);
      try {
        const n = await audit(before);
        if (n === 0) {
          show(status, msg('audit-empty'), 'info');
        } else {
          show(status, fill(msg(next ? 'audit-shown-more' : 'audit-shown'), { n }), 'info', before ? 'nearest' : 'start');
        }
      } catch (err) {
        show(status, failure(err));
      }
      busy(false, scope);
    }
    auditForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const name of ['account_number', 'staff']) {
        const v = ev.target.elements[name].value.trim();
        if (v) {
          p.set(name, v);
        }
      }
      filter = p.toString();
      runAudit(null, auditStatus, auditForm);
    });
    more.addEventListener('click', () => runAudit(next, moreStatus, more.parentElement));
  }

  // codeBox shows a one-time enrollment code as the server answered it, once: the code, its
  // end in JST, and that it is handed over in person.
  function codeBox(res) {
    const box = el('div', null, { class: 'code-once' });
    const line = el('p', msg('code-label') + ': ');
    line.append(el('code', res.code, { class: 'enrollment-code' }));
    box.append(line, el('p', fill(msg('code-expires'), { until: jst(res.expires_at) })),
      el('p', msg('code-handover'), { class: 'handover' }));
    return box;
  }

  // staffAdmin is the supervisors' staff management: the list of the staff with their actions,
  // and the form that adds one. A new code is shown once, by the control that made it.
  function staffAdmin() {
    const section = document.getElementById('staff-admin');
    if (!section) {
      return;
    }
    const self = section.dataset.self;
    const reasonInput = document.getElementById('staff-reason');
    const reasonStatus = document.getElementById('staff-reason-status');
    reasonInput.addEventListener('input', () => {
      reasonInput.removeAttribute('aria-invalid');
      show(reasonStatus, '');
    });
    // reasonFor is the reason every change of a member takes (§6), or null after asking for it
    // by the field, which gets the focus.
    function reasonFor() {
      const reason = reasonInput.value.trim();
      if (reason) {
        return reason;
      }
      reasonInput.setAttribute('aria-invalid', 'true');
      show(reasonStatus, msg('reason-required'));
      reasonInput.focus({ preventScroll: true });
      reasonInput.scrollIntoView({ block: 'nearest' });
      return null;
    }
    const table = document.getElementById('staff-list');
    const tbody = table.querySelector('tbody');
    const listStatus = document.getElementById('staff-list-status');

    async function load() {
      const res = await api('/staff/api/staff', null);
      tbody.replaceChildren(...res.staff.map(staffRow));
      table.hidden = res.staff.length === 0;
      if (res.staff.length === 0) {
        show(listStatus, msg('staff-empty'), 'info');
      } else {
        show(listStatus, '');
      }
    }

    // act runs one action of a member's row; the list is drawn again from the server, but for a
    // new code, which changes nothing the list shows and must stay on the screen.
    async function act(m, a, status, codeSlot) {
      const names = { name: m.name, id: m.login_id, role: word('value', m.role) };
      const reason = reasonFor();
      if (!reason) {
        return;
      }
      if (a.key === 'disable') {
        document.getElementById('disable-what').textContent = fill(msg('staff-disable-what'), names);
        if (!(await confirmIn('disable'))) {
          show(status, fill(msg('staff-disable-cancelled'), names), 'info');
          return;
        }
      }
      codeSlot.replaceChildren();
      show(status, msg('working'), 'info');
      busy(true, section);
      let res;
      try {
        res = await api('/staff/api/staff/' + encodeURIComponent(m.login_id) + '/' + a.key, { ...a.body, reason });
      } catch (err) {
        busy(false, section);
        show(status, failure(err));
        return;
      }
      let done = 'done-staff-' + a.key;
      if (a.key === 'disable') {
        done = res.already_disabled ? 'done-staff-already-disabled' : res.sessions_ended ? done : 'done-staff-disable-no-session';
      } else if (a.key === 'enable') {
        done = res.already_enabled ? 'done-staff-already-enabled' : res.enrolled ? 'done-staff-enable' : 'done-staff-enable-no-passkey';
      } else if (a.key === 'role' && !res.changed) {
        done = 'done-staff-role-same';
      }
      const text = fill(msg(done), { ...names, n: res.sessions_ended, role: word('value', res.staff && res.staff.role) });
      if (a.key === 'code') {
        busy(false, section);
        show(status, text, 'ok');
        codeSlot.replaceChildren(codeBox(res));
        codeSlot.scrollIntoView({ block: 'nearest' });
        return;
      }
      try {
        await load();
      } catch (err) {
        busy(false, section);
        show(status, text + ' ' + failure(err));
        return;
      }
      busy(false, section);
      show(document.getElementById(status.id) || status, text, 'ok');
    }

    function staffRow(m) {
      const tr = el('tr', null, { 'data-staff': m.login_id });
      tr.append(el('td', m.login_id + (m.login_id === self ? ' ' + msg('staff-you') : '')));
      tr.append(el('td', m.name));
      tr.append(el('td', word('value', m.role)));
      tr.append(el('td', m.enabled ? msg('staff-enabled') : fill(msg('staff-disabled'), { at: jst(m.disabled_at) })));
      tr.append(el('td', m.enrolled ? msg('staff-enrolled') : msg('staff-not-enrolled')));
      tr.append(el('td', jst(m.created_at), { class: 'at' }));
      const cell = el('td', null, { class: 'staff-actions' });
      const statusID = 'staff-status-' + m.login_id;
      const buttons = el('div', null, { class: 'actions' });
      const status = statusEl(statusID);
      const codeSlot = el('div', null, { class: 'code-slot' });
      cell.append(buttons, status, codeSlot);
      tr.append(cell);
      const other = m.role === 'supervisor' ? 'operator' : 'supervisor';
      const acts = [m.enabled ? { key: 'disable' } : { key: 'enable' }, { key: 'role', body: { role: other } }];
      if (m.enabled) {
        acts.push({ key: 'code' });
      }
      for (const a of acts) {
        const button = el('button', fill(msg('action-staff-' + a.key), { role: word('value', other) }), {
          type: 'button', 'data-action': a.key, class: a.key === 'disable' ? 'danger' : '', 'aria-describedby': statusID,
        });
        button.addEventListener('click', () => act(m, a, status, codeSlot));
        buttons.append(button);
      }
      return tr;
    }

    const form = document.getElementById('staff-add-form');
    const addStatus = document.getElementById('staff-add-status');
    const addCode = document.getElementById('staff-add-code');
    for (const input of form.elements) {
      input.addEventListener('input', () => input.removeAttribute('aria-invalid'));
    }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      addCode.replaceChildren();
      const values = {};
      let missing = null;
      for (const name of ['login_id', 'name', 'role']) {
        const input = form.elements[name];
        values[name] = input.value.trim();
        if (!values[name]) {
          input.setAttribute('aria-invalid', 'true');
          missing = missing || input;
        }
      }
      if (missing) {
        show(addStatus, msg('staff-add-required'));
        missing.focus({ preventScroll: true });
        return;
      }
      values.reason = reasonFor();
      if (!values.reason) {
        return;
      }
      show(addStatus, msg('working'), 'info');
      busy(true, section);
      let res;
      try {
        res = await api('/staff/api/staff', values);
      } catch (err) {
        busy(false, section);
        show(addStatus, failure(err));
        return;
      }
      form.reset();
      show(addStatus, fill(msg('done-staff-add'), { name: res.staff.name, id: res.staff.login_id, role: word('value', res.staff.role) }), 'ok');
      addCode.replaceChildren(codeBox(res));
      try {
        await load();
      } catch (err) {
        show(listStatus, failure(err));
      }
      busy(false, section);
      addCode.scrollIntoView({ block: 'nearest' });
    });

    load().catch((err) => show(listStatus, failure(err)));
  }

  function homePage() {
    consoleSection();
    staffAdmin();
    const status = document.getElementById('logout-status');
    const button = document.getElementById('staff-logout');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await api('/staff/api/logout', {});
      } catch (err) {
        if (!(err instanceof APIError) || err.status !== 401) {
          show(status, failure(err));
          button.disabled = false;
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
