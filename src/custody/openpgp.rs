//! OpenPGP protection of a small secret (a Shamir share) for a custodian
//! who holds an OpenPGP key, interoperable with GnuPG 2.2.
//!
//! Interoperability notes that shape this module:
//!
//! * GnuPG 2.2 only reads SEIPDv1 (the MDC container). It rejects the
//!   RFC 9580 SEIPDv2 container with "packet(1) with unknown version 6",
//!   so [`Certificate::encrypt`] only ever uses SEIPDv2 when the
//!   certificate itself advertises it (GnuPG 2.2 keys never do).
//! * [`generate_key`] makes v4 keys that advertise SEIPDv1 only, protected
//!   with the iterated-and-salted S2K that GnuPG 2.2 understands.
//! * Decryption never consults key expiry or the key's binding
//!   signatures: a custodian must still be able to open a share years
//!   later, with an old or expired key, and the secret key file is the
//!   custodian's own, so there is nothing to authenticate there.

use std::fmt;
use std::io::{Read, Write};

use secrecy::{ExposeSecret, SecretString};
use sequoia_openpgp as sq;
use sq::cert::prelude::*;
use sq::cert::{CertParser, Preferences};
use sq::crypto::{Password, SessionKey};
use sq::packet::key::{PublicParts, SecretParts, UnspecifiedRole};
use sq::packet::{Key, PKESK, SKESK, Tag};
use sq::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageLayer, MessageStructure, VerificationHelper,
};
use sq::parse::{PacketParser, PacketParserResult, Parse};
use sq::policy::StandardPolicy;
use sq::serialize::SerializeInto;
use sq::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message};
use sq::types::{Features, KeyFlags, RevocationStatus, SymmetricAlgorithm};
use sq::{Cert, KeyHandle};
use zeroize::Zeroizing;

use super::PASSPHRASE_ATTEMPTS;

/// A certificate that stops being usable for encryption sooner than this
/// is warned about when a share is made for it (init, reshare, rotate) and
/// when its owner checks their share: GnuPG's `--quick-gen-key` makes keys
/// that expire in two or three years, and a vault lives for decades.
pub const EXPIRY_WARNING: std::time::Duration = std::time::Duration::from_secs(5 * 365 * 86_400);

/// How a custodian extends an expiring or expired GnuPG key (primary key
/// and subkeys), then hands the new public key file to the ceremony.
pub fn extend_hint(fingerprint: &str) -> String {
    format!(
        "extend it where the secret key lives: `gpg --quick-set-expire {fingerprint} 10y` and `gpg --quick-set-expire {fingerprint} 10y '*'` (its subkeys), then export it again (`gpg --export --armor {fingerprint} > FILE`) and bring the new file; the fingerprint stays the same"
    )
}

/// Upper bound on the plaintext [`decrypt`] returns. Shares are well under
/// 1 KiB; the bound stops a hostile (e.g. compressed) message from making
/// us allocate without limit.
pub const MAX_PLAINTEXT: usize = 1024 * 1024;

