#!/usr/bin/env python3
"""Decrypt a seif sealed file from the specification alone.

Written from FORMAT.md, with no seif code: the `age` CLI unwraps a classic
data key, and pq_unwrap.py's code (FORMAT.md section 9) a post-quantum one,
Python's hashlib/hmac give SHA-256 and HKDF, and PyNaCl (libsodium) gives
XChaCha20-Poly1305 and Ed25519. It proves that FORMAT.md is enough to read a
vault without seif.

usage: decrypt.py IDENTITY_FILE SEALED_FILE > PLAINTEXT
       (a seif test vector file is accepted too: its text header is skipped)
Exit status 0 on success; 3 and a message on any failure.
"""
import hashlib
import hmac
import json
import struct
import os
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey
from nacl.exceptions import BadSignatureError
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from age_key import unwrap_age  # noqa: E402  (beside this script)


def fail(msg):
    sys.stderr.write("decrypt.py: " + msg + "\n")
    sys.exit(3)


def hkdf_sha256(ikm, info, length=32):
    # RFC 5869 with an empty salt (HashLen zero bytes).
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def main():
    identity, path = sys.argv[1], sys.argv[2]
    data = open(path, "rb").read()
    if data.startswith(b"seif test vector\n"):
        data = data[data.index(b"\n\n") + 2:]

    # Header (FORMAT.md, "Sealed file: header").
    if len(data) < 131 or data[0:8] != b"SEIFSEAL":
        fail("not a seif sealed file")
    if data[8] != 1:
        fail("unsupported version %d" % data[8])
    log2 = data[9]
    if not 14 <= log2 <= 22 or data[10:12] != b"\x00\x00":
        fail("malformed header")
    signed_header = data[0:127]
    sealer = data[44:76]
    prefix = data[76:95]
    commitment = data[95:127]
    (wrapped_len,) = struct.unpack(">I", data[127:131])
    wrapped = data[131:131 + wrapped_len]
    body = data[131 + wrapped_len:]

    # Data key: the wrapped key is an age file.
    data_key = unwrap_age(identity, wrapped)
    if data_key is None:
        fail("could not unwrap the data key (see above)")
    if len(data_key) != 32:
        fail("the wrapped key is not 32 bytes")
    if not hmac.compare_digest(hkdf_sha256(data_key, b"seif/v1/data-key/commitment"), commitment):
        fail("the data key does not match the key commitment")
    payload_key = hkdf_sha256(data_key, b"seif/v1/sealed-file/payload")
    aad = hashlib.sha256(signed_header).digest()

    # Chunks, then the 72-byte trailer.
    if len(body) < 72 or body[-72:-64] != b"SEIF-END":
        fail("truncated: no trailer")
    trailer, body = body[-72:], body[:-72]
    stride = (1 << log2) + 16
    n = (len(body) + stride - 1) // stride
    if n == 0:
        fail("truncated: no chunks")
    plain, tags = [], []
    for i in range(n):
        c = body[i * stride:(i + 1) * stride]
        last = i == n - 1
        nonce = prefix + struct.pack(">I", i) + (b"\x01" if last else b"\x00")
        try:
            plain.append(crypto_aead_xchacha20poly1305_ietf_decrypt(c, aad, nonce, payload_key))
        except CryptoError:
            fail("chunk %d failed authentication" % i)
        tags.append(c[-16:])

    # Signature over the header hash, chunk count and the tags.
    sig = trailer[8:]
    if sealer != b"\x00" * 32:
        msg = b"seif/v1/sealed-file\x00" + aad + struct.pack(">Q", n) + hashlib.sha256(b"".join(tags)).digest()
        try:
            VerifyKey(sealer).verify(msg, sig)
        except BadSignatureError:
            fail("the sealer's signature does not verify")
    elif sig != b"\x00" * 64:
        fail("a signature without a sealer")

    # Framing: u32 M, metadata JSON, content, zero padding, u64 length.
    p = b"".join(plain)
    (m,) = struct.unpack(">I", p[0:4])
    meta = json.loads(p[4:4 + m])
    (length,) = struct.unpack(">Q", p[-8:])
    content = p[4 + m:4 + m + length]
    if len(content) != length or any(p[4 + m + length:-8]):
        fail("malformed framing")
    sys.stderr.write("decrypt.py: ok, %d bytes, metadata %s\n" % (length, json.dumps(meta)))
    sys.stdout.buffer.write(content)


if __name__ == "__main__":
    main()
