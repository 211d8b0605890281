// The member page: sign in with a code sent to the phone, then balance,
// lots with their release and expiry dates and rule version, history, and a
// single-use redemption code shown as digits and as a QR code. The member
// token stays in this tab (sessionStorage) and goes only to this gateway.
'use strict';

(() => {
  const { t, api, num, yuan, percent, when, el, showError, onLang, APIError } = LM;
  const $ = (id) => document.getElementById(id);
  const KEY = 'lianmeng.member';
  let session = null; // {token, member_id, expires_at}
  let data = null; // {balance, lots, history}
  let code = null; // the redemption code on screen
  let timer = 0;

  function loadSession() {
    try { session = JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (e) { session = null; }
    if (session && new Date(session.expires_at) <= new Date()) session = null;
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    session = null; data = null; code = null;
    clearInterval(timer);
    delete $('account').dataset.loadedFor;
    render();
  }

  async function call(method, path, body) {
    try {
      return await api(method, path, body, session && session.token);
    } catch (e) {
      if (e instanceof APIError && e.status === 401) signOut();
      throw e;
    }
  }

  async function refresh() {
    const [balance, lots, history] = await Promise.all([
      call('GET', '/v1/member/balance'),
      call('GET', '/v1/member/lots?include_closed=true'),
      call('GET', '/v1/member/history?limit=50'),
    ]);
    data = { balance, lots: lots.lots || [], history: history.transactions || [] };
    render();
    $('account').dataset.loadedFor = session.member_id;
  }

  // change is what a transaction did to this member's points: the sum of
  // its postings on the member's own accounts; a release moves points from
  // pending to available, so it shows what became spendable.
  function change(tx) {
    const prefix = 'member:' + session.member_id + ':';
    let net = 0; let avail = 0;
    for (const p of tx.postings || []) {
      if (!p.account.startsWith(prefix)) continue;
      net += p.amount;
      if (p.account === prefix + 'available') avail += p.amount;
    }
    return tx.kind === 'release' ? avail : net;
  }

  function renderCode() {
    const box = $('rc');
    if (!code) { box.hidden = true; return; }
    box.hidden = false;
    const d = code.code;
    const digits = $('rc-digits');
    digits.textContent = d.slice(0, 6) + ' ' + d.slice(6, 12) + ' ' + d.slice(12);
    digits.dataset.code = d;
    $('rc-expires').textContent = when(code.expires_at);
    const canvas = $('rc-qr');
    canvas.setAttribute('aria-label', t('m.rc.qr', { code: d }));
    canvas.dataset.content = code.qr;
    const qr = qrcode(0, 'M');
    qr.addData(code.qr);
    qr.make();
    const n = qr.getModuleCount();
    const quiet = 4;
    const scale = Math.max(1, Math.floor(canvas.width / (n + 2 * quiet)));
    const size = (n + 2 * quiet) * scale;
    canvas.width = size; canvas.height = size;
    const g = canvas.getContext('2d');
    g.fillStyle = '#fff'; g.fillRect(0, 0, size, size);
    g.fillStyle = '#000';
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        if (qr.isDark(r, c)) g.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
      }
    }
  }

  const verdicts = {}; // tx id -> the last check's result

  // verifyCell checks the transaction's inclusion proof in the browser
  // (verify.js) against the checkpoint the gateway serves with it.
  function verifyCell(tx) {
    const out = el('span', { class: 'verdict', role: 'status' });
    const v = verdicts[tx.id];
    if (v) {
      out.textContent = v.pending ? t('m.v.pending') : v.ok ? t('m.v.ok', { index: num(v.index), size: num(v.size), time: when(v.time), root: v.root.slice(0, 16) })
        : t('m.v.bad', { reason: v.reason });
      out.className = 'verdict ' + (v.ok ? 'ok' : v.pending ? '' : 'bad');
      if (!v.pending) out.dataset.ok = String(!!v.ok);
    }
    const b = el('button', { type: 'button', class: 'secondary', text: t('m.v.button'), 'aria-label': t('m.v.button') + ' ' + tx.id });
    b.addEventListener('click', async () => {
      showError(null);
      try {
        const proof = await call('GET', '/v1/member/evidence/transactions/' + encodeURIComponent(tx.id));
        verdicts[tx.id] = LMVerify.checkMemberTx(tx, session.member_id, proof);
      } catch (e) {
        if (e.code === 'evidence_pending') verdicts[tx.id] = { pending: true };
        else { showError(e); return; }
      }
      render();
    });
    return el('td', {}, b, ' ', out);
  }

  // versionName writes a rule version label (v3, v3:plugin-1.2) in words.
  function versionName(label) {
    const m = /^v(\d+)/.exec(label || '');
    return m ? t('m.b.version', { n: m[1] }) + label.slice(m[0].length) : label;
  }

  // details says where a transaction's purchase was and how its points
  // were computed: the breakdown kept with it (eligible amount, base,
  // bonuses, caps, total) or the flat rate of its rule version.
  function details(tx) {
    const p = tx.purchase;
    if (!p) return el('td', { class: 'details', text: tx.ref });
    const cell = el('td', { class: 'details' },
      el('div', { class: 'buy', text: t('m.b.buy', { merchant: p.merchant_name || p.merchant_id, amount: yuan(p.amount_fen), version: versionName(p.rule_version) }) }));
    if (tx.kind !== 'earn') return cell;
    const lines = [];
    const b = p.breakdown;
    if (b) {
      lines.push(['eligible', t('m.b.eligible', { amount: yuan(b.eligible_fen) }) + (b.excluded_fen ? t('m.b.excluded', { amount: yuan(b.excluded_fen) }) : '')]);
      lines.push(['base', t('m.b.base', { points: num(b.base_points) })]);
      for (const m of b.multipliers || []) {
        lines.push(['bonus', t('m.b.bonus', { code: m.code, factor: (m.factor_permille / 1000).toString(), points: num(m.points) })]);
      }
      for (const c of b.caps || []) {
        lines.push(['cap', t('m.b.cap', { code: c.code, limit: num(c.limit_points), points: num(c.removed_points) })]);
      }
      lines.push(['total', t('m.b.total', { points: num(b.total_points) })]);
      if (b.explanation) lines.push(['why', b.explanation]);
    } else if (p.terms) {
      const tm = p.terms;
      lines.push(['flat', tm.rule_plugin ? t('m.b.plugin', { name: tm.rule_plugin })
        : t('m.b.flat', { pct: percent(tm.rate_bp) }) + (tm.max_points ? t('m.b.flatcap', { max: num(tm.max_points) }) : '')]);
      lines.push(['total', t('m.b.total', { points: num(p.points) })]);
    }
    if (lines.length) {
      const ul = el('ul', { class: 'breakdown' });
      for (const [k, v] of lines) ul.append(el('li', { 'data-line': k, text: v }));
      cell.append(ul);
    }
    return cell;
  }

  function render() {
    const signedIn = !!session;
    $('signin').hidden = signedIn;
    $('account').hidden = !signedIn;
    if (!signedIn || !data) return;
    const b = data.balance;
    $('bal-available').textContent = num(b.available);
    $('bal-pending').textContent = num(b.pending);
    $('bal-debt').textContent = num(b.debt);

    const lots = $('lot-rows');
    lots.replaceChildren();
    if (data.lots.length === 0) lots.append(el('tr', {}, el('td', { colspan: '8', text: t('none') })));
    for (const l of data.lots) {
      lots.append(el('tr', { 'data-lot': String(l.id) },
        el('td', { class: 'num', text: num(l.points) }),
        el('td', { class: 'num', text: num(l.remaining) }),
        el('td', { text: t('state.' + l.state) }),
        el('td', { text: l.merchant_id }),
        el('td', { text: when(l.earned_at) }),
        el('td', { class: 'release', text: when(l.release_at) }),
        el('td', { class: 'expires', text: when(l.expires_at) }),
        el('td', { text: l.rule_version })));
    }

    const hist = $('hist-rows');
    hist.replaceChildren();
    if (data.history.length === 0) hist.append(el('tr', {}, el('td', { colspan: '5', text: t('none') })));
    for (const tx of data.history) {
      const c = change(tx);
      hist.append(el('tr', { 'data-tx': String(tx.id), 'data-kind': tx.kind },
        el('td', { text: when(tx.created_at) }),
        el('td', { text: t('kind.' + tx.kind) }),
        el('td', { class: 'num change', text: (c > 0 ? '+' : '') + num(c) }),
        details(tx),
        verifyCell(tx)));
    }
    renderCode();
  }

  let phone = '';
  async function sendCode(ev) {
    ev.preventDefault();
    showError(null);
    phone = $('phone').value.trim();
    try {
      await api('POST', '/v1/member/signin', { phone });
      $('code-form').hidden = false;
      $('signin-status').textContent = t('m.sent');
      $('code').focus();
    } catch (e) { showError(e); }
  }

  async function verify(ev) {
    ev.preventDefault();
    showError(null);
    try {
      const r = await api('POST', '/v1/member/signin/verify', { phone, code: $('code').value.trim() });
      session = { token: r.token, member_id: r.member_id, expires_at: r.expires_at };
      sessionStorage.setItem(KEY, JSON.stringify(session));
      $('code').value = '';
      $('code-form').hidden = true;
      $('signin-status').textContent = '';
      render();
      await refresh();
    } catch (e) { showError(e); }
  }

  async function showCode() {
    showError(null);
    try {
      code = await call('POST', '/v1/member/redemption-codes', { max_points: 0 });
      renderCode();
      clearInterval(timer);
      timer = setInterval(() => {
        if (code && new Date(code.expires_at) <= new Date()) {
          clearInterval(timer);
          code = null;
          renderCode();
          $('signin-status').textContent = '';
          showError({ message: t('m.rc.expired') });
        }
      }, 1000);
    } catch (e) { showError(e); }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('phone-form').addEventListener('submit', sendCode);
    $('code-form').addEventListener('submit', verify);
    $('signout').addEventListener('click', signOut);
    $('rc-show').addEventListener('click', showCode);
    onLang(render);
    loadSession();
    render();
    const done = () => { document.body.dataset.loaded = 'true'; };
    if (session) refresh().catch(showError).finally(done);
    else done();
  });
})();
