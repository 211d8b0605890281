// The operator console: totals, merchants (create, suspend, reactivate,
// fund), stores and API credentials, plugin health, dead-lettered POS
// events (replay), reconciliation exceptions and the audit log, all through the operator API with a
// named operator token kept in this tab only.
'use strict';

(() => {
  const { t, api, yuan, num, percent, when, el, showError, onLang, APIError } = LM;
  const $ = (id) => document.getElementById(id);
  const KEY = 'lianmeng.operator';
  let token = sessionStorage.getItem(KEY) || '';
  let merchants = [];
  let cursor = '';
  let totals = null;
  let current = null; // {m, account, stores, creds}

  async function call(method, path, body, headers) {
    try {
      return await api(method, path, body, token, headers);
    } catch (e) {
      if (e instanceof APIError && e.status === 401) signOut();
      throw e;
    }
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    token = ''; merchants = []; cursor = ''; totals = null; current = null; plugins = []; audit = []; auditCursor = ''; dead = []; recon = null;
    render();
  }

  function renderTotals() {
    if (!totals) return;
    $('tot-reserve').textContent = yuan(totals.reserve_fen);
    $('tot-outstanding').textContent = num(totals.outstanding_points);
    $('tot-coverage').textContent = percent(totals.coverage_bp);
  }

  function renderMerchants() {
    const body = $('merchant-rows');
    body.replaceChildren();
    for (const m of merchants) {
      const open = el('button', { type: 'button', class: 'secondary', text: t('o.open') });
      open.addEventListener('click', () => openMerchant(m.id).catch(showError));
      body.append(el('tr', { 'data-merchant': m.id },
        el('th', { scope: 'row', text: m.name }), el('td', { text: m.id }), el('td', { text: m.industry }),
        el('td', { text: m.status === 'active' ? t('t.m.active') : t('t.m.suspended') }), el('td', {}, open)));
    }
    $('merchants-more').hidden = !cursor;
  }

  function renderDetail() {
    const d = $('detail');
    if (!current) { d.hidden = true; return; }
    d.hidden = false;
    const { m, account, stores, creds } = current;
    d.dataset.merchant = m.id;
    d.dataset.status = m.status;
    $('d-name').textContent = m.name;
    $('d-id').textContent = m.id;
    $('d-status').textContent = m.status === 'active' ? t('t.m.active') : t('t.m.suspended');
    $('d-budget').textContent = num(account.budget_points);
    $('d-payable').textContent = yuan(account.payable_fen);
    $('d-toggle').textContent = m.status === 'active' ? t('o.suspend') : t('o.activate');
    const list = $('store-list');
    list.replaceChildren(...stores.map((s) => el('li', { text: s.name + ' (' + s.id + ')' })));
    const rows = $('cred-rows');
    rows.replaceChildren();
    for (const c of creds) {
      const cells = [el('th', { scope: 'row', text: c.id }), el('td', { text: c.algorithm }), el('td', { text: (c.scopes || []).join(' ') }),
        el('td', { text: c.status + (c.revoked_at ? ' ' + when(c.revoked_at) : '') })];
      const cell = el('td');
      if (c.status === 'active') {
        const b = el('button', { type: 'button', class: 'secondary', text: t('o.cred.revoke'), 'aria-label': t('o.cred.revoke') + ' ' + c.id });
        b.addEventListener('click', () => revoke(c.id).catch(showError));
        cell.append(b);
      }
      rows.append(el('tr', { 'data-cred': c.id }, ...cells, cell));
    }
  }

  let plugins = [];
  let dead = [];
  let recon = null; // {date, channel, exceptions}

  function renderDead() {
    const body = $('dead-rows');
    body.replaceChildren();
    if (dead.length === 0) body.append(el('tr', {}, el('td', { colspan: '8', text: t('o.dead.none') })));
    for (const e of dead) {
      const b = el('button', { type: 'button', class: 'secondary', text: t('o.dead.replay'), 'aria-label': t('o.dead.replay') + ' ' + e.id });
      b.addEventListener('click', () => replay(e.id).catch(showError));
      body.append(el('tr', { 'data-event': String(e.id) },
        el('th', { scope: 'row', text: String(e.id) }), el('td', { text: e.merchant_id }), el('td', { text: e.connection_id }),
        el('td', { text: e.event_type }), el('td', { class: 'num', text: num(e.attempts) }), el('td', { text: when(e.received_at) }),
        el('td', { class: 'reason', text: e.last_error || '' }), el('td', {}, b)));
    }
  }

  async function loadDead() {
    dead = (await call('GET', '/v1/operator/pos/inbox?state=dead&limit=100')).events;
    renderDead();
  }

  // replay puts a dead event back in the queue (the API refuses a token
  // without the merchants:write scope, and an event no longer dead).
  async function replay(id) {
    await call('POST', '/v1/operator/pos/inbox/' + encodeURIComponent(id) + '/replay');
    $('dead-status').textContent = t('o.dead.replayed') + id;
    await loadDead();
  }

  function renderRecon() {
    const body = $('recon-rows');
    body.replaceChildren();
    if (!recon) return;
    if (recon.exceptions.length === 0) body.append(el('tr', {}, el('td', { colspan: '8', text: t('o.recon.none') })));
    for (const x of recon.exceptions) {
      body.append(el('tr', { 'data-exception': String(x.id), 'data-kind': x.kind },
        el('td', { text: x.channel }), el('th', { scope: 'row', text: x.kind }), el('td', { text: x.line_type }),
        el('td', { text: x.transaction_id }), el('td', { text: x.channel_ref }),
        el('td', { class: 'num', text: yuan(x.ledger_fen) }), el('td', { class: 'num', text: yuan(x.channel_fen) }), el('td', { text: x.detail })));
    }
  }

  async function loadRecon() {
    const date = $('recon-date').value, channel = $('recon-channel').value.trim();
    const r = await call('GET', '/v1/operator/reconciliation?date=' + encodeURIComponent(date) + (channel ? '&channel=' + encodeURIComponent(channel) : ''));
    recon = { date, channel, exceptions: r.exceptions || [] };
    renderRecon();
  }

  // yesterday is the last bill day in China Standard Time (UTC+8), the
  // day a channel's bill covers.
  function yesterday() {
    const d = new Date(Date.now() + 8 * 3600e3 - 24 * 3600e3);
    return d.toISOString().slice(0, 10);
  }
  let audit = [];
  let auditCursor = '';

  function renderPlugins() {
    const body = $('plugin-rows');
    body.replaceChildren();
    if (plugins.length === 0) body.append(el('tr', {}, el('td', { colspan: '6', text: t('o.plugins.none') })));
    for (const p of plugins) {
      body.append(el('tr', { 'data-plugin': p.name, 'data-state': p.state },
        el('th', { scope: 'row', text: p.name + (p.required ? t('o.plugins.required') : '') }), el('td', { text: p.kind }),
        el('td', { class: p.state === 'up' ? 'ok' : 'bad', text: p.state }), el('td', { class: 'num', text: num(p.restarts) }),
        el('td', { class: p.circuit === 'closed' ? '' : 'bad', text: p.circuit }), el('td', { text: p.last_error || '' })));
    }
  }

  function renderAudit() {
    const body = $('audit-rows');
    body.replaceChildren();
    for (const e of audit) {
      body.append(el('tr', { 'data-audit': String(e.id), 'data-kind': e.kind },
        el('td', { text: when(e.created_at) }), el('th', { scope: 'row', text: e.kind }),
        el('td', { text: e.actor }), el('td', { text: e.subject })));
    }
    $('audit-more').hidden = !auditCursor;
  }

  async function loadAudit(more) {
    const q = '?limit=50' + (more && auditCursor ? '&cursor=' + encodeURIComponent(auditCursor) : '');
    const r = await call('GET', '/v1/operator/audit' + q);
    audit = more ? audit.concat(r.events) : r.events;
    auditCursor = r.next_cursor || '';
    renderAudit();
  }

  function render() {
    $('signin').hidden = !!token;
    $('console').hidden = !token;
    renderTotals(); renderMerchants(); renderDetail(); renderPlugins(); renderDead(); renderRecon(); renderAudit();
  }

  async function loadMerchants(more) {
    const q = '?limit=100' + (more && cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
    const r = await call('GET', '/v1/operator/merchants' + q);
    merchants = more ? merchants.concat(r.merchants) : r.merchants;
    cursor = r.next_cursor || '';
    renderMerchants();
  }

  async function loadAll() {
    totals = await call('GET', '/v1/operator/totals');
    renderTotals();
    await loadMerchants(false);
    plugins = (await call('GET', '/v1/operator/plugins')).plugins;
    renderPlugins();
    await loadDead();
    if (!$('recon-date').value) $('recon-date').value = yesterday();
    await loadRecon();
    await loadAudit(false);
    document.body.dataset.loaded = 'true';
  }

  async function openMerchant(id) {
    const base = '/v1/operator/merchants/' + encodeURIComponent(id);
    $('fund-status').textContent = '';
    const [m, account, stores, creds] = await Promise.all([
      call('GET', base), call('GET', base + '/account'), call('GET', base + '/stores'), call('GET', base + '/credentials')]);
    current = { m, account, stores: stores.stores || [], creds: creds.credentials || [] };
    $('cred-secret-box').hidden = true;
    renderDetail();
    $('detail-h').focus();
  }

  async function revoke(key) {
    const id = current.m.id;
    await call('POST', '/v1/operator/merchants/' + encodeURIComponent(id) + '/credentials/' + encodeURIComponent(key) + '/revoke');
    await openMerchant(id);
  }

  function idemKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return 'console-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function on(id, ev, f) {
    $(id).addEventListener(ev, (e) => {
      if (ev === 'submit') e.preventDefault();
      showError(null);
      f(e).catch(showError);
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    on('token-form', 'submit', async () => {
      token = $('token').value.trim();
      $('token').value = '';
      sessionStorage.setItem(KEY, token);
      render();
      await loadAll();
    });
    $('signout').addEventListener('click', signOut);
    on('merchants-more', 'click', () => loadMerchants(true));
    on('audit-more', 'click', () => loadAudit(true));
    on('recon-form', 'submit', loadRecon);
    on('create-form', 'submit', async () => {
      const m = await call('POST', '/v1/operator/merchants', { name: $('new-name').value.trim(), industry: $('new-industry').value.trim() });
      $('new-name').value = '';
      await loadMerchants(false);
      await openMerchant(m.id);
    });
    on('d-toggle', 'click', async () => {
      const id = current.m.id;
      await call('PUT', '/v1/operator/merchants/' + encodeURIComponent(id) + '/status', { status: current.m.status === 'active' ? 'suspended' : 'active' });
      await loadMerchants(false);
      await openMerchant(id);
    });
    on('fund-form', 'submit', async () => {
      const id = current.m.id;
      const amount = $('fund-amount').value.trim();
      if (!/^[0-9]+$/.test(amount)) throw new APIError(400, 'validation_failed', t('o.fund.amount'));
      // One key per submitted form: a retried request funds once.
      await call('POST', '/v1/operator/merchants/' + encodeURIComponent(id) + '/fund',
        { amount_fen: Number(amount), external_ref: $('fund-ref').value.trim() }, { 'Idempotency-Key': idemKey() });
      $('fund-amount').value = ''; $('fund-ref').value = '';
      totals = await call('GET', '/v1/operator/totals');
      renderTotals();
      await openMerchant(id);
      $('fund-status').textContent = t('o.fund.done');
    });
    on('store-form', 'submit', async () => {
      const id = current.m.id;
      await call('POST', '/v1/operator/merchants/' + encodeURIComponent(id) + '/stores', { name: $('store-name').value.trim() });
      $('store-name').value = '';
      await openMerchant(id);
    });
    on('cred-create', 'click', async () => {
      const id = current.m.id;
      const c = await call('POST', '/v1/operator/merchants/' + encodeURIComponent(id) + '/credentials', { algorithm: 'hmac-sha256', label: 'console' });
      await openMerchant(id);
      $('cred-secret').textContent = c.id + '\n' + c.secret;
      $('cred-secret-box').hidden = false;
    });
    onLang(render);
    render();
    if (token) loadAll().catch(showError);
    else document.body.dataset.loaded = 'true';
  });
})();
