//! Card protection of a share: one-pass ECDH to the key of a smartcard
//! (the Estonian ID card's authentication key), a PIV token or an HSM,
//! then XChaCha20-Poly1305. The card never gives its key out: to open the
//! share it computes the ECDH shared secret with the ephemeral public key
//! stored in the file (PKCS#11 `CKM_ECDH1_DERIVE`, the x-coordinate), and
//! the rest happens here.
//!
//! ```text
//! seif card share v1
//! custodian: alice
//! curve: P-384
//! recipient: <hex: the card key, SEC1 uncompressed 04 || X || Y>
//! ephemeral: <hex: the ephemeral key, SEC1 uncompressed>
//! nonce: <48 hex>
//! ---
//! <base64 of ciphertext || tag>
//! ```
//!
//! The key is HKDF-SHA256 of the shared secret, bound to the label and both
//! public keys; everything up to and including the `---` line is the
//! associated data. The construction is the family of CDOC2's ECC capsule
//! (Estonia's own format for encrypting to ID cards): ECDH with an
//! ephemeral key on the recipient's curve, HKDF over the shared secret and
//! both public keys, an AEAD.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::encoding::{from_hex, to_hex};
use crate::secrets::random_array;

/// First line of a card-protected share.
pub const HEADER: &str = "seif card share v1";
/// HKDF salt.
const SALT: &[u8] = b"seif/v1/share/card-ecdh";
/// HKDF info prefix (then the curve, the label and both public keys).
const INFO: &[u8] = b"seif/v1/share/card-key";

/// The curves cards carry and seif takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (secp256r1): PIV tokens, HSMs.
    P256,
    /// NIST P-384 (secp384r1): the Estonian ID card since 2018.
    P384,
}

impl Curve {
    /// The name written in share files.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    fn from_name(s: &str) -> Option<Curve> {
        match s {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            _ => None,
        }
    }

    /// Bytes of a coordinate (and of the shared secret).
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    /// Bytes of an uncompressed point.
    pub fn point_len(self) -> usize {
        1 + 2 * self.field_len()
    }
}

/// Why a card-protected share could not be made or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardShareError {
    /// Not a card-protected share.
    #[error("not a seif card share: {0}")]
    Malformed(String),
    /// A public key that is not a valid point of its curve.
    #[error("not a valid {0} public key (a point on the curve, uncompressed)")]
    BadKey(&'static str),
    /// The shared secret does not open the share: another card's, or the
    /// file was altered (the two cannot be told apart).
    #[error("the card's key does not open this share, or the share file was altered")]
    WrongKey,
}

/// A card's public key: its curve and its point (SEC1, uncompressed),
/// checked to be on the curve and not the identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardKey {
    curve: Curve,
    point: Vec<u8>,
}

impl CardKey {
    /// Checks `point` (SEC1, uncompressed or compressed) on `curve`, and
    /// keeps it uncompressed.
    pub fn from_sec1(curve: Curve, point: &[u8]) -> Result<CardKey, CardShareError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let bad = || CardShareError::BadKey(curve.name());
        let point = match curve {
            Curve::P256 => p256::PublicKey::from_sec1_bytes(point)
                .map_err(|_| bad())?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            Curve::P384 => p384::PublicKey::from_sec1_bytes(point)
                .map_err(|_| bad())?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        };
        Ok(CardKey { curve, point })
    }

    /// The public key of `scalar` (big-endian), a card's private key held
    /// in software: for tests and test vectors (a real card never gives
    /// its key out).
    pub fn from_secret_scalar(curve: Curve, scalar: &[u8]) -> Result<CardKey, CardShareError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let bad = || CardShareError::BadKey(curve.name());
        let point = match curve {
            Curve::P256 => p256::SecretKey::from_slice(scalar)
                .map_err(|_| bad())?
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
            Curve::P384 => p384::SecretKey::from_slice(scalar)
                .map_err(|_| bad())?
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        };
        Ok(CardKey { curve, point })
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The point, SEC1 uncompressed (`04 || X || Y`): what PKCS#11's
    /// `CKM_ECDH1_DERIVE` takes as the peer's public data.
    pub fn point(&self) -> &[u8] {
        &self.point
    }
}

