//! Share protection, per custodian: an OpenPGP message to their certificate
//! (GnuPG and OpenPGP smartcards can decrypt it too), an age file to their
//! age recipient, or a passphrase (Argon2id + XChaCha20-Poly1305).
//!
//! Also the other direction: recognising a presented share file (encrypted
//! in any of those ways, or already decrypted, as `gpg -d` prints it) and
//! opening it with the identities and passphrases at hand.

pub mod card;
#[cfg(feature = "openpgp")]
pub mod openpgp;
pub mod passphrase;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::descriptor::Protection;
use crate::shares::{SHARE_TEXT_MAX, Share, ShareError};

/// The longest custodian label (it names the share file).
pub const LABEL_MAX: usize = 64;

/// Why a custodian or a share file could not be handled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// A `--custodian LABEL=SPEC` argument is malformed.
    #[error(
        "custodian '{0}': expected LABEL=pgp:FILE, LABEL=age:RECIPIENT, LABEL=passphrase, LABEL=pkcs11:cert:FILE or LABEL=pkcs11:spki:FILE"
    )]
    BadSpec(String),
    /// A label with characters that cannot name a file.
    #[error("custodian label '{0}' must be 1 to 64 of A-Z a-z 0-9 . _ - and not start with '.'")]
    BadLabel(String),
    /// This build has no OpenPGP support.
    #[error("this build of seif has no OpenPGP support (feature 'openpgp')")]
    OpenPgpUnavailable,
    /// A certificate or identity file could not be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An OpenPGP certificate that cannot be used (expired, revoked, no
    /// encryption key).
    #[cfg(feature = "openpgp")]
    #[error("{path}: {source}")]
    Certificate {
        /// The certificate file.
        path: PathBuf,
        /// Why.
        source: openpgp::PgpError,
    },
    /// The bytes are no kind of share file.
    #[error(
        "not a seif share: neither a decrypted share, an OpenPGP message, an age file nor a passphrase-protected share"
    )]
    UnknownFormat,
    /// An encrypted share, and no identity of its kind was given.
    #[error("this share is {kind}: {what_to_do}")]
    NeedsIdentity {
        /// What the share is.
        kind: &'static str,
        /// What opens it.
        what_to_do: &'static str,
    },
    /// None of the given identities opens the share.
    #[error("none of the given identities can decrypt this share{0}")]
    NoMatchingIdentity(String),
    /// OpenPGP failed.
    #[cfg(feature = "openpgp")]
    #[error(transparent)]
    OpenPgp(#[from] openpgp::PgpError),
    /// age failed (its message may quote the file: shown escaped).
    #[error("the age-encrypted share could not be opened: {}", crate::untrusted::escape(.0))]
    Age(String),
    /// The passphrase layer failed.
    #[error(transparent)]
    Passphrase(#[from] passphrase::PassphraseError),
    /// A card share could not be read or opened.
    #[error(transparent)]
    Card(#[from] card::CardShareError),
    /// The card step did not open the share (its message, escaped).
    #[error("{0}")]
    CardStep(String),
    /// The decrypted content is not a valid share.
    #[error(transparent)]
    Share(#[from] ShareError),
    /// No passphrase could be had (prompt cancelled, no file given).
    #[error("no passphrase: {0}")]
    NoPassphrase(String),
}

/// Where passphrases come from: a prompt, files named on the command line,
/// or (in `seif demo`) generated ones.
pub trait Passphrases {
    /// A new passphrase for custodian `label` (a prompt asks twice).
    fn new_passphrase(&mut self, label: &str) -> Result<SecretString, CustodyError>;
    /// The passphrase of `label`'s share; `attempt` counts from 1. `None`
    /// gives up (a non-interactive source has one attempt).
    fn share_passphrase(
        &mut self,
        label: &str,
        attempt: usize,
    ) -> Result<Option<SecretString>, CustodyError>;
    /// The passphrase of an OpenPGP secret key (`fingerprint`), with a
    /// prompt text naming it.
    fn key_passphrase(
        &mut self,
        fingerprint: &str,
        prompt: &str,
        attempt: usize,
    ) -> Result<Option<SecretString>, CustodyError>;
}

/// How many times a passphrase may be tried.
pub const PASSPHRASE_ATTEMPTS: usize = 3;

/// Checks a custodian label.
pub fn check_label(label: &str) -> Result<(), CustodyError> {
    let ok = !label.is_empty()
        && label.len() <= LABEL_MAX
        && !label.starts_with('.')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CustodyError::BadLabel(
            crate::untrusted::escape(label).into_owned(),
        ))
    }
}

/// A custodian's key.
pub enum CustodianKey {
    /// An OpenPGP certificate.
    #[cfg(feature = "openpgp")]
    OpenPgp(Box<openpgp::Certificate>),
    /// An age X25519 recipient.
    Age(age::x25519::Recipient),
    /// A passphrase, asked when the share is made.
    Passphrase,
    /// The EC key of a card, token or HSM (PKCS#11), from its certificate
    /// (kept for the screen: who it names, until when) or a bare key.
    Card(card::CardKey, Option<Box<card::Certificate>>),
}

/// A custodian as named on the command line: `LABEL=SPEC`.
pub struct CustodianSpec {
    /// The label.
    pub label: String,
    /// The key the share is encrypted to.
    pub key: CustodianKey,
}

impl CustodianSpec {
    /// Parses `LABEL=pgp:FILE`, `LABEL=age:RECIPIENT` or `LABEL=passphrase`.
    pub fn parse(arg: &str) -> Result<Self, CustodyError> {
        let (label, spec) = arg
            .split_once('=')
            .ok_or_else(|| CustodyError::BadSpec(arg.into()))?;
        check_label(label)?;
        let key = if spec == "passphrase" {
            CustodianKey::Passphrase
        } else if let Some(r) = spec.strip_prefix("age:") {
            CustodianKey::Age(age::x25519::Recipient::from_str(r).map_err(|_| {
                CustodyError::BadSpec(format!(
                    "{label}: '{r}' is not an age X25519 recipient (age1…)"
                ))
            })?)
        } else if let Some(path) = spec.strip_prefix("pgp:") {
            Self::openpgp(label, Path::new(path))?
        } else if let Some(path) = spec.strip_prefix("pkcs11:cert:") {
            Self::card_certificate(Path::new(path))?
        } else if let Some(path) = spec.strip_prefix("pkcs11:spki:") {
            let bytes = read_small(Path::new(path))?;
            let key = card::key_from_spki(&bytes).map_err(|e| CustodyError::File {
                path: path.into(),
                message: e.to_string(),
            })?;
            CustodianKey::Card(key, None)
        } else {
            return Err(CustodyError::BadSpec(arg.into()));
        };
        Ok(CustodianSpec {
            label: label.into(),
            key,
        })
    }

    /// A card custodian's certificate: an EC key on P-256 or P-384 (checked
    /// to be a point of it), whose key usage allows key agreement, and not
    /// expired.
    fn card_certificate(path: &Path) -> Result<CustodianKey, CustodyError> {
        let file_err = |message: String| CustodyError::File {
            path: path.into(),
            message,
        };
        let cert = card::Certificate::from_pem_or_der(&read_small(path)?)
            .map_err(|e| file_err(e.to_string()))?;
        if cert.key_agreement == Some(false) {
            return Err(file_err(
                "a signing-only certificate (its key usage has no keyAgreement): give the card's authentication certificate (on an ID card, `pkcs15-tool --read-certificate 01`, PIN1)".into(),
            ));
        }
        if cert.not_after as i64 <= crate::time::unix_now() {
            return Err(file_err(format!(
                "the certificate expired on {}: the card's key may be replaced; ask the custodian for their current card's certificate",
                crate::time::rfc3339(cert.not_after as i64)
            )));
        }
        Ok(CustodianKey::Card(cert.key.clone(), Some(Box::new(cert))))
    }

    #[cfg(feature = "openpgp")]
    fn openpgp(_label: &str, path: &Path) -> Result<CustodianKey, CustodyError> {
        let bytes = std::fs::read(path).map_err(|e| CustodyError::File {
            path: path.into(),
            message: e.to_string(),
        })?;
        let cert = openpgp::Certificate::from_bytes(&bytes).map_err(|source| {
            CustodyError::Certificate {
                path: path.into(),
                source,
            }
        })?;
        Ok(CustodianKey::OpenPgp(Box::new(cert)))
    }

    #[cfg(not(feature = "openpgp"))]
    fn openpgp(_label: &str, _path: &Path) -> Result<CustodianKey, CustodyError> {
        Err(CustodyError::OpenPgpUnavailable)
    }

    /// How the share is protected.
    pub fn protection(&self) -> Protection {
        match self.key {
            #[cfg(feature = "openpgp")]
            CustodianKey::OpenPgp(_) => Protection::Openpgp,
            CustodianKey::Age(_) => Protection::Age,
            CustodianKey::Passphrase => Protection::Passphrase,
            CustodianKey::Card(..) => Protection::Pkcs11,
        }
    }

    /// The key's public name: an OpenPGP fingerprint or an age recipient.
    pub fn key_id(&self) -> Option<String> {
        match &self.key {
            #[cfg(feature = "openpgp")]
            CustodianKey::OpenPgp(c) => Some(c.fingerprint()),
            CustodianKey::Age(r) => Some(r.to_string()),
            // A card's key is left out of the public descriptor: an ID
            // card's key is in a public certificate naming the official.
            CustodianKey::Passphrase | CustodianKey::Card(..) => None,
        }
    }

    /// The share file's name.
    pub fn share_file_name(&self) -> String {
        let ext = match self.protection() {
            Protection::Openpgp => "asc",
            Protection::Age => "age",
            Protection::Passphrase => "pass",
            Protection::Pkcs11 => "card",
        };
        format!("{}.share.{ext}", self.label)
    }

    /// Encrypts a share for this custodian.
    pub fn protect(
        &self,
        share: &Share,
        passphrases: &mut dyn Passphrases,
    ) -> Result<Vec<u8>, CustodyError> {
        let text = share.to_text();
        match &self.key {
            #[cfg(feature = "openpgp")]
            CustodianKey::OpenPgp(cert) => Ok(cert.encrypt(text.as_bytes())?),
            CustodianKey::Age(r) => {
                let enc =
                    age::Encryptor::with_recipients(std::iter::once(r as &dyn age::Recipient))
                        .map_err(|e| CustodyError::Age(e.to_string()))?;
                let mut out = Vec::new();
                let armor = age::armor::ArmoredWriter::wrap_output(
                    &mut out,
                    age::armor::Format::AsciiArmor,
                )
                .map_err(|e| CustodyError::Age(e.to_string()))?;
                let mut w = enc
                    .wrap_output(armor)
                    .map_err(|e| CustodyError::Age(e.to_string()))?;
                w.write_all(text.as_bytes())
                    .map_err(|e| CustodyError::Age(e.to_string()))?;
                w.finish()
                    .and_then(|armor| armor.finish())
                    .map_err(|e| CustodyError::Age(e.to_string()))?;
                Ok(out)
            }
            CustodianKey::Card(key, _) => Ok(card::protect(text.as_bytes(), &self.label, key)),
            CustodianKey::Passphrase => {
                let pass = passphrases.new_passphrase(&self.label)?;
                passphrase::protect(text.as_bytes(), &self.label, &pass).map_err(|e| match e {
                    passphrase::PassphraseError::TooShort => CustodyError::NoPassphrase(format!(
                        "the passphrase for custodian '{}' is shorter than {} characters",
                        self.label,
                        passphrase::MIN_PASSPHRASE_CHARS
                    )),
                    other => other.into(),
                })
            }
        }
    }
}

/// What a presented share file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareFileKind {
    /// An already decrypted share (`seif share v1`).
    Plain,
    /// An OpenPGP message.
    OpenPgp,
    /// An age file (armored or binary).
    Age,
    /// A passphrase-protected share.
    Passphrase,
    /// A card-protected share.
    Card,
}

