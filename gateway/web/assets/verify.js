// In-browser checks of the evidence log (docs/evidence.md): SM3, the
// canonical transaction entry (§2.1), RFC 6962/9162 inclusion proofs with
// the SM3 hasher (§4) and the checkpoint's SM2 signature (§5). The member
// page checks that a transaction of theirs is in the tree a checkpoint
// commits to; the transparency page checks the checkpoint's signature.
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

  // consistent is RFC 9162 §2.1.4.2: whether the tree of size second with
  // root secondRoot extends the tree of size first with root firstRoot,
  // given the consistency proof (byte arrays, as the API lists them).
  function consistent(first, second, firstRoot, secondRoot, proof) {
    const eq = (a, b) => hex(a) === hex(b);
    if (first > second) return false;
    if (first === second) return proof.length === 0 && eq(firstRoot, secondRoot);
    if (first === 0) return proof.length === 0;
    if (proof.length === 0) return false;
    let path = proof;
    if ((first & (first - 1)) === 0) path = [firstRoot, ...proof];
    let fn = first - 1; let sn = second - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = path[0]; let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = nodeHash(c, fr); sr = nodeHash(c, sr);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && eq(fr, firstRoot) && eq(sr, secondRoot);
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

  // SM2 (GB/T 32918) on the curve sm2p256v1, affine coordinates with
  // BigInt: enough to verify one signature, not to sign.
  const P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFFn;
  const A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFCn;
  const B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93n;
  const N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123n;
  const G = [0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7n, 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0n];
  const mod = (x, m) => { const r = x % m; return r < 0n ? r + m : r; };
  function inv(x, m) {
    let [a, b, u, v] = [mod(x, m), m, 1n, 0n];
    while (b !== 0n) { const q = a / b; [a, b] = [b, a - q * b]; [u, v] = [v, u - q * v]; }
    return mod(u, m);
  }
  function add(p1, p2) {
    if (!p1) return p2;
    if (!p2) return p1;
    if (p1[0] === p2[0] && mod(p1[1] + p2[1], P) === 0n) return null;
    const l = p1[0] === p2[0] && p1[1] === p2[1]
      ? mod((3n * p1[0] * p1[0] + A) * inv(2n * p1[1], P), P)
      : mod((p2[1] - p1[1]) * inv(p2[0] - p1[0], P), P);
    const x = mod(l * l - p1[0] - p2[0], P);
    return [x, mod(l * (p1[0] - x) - p1[1], P)];
  }
  function mul(k, pt) {
    let r = null;
    for (let q = pt; k > 0n; k >>= 1n, q = add(q, q)) if (k & 1n) r = add(r, q);
    return r;
  }
  const big = (b) => BigInt('0x' + (hex(b) || '0'));
  const be32 = (x) => unhex(x.toString(16).padStart(64, '0'));
  const onCurve = (pt) => mod(pt[1] * pt[1] - (pt[0] * pt[0] * pt[0] + A * pt[0] + B), P) === 0n;

  // SPKI of an SM2 key: id-ecPublicKey, the sm2p256v1 OID, an uncompressed point.
  const SM2_OID = unhex('06082a811ccf5501822d');
  function pemKey(pem) {
    const der = unb64(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''));
    if (!hex(der).includes(hex(SM2_OID)) || der.length < 65 || der[der.length - 65] !== 4) throw new Error('not an SM2 public key');
    const pt = [big(der.subarray(der.length - 64, der.length - 32)), big(der.subarray(der.length - 32))];
    if (!onCurve(pt)) throw new Error('the key is not on the SM2 curve');
    return { der, pt };
  }
  function derSig(b) {
    let o = 0;
    const len = () => { let n = b[o++]; if (n & 0x80) { let k = n & 0x7f; n = 0; while (k--) n = n * 256 + b[o++]; } return n; };
    if (b[o++] !== 0x30) throw new Error('signature is not a DER SEQUENCE');
    if (len() + o !== b.length) throw new Error('signature length');
    const int = () => { if (b[o++] !== 0x02) throw new Error('signature INTEGER'); const n = len(); const v = big(b.subarray(o, o + n)); o += n; return v; };
    const r = int(); const s2 = int();
    if (o !== b.length) throw new Error('trailing signature bytes');
    return [r, s2];
  }
  const ID = new TextEncoder().encode('1234567812345678');

  // verifySM2 checks a DER signature over msg with SM3 and the default
  // user id (Z_A as GM/T 0009 and RFC 8998 define it).
  function verifySM2(pt, msg, sig) {
    const [r, s2] = derSig(sig);
    if (r < 1n || r >= N || s2 < 1n || s2 >= N) return false;
    const za = sm3(cat(Uint8Array.of(0, ID.length * 8), ID, be32(A), be32(B), be32(G[0]), be32(G[1]), be32(pt[0]), be32(pt[1])));
    const e = big(sm3(cat(za, msg)));
    const t = mod(r + s2, N);
    if (t === 0n) return false;
    const q = add(mul(s2, G), mul(t, pt));
    return !!q && mod(e + q[0], N) === r;
  }

  // verifyCheckpoint checks a checkpoint's transport form (docs/evidence.md
  // §5) against a PEM key: the key id line matches the key, and the SM2
  // signature over the body verifies. It returns {ok, reason, keyID}.
  function verifyCheckpoint(signed, pem) {
    try {
      const key = pemKey(pem);
      const keyID = hex(sm3(key.der).subarray(0, 8));
      const cut = signed.indexOf('\n\n');
      if (cut < 0) return { ok: false, reason: 'no signature line' };
      const body = signed.slice(0, cut + 1);
      const m = /^\u2014 ([0-9a-f]{16}) ([A-Za-z0-9+/]+=*)\n$/.exec(signed.slice(cut + 2));
      if (!m) return { ok: false, reason: 'malformed signature line' };
      if (!body.endsWith('\nkey ' + keyID + '\n') || m[1] !== keyID) return { ok: false, reason: 'signed with another key', keyID };
      const ok = verifySM2(key.pt, new TextEncoder().encode(body), unb64(m[2]));
      return ok ? { ok: true, keyID } : { ok: false, reason: 'the SM2 signature does not verify', keyID };
    } catch (err) {
      return { ok: false, reason: err.message };
    }
  }

  return { sm3, hex, unhex, leafHash, rootFromInclusion, consistent, decodeTx, checkMemberTx, verifyCheckpoint };
})();