/// Everything that can go wrong. Messages never contain secret material.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PgpError {
    /// The input could not be parsed as an OpenPGP certificate or key.
    #[error("not an OpenPGP certificate or key: {0}")]
    NotACertificate(String),

    /// More than one certificate was given where exactly one is expected.
    #[error("expected exactly one OpenPGP certificate, found {0}")]
    MultipleCertificates(usize),

    /// The certificate's self-signatures are not acceptable under the
    /// standard policy (e.g. they rely on SHA-1), so its key flags and
    /// expiry cannot be trusted.
    #[error("certificate {fingerprint} is not acceptable under the standard policy: {reason}")]
    PolicyRejected {
        /// The certificate.
        fingerprint: String,
        /// Why.
        reason: String,
    },

    /// The certificate has been revoked by its owner.
    #[error("certificate {fingerprint} is revoked")]
    Revoked {
        /// The certificate.
        fingerprint: String,
    },

    /// The certificate (its primary key) has expired or is not yet valid.
    #[error("certificate {fingerprint} is expired or not yet valid: {reason}")]
    Expired {
        /// The certificate.
        fingerprint: String,
        /// Why.
        reason: String,
    },

    /// The certificate has no valid, unrevoked, unexpired subkey usable for
    /// transport or storage encryption.
    #[error("certificate {fingerprint} has no valid encryption-capable key")]
    NoEncryptionKey {
        /// The certificate.
        fingerprint: String,
    },

    /// The message is not addressed to any key in the given secret key.
    /// `recipients` lists the key ids (uppercase hex) it is addressed to;
    /// an anonymous recipient shows as "anonymous". Empty if the message
    /// names no public-key recipient (e.g. password-encrypted).
    #[error(
        "message is not addressed to this key; {}",
        describe_recipients(recipients)
    )]
    NotForThisKey {
        /// Key ids the message is addressed to.
        recipients: Vec<String>,
    },

    /// The secret key file holds no usable secret key material for the
    /// message (public key only, or secrets kept on a smartcard / stubbed
    /// out with GnuPG's `gnu-dummy` S2K).
    #[error("no usable secret key material: {0}")]
    NoSecretKey(String),

    /// Every passphrase attempt was wrong.
    #[error("wrong passphrase ({PASSPHRASE_ATTEMPTS} attempts)")]
    WrongPassphrase,

    /// The message carries no encryption layer at all.
    #[error("message is not encrypted")]
    NotEncrypted,

    /// The message uses the legacy encryption container without a
    /// modification detection code; it could have been tampered with
    /// undetectably, so it is refused.
    #[error("message is not integrity protected (no MDC/AEAD); refused")]
    NoIntegrityProtection,

    /// The message was altered or damaged: its integrity check failed, or
    /// its session key does not decrypt with the key it names.
    #[error("message failed its integrity check (altered or damaged): {0}")]
    Integrity(String),

    /// The plaintext is larger than [`MAX_PLAINTEXT`].
    #[error("plaintext exceeds {MAX_PLAINTEXT} bytes")]
    TooLarge,

    /// The input is not a well-formed OpenPGP message.
    #[error("malformed OpenPGP data: {0}")]
    Malformed(String),

    /// The passphrase callback could not provide a passphrase (e.g. the
    /// user cancelled).
    #[error("passphrase unavailable: {0}")]
    PassphraseUnavailable(String),

    /// An unexpected failure inside the OpenPGP or crypto library.
    #[error("OpenPGP operation failed: {0}")]
    Internal(String),
}

fn describe_recipients(recipients: &[String]) -> String {
    if recipients.is_empty() {
        "it names no public-key recipient".to_string()
    } else {
        format!("it is addressed to: {}", recipients.join(", "))
    }
}

/// Renders a sequoia error with its whole cause chain; sequoia's top-level
/// messages alone ("Malformed OpenPGP message") rarely say what is wrong.
/// An error and its causes, one line, escaped: Sequoia's messages can
/// quote the file (a user id, a packet's contents).
fn chain(e: &sq::anyhow::Error) -> String {
    let mut out = String::new();
    for (i, cause) in e.chain().enumerate() {
        if i > 0 {
            out.push_str(": ");
        }
        out.push_str(&crate::untrusted::escape(&cause.to_string()));
    }
    out
}

/// A custodian's public OpenPGP certificate, validated on construction.
///
/// Only the public part is ever kept, even when a TSK was supplied, so this
/// type holds no secret material.
#[derive(Clone)]
pub struct Certificate {
    cert: Cert,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint())
            .field("user_id", &self.primary_user_id())
            .finish()
    }
}

