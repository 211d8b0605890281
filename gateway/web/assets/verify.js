// In-browser checks of the evidence log (docs/evidence.md): SM3, the
// canonical transaction entry (§2.1) and RFC 6962/9162 inclusion proofs
// with the SM3 hasher (§4). The member page uses them to check that a
// transaction of theirs is in the tree a signed checkpoint commits to.
'use strict';

const LMVerify = (() => {
  const rotl = (x, n) => ((x << n) | (x >>> (32 - n))) >>> 0;
  const P0 = (x) => (x ^ rotl(x, 9) ^ rotl(x, 17)) >>> 0;
  const P1 = (x) => (x ^ rotl(x, 15) ^ rotl(x, 23)) >>> 0;
  const IV = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];

  // sm3 hashes bytes (GB/T 32905-2016) and returns 32 bytes.
  function sm3(msg) {
    const bitLen = msg.length * 8;
    const padded = new Uint8Array(((msg.length + 9 + 63) >> 6) << 6);
    padded.set(msg);
    padded[msg.length] = 0x80;
    const dv = new DataView(padded.buffer);
    dv.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
    dv.setUint32(padded.length - 4, bitLen >>> 0);
    const V = IV.slice();
    const W = new Array(68);
    const W1 = new Array(64);
    for (let off = 0; off < padded.length; off += 64) {
      for (let j = 0; j < 16; j++) W[j] = dv.getUint32(off + 4 * j);
      for (let j = 16; j < 68; j++) {
        W[j] = (P1(W[j - 16] ^ W[j - 9] ^ rotl(W[j - 3], 15)) ^ rotl(W[j - 13], 7) ^ W[j - 6]) >>> 0;
      }
      for (let j = 0; j < 64; j++) W1[j] = (W[j] ^ W[j + 4]) >>> 0;
      let [A, B, C, D, E, F, G, H] = V;
      for (let j = 0; j < 64; j++) {
        const T = j < 16 ? 0x79cc4519 : 0x7a879d8a;
        const SS1 = rotl((rotl(A, 12) + E + rotl(T, j % 32)) >>> 0, 7);
        const SS2 = (SS1 ^ rotl(A, 12)) >>> 0;
        const FF = j < 16 ? (A ^ B ^ C) : ((A & B) | (A & C) | (B & C));
        const GG = j < 16 ? (E ^ F ^ G) : ((E & F) | (~E & G));
        const TT1 = ((FF >>> 0) + D + SS2 + W1[j]) >>> 0;
        const TT2 = ((GG >>> 0) + H + SS1 + W[j]) >>> 0;
        D = C; C = rotl(B, 9); B = A; A = TT1;
        H = G; G = rotl(F, 19); F = E; E = P0(TT2);
      }
      const n = [A, B, C, D, E, F, G, H];
      for (let i = 0; i < 8; i++) V[i] = (V[i] ^ n[i]) >>> 0;
    }
    const out = new Uint8Array(32);
    const odv = new DataView(out.buffer);
    V.forEach((v, i) => odv.setUint32(4 * i, v));
    return out;
  }

  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  function unhex(s) {
    const out = new Uint8Array(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
    return out;
  }
  function unb64(s) {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function cat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
  const leafHash = (data) => sm3(cat(Uint8Array.of(0), data));
  const nodeHash = (l, r) => sm3(cat(Uint8Array.of(1), l, r));

  // rootFromInclusion is RFC 9162 §2.1.3.2: the root a leaf at index in a
  // tree of size implies with its audit path (bottom-up), or null.
  function rootFromInclusion(leaf, index, size, path) {
    if (index >= size) return null;
    let fn = index; let sn = size - 1; let r = leaf;
    for (const p of path) {
      if (sn === 0) return null;
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : null;
  }

  // decodeTx reads canonical transaction entry bytes (§2.1), or throws.
  function decodeTx(b) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let o = 0;
    const need = (n) => { if (o + n > b.length) throw new Error('entry truncated'); };
    const u32 = () => { need(4); const v = dv.getUint32(o); o += 4; return v; };
    const i64 = () => { need(8); const v = dv.getBigInt64(o); o += 8; return v; };
    const str = () => { const n = u32(); need(n); const s = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(o, o + n)); o += n; return s; };
    if (str() !== 'lianmeng.evidence.tx') throw new Error('not a transaction entry');
    need(1);
    if (b[o++] !== 1) throw new Error('unknown entry version');
    const tx = { id: i64(), kind: str(), ref: str(), reverses: i64(), created_us: i64(), postings: [] };
    for (let n = u32(); n > 0; n--) tx.postings.push({ account: str(), asset: str(), amount: i64() });
    if (o !== b.length) throw new Error('trailing data after the entry');
    return tx;
  }

  // micros reads an RFC 3339 time as microseconds since 1970 (BigInt).
  function micros(s) {
    const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(s);
    if (!m) throw new Error('bad time ' + s);
    const secs = BigInt(Date.parse(m[1] + m[3]) / 1000);
    return secs * 1000000n + BigInt(((m[2] || '') + '000000').slice(0, 6));
  }

  // checkMemberTx checks an inclusion proof the gateway served for a
  // transaction from the member's own history: the entry decodes to that
  // transaction (id, kind, reference, time, and exactly the member's own
  // postings), and its leaf with the audit path gives the root of the
  // checkpoint. It returns {ok, reason, root, size, index, time}.
  function checkMemberTx(tx, memberID, proof) {
    try {
      const data = unb64(proof.entry);
      const e = decodeTx(data);
      if (e.id !== BigInt(tx.id) || e.kind !== tx.kind || e.ref !== tx.ref || e.created_us !== micros(tx.created_at)) {
        return { ok: false, reason: 'the entry is not this transaction' };
      }
      const prefix = 'member:' + memberID + ':';
      const key = (p) => p.account + ' ' + p.asset + ' ' + String(p.amount);
      const mine = e.postings.filter((p) => p.account === prefix + 'pending' || p.account === prefix + 'available').map(key).sort();
      const held = (tx.postings || []).map(key).sort();
      if (mine.join('\n') !== held.join('\n')) return { ok: false, reason: 'the entry moves other points of yours than your history shows' };
      const root = rootFromInclusion(leafHash(data), proof.leaf_index, proof.tree_size, proof.proof.map(unhex));
      if (!root || proof.tree_size !== proof.checkpoint.size || hex(root) !== proof.checkpoint.root) {
        return { ok: false, reason: 'the audit path does not lead to the checkpoint\'s root' };
      }
      return { ok: true, root: hex(root), size: proof.tree_size, index: proof.leaf_index, time: proof.checkpoint.time };
    } catch (err) {
      return { ok: false, reason: err.message };
    }
  }

  return { sm3, hex, leafHash, rootFromInclusion, decodeTx, checkMemberTx };
})();
