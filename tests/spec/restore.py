#!/usr/bin/env python3
"""Restore a seif snapshot from a store, from FORMAT.md section 8 alone.

Written from the specification, with no seif code: the `age` CLI unwraps
data keys, Python's hashlib/hmac give SHA-256 and HKDF, and PyNaCl
(libsodium) gives XChaCha20-Poly1305 and Ed25519.

usage: restore.py IDENTITY_FILE STORE_DIR SNAPSHOT_ID OUT_DIR
    Restores the snapshot (all of it) into OUT_DIR (which must not exist),
    checking every signature, hash, tag and total on the way.
usage: restore.py --list STORE_DIR
    Prints every record's snapshot id, one a line.
Exit status 0 on success; 3 and a message on any failure.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PublicKey
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from age_key import unwrap_age  # noqa: E402  (beside this script)

CHUNK = 1 << 16
STRIDE = CHUNK + 16
HEADER = 92


def fail(msg):
    sys.stderr.write("restore.py: " + msg + "\n")
    sys.exit(3)


def hkdf_sha256(ikm, info, length=32):
    # RFC 5869, empty salt (32 zero bytes).
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def canonical(value):
    # FORMAT.md conventions: sorted keys, no whitespace, raw UTF-8.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_decode(hrp, s):
    # BIP 173 (not Bech32m), as seif's keys use it.
    s = s.lower()
    pos = s.rfind("1")
    if s[:pos] != hrp:
        fail("not a %s key: %s" % (hrp, s))
    data = [CHARSET.index(c) for c in s[pos + 1:]]

    def polymod(values):
        gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
        chk = 1
        for v in values:
            b = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if ((b >> i) & 1) else 0
        return chk

    expanded = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
    if polymod(expanded + data) != 1:
        fail("bad checksum in " + s)
    acc, bits, out = 0, 0, []
    for v in data[:-6]:
        acc = (acc << 5) | v
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out)


def read_blob(store, key, want_hash):
    path = os.path.join(store, *key.split("/"))
    try:
        b = open(path, "rb").read()
    except OSError as e:
        fail("%s: %s" % (key, e))
    if sha(b) != want_hash:
        fail("%s: its bytes do not match its name" % key)
    return b


def body_sealer_is_hybrid(doc):
    sealer = doc.get("body", {}).get("sealer", "") if isinstance(doc.get("body"), dict) else ""
    return sealer.startswith("seifsealerpq1")


def records(store):
    out = {}
    d = os.path.join(store, "records")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        raw = read_blob(store, "records/" + name, name)
        doc = json.loads(raw)
        hybrid = body_sealer_is_hybrid(doc)
        want = {"body", "signature"} | ({"sealer_mldsa65", "signature_mldsa65"} if hybrid else set())
        if set(doc) != want:
            fail("record %s: not a record (a hybrid sealer's record has both signatures)" % name)
        body = doc["body"]
        if body.get("format") != "seif-snapshot/2":
            continue
        if canonical(doc) != raw:
            fail("record %s: not in canonical form" % name)
        msg = b"seif/v1/snapshot-record\x00" + canonical(body)
        if hybrid:
            # FORMAT.md section 10: Ed25519 key, then SHA-256 of the
            # ML-DSA-65 key; both signatures over the same bytes.
            both = bech32_decode("seifsealerpq", body["sealer"])
            pk, mldsa_hash = both[:32], both[32:]
            mldsa_pk = bytes.fromhex(doc["sealer_mldsa65"])
            if sha(mldsa_pk) != mldsa_hash.hex():
                fail("record %s: the ML-DSA-65 key is not the sealer's" % name)
            try:
                MLDSA65PublicKey.from_public_bytes(mldsa_pk).verify(
                    bytes.fromhex(doc["signature_mldsa65"]), msg)
            except InvalidSignature:
                fail("record %s: the sealer's ML-DSA-65 signature does not verify" % name)
        else:
            pk = bech32_decode("seifsealer", body["sealer"])
        try:
            VerifyKey(pk).verify(msg, bytes.fromhex(doc["signature"]))
        except BadSignatureError:
            fail("record %s: the sealer's signature does not verify" % name)
        out[name] = body
    return out


def tables(store, rec):
    bases, packs, parts = [], [], []
    for i, ref in enumerate(rec["lists"]):
        raw = read_blob(store, "lists/" + ref["id"], ref["id"])
        if len(raw) != ref["size"]:
            fail("list %d: size" % i)
        l = json.loads(raw)
        if l["format"] != "seif-list/1" or l["snapshot_id"] != rec["snapshot_id"] or l["index"] != i:
            fail("list %d belongs elsewhere" % i)
        bases += l["bases"]
        parts += [(p[0], p[1]) for p in l["manifest"]]
        for pid, size, base in l["packs"]:
            if base == 0:
                owner = rec["snapshot_id"]
            else:
                if base > len(bases):
                    fail("a pack names an undeclared base")
                owner = bases[base - 1]["snapshot_id"]
            packs.append((pid, size, owner))
    s = rec["summary"]
    own = [p for p in packs if p[2] == rec["snapshot_id"]]
    sums = {
        "bases": len(bases),
        "bytes": sum(p[1] for p in packs) + sum(p[1] for p in parts),
        "manifest_parts": len(parts),
        "new_bytes": sum(p[1] for p in own) + sum(p[1] for p in parts),
        "new_packs": len(own),
        "packs": len(packs),
    }
    if sums != s:
        fail("the lists do not add up to the record's summary")
    return bases, packs, parts


def data_key(store, identity, vault_id, snapshot_id, commitment):
    d = os.path.join(store, "keys", snapshot_id)
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        env = json.loads(read_blob(store, "keys/%s/%s" % (snapshot_id, name), name))
        if env["snapshot_id"] != snapshot_id or env["vault_id"] != vault_id:
            continue
        wrapped = base64.b64decode(env["wrapped_key"], validate=True)
        key = unwrap_age(identity, wrapped)
        if key is None or len(key) != 32:
            continue
        if hmac.compare_digest(hkdf_sha256(key, b"seif/v1/data-key/commitment").hex(), commitment):
            return key
    fail("no key envelope of snapshot %s opens with this identity" % snapshot_id)


def open_object(store, oid, size, kind, vault_id, snapshot_id, key):
    b = read_blob(store, "objects/%s/%s" % (oid[:2], oid), oid)
    if len(b) != size:
        fail("object %s: size" % oid)
    h = b[:HEADER]
    if h[0:8] != b"SEIFOBJ1" or h[8] != 1 or h[9] != 16 or h[10] != kind or h[11] != 0:
        fail("object %s: header" % oid)
    if h[12:44].hex() != vault_id or h[44:60].hex() != snapshot_id:
        fail("object %s: belongs to another vault or snapshot" % oid)
    okey = hkdf_sha256(key, b"seif/v1/snapshot/object\x00" + h[60:92])
    aad = hashlib.sha256(h).digest()
    body = b[HEADER:]
    n = (len(body) + STRIDE - 1) // STRIDE
    out = []
    for i in range(n):
        nonce = b"\x00" * 19 + struct.pack(">I", i) + (b"\x01" if i == n - 1 else b"\x00")
        try:
            out.append(crypto_aead_xchacha20poly1305_ietf_decrypt(body[i * STRIDE:(i + 1) * STRIDE], aad, nonce, okey))
        except CryptoError:
            fail("object %s: chunk %d failed authentication" % (oid, i))
    return b"".join(out)


def restore(identity, store, snapshot_id, out):
    recs = [r for r in records(store).values() if r["snapshot_id"] == snapshot_id]
    if len(recs) != 1:
        fail("snapshot %s: %d records" % (snapshot_id, len(recs)))
    rec = recs[0]
    vault = rec["vault_id"]
    bases, packs, parts = tables(store, rec)
    keys = {snapshot_id: data_key(store, identity, vault, snapshot_id, rec["commitment"])}
    for b in bases:
        keys[b["snapshot_id"]] = data_key(store, identity, vault, b["snapshot_id"], b["commitment"])
    text = b""
    for pid, size in parts:
        plain = open_object(store, pid, size, 2, vault, snapshot_id, keys[snapshot_id])
        text += plain.rstrip(b"\x00")
    lines = [json.loads(l) for l in text.split(b"\n") if l]
    head, end = lines[0], lines[-1]
    if head.get("format") != "seif-manifest/2" or head["snapshot_id"] != snapshot_id:
        fail("manifest head")
    entries = []
    for l in lines[1:-1]:
        if "more" in l:
            entries[-1]["chunks"] += l["more"]
        else:
            entries.append(l)
    seen = {"entries": len(entries), "files": 0, "bytes": 0}
    cache = {}
    os.mkdir(out)
    dirs = []
    for e in entries:
        path = e["path"]
        parts_ = path.split("/")
        if path.startswith("/") or any(c in ("", ".", "..") for c in parts_):
            fail("unsafe path " + path)
        dest = os.path.join(out, *parts_)
        if e["type"] == "dir":
            os.mkdir(dest)
            dirs.append((dest, e))
        elif e["type"] == "symlink":
            os.symlink(e["target"], dest)
        elif e["type"] == "file":
            data = b""
            for pnum, off, length, digest in e["chunks"]:
                pid, size, owner = packs[pnum]
                if pid not in cache:
                    cache.clear()  # one pack at a time is enough here
                    cache[pid] = open_object(store, pid, size, 1, vault, owner, keys[owner])
                piece = cache[pid][off:off + length]
                if len(piece) != length or sha(piece) != digest:
                    fail("%s: a chunk does not match its hash" % path)
                data += piece
            if len(data) != e["size"]:
                fail("%s: size" % path)
            with open(dest, "wb") as f:
                f.write(data)
            os.chmod(dest, e["mode"] & 0o777)
            os.utime(dest, (e["mtime"], e["mtime"]))
            seen["files"] += 1
            seen["bytes"] += e["size"]
        else:
            fail("unknown entry type " + e["type"])
    if head["totals"] != seen or end.get("end") != seen:
        fail("the manifest's totals do not match its entries")
    for dest, e in reversed(dirs):
        os.chmod(dest, e["mode"] & 0o777)
        os.utime(dest, (e["mtime"], e["mtime"]))
    sys.stderr.write("restore.py: ok, snapshot %s: %d files, %d bytes, %d bases\n"
                     % (snapshot_id, seen["files"], seen["bytes"], len(bases)))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--list":
        for body in sorted(records(sys.argv[2]).values(), key=lambda b: b["time"]):
            print(body["snapshot_id"])
        return
    if len(sys.argv) != 5:
        fail(__doc__)
    restore(*sys.argv[1:])


if __name__ == "__main__":
    main()