impl Certificate {
    /// Parses exactly one certificate (armored or binary). A TSK is accepted
    /// but its secret key material is dropped immediately.
    ///
    /// Refuses a certificate that is revoked, expired, rejected by the
    /// standard policy, or has no valid encryption-capable key right now.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PgpError> {
        let parser =
            CertParser::from_bytes(bytes).map_err(|e| PgpError::NotACertificate(chain(&e)))?;
        let mut certs = Vec::new();
        for cert in parser {
            certs.push(cert.map_err(|e| PgpError::NotACertificate(chain(&e)))?);
        }
        let cert = match certs.len() {
            0 => {
                return Err(PgpError::NotACertificate(
                    "no certificate found in input".into(),
                ));
            }
            1 => certs.remove(0),
            n => return Err(PgpError::MultipleCertificates(n)),
        };
        let certificate = Certificate {
            cert: cert.strip_secret_key_material(),
        };
        let policy = StandardPolicy::new();
        certificate.encryption_keys(&policy)?;
        Ok(certificate)
    }

    /// Uppercase hex fingerprint of the primary key (40 characters for v4).
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// The primary user id under the standard policy, else the first valid
    /// one, for display only (user ids are not authenticated here, so the
    /// text comes escaped, see `untrusted`).
    pub fn primary_user_id(&self) -> Option<String> {
        let policy = StandardPolicy::new();
        let vc = self.cert.with_policy(&policy, None).ok()?;
        let uid = vc
            .primary_userid()
            .ok()
            .map(|u| u.userid().value().to_vec())
            .or_else(|| vc.userids().next().map(|u| u.userid().value().to_vec()))?;
        Some(crate::untrusted::escape_bytes(&uid))
    }

    /// Checks validity now and returns the keys to encrypt to. Re-run at
    /// every encryption because a certificate can expire after parsing.
    fn encryption_keys<'a>(
        &'a self,
        policy: &'a StandardPolicy<'a>,
    ) -> Result<Vec<ValidErasedKeyAmalgamation<'a, PublicParts>>, PgpError> {
        let fingerprint = self.fingerprint();
        if let RevocationStatus::Revoked(_) = self.cert.revocation_status(policy, None) {
            return Err(PgpError::Revoked { fingerprint });
        }
        let vc = self
            .cert
            .with_policy(policy, None)
            .map_err(|e| PgpError::PolicyRejected {
                fingerprint: fingerprint.clone(),
                reason: chain(&e),
            })?;
        if let Err(e) = vc.alive() {
            let reason = match vc.primary_key().key_expiration_time() {
                Some(t) if t <= std::time::SystemTime::now() => {
                    format!("it expired on {}", date_of(t))
                }
                _ => chain(&e),
            };
            return Err(PgpError::Expired {
                fingerprint,
                reason,
            });
        }
        let keys: Vec<_> = vc
            .keys()
            .supported()
            .alive()
            .revoked(false)
            .key_flags(
                KeyFlags::empty()
                    .set_transport_encryption()
                    .set_storage_encryption(),
            )
            .collect();
        if keys.is_empty() {
            // Encryption subkeys that exist but have expired can be
            // extended: say so, with the date.
            let expired = vc
                .keys()
                .supported()
                .revoked(false)
                .key_flags(
                    KeyFlags::empty()
                        .set_transport_encryption()
                        .set_storage_encryption(),
                )
                .filter_map(|k| k.key_expiration_time())
                .max();
            if let Some(t) = expired {
                return Err(PgpError::Expired {
                    fingerprint,
                    reason: format!("its encryption subkey expired on {}", date_of(t)),
                });
            }
            return Err(PgpError::NoEncryptionKey { fingerprint });
        }
        Ok(keys)
    }

    /// Until when the certificate can be encrypted to: the earlier of its
    /// primary key's expiry and the expiry of the last of its encryption
    /// subkeys. `None` if it never expires.
    pub fn usable_until(&self) -> Option<std::time::SystemTime> {
        usable_until(&self.cert)
    }

    /// Whether the certificate advertises SEIPDv2 (RFC 9580). When it does
    /// not, [`Certificate::encrypt`] produces SEIPDv1 (MDC).
    pub fn supports_seipdv2(&self) -> bool {
        let policy = StandardPolicy::new();
        self.cert
            .with_policy(&policy, None)
            .ok()
            .and_then(|vc| vc.features())
            .is_some_and(|f| f.supports_seipdv2())
    }

    /// Encrypts `plaintext` to every valid encryption-capable key of this
    /// certificate and returns an ASCII-armored OpenPGP message.
    ///
    /// Uses SEIPDv1 (MDC) unless the certificate advertises SEIPDv2, so that
    /// GnuPG 2.2 can read it. Never compresses: compressing secrets is a
    /// length side channel and buys nothing for a few hundred random bytes.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, PgpError> {
        let policy = StandardPolicy::new();
        let keys = self.encryption_keys(&policy)?;
        let internal = |e: sq::anyhow::Error| PgpError::Internal(chain(&e));

        let mut sink = Vec::new();
        {
            let message = Message::new(&mut sink);
            let message = Armorer::new(message).build().map_err(internal)?;
            // Sequoia picks SEIPDv2 only if every recipient advertises it,
            // and addresses SEIPDv1 PKESKs by key id, as GnuPG 2.2 expects.
            // AES-256 is in every GnuPG 2.2 key's preferences.
            let message = Encryptor::for_recipients(message, keys)
                .symmetric_algo(SymmetricAlgorithm::AES256)
                .build()
                .map_err(internal)?;
            let mut message = LiteralWriter::new(message).build().map_err(internal)?;
            message
                .write_all(plaintext)
                .map_err(|e| PgpError::Internal(e.to_string()))?;
            message.finalize().map_err(internal)?;
        }
        Ok(sink)
    }
}