/// Recognises a share file by its first bytes.
pub fn sniff(bytes: &[u8]) -> Option<ShareFileKind> {
    let starts = |p: &[u8]| bytes.starts_with(p);
    if starts(crate::shares::SHARE_HEADER.as_bytes()) {
        Some(ShareFileKind::Plain)
    } else if starts(passphrase::HEADER.as_bytes()) {
        Some(ShareFileKind::Passphrase)
    } else if card::is_card_share(bytes) {
        Some(ShareFileKind::Card)
    } else if starts(b"-----BEGIN AGE ENCRYPTED FILE-----") || starts(b"age-encryption.org/v1") {
        Some(ShareFileKind::Age)
    } else if starts(b"-----BEGIN PGP MESSAGE-----") || bytes.first().is_some_and(|b| b & 0x80 != 0)
    {
        Some(ShareFileKind::OpenPgp)
    } else {
        None
    }
}

/// Opens a card share (parsed, and its file's bytes) with a card: the
/// ceremony's PKCS#11 side. Returns the decrypted share's text.
pub type CardOpener =
    dyn FnMut(&card::Parsed<'_>, &[u8]) -> Result<Zeroizing<Vec<u8>>, CustodyError> + Send;

/// The identities a person brought: age identity files, OpenPGP secret
/// keys, and a way to their card. Holds secrets: no `Debug`.
#[derive(Default)]
pub struct Identities {
    age: Vec<Box<dyn age::Identity + Send + Sync>>,
    card: Option<Box<CardOpener>>,
    #[cfg_attr(not(feature = "openpgp"), allow(dead_code))]
    openpgp: Vec<Zeroizing<Vec<u8>>>,
}

impl Identities {
    /// Loads an identity file: an age identity file (`AGE-SECRET-KEY-1…`) or
    /// an OpenPGP secret key (armored or binary).
    pub fn add_file(&mut self, path: &Path) -> Result<(), CustodyError> {
        let file_err = |message: String| CustodyError::File {
            path: path.into(),
            message,
        };
        let mut bytes = Zeroizing::new(Vec::new());
        std::fs::File::open(path)
            .and_then(|f| f.take(16 * 1024 * 1024).read_to_end(&mut bytes))
            .map_err(|e| file_err(e.to_string()))?;
        if bytes.windows(15).any(|w| w == b"AGE-SECRET-KEY-") {
            self.age.extend(
                crate::wrap::load_identity_file(path).map_err(|e| file_err(e.to_string()))?,
            );
            return Ok(());
        }
        if bytes.starts_with(b"-----BEGIN PGP PRIVATE KEY BLOCK-----")
            || bytes.first().is_some_and(|b| b & 0x80 != 0)
        {
            #[cfg(feature = "openpgp")]
            {
                // Parsed now, before anyone is asked for a passphrase.
                openpgp::check_secret_key_file(&bytes).map_err(|e| file_err(e.to_string()))?;
                self.openpgp.push(bytes);
                return Ok(());
            }
            #[cfg(not(feature = "openpgp"))]
            return Err(CustodyError::OpenPgpUnavailable);
        }
        Err(file_err(
            "neither an age identity file nor an OpenPGP secret key".into(),
        ))
    }

    /// Whether an age identity was given.
    pub fn has_age(&self) -> bool {
        !self.age.is_empty()
    }

    /// Whether an OpenPGP secret key was given.
    pub fn has_openpgp(&self) -> bool {
        !self.openpgp.is_empty()
    }

    /// Each OpenPGP key given, with until when it can be encrypted to
    /// (`None`: it never expires).
    #[cfg(feature = "openpgp")]
    pub fn openpgp_expiries(&self) -> Vec<(String, Option<std::time::SystemTime>)> {
        self.openpgp
            .iter()
            .filter_map(|k| openpgp::expiries(k).ok())
            .flatten()
            .collect()
    }

    /// Adds an age identity.
    pub fn add_age(&mut self, identity: Box<dyn age::Identity + Send + Sync>) {
        self.age.push(identity);
    }

    /// Sets how card shares are opened (`--pkcs11-module`).
    pub fn set_card(&mut self, opener: Box<CardOpener>) {
        self.card = Some(opener);
    }
}

/// The body of a passphrase or card share: one line of standard base64,
/// ending with `\n`, of ciphertext and a 16-byte tag.
pub(crate) fn sealed_body(body: &str) -> Result<Vec<u8>, &'static str> {
    use base64::Engine;
    let body = body
        .strip_suffix('\n')
        .ok_or("the body does not end with a newline")?;
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the body is not base64")?;
    if ciphertext.len() < 16 {
        return Err("the body is too short");
    }
    Ok(ciphertext)
}

