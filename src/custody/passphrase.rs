//! Passphrase protection of a share: Argon2id (parameters at least RFC 9106's
//! second recommendation, stored in the file) then XChaCha20-Poly1305.
//!
//! ```text
//! seif passphrase-protected share v1
//! custodian: alice
//! kdf: argon2id v=19 m=65536 t=3 p=4
//! salt: <32 hex>
//! nonce: <48 hex>
//! ---
//! <base64 of ciphertext || tag>
//! ```
//!
//! Everything up to and including the `---` line (with its newline) is the
//! associated data, so the parameters cannot be weakened unnoticed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Key, Tag, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::encoding::{from_hex, to_hex};
use crate::secrets::random_array;

/// First line of a passphrase-protected share.
pub const HEADER: &str = "seif passphrase-protected share v1";
/// Argon2id memory in KiB: 64 MiB (RFC 9106, second recommended option),
/// what seif writes and the least it accepts.
pub const MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes (RFC 9106, second recommended option): written, and
/// the least accepted.
pub const PASSES: u32 = 3;
/// Argon2id lanes (RFC 9106, second recommended option): written, and the
/// least accepted.
pub const LANES: u32 = 4;
/// The most memory a share file may ask for (1 GiB). A damaged or hostile
/// file must not make the laptop derive for minutes, or run out of
/// memory, at a passphrase prompt; the parameters are checked against
/// these bounds before any key is derived.
pub const MEMORY_KIB_MAX: u32 = 1024 * 1024;
/// The most passes a share file may ask for.
pub const PASSES_MAX: u32 = 10;
/// The most lanes a share file may ask for.
pub const LANES_MAX: u32 = 16;
/// The shortest passphrase accepted for a new share, in characters (after
/// NFC normalisation).
pub const MIN_PASSPHRASE_CHARS: usize = 12;
/// The largest passphrase file read.
pub const PASSPHRASE_FILE_MAX: usize = 4096;

/// Why a passphrase-protected share could not be made or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PassphraseError {
    /// Not a passphrase-protected share.
    #[error("not a seif passphrase-protected share: {0}")]
    Malformed(String),
    /// The KDF parameters are below the minimum or above the maximum.
    #[error(
        "the Argon2id parameters {0} are outside what seif accepts (m {MEMORY_KIB}..{MEMORY_KIB_MAX} KiB, t {PASSES}..{PASSES_MAX}, p {LANES}..{LANES_MAX})"
    )]
    Parameters(String),
    /// The passphrase is wrong (or the file was altered: the two cannot be
    /// told apart).
    #[error("wrong passphrase, or the share file was altered")]
    WrongPassphrase,
    /// A new passphrase is too short.
    #[error("the passphrase is shorter than {MIN_PASSPHRASE_CHARS} characters")]
    TooShort,
    /// A passphrase file is not one line of UTF-8 text.
    #[error("a passphrase file holds one line of UTF-8 text: {0}")]
    BadFile(&'static str),
}

/// The bytes Argon2id derives from: the passphrase in Unicode NFC. A
/// custodian who typed "õ" as one character at `init` on one system, and
/// as "o" plus a combining tilde on another, types the same passphrase;
/// the prompt and a `--passphrase-file` give the same bytes.
fn kdf_input(passphrase: &SecretString) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization;
    Zeroizing::new(passphrase.expose_secret().nfc().collect())
}

/// Whether a new passphrase is long enough ([`MIN_PASSPHRASE_CHARS`]
/// characters, counted as [`protect`] counts them).
pub fn long_enough(passphrase: &SecretString) -> bool {
    kdf_input(passphrase).chars().count() >= MIN_PASSPHRASE_CHARS
}