/// Until when `cert` can be encrypted to (see
/// [`Certificate::usable_until`]), judged whether or not it has expired
/// already; `None` if it never expires (or its self-signatures are not
/// acceptable, which encryption refuses anyway).
fn usable_until(cert: &Cert) -> Option<std::time::SystemTime> {
    let policy = StandardPolicy::new();
    let vc = cert.with_policy(&policy, None).ok()?;
    let primary = vc.primary_key().key_expiration_time();
    // The subkeys are usable until the last of them expires; one that
    // never expires makes that never.
    let (mut never, mut latest) = (false, None::<std::time::SystemTime>);
    for k in vc.keys().supported().revoked(false).key_flags(
        KeyFlags::empty()
            .set_transport_encryption()
            .set_storage_encryption(),
    ) {
        match k.key_expiration_time() {
            None => never = true,
            Some(t) => latest = Some(latest.map_or(t, |l| l.max(t))),
        }
    }
    let subkeys = if never { None } else { latest };
    match (primary, subkeys) {
        (Some(p), Some(s)) => Some(p.min(s)),
        (p, s) => p.or(s),
    }
}

/// The certificates in a public or secret key file, each with until when
/// it can be encrypted to (`None`: never expires), whether or not that
/// time has passed. A custodian's check of their own share uses it to warn
/// about a key that a reshare or rotation would refuse.
pub fn expiries(key_file: &[u8]) -> Result<Vec<(String, Option<std::time::SystemTime>)>, PgpError> {
    let parser =
        CertParser::from_bytes(key_file).map_err(|e| PgpError::NotACertificate(chain(&e)))?;
    let mut out = Vec::new();
    for cert in parser {
        let cert = cert.map_err(|e| PgpError::NotACertificate(chain(&e)))?;
        out.push((cert.fingerprint().to_hex(), usable_until(&cert)));
    }
    Ok(out)
}

/// A date as `YYYY-MM-DD` (UTC).
pub fn date_of(t: std::time::SystemTime) -> String {
    let secs = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    crate::time::rfc3339(secs)[..10].to_owned()
}