/// A certificate or key file, bounded (64 KiB).
fn read_small(path: &Path) -> Result<Vec<u8>, CustodyError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut bytes))
        .map_err(|e| CustodyError::File {
            path: path.into(),
            message: e.to_string(),
        })?;
    Ok(bytes)
}

/// Reads a share file's bytes (or stdin), bounded.
pub fn read_share_bytes(mut input: impl Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::new());
    input.by_ref().take(1024 * 1024).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens a presented share file: decrypts it if needed and parses the share.
pub fn open_share(
    bytes: &[u8],
    ids: &mut Identities,
    passphrases: &mut dyn Passphrases,
) -> Result<Share, CustodyError> {
    let text: Zeroizing<Vec<u8>> = match sniff(bytes).ok_or(CustodyError::UnknownFormat)? {
        ShareFileKind::Plain => Zeroizing::new(bytes.to_vec()),
        ShareFileKind::Passphrase => {
            // Parsed (label checked, KDF parameters bounded) before anyone
            // is asked for a passphrase.
            let parsed = passphrase::parse(bytes)?;
            let label = parsed.custodian;
            let mut attempt = 1;
            loop {
                let Some(pass) = passphrases.share_passphrase(label, attempt)? else {
                    return Err(passphrase::PassphraseError::WrongPassphrase.into());
                };
                match parsed.open(&pass) {
                    Ok(t) => break t,
                    Err(passphrase::PassphraseError::WrongPassphrase)
                        if attempt < PASSPHRASE_ATTEMPTS =>
                    {
                        attempt += 1
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        ShareFileKind::Age => {
            if ids.age.is_empty() {
                return Err(CustodyError::NeedsIdentity {
                    kind: "an age file",
                    what_to_do: "pass the custodian's age identity file with --identity",
                });
            }
            let armored = age::armor::ArmoredReader::new(bytes);
            let dec = age::Decryptor::new(armored).map_err(|e| CustodyError::Age(e.to_string()))?;
            let mut r = dec
                .decrypt(ids.age.iter().map(|i| i.as_ref() as &dyn age::Identity))
                .map_err(|e| match e {
                    age::DecryptError::NoMatchingKeys => {
                        CustodyError::NoMatchingIdentity(String::new())
                    }
                    other => CustodyError::Age(other.to_string()),
                })?;
            let mut out = Zeroizing::new(Vec::new());
            r.by_ref()
                .take(SHARE_TEXT_MAX as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| CustodyError::Age(e.to_string()))?;
            out
        }
        ShareFileKind::OpenPgp => open_openpgp(bytes, ids, passphrases)?,
        ShareFileKind::Card => {
            // Parsed (label, curve, both keys checked) before any card is
            // asked.
            let parsed = card::parse(bytes)?;
            let Some(opener) = ids.card.as_mut() else {
                return Err(CustodyError::NeedsIdentity {
                    kind: "a card share",
                    what_to_do: "insert the custodian's card and pass --pkcs11-module (OpenSC's opensc-pkcs11.so for an ID card)",
                });
            };
            opener(&parsed, bytes)?
        }
    };
    let text =
        std::str::from_utf8(&text).map_err(|_| ShareError::Malformed("not UTF-8 text".into()))?;
    Ok(Share::from_text(text)?)
}

#[cfg(feature = "openpgp")]
fn open_openpgp(
    bytes: &[u8],
    ids: &Identities,
    passphrases: &mut dyn Passphrases,
) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    if ids.openpgp.is_empty() {
        return Err(CustodyError::NeedsIdentity {
            kind: "an OpenPGP message",
            what_to_do: "pass the custodian's OpenPGP secret key with --identity, or decrypt it with `gpg -d` and give it as `--share -`",
        });
    }
    let mut last = None;
    for key in &ids.openpgp {
        let mut ask = |p: &openpgp::KeyPrompt| match passphrases.key_passphrase(
            &p.fingerprint,
            &p.text,
            p.attempt,
        ) {
            Ok(Some(pass)) => Ok(pass),
            Ok(None) => Err(openpgp::PgpError::WrongPassphrase),
            Err(e) => Err(openpgp::PgpError::PassphraseUnavailable(e.to_string())),
        };
        match openpgp::decrypt(key, bytes, &mut ask) {
            Ok(text) => return Ok(text),
            Err(e @ openpgp::PgpError::NotForThisKey { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or(CustodyError::NoMatchingIdentity(String::new()), Into::into))
}

#[cfg(not(feature = "openpgp"))]
fn open_openpgp(
    _: &[u8],
    _: &Identities,
    _: &mut dyn Passphrases,
) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    Err(CustodyError::OpenPgpUnavailable)
}