/// The passphrase a `--passphrase-file` holds, read as the prompt reads a
/// typed line: the text up to one final line end (`\n` or `\r\n`, which is
/// not part of the passphrase); spaces are kept as they are. A file with a
/// second line, or that is not UTF-8, is refused rather than guessed at.
pub fn from_file_text(bytes: &[u8]) -> Result<SecretString, PassphraseError> {
    if bytes.len() > PASSPHRASE_FILE_MAX {
        return Err(PassphraseError::BadFile("the file is larger than 4 KiB"));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| PassphraseError::BadFile("it is not UTF-8"))?;
    let line = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if line.contains(['\n', '\r']) {
        return Err(PassphraseError::BadFile(
            "it has more than one line (a passphrase ends at the first line end)",
        ));
    }
    Ok(SecretString::from(line.to_owned()))
}

struct Params {
    memory: u32,
    passes: u32,
    lanes: u32,
}

fn derive_key(
    passphrase: &SecretString,
    salt: &[u8; 16],
    p: &Params,
) -> Result<Zeroizing<[u8; 32]>, PassphraseError> {
    let params = argon2::Params::new(p.memory, p.passes, p.lanes, Some(32))
        .map_err(|e| PassphraseError::Parameters(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(kdf_input(passphrase).as_bytes(), salt, &mut key[..])
        .map_err(|e| PassphraseError::Parameters(e.to_string()))?;
    Ok(key)
}

fn header_text(custodian: &str, p: &Params, salt: &[u8; 16], nonce: &[u8; 24]) -> String {
    format!(
        "{HEADER}\ncustodian: {custodian}\nkdf: argon2id v=19 m={} t={} p={}\nsalt: {}\nnonce: {}\n---\n",
        p.memory,
        p.passes,
        p.lanes,
        to_hex(salt),
        to_hex(nonce)
    )
}

/// Seals a share's text under a passphrase.
pub fn protect(
    plaintext: &[u8],
    custodian: &str,
    passphrase: &SecretString,
) -> Result<Vec<u8>, PassphraseError> {
    if !long_enough(passphrase) {
        return Err(PassphraseError::TooShort);
    }
    seal(
        plaintext,
        custodian,
        passphrase,
        &random_array(),
        &random_array(),
    )
}

/// [`protect`] with a given salt and nonce (the test vector of FORMAT.md
/// 5.4 is made this way).
fn seal(
    plaintext: &[u8],
    custodian: &str,
    passphrase: &SecretString,
    salt: &[u8; 16],
    nonce: &[u8; 24],
) -> Result<Vec<u8>, PassphraseError> {
    let p = Params {
        memory: MEMORY_KIB,
        passes: PASSES,
        lanes: LANES,
    };
    let key = derive_key(passphrase, salt, &p)?;
    let head = header_text(custodian, &p, salt, nonce);
    let mut buf = Zeroizing::new(plaintext.to_vec());
    let aead = XChaCha20Poly1305::new(<&Key>::from(&*key));
    let tag = aead
        .encrypt_inout_detached(
            &XNonce::from(*nonce),
            head.as_bytes(),
            buf.as_mut_slice().into(),
        )
        .map_err(|_| PassphraseError::Malformed("too long".into()))?;
    let mut ct = buf.to_vec();
    ct.extend_from_slice(&tag);
    Ok(format!("{head}{}\n", STANDARD.encode(&ct)).into_bytes())
}

/// The custodian named in a passphrase-protected share, read before asking
/// for the passphrase (so the prompt can name them).
pub fn custodian_of(file: &[u8]) -> Option<String> {
    parse(file).ok().map(|p| p.custodian.to_owned())
}

/// A parsed passphrase-protected share file, before any key is derived.
pub struct Parsed<'a> {
    /// The custodian named in the header.
    pub custodian: &'a str,
    params: Params,
    salt: [u8; 16],
    nonce: [u8; 24],
    /// The header: the associated data.
    head: &'a str,
    ciphertext: Vec<u8>,
}

/// Parses a passphrase-protected share file strictly (cheap: no KDF).
pub fn parse(file: &[u8]) -> Result<Parsed<'_>, PassphraseError> {
    let bad = |m: &str| PassphraseError::Malformed(m.into());
    let text = std::str::from_utf8(file).map_err(|_| bad("not UTF-8 text"))?;
    let split = text.find("\n---\n").ok_or_else(|| bad("no '---' line"))? + 5;
    let (head, body) = text.split_at(split);
    let mut lines = head.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad("the first line is wrong"));
    }
    let custodian = lines
        .next()
        .and_then(|l| l.strip_prefix("custodian: "))
        .ok_or_else(|| bad("no custodian line"))?;
    // The label is shown at the passphrase prompt: it must follow
    // `--custodian`'s rule before anything displays it.
    crate::custody::check_label(custodian)
        .map_err(|_| bad("the custodian label is not a valid label (A-Z a-z 0-9 . _ -)"))?;
    let kdf = lines
        .next()
        .and_then(|l| l.strip_prefix("kdf: argon2id v=19 "))
        .ok_or_else(|| bad("no argon2id kdf line"))?;
    let mut nums = kdf.split(' ').map(|kv| {
        kv.split_once('=')
            .and_then(|(k, v)| Some((k, v.parse::<u32>().ok()?)))
    });
    let (Some(Some(("m", memory))), Some(Some(("t", passes))), Some(Some(("p", lanes))), None) =
        (nums.next(), nums.next(), nums.next(), nums.next())
    else {
        return Err(bad("the kdf line is malformed"));
    };
    // Before anything is derived: weaker than RFC 9106's second
    // recommendation is refused, and so is more work than a laptop can do
    // at a prompt.
    if !(MEMORY_KIB..=MEMORY_KIB_MAX).contains(&memory)
        || !(PASSES..=PASSES_MAX).contains(&passes)
        || !(LANES..=LANES_MAX).contains(&lanes)
    {
        return Err(PassphraseError::Parameters(format!(
            "m={memory} t={passes} p={lanes}"
        )));
    }
    let salt = from_hex::<16>(
        lines
            .next()
            .and_then(|l| l.strip_prefix("salt: "))
            .ok_or_else(|| bad("no salt line"))?,
    )
    .map_err(|_| bad("the salt is malformed"))?;
    let nonce = from_hex::<24>(
        lines
            .next()
            .and_then(|l| l.strip_prefix("nonce: "))
            .ok_or_else(|| bad("no nonce line"))?,
    )
    .map_err(|_| bad("the nonce is malformed"))?;
    let params = Params {
        memory,
        passes,
        lanes,
    };
    // The header must be exactly what we would write: one spelling only.
    if head != header_text(custodian, &params, &salt, &nonce) {
        return Err(bad("the header is not in canonical form"));
    }
    let ciphertext = crate::custody::sealed_body(body).map_err(bad)?;
    Ok(Parsed {
        custodian,
        params,
        salt,
        nonce,
        head,
        ciphertext,
    })
}