/// The AEAD key from the ECDH shared secret `z` (the x-coordinate).
fn derive_key(
    z: &[u8],
    custodian: &str,
    recipient: &CardKey,
    ephemeral: &[u8],
) -> Zeroizing<[u8; 32]> {
    let mut info = Vec::with_capacity(INFO.len() + 300);
    info.extend_from_slice(INFO);
    info.push(0);
    info.extend_from_slice(recipient.curve.name().as_bytes());
    info.push(0);
    // The label is at most 64 bytes (check_label); its length keeps the
    // encoding unambiguous anyway.
    info.extend_from_slice(&(custodian.len() as u16).to_be_bytes());
    info.extend_from_slice(custodian.as_bytes());
    info.extend_from_slice(&recipient.point);
    info.extend_from_slice(ephemeral);
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(SALT), z);
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(&info, &mut key[..])
        .expect("32 bytes is a valid HKDF output length");
    key
}

fn header_text(custodian: &str, recipient: &CardKey, ephemeral: &[u8], nonce: &[u8; 24]) -> String {
    format!(
        "{HEADER}\ncustodian: {custodian}\ncurve: {}\nrecipient: {}\nephemeral: {}\nnonce: {}\n---\n",
        recipient.curve.name(),
        to_hex(&recipient.point),
        to_hex(ephemeral),
        to_hex(nonce)
    )
}

/// Seals a share's text to a card's key.
pub fn protect(plaintext: &[u8], custodian: &str, recipient: &CardKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let mut rng = rand::rngs::OsRng;
    let (z, ephemeral) = match recipient.curve {
        Curve::P256 => {
            let e = p256::ecdh::EphemeralSecret::random(&mut rng);
            let peer = p256::PublicKey::from_sec1_bytes(&recipient.point).expect("checked point");
            let z = Zeroizing::new(e.diffie_hellman(&peer).raw_secret_bytes().to_vec());
            (
                z,
                e.public_key().to_encoded_point(false).as_bytes().to_vec(),
            )
        }
        Curve::P384 => {
            let e = p384::ecdh::EphemeralSecret::random(&mut rng);
            let peer = p384::PublicKey::from_sec1_bytes(&recipient.point).expect("checked point");
            let z = Zeroizing::new(e.diffie_hellman(&peer).raw_secret_bytes().to_vec());
            (
                z,
                e.public_key().to_encoded_point(false).as_bytes().to_vec(),
            )
        }
    };
    seal(
        plaintext,
        custodian,
        recipient,
        &z,
        &ephemeral,
        &random_array(),
    )
}

/// [`protect`] with a given shared secret, ephemeral key and nonce (the
/// test vector of FORMAT.md is made this way).
fn seal(
    plaintext: &[u8],
    custodian: &str,
    recipient: &CardKey,
    z: &[u8],
    ephemeral: &[u8],
    nonce: &[u8; 24],
) -> Vec<u8> {
    let key = derive_key(z, custodian, recipient, ephemeral);
    let head = header_text(custodian, recipient, ephemeral, nonce);
    let mut buf = Zeroizing::new(plaintext.to_vec());
    let tag = XChaCha20Poly1305::new(<&Key>::from(&*key))
        .encrypt_inout_detached(
            &XNonce::from(*nonce),
            head.as_bytes(),
            buf.as_mut_slice().into(),
        )
        .expect("a share is far shorter than the AEAD's limit");
    let mut ct = buf.to_vec();
    ct.extend_from_slice(&tag);
    format!("{head}{}\n", STANDARD.encode(&ct)).into_bytes()
}

/// A parsed card-protected share file: what to ask the card, before any
/// card is touched.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The custodian named in the header.
    pub custodian: &'a str,
    /// The card key the share is sealed to: the card to look for.
    pub recipient: CardKey,
    /// The ephemeral public key (SEC1 uncompressed): what the card derives
    /// with.
    pub ephemeral: CardKey,
    nonce: [u8; 24],
    head: &'a str,
    ciphertext: Vec<u8>,
}

/// Whether `file` looks like a card-protected share (its first line).
pub fn is_card_share(file: &[u8]) -> bool {
    file.starts_with(HEADER.as_bytes()) && file.get(HEADER.len()) == Some(&b'\n')
}

