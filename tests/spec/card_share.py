#!/usr/bin/env python3
"""Open a card-protected share from the spec alone (FORMAT.md 5.6).

Written from FORMAT.md, with no seif code: Python's `cryptography` package
gives the P-256/P-384 ECDH and HKDF-SHA256; PyNaCl gives XChaCha20-Poly1305.
The card's private key is given in software (a PEM file, or the scalar in
hex), standing in for the card; or the shared secret itself, as a card
(`pkcs11-tool --derive`) gives it.

usage: card_share.py SHARE_FILE (--key PEM | --scalar HEX | --shared-secret HEX)
Exit status 0 on success, the decrypted share on stdout; 3 and a message on
any failure.
"""
import base64
import re
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError

CURVES = {"P-256": (ec.SECP256R1(), 32), "P-384": (ec.SECP384R1(), 48)}
LABEL = re.compile(r"^(?!\.)[A-Za-z0-9._-]{1,64}$")


def fail(msg):
    print("card_share.py: " + msg, file=sys.stderr)
    sys.exit(3)


def parse(data):
    text = data.decode("utf-8")
    split = text.index("\n---\n") + 5
    head, body = text[:split], text[split:]
    lines = head.split("\n")
    names = ["custodian", "curve", "recipient", "ephemeral", "nonce"]
    if lines[0] != "seif card share v1" or len(lines) != 8 or lines[6:] != ["---", ""]:
        fail("not a card share in its one spelling")
    fields = {}
    for name, line in zip(names, lines[1:6]):
        prefix = name + ": "
        if not line.startswith(prefix):
            fail("no %s line" % name)
        fields[name] = line[len(prefix):]
    if not LABEL.match(fields["custodian"]):
        fail("bad custodian label")
    if fields["curve"] not in CURVES:
        fail("unknown curve")
    if not body.endswith("\n") or "\n" in body[:-1]:
        fail("the body is not one base64 line")
    return head, fields, base64.b64decode(body[:-1], validate=True)


def main():
    if len(sys.argv) != 4:
        fail("usage: card_share.py SHARE_FILE (--key PEM | --scalar HEX | --shared-secret HEX)")
    data = open(sys.argv[1], "rb").read()
    head, f, ct = parse(data)
    curve, n = CURVES[f["curve"]]
    recipient = bytes.fromhex(f["recipient"])
    ephemeral = bytes.fromhex(f["ephemeral"])
    nonce = bytes.fromhex(f["nonce"])
    if len(recipient) != 1 + 2 * n or len(ephemeral) != 1 + 2 * n or len(nonce) != 24:
        fail("a key or the nonce has the wrong length")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, ephemeral)
    how, arg = sys.argv[2], sys.argv[3]
    if how == "--shared-secret":
        z = bytes.fromhex(arg)
    else:
        if how == "--key":
            key = serialization.load_pem_private_key(open(arg, "rb").read(), password=None)
        elif how == "--scalar":
            key = ec.derive_private_key(int(arg, 16), curve)
        else:
            fail("unknown option " + how)
        own = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        if own != recipient:
            fail("this key is not the share's recipient")
        z = key.exchange(ec.ECDH(), peer)
    if len(z) != n:
        fail("the shared secret has the wrong length")
    label = f["custodian"].encode()
    info = (b"seif/v1/share/card-key" + b"\x00" + f["curve"].encode() + b"\x00"
            + len(label).to_bytes(2, "big") + label + recipient + ephemeral)
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"seif/v1/share/card-ecdh", info=info).derive(z)
    try:
        share = crypto_aead_xchacha20poly1305_ietf_decrypt(ct, head.encode(), nonce, k)
    except CryptoError:
        fail("the key does not open this share, or the file was altered")
    sys.stdout.buffer.write(share)


if __name__ == "__main__":
    main()