impl Parsed<'_> {
    /// Derives the key and opens the share.
    pub fn open(&self, passphrase: &SecretString) -> Result<Zeroizing<Vec<u8>>, PassphraseError> {
        let key = derive_key(passphrase, &self.salt, &self.params)?;
        let (msg, tag) = self.ciphertext.split_at(self.ciphertext.len() - 16);
        let mut buf = Zeroizing::new(msg.to_vec());
        let tag: [u8; 16] = tag.try_into().expect("16 bytes");
        XChaCha20Poly1305::new(<&Key>::from(&*key))
            .decrypt_inout_detached(
                &XNonce::from(self.nonce),
                self.head.as_bytes(),
                buf.as_mut_slice().into(),
                &Tag::from(tag),
            )
            .map_err(|_| PassphraseError::WrongPassphrase)?;
        Ok(buf)
    }
}

/// Opens a passphrase-protected share.
pub fn unprotect(
    file: &[u8],
    passphrase: &SecretString,
) -> Result<Zeroizing<Vec<u8>>, PassphraseError> {
    parse(file)?.open(passphrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FORMAT.md 5.4 vector: the share of custodian `alice` from the
    /// Shamir vector of 5.5, under the passphrase below (NFC), with salt
    /// 00..0f and nonce 10..27.
    fn format_md_vector() -> Vec<u8> {
        let share = "seif share v1\nvault: 0279ab54debb06b7daf96ea7d39bade282ba9cf444b1da9977b9c3f84678640e\nset: 00112233445566778899aabbccddeeff\ngeneration: 1\nindex: 1\nthreshold: 2\ncount: 3\ncustodian: alice\nvalue: fe89cd3033ab80299f9bdd6f75f6f0b37dedef303c05e00db240300651a2186c\n";
        let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
        let nonce: [u8; 24] = std::array::from_fn(|i| 0x10 + i as u8);
        seal(
            share.as_bytes(),
            "alice",
            &SecretString::from("k\u{f5}ik on h\u{e4}sti, T\u{f5}nis"),
            &salt,
            &nonce,
        )
        .unwrap()
    }

    /// FORMAT.md states exactly what this code writes for its vector (on
    /// failure, the message shows the file to put in FORMAT.md 5.4).
    #[test]
    fn format_md_states_the_passphrase_share_vector() {
        let spec = include_str!("../../FORMAT.md");
        let file = String::from_utf8(format_md_vector()).unwrap();
        assert!(
            spec.contains(&format!("```text\n{file}```")),
            "FORMAT.md does not state this vector:\n{file}"
        );
    }

    #[test]
    fn round_trip_wrong_passphrase_and_tampering() {
        let pass = SecretString::from("correct horse battery staple");
        let file = protect(b"seif share v1\n...", "alice", &pass).unwrap();
        assert_eq!(custodian_of(&file).as_deref(), Some("alice"));
        assert_eq!(&unprotect(&file, &pass).unwrap()[..], b"seif share v1\n...");
        assert_eq!(
            unprotect(&file, &SecretString::from("wrong horse battery staple")).err(),
            Some(PassphraseError::WrongPassphrase)
        );
        let text = String::from_utf8(file.clone()).unwrap();
        // Stronger-looking but altered parameters change the AAD.
        let altered = text.replace("t=3", "t=4");
        assert_eq!(
            unprotect(altered.as_bytes(), &pass).err(),
            Some(PassphraseError::WrongPassphrase)
        );
        let renamed = text.replace("custodian: alice", "custodian: mallory");
        assert_eq!(
            unprotect(renamed.as_bytes(), &pass).err(),
            Some(PassphraseError::WrongPassphrase)
        );
        assert!(unprotect(&file[..file.len() - 20], &pass).is_err());
        assert_eq!(
            protect(b"x", "a", &SecretString::from("short")).err(),
            Some(PassphraseError::TooShort)
        );
    }

    /// A share file states its own Argon2id parameters. Each one below RFC
    /// 9106's second recommendation, or above what a laptop can afford at
    /// a prompt, is refused by the parser: before any key is derived.
    #[test]
    fn kdf_parameters_are_bounded_before_deriving() {
        let pass = SecretString::from("correct horse battery staple");
        let text = String::from_utf8(protect(b"x", "alice", &pass).unwrap()).unwrap();
        let with = |m: u32, t: u32, p: u32| {
            text.replace(
                "kdf: argon2id v=19 m=65536 t=3 p=4",
                &format!("kdf: argon2id v=19 m={m} t={t} p={p}"),
            )
        };
        let refused = [
            (MEMORY_KIB - 1, PASSES, LANES),
            (MEMORY_KIB, PASSES - 1, LANES),
            (MEMORY_KIB, PASSES, LANES - 1),
            (MEMORY_KIB, PASSES, 1),
            (MEMORY_KIB_MAX + 1, PASSES, LANES),
            (MEMORY_KIB, PASSES_MAX + 1, LANES),
            (MEMORY_KIB, PASSES, LANES_MAX + 1),
            (4 * 1024 * 1024, 64, 64),
        ];
        for (m, t, p) in refused {
            let started = std::time::Instant::now();
            assert_eq!(
                unprotect(with(m, t, p).as_bytes(), &pass).err(),
                Some(PassphraseError::Parameters(format!("m={m} t={t} p={p}"))),
                "m={m} t={t} p={p}"
            );
            assert!(started.elapsed() < std::time::Duration::from_millis(50));
        }
        // The bounds themselves parse (the AAD then differs, so they would
        // fail only when opened).
        for (m, t, p) in [
            (MEMORY_KIB_MAX, PASSES_MAX, LANES_MAX),
            (MEMORY_KIB, PASSES, LANES),
        ] {
            assert!(parse(with(m, t, p).as_bytes()).is_ok(), "m={m} t={t} p={p}");
        }
        assert_eq!(
            PassphraseError::Parameters("m=1 t=1 p=1".into()).to_string(),
            "the Argon2id parameters m=1 t=1 p=1 are outside what seif accepts (m 65536..1048576 KiB, t 3..10, p 4..16)"
        );
    }

    /// A label read from a share file is shown at the prompt: one outside
    /// `--custodian`'s rule is refused when the file is parsed.
    #[test]
    fn a_planted_label_is_refused_before_display() {
        let pass = SecretString::from("correct horse battery staple");
        let text = String::from_utf8(protect(b"x", "alice", &pass).unwrap()).unwrap();
        for label in ["al\x1b[2Jice", "a b", "\u{202e}alice", ""] {
            let planted = text.replace("custodian: alice", &format!("custodian: {label}"));
            assert_eq!(
                parse(planted.as_bytes()).err(),
                Some(PassphraseError::Malformed(
                    "the custodian label is not a valid label (A-Z a-z 0-9 . _ -)".into()
                )),
                "{label:?}"
            );
        }
    }

    /// The passphrase is the same text whether typed at the prompt (one
    /// line, its line end removed) or read from a file, and in whatever
    /// Unicode normal form it was typed.
    #[test]
    fn prompt_file_and_normal_forms_agree() {
        let composed = SecretString::from("T\u{f5}nis \u{d5}un ja kass");
        let decomposed = SecretString::from("To\u{303}nis O\u{303}un ja kass");
        let file = protect(b"share", "tonis", &composed).unwrap();
        assert_eq!(&unprotect(&file, &decomposed).unwrap()[..], b"share");
        for text in [
            &b"To\xcc\x83nis O\xcc\x83un ja kass"[..],
            b"T\xc3\xb5nis \xc3\x95un ja kass\n",
            b"T\xc3\xb5nis \xc3\x95un ja kass\r\n",
        ] {
            let p = from_file_text(text).unwrap();
            assert_eq!(&unprotect(&file, &p).unwrap()[..], b"share", "{text:?}");
        }
        // Spaces are part of the passphrase; a second line is refused.
        let spaced = from_file_text(b"T\xc3\xb5nis \xc3\x95un ja kass \n").unwrap();
        assert_eq!(
            unprotect(&file, &spaced).err(),
            Some(PassphraseError::WrongPassphrase)
        );
        assert!(matches!(
            from_file_text(b"first line\nsecond line\n"),
            Err(PassphraseError::BadFile(_))
        ));
        assert!(matches!(
            from_file_text(b"\xff\xfe"),
            Err(PassphraseError::BadFile(_))
        ));
        // The length rule counts characters after normalisation.
        assert!(long_enough(&SecretString::from("o\u{303}".repeat(12))));
        assert!(!long_enough(&SecretString::from("o\u{303}".repeat(11))));
    }
}
