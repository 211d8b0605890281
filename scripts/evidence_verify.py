#!/usr/bin/env python3
"""An independent verifier of a Lianmeng evidence log, written from
docs/evidence.md alone (standard library only; SM3 through hashlib, which
needs an OpenSSL with SM3).

It fetches the latest checkpoint and the tiles it needs from a gateway,
recomputes the Merkle root from the tiles (§4, §12) and compares it with the
checkpoint's; with --proof FILE (the JSON answer of an inclusion-proof
route, §10.4) it checks the proof against the checkpoint (RFC 9162 §2.1.3.2
with SM3) and recomputes the audit path from the tiles. It does not check
SM2 signatures (use sdk/evidence or OpenSSL for that).

usage: evidence_verify.py BASE_URL [--proof FILE]   (exit 0 and "ok", or 1)
"""
import base64
import hashlib
import json
import sys
import urllib.request


def sm3(b):
    return hashlib.new("sm3", b).digest()


def leaf_hash(data):
    return sm3(b"\x00" + data)


def node_hash(left, right):
    return sm3(b"\x01" + left + right)


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def tile_path(level, index, width):
    groups = ["%03d" % (index % 1000)]
    index //= 1000
    while index > 0:
        groups.insert(0, "x%03d" % (index % 1000))
        index //= 1000
    p = "tile/%d/%s" % (level, "/".join(groups))
    if width < 256:
        p += ".p/%d" % width
    return p


class Tiles:
    def __init__(self, base, size):
        self.base, self.size, self.cache = base, size, {}

    def width(self, level, index):
        nodes = self.size >> (8 * level)
        return max(0, min(256, nodes - 256 * index))

    def tile(self, level, index):
        key = (level, index)
        if key not in self.cache:
            w = self.width(level, index)
            if w == 0:
                raise ValueError("tile %d/%d not in the tree" % key)
            b = get(self.base + "/v1/evidence/" + tile_path(level, index, w))
            if len(b) != 32 * w:
                raise ValueError("tile %s has %d bytes" % (tile_path(level, index, w), len(b)))
            self.cache[key] = b
        return self.cache[key]

    def node(self, height, index):
        """Hash of the complete node at height, from the one tile holding its subtree (§12)."""
        level, r = divmod(height, 8)
        first = index << r
        t = self.tile(level, first // 256)
        start = first % 256
        hs = [t[32 * i:32 * i + 32] for i in range(start, start + (1 << r))]
        while len(hs) > 1:
            hs = [node_hash(hs[i], hs[i + 1]) for i in range(0, len(hs), 2)]
        return hs[0]

    def subtree(self, lo, hi):
        """MTH(D[lo:hi]) by the RFC 6962 definition (§4)."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            return self.node(n.bit_length() - 1, lo // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def audit_path(self, m, lo, hi):
        """PATH(m, D[lo:hi]) of RFC 6962 §2.1.1, bottom-up."""
        n = hi - lo
        if n == 1:
            return []
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            return self.audit_path(m, lo, lo + k) + [self.subtree(lo + k, hi)]
        return self.audit_path(m - k, lo + k, hi) + [self.subtree(lo, lo + k)]


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def parse_checkpoint(signed):
    body = signed.split("\n\n", 1)[0] + "\n"
    lines = body.split("\n")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    return origin, size, root


def main(argv):
    base = argv[1].rstrip("/")
    cp = json.loads(get(base + "/v1/evidence/checkpoint"))
    origin, size, root = parse_checkpoint(cp["signed"])
    tiles = Tiles(base, size)
    if size and tiles.subtree(0, size) != root:
        print("FAIL: the tiles do not give the checkpoint's root")
        return 1
    if len(argv) > 3 and argv[2] == "--proof":
        proof = json.load(open(argv[3]))
        _, psize, proot = parse_checkpoint(proof["checkpoint"]["signed"])
        entry = base64.b64decode(proof["entry"])
        path = [bytes.fromhex(h) for h in proof["proof"]]
        idx = proof["leaf_index"]
        if not verify_inclusion(idx, psize, leaf_hash(entry), path, proot):
            print("FAIL: the inclusion proof does not verify")
            return 1
        if psize == size and Tiles(base, psize).audit_path(idx, 0, psize) != path:
            print("FAIL: the audit path from the tiles differs from the proof")
            return 1
    print("ok: %s size %d" % (origin, size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