/// Checks that a key file holds at least one OpenPGP secret key, without
/// asking for any passphrase: a step checks every `--identity` before any
/// custodian is asked for a secret.
pub fn check_secret_key_file(bytes: &[u8]) -> Result<(), PgpError> {
    parse_tsks(bytes).map(drop)
}

/// Checks that `bytes` is an encrypted, integrity-protected OpenPGP message
/// (its packets, without decrypting anything).
pub fn check_message(bytes: &[u8]) -> Result<(), PgpError> {
    prescan(bytes)
}

/// Cheap sniff: is this an OpenPGP message, armored or binary, as made by
/// [`Certificate::encrypt`]? Binary detection accepts a message starting with
/// a well-formed PKESK packet header (either header format) followed by a
/// known PKESK version (3 or 6).
pub fn looks_like_message(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    if bytes[start..].starts_with(b"-----BEGIN PGP MESSAGE-----") {
        return true;
    }
    let Some((&ctb, rest)) = bytes.split_first() else {
        return false;
    };
    const PKESK_TAG: u8 = 1;
    // Number of length octets, or None for a length encoding a PKESK may
    // not use (indeterminate or partial body).
    let len_octets = if ctb & 0xC0 == 0xC0 {
        if ctb & 0x3F != PKESK_TAG {
            return false;
        }
        match rest.first() {
            Some(0..=191) => Some(1),
            Some(192..=223) => Some(2),
            Some(255) => Some(5),
            _ => None,
        }
    } else if ctb & 0xC0 == 0x80 {
        if (ctb >> 2) & 0x0F != PKESK_TAG {
            return false;
        }
        match ctb & 0x03 {
            0 => Some(1),
            1 => Some(2),
            2 => Some(4),
            _ => None,
        }
    } else {
        None
    };
    match len_octets.and_then(|n| rest.get(n)) {
        Some(&version) => version == 3 || version == 6,
        None => false,
    }
}

/// Generates a v4 Cv25519 key (Ed25519 certification primary, X25519
/// subkey for transport and storage encryption) that advertises SEIPDv1
/// only, so every sender, including GnuPG 2.2 and this module, produces
/// messages GnuPG 2.2 can read. It never expires: expiry would only block
/// re-encrypting to the custodian, while shares must stay openable.
///
/// Returns `(armored certificate, armored TSK)`. The TSK is protected with
/// `passphrase` if one is given (S2K: iterated+salted SHA-256, AES-256).
/// The revocation certificate sequoia produces is discarded.
pub fn generate_key(
    user_id: &str,
    passphrase: Option<&SecretString>,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), PgpError> {
    let internal = |e: sq::anyhow::Error| PgpError::Internal(chain(&e));
    let (cert, _revocation) = CertBuilder::new()
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_profile(sq::Profile::RFC4880)
        .map_err(internal)?
        .set_features(Features::empty().set_seipdv1())
        .map_err(internal)?
        .set_primary_key_flags(KeyFlags::empty().set_certification())
        .set_validity_period(None)
        .add_userid(user_id)
        .add_subkey(
            KeyFlags::empty()
                .set_transport_encryption()
                .set_storage_encryption(),
            None,
            None,
        )
        .set_password(passphrase.map(|p| Password::from(p.expose_secret())))
        .generate()
        .map_err(internal)?;
    let public = cert.armored().to_vec().map_err(internal)?;
    let secret = Zeroizing::new(cert.as_tsk().armored().to_vec().map_err(internal)?);
    Ok((public, secret))
}

