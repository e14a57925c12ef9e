#!/usr/bin/env python3
"""Rebuild a vault's age identity from decrypted shares, from FORMAT.md alone.

usage: combine.py SHARE_FILE SHARE_FILE [...] > identity.txt

Each SHARE_FILE is a decrypted share ("seif share v1", FORMAT.md 5.1), e.g.
the output of `gpg -d alice.share.asc` or `age -d -i key alice.share.age`.
Shamir over GF(2^8) with the AES polynomial (5), HKDF-SHA256 (1), Bech32
(BIP 173). Prints the vault's age identities: the classic one
(AGE-SECRET-KEY-1..., for the age CLI) and the post-quantum one
(AGE-SECRET-KEY-PQ-1..., for pq_unwrap.py), which tests/spec/decrypt.py
then uses. Exit 3 on any failure.
"""
import hashlib
import hmac
import sys


def fail(msg):
    sys.stderr.write("combine.py: " + msg + "\n")
    sys.exit(3)


def gf_mul(a, b):
    # Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (0x11b).
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return r


def gf_inv(a):
    # a^254 = a^-1 in GF(2^8).
    r, e = 1, 254
    while e:
        if e & 1:
            r = gf_mul(r, a)
        a = gf_mul(a, a)
        e >>= 1
    return r


def parse(path):
    lines = open(path, encoding="utf-8").read().replace("\r\n", "\n").split("\n")
    if lines[0] != "seif share v1":
        fail(path + ": not a decrypted seif share")
    fields = dict(l.split(": ", 1) for l in lines[1:9])
    return {
        "vault": fields["vault"],
        "set": fields["set"],
        "x": int(fields["index"]),
        "t": int(fields["threshold"]),
        "value": bytes.fromhex(fields["value"]),
    }


def hkdf(ikm, info):
    prk = hmac.new(b"\x00" * 32, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32(hrp, data):
    def polymod(values):
        gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
        chk = 1
        for v in values:
            b = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if ((b >> i) & 1) else 0
        return chk

    acc, bits, five = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(expanded + five + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in five + checksum)


def main():
    shares = [parse(p) for p in sys.argv[1:]]
    if not shares:
        fail("no shares")
    first = shares[0]
    if any(s["vault"] != first["vault"] or s["set"] != first["set"] for s in shares):
        fail("the shares are not of one vault and share set")
    xs = [s["x"] for s in shares]
    if 0 in xs or len(set(xs)) != len(xs):
        fail("index 0 or a duplicate index")
    if len(shares) < first["t"]:
        fail("%d shares, %d needed" % (len(shares), first["t"]))
    secret = bytearray(32)
    for j in range(32):
        acc = 0
        for s in shares:
            # Lagrange basis at 0: prod over m != s of x_m / (x_m - x_s); minus is xor.
            num, den = 1, 1
            for m in shares:
                if m is s:
                    continue
                num = gf_mul(num, m["x"])
                den = gf_mul(den, m["x"] ^ s["x"])
            acc ^= gf_mul(s["value"][j], gf_mul(num, gf_inv(den)))
        secret[j] = acc
    x25519 = hkdf(bytes(secret), b"seif/v1/vault/age-x25519-identity")
    print(bech32("age-secret-key-", x25519).upper())
    # The hybrid post-quantum identity (FORMAT.md 1.2, 9.1): Bech32 of the
    # seed, no length limit; pq_unwrap.py reads it.
    pq_seed = hkdf(bytes(secret), b"seif/v1/vault/age-mlkem768x25519-identity")
    print(bech32("age-secret-key-pq-", pq_seed).upper())


if __name__ == "__main__":
    main()
