// The public transparency page: coverage, merchants' earning terms in
// plain words, and the latest signed checkpoint with the means to verify it
// without trusting this page.
'use strict';

(() => {
  const { t, api, yuan, num, percent, when, el, showError, onLang } = LM;
  const $ = (id) => document.getElementById(id);
  let coverage = null;
  let merchants = [];
  let nextCursor = '';
  let checkpoint = null; // {cp, key} or {error}
  let history = null; // the daily snapshots, oldest first

  // renderHistory fills the table beside the charts (their text
  // alternative) and points the charts at the page's language.
  function renderHistory() {
    if (!history) return;
    const days = history.days;
    // The last day in the URL: a new day is a new image, not a cached one.
    const q = '?days=30&lang=' + (LM.lang === 'en' ? 'en' : 'zh') + '&v=' + (days.length ? days[days.length - 1].day : 'none');
    $('chart-coverage').src = '/charts/coverage.svg' + q;
    $('chart-points').src = '/charts/points.svg' + q;
    $('history-empty').hidden = days.length > 0;
    $('history-caption').textContent = t('t.h.caption', { n: days.length });
    const body = $('history-rows');
    body.replaceChildren();
    let i = 0, r = 0, e = 0;
    for (const d of days) {
      i += d.issued_points; r += d.redeemed_points; e += d.expired_today_points;
      body.append(el('tr', { 'data-day': d.day },
        el('th', { scope: 'row', text: d.day }),
        el('td', { class: 'num coverage', text: percent(d.coverage_bp) }),
        el('td', { class: 'num outstanding', text: num(d.outstanding_points) }),
        el('td', { class: 'num issued', text: num(d.issued_points) }),
        el('td', { class: 'num redeemed', text: num(d.redeemed_points) }),
        el('td', { class: 'num expired', text: num(d.expired_today_points) })));
    }
    const last = days.length ? percent(days[days.length - 1].coverage_bp) : '—';
    $('chart-coverage').alt = t('t.h.covalt', { n: days.length, last });
    $('chart-points').alt = t('t.h.ptsalt', { n: days.length, i: num(i), r: num(r), e: num(e) });
  }

  function renderCoverage() {
    if (!coverage) return;
    const c = coverage;
    $('coverage-ratio').textContent = percent(c.coverage_bp);
    $('coverage-ratio').removeAttribute('data-i18n');
    $('coverage-bar').style.width = Math.min(100, c.coverage_bp / 100) + '%';
    $('coverage-meter').setAttribute('aria-label', t('t.cov.meter') + ' ' + percent(c.coverage_bp));
    const st = $('coverage-status');
    st.textContent = c.covered ? t('t.cov.ok') : t('t.cov.short');
    st.className = c.covered ? 'ok' : 'bad';
    $('coverage-reserve').textContent = yuan(c.reserve_fen);
    $('coverage-outstanding').textContent = num(c.outstanding_points);
    $('coverage-face').textContent = yuan(c.face_value_fen);
    $('coverage-asof').textContent = when(c.as_of);
  }

  // terms says in words what DESIGN's flat rate means for a member:
  // floor(amount × rate / 10000 / face value) points per purchase.
  function terms(m) {
    const e = m.earning || {};
    if (e.rule_plugin) return t('t.m.plugin', { name: e.rule_plugin });
    if (!e.rate_bp) return t('t.m.zero');
    const face = (coverage && coverage.face_value_fen) || 1;
    const pts = Math.floor(e.rate_bp / face); // per ¥100 = 10000 fen
    let s = t('t.m.flat', { pts: num(pts), val: yuan(pts * face), pct: percent(e.rate_bp) });
    if (e.max_points) s += t('t.m.cap', { max: num(e.max_points) });
    return s;
  }

  // value says a term's value in words: rates as percentages, durations in
  // days, lists joined; anything else as it is.
  function value(term, v) {
    if (v === null || v === undefined || v === '') return '—';
    if (term === 'rate_bp') return percent(v);
    if (term.endsWith('_seconds')) return num(Math.round(v / 86400)) + (LM.lang === 'zh' ? ' 天' : ' days');
    if (Array.isArray(v)) return v.length ? v.join(', ') : '—';
    if (typeof v === 'object') return JSON.stringify(v);
    return typeof v === 'number' ? num(v) : String(v);
  }

  // scheduled says when the next version takes effect, how long until
  // then, and what changes for members, term by term.
  function scheduled(m) {
    const v = m.scheduled;
    if (!v) return el('span', { text: t('t.m.nochange') });
    const ms = Math.max(0, new Date(v.effective_at) - Date.now());
    const left = t('t.m.days', { d: Math.floor(ms / 86400000), h: Math.floor(ms / 3600000) % 24 });
    const box = el('div', { class: 'scheduled', 'data-effective-at': v.effective_at },
      el('span', { class: 'when', text: t('t.m.when', { v: v.version, date: when(v.effective_at), left }) }));
    const list = el('ul', { class: 'changes' });
    for (const c of m.changes || []) {
      const label = t('term.' + c.term);
      list.append(el('li', { 'data-term': c.term, class: c.less_favourable ? 'bad' : '',
        text: (label.startsWith('term.') ? c.term : label) + ': ' + value(c.term, c.old) + ' → ' + value(c.term, c.new) + (c.less_favourable ? t('t.m.worse') : '') }));
    }
    box.append(list);
    return box;
  }

  function renderMerchants() {
    const body = $('merchant-rows');
    body.replaceChildren();
    if (merchants.length === 0) {
      body.append(el('tr', {}, el('td', { colspan: '5', text: t('t.m.empty') })));
    }
    for (const m of merchants) {
      body.append(el('tr', { 'data-merchant': m.id },
        el('th', { scope: 'row', text: m.name }),
        el('td', { text: m.industry }),
        el('td', { text: m.status === 'active' ? t('t.m.active') : t('t.m.suspended') }),
        el('td', { class: 'terms', text: terms(m) }),
        el('td', { class: 'next' }, scheduled(m))));
    }
    $('merchants-more').hidden = !nextCursor;
  }

  function b64bytes(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function blobLink(id, parts, type) {
    const a = $(id);
    if (a.href.startsWith('blob:')) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(new Blob(parts, { type }));
  }

  function renderCheckpoint() {
    if (!checkpoint) return;
    const state = $('cp-state');
    if (checkpoint.error) {
      const e = checkpoint.error;
      state.textContent = e.code === 'evidence_pending' ? t('t.cp.pending') : e.code === 'unavailable' ? t('t.cp.unavailable') : t('error') + e.message;
      $('cp-body').hidden = true;
      return;
    }
    const { cp, key } = checkpoint;
    state.textContent = '';
    $('cp-origin').textContent = cp.origin;
    $('cp-size').textContent = num(cp.size);
    $('cp-root').textContent = cp.root;
    $('cp-chain').textContent = cp.chain_head;
    $('cp-time').textContent = when(cp.time) + ' (' + cp.time + ')';
    $('cp-keyid').textContent = cp.key_id;
    // Witnesses: a checkpoint short of its quorum is flagged, as on /readyz.
    const cos = cp.cosignatures || [], q = cp.witness_quorum || 0;
    const w = $('cp-witnesses');
    const names = cos.map((c) => c.witness).join(', ');
    w.textContent = q === 0 && cos.length === 0 ? t('t.w.none')
      : cos.length >= q ? t('t.w.ok', { n: cos.length, q, names }) : t('t.w.short', { n: cos.length, q });
    w.className = q > 0 && cos.length < q ? 'bad' : 'ok';
    w.dataset.quorum = String(q > 0 && cos.length < q ? 'short' : 'met');
    $('cp-signed').textContent = cp.signed;
    $('cp-pem').textContent = key.public_key_pem;
    // The body is the signed text up to its blank line (docs/evidence.md §5.3).
    const body = cp.signed.slice(0, cp.signed.indexOf('\n\n') + 1);
    blobLink('dl-body', [body], 'text/plain');
    blobLink('dl-sig', [b64bytes(cp.signature)], 'application/octet-stream');
    blobLink('dl-pem', [key.public_key_pem], 'application/x-pem-file');
    const v = LMVerify.verifyCheckpoint(cp.signed, key.public_key_pem);
    const res = $('sig-result');
    res.textContent = v.ok ? t('t.v.sigok', { id: v.keyID }) : t('t.v.sigbad', { reason: v.reason });
    res.className = v.ok ? 'ok' : 'bad';
    res.dataset.ok = String(v.ok);
    const since = $('consistency-result');
    if (checkpoint.since) {
      since.textContent = t(checkpoint.since.key, checkpoint.since.vars);
      since.className = checkpoint.since.ok ? 'ok' : 'bad';
      since.dataset.ok = String(checkpoint.since.ok);
    }
    const o = location.origin;
    $('cmd-fetch').textContent =
      `curl -fsS ${o}/v1/evidence/checkpoint > checkpoint.json\n` +
      `jq -j '.signed | split("\\n\\n")[0] + "\\n"' checkpoint.json > checkpoint.txt\n` +
      `jq -r .signature checkpoint.json | base64 -d > checkpoint.sig\n` +
      `curl -fsS ${o}/v1/evidence/public-key | jq -r .public_key_pem > lianmeng-evidence.pem`;
    $('cp-body').hidden = false;
  }

  // checkSince compares the checkpoint with the last one this browser saw
  // (localStorage): a smaller log, or a different root at the same size, is
  // an alarm; a larger one must come with a consistency proof that holds.
  // Only a checkpoint whose signature verified is remembered.
  const SEEN = 'lianmeng.checkpoint';
  async function checkSince(cp, sigOK) {
    let seen = null;
    try { seen = JSON.parse(localStorage.getItem(SEEN) || 'null'); } catch (e) { seen = null; }
    let r;
    if (!seen || seen.origin !== cp.origin) {
      r = { ok: true, key: 't.v.first', vars: { size: num(cp.size) } };
    } else if (seen.size > cp.size) {
      r = { ok: false, key: 't.v.back', vars: { from: num(seen.size), to: num(cp.size) } };
    } else if (seen.size === cp.size) {
      r = seen.root === cp.root ? { ok: true, key: 't.v.same', vars: { size: num(cp.size) } } : { ok: false, key: 't.v.fork', vars: {} };
    } else {
      try {
        const p = await api('GET', '/v1/evidence/consistency?from=' + seen.size + '&to=' + cp.size);
        const ok = p.to_checkpoint.root === cp.root &&
          LMVerify.consistent(seen.size, cp.size, LMVerify.unhex(seen.root), LMVerify.unhex(cp.root), p.proof.map(LMVerify.unhex));
        r = ok ? { ok: true, key: 't.v.grew', vars: { from: num(seen.size), to: num(cp.size) } } : { ok: false, key: 't.v.fork', vars: {} };
      } catch (e) {
        r = { ok: false, key: 't.v.unchecked', vars: { reason: e.message } };
      }
    }
    if (r.ok && sigOK) localStorage.setItem(SEEN, JSON.stringify({ origin: cp.origin, size: cp.size, root: cp.root }));
    return r;
  }

  async function loadMerchants() {
    const q = nextCursor ? '?cursor=' + encodeURIComponent(nextCursor) : '';
    const r = await api('GET', '/v1/public/merchants' + q);
    merchants = merchants.concat(r.merchants);
    nextCursor = r.next_cursor || '';
    renderMerchants();
  }

  async function load() {
    try {
      coverage = await api('GET', '/v1/public/coverage');
      renderCoverage();
      await loadMerchants();
      history = await api('GET', '/v1/public/history?days=30');
      renderHistory();
    } catch (e) {
      showError(e);
    }
    try {
      const [cp, key] = await Promise.all([api('GET', '/v1/evidence/checkpoint'), api('GET', '/v1/evidence/public-key')]);
      checkpoint = { cp, key };
      checkpoint.since = await checkSince(cp, LMVerify.verifyCheckpoint(cp.signed, key.public_key_pem).ok);
    } catch (e) {
      checkpoint = { error: e };
    }
    renderCheckpoint();
    document.body.dataset.loaded = 'true';
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('merchants-more').addEventListener('click', () => loadMerchants().catch(showError));
    onLang(() => { renderCoverage(); renderHistory(); renderMerchants(); renderCheckpoint(); });
    load();
  });
})();