/// Parses a card-protected share strictly: one spelling of the header,
/// both keys valid points of the named curve.
pub fn parse(file: &[u8]) -> Result<Parsed<'_>, CardShareError> {
    let bad = |m: &str| CardShareError::Malformed(m.into());
    let text = std::str::from_utf8(file).map_err(|_| bad("not UTF-8 text"))?;
    let split = text.find("\n---\n").ok_or_else(|| bad("no '---' line"))? + 5;
    let (head, body) = text.split_at(split);
    let mut lines = head.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad("the first line is wrong"));
    }
    let mut field = |name: &str| {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(": "))
            .ok_or_else(|| bad(&format!("no {name} line")))
    };
    let custodian = field("custodian")?;
    // The label is shown before the card is asked: it must follow
    // `--custodian`'s rule before anything displays it.
    crate::custody::check_label(custodian)
        .map_err(|_| bad("the custodian label is not a valid label (A-Z a-z 0-9 . _ -)"))?;
    let curve = Curve::from_name(field("curve")?)
        .ok_or_else(|| bad("the curve is neither P-256 nor P-384"))?;
    let point = |hex: &str| -> Result<CardKey, CardShareError> {
        let bytes = hex::decode(hex).map_err(|_| bad("a key is not hex"))?;
        if bytes.len() != curve.point_len() || bytes.first() != Some(&4) {
            return Err(bad("a key is not an uncompressed point of the curve"));
        }
        CardKey::from_sec1(curve, &bytes)
    };
    let recipient = point(field("recipient")?)?;
    let ephemeral = point(field("ephemeral")?)?;
    let nonce = from_hex::<24>(field("nonce")?).map_err(|_| bad("the nonce is malformed"))?;
    if head != header_text(custodian, &recipient, &ephemeral.point, &nonce) {
        return Err(bad("the header is not in canonical form"));
    }
    let ciphertext = crate::custody::sealed_body(body).map_err(bad)?;
    Ok(Parsed {
        custodian,
        recipient,
        ephemeral,
        nonce,
        head,
        ciphertext,
    })
}

impl Parsed<'_> {
    /// Opens the share with `z`, the shared secret the card derived (the
    /// x-coordinate of the ECDH product, as `CKM_ECDH1_DERIVE` with no KDF
    /// gives it). An empty or short secret is refused, not used.
    pub fn open_with_shared_secret(&self, z: &[u8]) -> Result<Zeroizing<Vec<u8>>, CardShareError> {
        if z.len() != self.recipient.curve.field_len() {
            return Err(CardShareError::Malformed(format!(
                "the card gave a shared secret of {} bytes, not {}",
                z.len(),
                self.recipient.curve.field_len()
            )));
        }
        let key = derive_key(z, self.custodian, &self.recipient, &self.ephemeral.point);
        let (msg, tag) = self.ciphertext.split_at(self.ciphertext.len() - 16);
        let mut buf = Zeroizing::new(msg.to_vec());
        XChaCha20Poly1305::new(<&Key>::from(&*key))
            .decrypt_inout_detached(
                &XNonce::from(self.nonce),
                self.head.as_bytes(),
                buf.as_mut_slice().into(),
                &Tag::from(<[u8; 16]>::try_from(tag).expect("16 bytes")),
            )
            .map_err(|_| CardShareError::WrongKey)?;
        Ok(buf)
    }

    /// Opens the share with the card's private key held in software (the
    /// scalar, big-endian): for tests, and for the independent reader's
    /// vectors. A real card never gives its key out.
    pub fn open_with_secret_scalar(
        &self,
        scalar: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CardShareError> {
        let z = shared_secret(self.recipient.curve, scalar, &self.ephemeral.point)?;
        self.open_with_shared_secret(&z)
    }
}

/// The ECDH shared secret (x-coordinate) of `scalar` with `peer`, in
/// software: what a card computes.
pub fn shared_secret(
    curve: Curve,
    scalar: &[u8],
    peer: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CardShareError> {
    let bad = || CardShareError::BadKey(curve.name());
    Ok(match curve {
        Curve::P256 => {
            let sk = p256::SecretKey::from_slice(scalar).map_err(|_| bad())?;
            let pk = p256::PublicKey::from_sec1_bytes(peer).map_err(|_| bad())?;
            let z = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
            Zeroizing::new(z.raw_secret_bytes().to_vec())
        }
        Curve::P384 => {
            let sk = p384::SecretKey::from_slice(scalar).map_err(|_| bad())?;
            let pk = p384::PublicKey::from_sec1_bytes(peer).map_err(|_| bad())?;
            let z = p384::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
            Zeroizing::new(z.raw_secret_bytes().to_vec())
        }
    })
}

/// A card custodian's certificate, as `init` reads it: who it names, until
/// when, and its key, which must be one a card can derive with.
#[derive(Clone, Debug)]
pub struct Certificate {
    /// The subject (RFC 4514; untrusted text: escape before printing).
    pub subject: String,
    /// The end of its validity, seconds since the epoch.
    pub not_after: u64,
    /// Whether its key usage allows key agreement (`keyAgreement`), as the
    /// ID card's authentication certificate does; `None`: no key usage
    /// extension.
    pub key_agreement: Option<bool>,
    /// Its key.
    pub key: CardKey,
}

/// Why a certificate or public key cannot name a card custodian.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardKeyError {
    /// Not a certificate or key at all.
    #[error("not an X.509 certificate or public key (PEM or DER): {0}")]
    Malformed(String),
    /// An RSA or other non-EC key.
    #[error(
        "the key is not an elliptic-curve key (RSA and others cannot be used: the share is sealed by ECDH)"
    )]
    NotEc,
    /// A curve other than P-256 and P-384.
    #[error("the key is on a curve seif does not take (only P-256 and P-384)")]
    Curve,
    /// Not a valid point.
    #[error(transparent)]
    Point(#[from] CardShareError),
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

fn ec_key_of(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Result<CardKey, CardKeyError> {
    use x509_cert::der::asn1::ObjectIdentifier;
    if spki.algorithm.oid.to_string() != OID_EC_PUBLIC_KEY {
        return Err(CardKeyError::NotEc);
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        .map(|o| o.to_string());
    let curve = match curve.as_deref() {
        Some(OID_P256) => Curve::P256,
        Some(OID_P384) => Curve::P384,
        _ => return Err(CardKeyError::Curve),
    };
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CardKeyError::Malformed("the key's bit string is not whole bytes".into()))?;
    Ok(CardKey::from_sec1(curve, point)?)
}

/// DER from PEM (any label) or DER as given.
fn der_of(bytes: &[u8]) -> Result<Vec<u8>, CardKeyError> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim_start);
    match text {
        Some(t) if t.starts_with("-----BEGIN ") => {
            let body: String = t
                .lines()
                .skip(1)
                .take_while(|l| !l.starts_with("-----END "))
                .collect();
            STANDARD
                .decode(body.trim())
                .map_err(|_| CardKeyError::Malformed("the PEM body is not base64".into()))
        }
        _ => Ok(bytes.to_vec()),
    }
}