/// Decrypts a message made by [`Certificate::encrypt`] (or by GnuPG) with a
/// secret key file (armored or binary; one or more TSKs, as exported by
/// `gpg --export-secret-keys` or [`generate_key`]).
///
/// If the needed secret key is passphrase-protected, `ask_passphrase` is
/// called with a prompt naming the key; a wrong passphrase is retried up to
/// [`PASSPHRASE_ATTEMPTS`] times in total, then [`PgpError::WrongPassphrase`].
///
/// No plaintext is returned unless the message is encrypted, integrity
/// protected (SEIPDv1 with MDC, or SEIPDv2), and the check passed.
pub fn decrypt(
    secret_key: &[u8],
    message: &[u8],
    ask_passphrase: &mut dyn FnMut(&KeyPrompt) -> Result<SecretString, PgpError>,
) -> Result<Zeroizing<Vec<u8>>, PgpError> {
    let tsks = parse_tsks(secret_key)?;
    prescan(message)?;

    let policy = StandardPolicy::new();
    let mut failure = None;
    let mut saw_encryption = false;
    let helper = Helper {
        tsks: &tsks,
        ask: ask_passphrase,
        failure: &mut failure,
        saw_encryption: &mut saw_encryption,
    };
    // The default buffer (25 MiB) exceeds any plausible share, so the whole
    // message, including its MDC, is verified before the first byte is
    // handed out.
    let result = DecryptorBuilder::from_bytes(message)
        .and_then(|b| b.with_policy(&policy, None, helper))
        .map_err(|e| classify(e.as_ref()))
        .and_then(|mut decryptor| {
            let plaintext = read_capped(&mut decryptor)?;
            if decryptor.message_processed() {
                Ok(plaintext)
            } else {
                Err(PgpError::Malformed(
                    "message not completely processed".into(),
                ))
            }
        });
    // A failure parked by the helper is the precise one; what sequoia
    // returned for it is a generic wrapper.
    if let Some(parked) = failure {
        return Err(parked);
    }
    let plaintext = result?;
    if !saw_encryption {
        return Err(PgpError::NotEncrypted);
    }
    Ok(plaintext)
}

/// Maps a sequoia error to ours by walking its cause chain: an MDC failure
/// can surface wrapped in an `io::Error` and in context layers.
fn classify(e: &(dyn std::error::Error + Send + Sync + 'static)) -> PgpError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = Vec::new();
    let mut manipulated = false;
    while let Some(c) = cause {
        text.push(crate::untrusted::escape(&c.to_string()).into_owned());
        if let Some(sq::Error::ManipulatedMessage) = c.downcast_ref::<sq::Error>() {
            manipulated = true;
        }
        if let Some(PgpError::TooLarge) = c.downcast_ref::<PgpError>() {
            return PgpError::TooLarge;
        }
        // io::Error hides its payload from `source()` in some wrappings.
        cause = c.source().or_else(|| {
            c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static))
        });
    }
    text.dedup();
    let text = text.join(": ");
    if manipulated {
        PgpError::Integrity(text)
    } else {
        PgpError::Malformed(text)
    }
}

