#!/usr/bin/env python3
"""Open an age file wrapped to a hybrid post-quantum identity, from the spec alone.

Written from FORMAT.md (section 9), with no
seif code and no age tool: Python's `cryptography` package gives ML-KEM-768,
X25519 and ChaCha20-Poly1305; hashlib and hmac give SHAKE256, SHA3-256,
HMAC-SHA256 and HKDF. It unwraps the file key of an `mlkem768x25519` stanza
(the X-Wing KEM, then HPKE's key schedule by hand), checks the header MAC,
and decrypts the age payload.

usage: pq_unwrap.py IDENTITY AGE_FILE [--file-key]
  IDENTITY  a file holding an AGE-SECRET-KEY-PQ-1... line (comments and
            other lines are ignored), or seed:<64 hex> for the raw seed
  AGE_FILE  a binary age file; a C2SP CCTV test vector is accepted too (its
            text header is skipped, `compressed: zlib` is undone)
  --file-key  print the unwrapped file key in hex instead of the plaintext
Exit status 0 on success, the plaintext on stdout; 3 and a message on any
failure (no plaintext is written unless every chunk authenticated).
"""
import base64
import hashlib
import hmac
import sys
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305


class Refused(Exception):
    pass


# --- Bech32 (BIP 173 checksum, no length limit), section 9.1 -------------

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (b >> i) & 1 else 0
    return chk


def bech32_decode(s, hrp_expected):
    if s.lower() != s and s.upper() != s:
        raise Refused("mixed case is not Bech32")
    s = s.lower()
    pos = s.rfind("1")
    hrp, data = s[:pos], s[pos + 1:]
    if hrp != hrp_expected or len(data) < 6:
        raise Refused("not a key with prefix %s1" % hrp_expected)
    try:
        values = [CHARSET.index(c) for c in data]
    except ValueError:
        raise Refused("not Bech32")
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    if bech32_polymod(expanded + values) != 1:  # 1: Bech32, not Bech32m
        raise Refused("Bech32 checksum is wrong")
    acc, bits, out = 0, 0, bytearray()
    for v in values[:-6]:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    if bits >= 5 or (acc & ((1 << bits) - 1)):
        raise Refused("Bech32 padding is not zero")
    return bytes(out)


def read_seed(arg):
    if arg.startswith("seed:"):
        seed = bytes.fromhex(arg[5:])
    else:
        lines = [l.strip() for l in open(arg, encoding="utf-8")]
        keys = [l for l in lines if l.startswith("AGE-SECRET-KEY-PQ-1")]
        if len(keys) != 1:
            raise Refused("the identity file must hold one AGE-SECRET-KEY-PQ-1 line")
        if keys[0] != keys[0].upper():
            raise Refused("an identity is written in upper case")
        seed = bech32_decode(keys[0], "age-secret-key-pq-")
    if len(seed) != 32:
        raise Refused("the seed is not 32 bytes")
    return seed


# --- The KEM, sections 9.1 and 9.3 ----------------------------------------

XWING_LABEL = bytes.fromhex("5c2e2f2f5e5c")  # ASCII \.//^\


def expand(seed):
    e = hashlib.shake_256(seed).digest(96)
    dk_m = MLKEM768PrivateKey.from_seed_bytes(e[0:64])  # d || z
    sk_x = X25519PrivateKey.from_private_bytes(e[64:96])
    pk_x = sk_x.public_key().public_bytes_raw()
    return dk_m, sk_x, pk_x


def decapsulate(seed, enc):
    dk_m, sk_x, pk_x = expand(seed)
    ct_m, ct_x = enc[:1088], enc[1088:]
    ss_m = dk_m.decapsulate(ct_m)
    try:
        ss_x = sk_x.exchange(X25519PublicKey.from_public_bytes(ct_x))
    except ValueError:  # cryptography refuses an all-zero result itself
        ss_x = bytes(32)
    if ss_x == bytes(32):
        raise Refused("the X25519 share is of small order")
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()


# --- HPKE, section 9.4 ----------------------------------------------------

SUITE_ID = b"HPKE" + bytes.fromhex("647a") + bytes.fromhex("0001") + bytes.fromhex("0003")
INFO = b"age-encryption.org/mlkem768x25519"


def labeled_extract(salt, label, ikm):
    return hmac.new(salt or bytes(32), b"HPKE-v1" + SUITE_ID + label + ikm, hashlib.sha256).digest()