impl Certificate {
    /// Reads a certificate, PEM or DER (as `pkcs15-tool --read-certificate`
    /// or DigiDoc4 export it).
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Certificate, CardKeyError> {
        Self::from_der(&der_of(bytes)?)
    }

    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate, CardKeyError> {
        use x509_cert::der::Decode;
        let c = x509_cert::Certificate::from_der(der)
            .map_err(|e| CardKeyError::Malformed(e.to_string()))?;
        let tbs = &c.tbs_certificate;
        let key = ec_key_of(&tbs.subject_public_key_info)?;
        let mut key_agreement = None;
        for ext in tbs.extensions.iter().flatten() {
            if ext.extn_id.to_string() == "2.5.29.15" {
                let ku = x509_cert::ext::pkix::KeyUsage::from_der(ext.extn_value.as_bytes())
                    .map_err(|e| CardKeyError::Malformed(format!("its key usage: {e}")))?;
                key_agreement = Some(ku.key_agreement());
            }
        }
        Ok(Certificate {
            subject: tbs.subject.to_string(),
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
            key_agreement,
            key,
        })
    }
}

/// Reads a bare public key (SubjectPublicKeyInfo, PEM or DER), as a PIV
/// token or an HSM exports it.
pub fn key_from_spki(bytes: &[u8]) -> Result<CardKey, CardKeyError> {
    use x509_cert::der::Decode;
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(&der_of(bytes)?)
        .map_err(|e| CardKeyError::Malformed(e.to_string()))?;
    ec_key_of(&spki)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    /// A card key in software: (scalar, public key).
    fn card(curve: Curve, seed: u8) -> (Vec<u8>, CardKey) {
        let scalar = [seed; 48];
        match curve {
            Curve::P256 => {
                let sk = p256::SecretKey::from_slice(&scalar[..32]).unwrap();
                let pk = sk.public_key().to_encoded_point(false);
                (
                    scalar[..32].to_vec(),
                    CardKey::from_sec1(curve, pk.as_bytes()).unwrap(),
                )
            }
            Curve::P384 => {
                let sk = p384::SecretKey::from_slice(&scalar).unwrap();
                let pk = sk.public_key().to_encoded_point(false);
                (
                    scalar.to_vec(),
                    CardKey::from_sec1(curve, pk.as_bytes()).unwrap(),
                )
            }
        }
    }

    /// FORMAT.md's vector: alice's share of 5.5, to the P-384 card key
    /// whose scalar is 01 02 … 30, with the ephemeral scalar 31 32 … 60
    /// and the nonce 10 11 … 27.
    pub(crate) fn format_md_vector() -> (Vec<u8>, Vec<u8>) {
        let share = "seif share v1\nvault: 0279ab54debb06b7daf96ea7d39bade282ba9cf444b1da9977b9c3f84678640e\nset: 00112233445566778899aabbccddeeff\ngeneration: 1\nindex: 1\nthreshold: 2\ncount: 3\ncustodian: alice\nvalue: fe89cd3033ab80299f9bdd6f75f6f0b37dedef303c05e00db240300651a2186c\n";
        let scalar: Vec<u8> = (1..=48).collect();
        let eph: Vec<u8> = (49..=96).collect();
        let recipient = CardKey::from_sec1(
            Curve::P384,
            p384::SecretKey::from_slice(&scalar)
                .unwrap()
                .public_key()
                .to_encoded_point(false)
                .as_bytes(),
        )
        .unwrap();
        let eph_sk = p384::SecretKey::from_slice(&eph).unwrap();
        let eph_pub = eph_sk
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let z = shared_secret(Curve::P384, &eph, recipient.point()).unwrap();
        let nonce: [u8; 24] = std::array::from_fn(|i| 0x10 + i as u8);
        (
            seal(share.as_bytes(), "alice", &recipient, &z, &eph_pub, &nonce),
            scalar,
        )
    }

    /// FORMAT.md states exactly what this code writes for its vector, and
    /// the card's scalar opens it (on failure, the message shows the file).
    #[test]
    fn format_md_states_the_card_share_vector() {
        let spec = include_str!("../../FORMAT.md");
        let (file, scalar) = format_md_vector();
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(
            spec.contains(&format!("```text\n{text}```")),
            "FORMAT.md does not state this vector:\n{text}"
        );
        let opened = parse(&file)
            .unwrap()
            .open_with_secret_scalar(&scalar)
            .unwrap();
        assert!(opened.starts_with(b"seif share v1\n"));
    }

    #[test]
    fn a_share_opens_with_its_card_only() {
        for curve in [Curve::P256, Curve::P384] {
            let (sk, pk) = card(curve, 7);
            let (other_sk, _) = card(curve, 9);
            let file = protect(b"the share", "alice", &pk);
            let p = parse(&file).unwrap();
            assert_eq!(p.custodian, "alice");
            assert_eq!(p.recipient, pk);
            assert_eq!(&**p.open_with_secret_scalar(&sk).unwrap(), b"the share");
            assert_eq!(
                p.open_with_secret_scalar(&other_sk).unwrap_err(),
                CardShareError::WrongKey
            );
            // Two seals of the same share differ (a fresh ephemeral key).
            assert_ne!(protect(b"the share", "alice", &pk), file);
        }
    }

    /// The header is bound: the label, a key or the nonce changed (and
    /// written canonically) no longer opens.
    #[test]
    fn every_header_field_is_bound() {
        let (sk, pk) = card(Curve::P384, 7);
        let file = String::from_utf8(protect(b"the share", "alice", &pk)).unwrap();
        let p = parse(file.as_bytes()).unwrap();
        let eph = to_hex(p.ephemeral.point());
        let (_, other) = card(Curve::P384, 11);
        for changed in [
            file.replace("custodian: alice", "custodian: alicf"),
            file.replace(&eph, &to_hex(other.point())),
            file.replace(&to_hex(&p.nonce), &to_hex(&[0u8; 24])),
        ] {
            let q = parse(changed.as_bytes()).unwrap();
            assert_eq!(
                q.open_with_secret_scalar(&sk).unwrap_err(),
                CardShareError::WrongKey
            );
        }
    }

    #[test]
    fn malformed_files_and_keys_are_refused() {
        let (_, pk) = card(Curve::P384, 7);
        let file = String::from_utf8(protect(b"the share", "alice", &pk)).unwrap();
        let pt = to_hex(pk.point());
        // Off the curve: the last byte of Y changed.
        let mut off = pk.point().to_vec();
        *off.last_mut().unwrap() ^= 1;
        for (changed, why) in [
            (file.replace("P-384", "P-521"), "curve"),
            (file.replace(&pt, &to_hex(&off)), "valid P-384"),
            (
                file.replace("custodian: alice", "custodian: al ice"),
                "label",
            ),
            (file.replace("curve: P-384", "curve:  P-384"), "curve"),
            (file.replacen('\n', "\r\n", 1), "canonical"),
        ] {
            let e = parse(changed.as_bytes()).unwrap_err();
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
        assert!(is_card_share(file.as_bytes()));
        assert!(!is_card_share(b"seif passphrase-protected share v1\n"));
    }

    #[test]
    fn a_shared_secret_of_the_wrong_length_is_refused() {
        let (_, pk) = card(Curve::P384, 7);
        let file = protect(b"the share", "alice", &pk);
        let p = parse(&file).unwrap();
        for z in [&[][..], &[1u8; 32][..]] {
            assert!(matches!(
                p.open_with_shared_secret(z),
                Err(CardShareError::Malformed(_))
            ));
        }
    }
}