/// Reads the plaintext into zeroizing storage without letting a growing
/// `Vec` leave unzeroized copies behind on reallocation.
fn read_capped(reader: &mut dyn Read) -> Result<Zeroizing<Vec<u8>>, PgpError> {
    let mut out = Zeroizing::new(Vec::with_capacity(4096));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let n = reader.read(&mut chunk[..]).map_err(|e| classify(&e))?;
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > MAX_PLAINTEXT {
            return Err(PgpError::TooLarge);
        }
        if out.len() + n > out.capacity() {
            let mut bigger =
                Zeroizing::new(Vec::with_capacity((out.capacity() * 2).max(out.len() + n)));
            bigger.extend_from_slice(&out);
            out = bigger;
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

fn parse_tsks(bytes: &[u8]) -> Result<Vec<Cert>, PgpError> {
    let parser = CertParser::from_bytes(bytes).map_err(|e| PgpError::NotACertificate(chain(&e)))?;
    let mut tsks = Vec::new();
    for cert in parser {
        tsks.push(cert.map_err(|e| PgpError::NotACertificate(chain(&e)))?);
    }
    if tsks.is_empty() {
        return Err(PgpError::NotACertificate("no key found in input".into()));
    }
    if !tsks.iter().any(Cert::is_tsk) {
        return Err(PgpError::NoSecretKey(
            "the key file contains only public keys".into(),
        ));
    }
    Ok(tsks)
}

/// Walks the top-level packets without decrypting, to refuse the legacy
/// unprotected container with a precise error (sequoia would only report
/// a malformed message) and to spot messages that are not encrypted.
fn prescan(message: &[u8]) -> Result<(), PgpError> {
    let malformed = |e: sq::anyhow::Error| PgpError::Malformed(chain(&e));
    let mut ppr = PacketParser::from_bytes(message).map_err(malformed)?;
    let mut seen_seip = false;
    while let PacketParserResult::Some(pp) = ppr {
        match pp.packet.tag() {
            Tag::SED => return Err(PgpError::NoIntegrityProtection),
            Tag::SEIP => seen_seip = true,
            _ => {}
        }
        ppr = pp.next().map_err(malformed)?.1;
    }
    if seen_seip {
        Ok(())
    } else {
        Err(PgpError::NotEncrypted)
    }
}

/// Bridges sequoia's streaming decryptor to the caller's key file and
/// passphrase prompt. Errors meant for the caller are parked in `failure`,
/// because sequoia only carries opaque errors back out of the helper.
struct Helper<'a> {
    tsks: &'a [Cert],
    ask: &'a mut dyn FnMut(&KeyPrompt) -> Result<SecretString, PgpError>,
    failure: &'a mut Option<PgpError>,
    saw_encryption: &'a mut bool,
}

impl Helper<'_> {
    fn fail(&mut self, e: PgpError) -> sq::anyhow::Error {
        let opaque = sq::Error::InvalidOperation(e.to_string()).into();
        *self.failure = Some(e);
        opaque
    }
}

struct Candidate<'a> {
    pkesk: &'a PKESK,
    cert: &'a Cert,
    key: Key<SecretParts, UnspecifiedRole>,
}

/// What [`decrypt`] tells its passphrase callback: which key, and a prompt
/// text for a person.
pub struct KeyPrompt {
    /// The certificate's primary fingerprint, uppercase hex.
    pub fingerprint: String,
    /// A prompt naming the key, its user id and the attempt.
    pub text: String,
    /// 1 for the first attempt.
    pub attempt: usize,
}

fn prompt_for(cert: &Cert, key: &Key<SecretParts, UnspecifiedRole>, attempt: usize) -> KeyPrompt {
    let uid = cert
        .userids()
        .next()
        .map(|u| {
            format!(
                " \"{}\"",
                crate::untrusted::escape_bytes(u.userid().value())
            )
        })
        .unwrap_or_default();
    let mut prompt = format!(
        "Passphrase for OpenPGP key {}{} (encryption key {})",
        cert.fingerprint().to_hex(),
        uid,
        key.keyid().to_hex()
    );
    if attempt > 1 {
        prompt.push_str(&format!(
            " — wrong passphrase, attempt {attempt} of {PASSPHRASE_ATTEMPTS}"
        ));
    }
    KeyPrompt {
        fingerprint: cert.fingerprint().to_hex(),
        text: prompt,
        attempt,
    }
}