def labeled_expand(prk, label, ctx, length):
    info = length.to_bytes(2, "big") + b"HPKE-v1" + SUITE_ID + label + ctx
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def hpke_open(ss, body):
    psk_id_hash = labeled_extract(b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(b"", b"info_hash", INFO)
    context = b"\x00" + psk_id_hash + info_hash
    secret = labeled_extract(ss, b"secret", b"")
    key = labeled_expand(secret, b"key", context, 32)
    base_nonce = labeled_expand(secret, b"base_nonce", context, 12)
    try:
        return ChaCha20Poly1305(key).decrypt(base_nonce, body, b"")
    except InvalidTag:
        return None


# --- The age file, sections 9.2, 9.5 and 9.7 ------------------------------

def b64_canonical(s):
    if "=" in s or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" for c in s):
        raise Refused("not canonical base64")
    raw = base64.b64decode(s + "=" * (-len(s) % 4))
    if base64.b64encode(raw).decode().rstrip("=") != s:
        raise Refused("not canonical base64")
    return raw


def parse_header(data):
    """Returns (stanzas, bytes MAC-ed, MAC, payload)."""
    lines, pos = [], 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise Refused("the header does not end")
        line = data[pos:end].decode("ascii")
        lines.append(line)
        pos = end + 1
        if line.startswith("---"):
            break
    if lines[0] != "age-encryption.org/v1":
        raise Refused("not an age-encryption.org/v1 file")
    stanzas, i = [], 1
    while not lines[i].startswith("---"):
        if not lines[i].startswith("-> "):
            raise Refused("malformed stanza line")
        args = lines[i][3:].split(" ")
        i += 1
        body = ""
        while True:
            if lines[i].startswith("---"):
                raise Refused("a stanza has no final body line")
            body += lines[i]
            short = len(lines[i]) < 64
            i += 1
            if short:
                break
        stanzas.append((args[0], args[1:], b64_canonical(body)))
    mac_line = lines[i]
    if not mac_line.startswith("--- "):
        raise Refused("malformed MAC line")
    mac = b64_canonical(mac_line[4:])
    maced = data[:pos - 1 - len(mac_line) + 3]  # up to and including "---"
    return stanzas, maced, mac, data[pos:]


def unwrap_file_key(seed, stanzas):
    for kind, args, body in stanzas:
        if kind != "mlkem768x25519":
            continue  # another recipient's stanza, or grease
        if len(args) != 1:
            raise Refused("an mlkem768x25519 stanza has one argument")
        enc = b64_canonical(args[0])
        if len(enc) != 1120:
            raise Refused("the encapsulated key is not 1120 bytes")
        if len(body) != 32:
            raise Refused("the stanza body is not 32 bytes")
        file_key = hpke_open(decapsulate(seed, enc), body)
        if file_key is not None:
            return file_key
    raise Refused("no mlkem768x25519 stanza opens with this identity")


def hkdf_sha256(ikm, salt, info, length=32):
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


def decrypt_payload(file_key, payload):
    if len(payload) < 16:
        raise Refused("no payload nonce")
    key = hkdf_sha256(file_key, payload[:16], b"payload")
    aead = ChaCha20Poly1305(key)
    body, out, i = payload[16:], [], 0
    while True:
        chunk, body = body[:65536 + 16], body[65536 + 16:]
        last = len(body) == 0
        nonce = i.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        try:
            plain = aead.decrypt(nonce, chunk, b"")
        except InvalidTag:
            raise Refused("payload chunk %d does not authenticate" % i)
        if last and i > 0 and len(plain) == 0:
            raise Refused("an empty final chunk after others")
        out.append(plain)
        if last:
            return b"".join(out)
        i += 1


def open_age_file(seed, data):
    """The plaintext of a binary age file wrapped to the identity `seed`
    (9.5, 9.7); raises Refused on any failure. decrypt.py and restore.py
    call it for data keys wrapped to a post-quantum vault."""
    stanzas, maced, mac, payload = parse_header(data)
    file_key = unwrap_file_key(seed, stanzas)
    if len(file_key) != 16:
        raise Refused("the file key is not 16 bytes")
    mac_key = hkdf_sha256(file_key, b"", b"header")
    if not hmac.compare_digest(hmac.new(mac_key, maced, hashlib.sha256).digest(), mac):
        raise Refused("the header MAC does not check")
    return decrypt_payload(file_key, payload)


def main():
    args = [a for a in sys.argv[1:] if a != "--file-key"]
    if len(args) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    try:
        seed = read_seed(args[0])
        data = open(args[1], "rb").read()
        if data.startswith(b"expect: "):  # a CCTV vector
            head, data = data.split(b"\n\n", 1)
            if b"\ncompressed: zlib" in head:
                data = zlib.decompress(data)
        stanzas, maced, mac, payload = parse_header(data)
        file_key = unwrap_file_key(seed, stanzas)
        if len(file_key) != 16:
            raise Refused("the file key is not 16 bytes")
        mac_key = hkdf_sha256(file_key, b"", b"header")
        if not hmac.compare_digest(hmac.new(mac_key, maced, hashlib.sha256).digest(), mac):
            raise Refused("the header MAC does not check")
        if "--file-key" in sys.argv[1:]:
            sys.stdout.write(file_key.hex() + "\n")
            return
        plaintext = decrypt_payload(file_key, payload)
    except (Refused, ValueError) as e:  # ValueError: bad hex, non-ASCII header
        sys.stderr.write("pq_unwrap.py: %s\n" % e)
        sys.exit(3)
    sys.stdout.buffer.write(plaintext)


if __name__ == "__main__":
    main()