/// gnu-dummy (101) and similar private S2Ks mark secrets that are not in
/// the file (offline primary, smartcard); no passphrase can unlock them.
fn secret_available(key: &Key<SecretParts, UnspecifiedRole>) -> bool {
    match key.optional_secret() {
        Some(sq::packet::key::SecretKeyMaterial::Unencrypted(_)) => true,
        Some(sq::packet::key::SecretKeyMaterial::Encrypted(e)) => e.s2k().is_supported(),
        None => false,
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> sq::Result<Option<Cert>> {
        let mut candidates = Vec::new();
        for pkesk in pkesks {
            let recipient = pkesk.recipient();
            for cert in self.tsks {
                for ka in cert.keys().secret() {
                    let key = ka.key();
                    let matches = match &recipient {
                        Some(handle) => handle.aliases(KeyHandle::from(key.fingerprint())),
                        // Anonymous recipient: any key of the right algorithm may be it.
                        None => key.pk_algo() == pkesk.pk_algo(),
                    };
                    if matches {
                        candidates.push(Candidate {
                            pkesk,
                            cert,
                            key: key.clone().role_into_unspecified(),
                        });
                    }
                }
            }
        }

        if candidates.is_empty() {
            let recipients = pkesks
                .iter()
                .map(|p| match p.recipient() {
                    Some(KeyHandle::KeyID(id)) => id.to_hex(),
                    Some(KeyHandle::Fingerprint(fp)) => fp.to_hex(),
                    None => "anonymous".to_string(),
                })
                .collect();
            return Err(self.fail(PgpError::NotForThisKey { recipients }));
        }

        let mut session_key_failed = false;

        // Unprotected keys first, so a passphrase is only asked for when
        // nothing else can open the message.
        for c in candidates.iter().filter(|c| c.key.has_unencrypted_secret()) {
            let Ok(mut pair) = c.key.clone().into_keypair() else {
                continue;
            };
            match c.pkesk.decrypt(&mut pair, sym_algo) {
                Some((algo, sk)) if decrypt(algo, &sk) => return Ok(None),
                _ => session_key_failed = true,
            }
        }

        let mut any_available = candidates.iter().any(|c| c.key.has_unencrypted_secret());
        for c in candidates
            .iter()
            .filter(|c| !c.key.has_unencrypted_secret() && secret_available(&c.key))
        {
            any_available = true;
            let mut unlocked = None;
            for attempt in 1..=PASSPHRASE_ATTEMPTS {
                let prompt = prompt_for(c.cert, &c.key, attempt);
                let passphrase = match (self.ask)(&prompt) {
                    Ok(p) => p,
                    Err(e) => {
                        let e = match e {
                            PgpError::PassphraseUnavailable(_) => e,
                            other => PgpError::PassphraseUnavailable(other.to_string()),
                        };
                        return Err(self.fail(e));
                    }
                };
                let password = Password::from(passphrase.expose_secret());
                if let Ok(key) = c.key.clone().decrypt_secret(&password) {
                    unlocked = Some(key);
                    break;
                }
            }
            let Some(key) = unlocked else {
                return Err(self.fail(PgpError::WrongPassphrase));
            };
            let mut pair = key
                .into_keypair()
                .map_err(|e| self.fail(PgpError::Internal(chain(&e))))?;
            match c.pkesk.decrypt(&mut pair, sym_algo) {
                Some((algo, sk)) if decrypt(algo, &sk) => return Ok(None),
                _ => session_key_failed = true,
            }
        }

        let e = if session_key_failed {
            PgpError::Integrity(
                "the session key addressed to this key could not be decrypted".into(),
            )
        } else if !any_available {
            PgpError::NoSecretKey(
                "the matching secret key is not in the file (stub, offline or on a smartcard)"
                    .into(),
            )
        } else {
            PgpError::Internal("no session key recovered".into())
        };
        Err(self.fail(e))
    }
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> sq::Result<Vec<Cert>> {
        // Signatures inside the message are not checked: authenticity of
        // shares is established by seif, not by OpenPGP signatures.
        Ok(Vec::new())
    }

    fn check(&mut self, structure: MessageStructure) -> sq::Result<()> {
        for layer in structure.iter() {
            if let MessageLayer::Encryption { .. } = layer {
                *self.saw_encryption = true;
            }
        }
        if *self.saw_encryption {
            Ok(())
        } else {
            Err(self.fail(PgpError::NotEncrypted))
        }
    }
}
