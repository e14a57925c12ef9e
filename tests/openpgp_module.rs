//! The OpenPGP custody module against the real GnuPG (`gpg`, 2.2 expected).
//! The end-to-end ceremony with GnuPG custodians is in `ceremony_gpg.rs`.
//! Each test runs gpg in its own temporary GNUPGHOME.
//!
//! Always compiled: this package's dev-dependency on the library turns its
//! `openpgp` feature on for every test build (Cargo.toml), so no way of
//! running `cargo test` turns this suite into nothing.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use secrecy::SecretString;
use seif::custody::PASSPHRASE_ATTEMPTS;
use seif::custody::openpgp::{
    Certificate, KeyPrompt, PgpError, decrypt, generate_key, looks_like_message,
};
use std::io::Write;

const SECRET: &[u8] = b"seif share 1-of-3: \x00\x01\x02\xff binary-safe \xe2\x9c\x93\n";

/// A throwaway GnuPG home; its agent is killed on drop so tests do not
/// leave daemons behind.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("gpgt")
            .tempdir()
            .expect("tempdir");
        // gpg warns about (and some versions refuse) a group/world
        // readable home.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod 700");
        Gpg { home }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    fn raw(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .arg("--batch")
            .arg("--no-tty")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg must be installed");
        {
            let mut input = child.stdin.take().expect("stdin");
            if let Some(data) = stdin {
                input.write_all(data).expect("write gpg stdin");
            }
        }
        child.wait_with_output().expect("gpg output")
    }

    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
        let out = self.raw(args, stdin);
        assert!(
            out.status.success(),
            "gpg {:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn gen_key(&self, uid: &str, algo: &str, usage: &str, expire: &str, passphrase: &str) {
        self.ok(
            &[
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
                "--quick-gen-key",
                uid,
                algo,
                usage,
                expire,
            ],
            None,
        );
    }

    /// Primary fingerprint and encryption-subkey key ids, from gpg itself.
    fn colons(&self, who: &str) -> (String, Vec<String>) {
        let out = String::from_utf8(self.ok(&["--with-colons", "--fingerprint", who], None))
            .expect("utf8");
        let mut fpr = None;
        let mut enc_subkeys = Vec::new();
        for line in out.lines() {
            let f: Vec<&str> = line.split(':').collect();
            match f[0] {
                "fpr" if fpr.is_none() => fpr = Some(f[9].to_string()),
                "sub" if f[11].contains('e') => enc_subkeys.push(f[4].to_string()),
                _ => {}
            }
        }
        (fpr.expect("gpg printed a fingerprint"), enc_subkeys)
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).expect("write file");
        p
    }

    fn decrypt_file(&self, file: &Path, passphrase: Option<&str>) -> Output {
        let file = file.to_str().expect("utf8 path");
        match passphrase {
            Some(p) => self.raw(
                &[
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    p,
                    "--decrypt",
                    file,
                ],
                None,
            ),
            None => self.raw(&["--decrypt", file], None),
        }
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn never_asked(prompt: &KeyPrompt) -> Result<SecretString, PgpError> {
    panic!(
        "passphrase must not be requested, but got prompt {:?}",
        prompt.text
    );
}

fn alice() -> (Gpg, Certificate) {
    let gpg = Gpg::new();
    gpg.gen_key(
        "Alice <alice@example.org>",
        "default",
        "default",
        "never",
        "",
    );
    let cert = gpg.ok(&["--export", "--armor", "alice@example.org"], None);
    let cert = Certificate::from_bytes(&cert).expect("gpg cert accepted");
    (gpg, cert)
}

// 1. Our encryption, gpg decryption; fingerprint agrees with gpg.
#[test]
fn gpg_decrypts_what_we_encrypt() {
    let (gpg, cert) = alice();
    let (fpr, _) = gpg.colons("alice@example.org");
    assert_eq!(cert.fingerprint(), fpr);
    assert_eq!(cert.fingerprint().len(), 40);
    assert_eq!(
        cert.primary_user_id().as_deref(),
        Some("Alice <alice@example.org>")
    );
    assert!(
        !cert.supports_seipdv2(),
        "GnuPG 2.2 keys never advertise SEIPDv2"
    );

    let msg = cert.encrypt(SECRET).expect("encrypt");
    assert!(msg.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    assert!(looks_like_message(&msg));

    let file = gpg.write("msg.asc", &msg);
    let out = gpg.decrypt_file(&file, None);
    assert!(
        out.status.success(),
        "gpg --decrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, SECRET);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("WARNING"), "{stderr}");
    assert!(!stderr.contains("invalid radix64"), "{stderr}");

    // SEIPDv1 with MDC, uncompressed, addressed by key id.
    let packets =
        String::from_utf8_lossy(&gpg.ok(&["--list-packets", file.to_str().expect("utf8")], None))
            .into_owned();
    assert!(packets.contains("mdc_method: 2"), "{packets}");
    assert!(!packets.contains("compressed packet"), "{packets}");
}

// 2. gpg's unprotected secret key decrypts our message.
#[test]
fn we_decrypt_with_gpg_unprotected_secret_key() {
    let (gpg, cert) = alice();
    let tsk = gpg.ok(&["--export-secret-keys", "--armor"], None);
    let msg = cert.encrypt(SECRET).expect("encrypt");
    let plain = decrypt(&tsk, &msg, &mut never_asked).expect("decrypt");
    assert_eq!(&plain[..], SECRET);

    // The binary form works too.
    let tsk_bin = gpg.ok(&["--export-secret-keys"], None);
    let msg_bin = gpg.ok(&["--dearmor"], Some(&msg));
    assert!(looks_like_message(&msg_bin));
    let plain = decrypt(&tsk_bin, &msg_bin, &mut never_asked).expect("decrypt binary");
    assert_eq!(&plain[..], SECRET);

    // gpg's own encryption (ZLIB-compressed by default for gpg keys).
    let gpg_msg = gpg.ok(
        &[
            "--trust-model",
            "always",
            "--encrypt",
            "--recipient",
            "alice@example.org",
        ],
        Some(SECRET),
    );
    let packets =
        String::from_utf8_lossy(&gpg.ok(&["--list-packets"], Some(&gpg_msg))).into_owned();
    assert!(packets.contains("compressed packet"), "{packets}");
    let plain = decrypt(&tsk, &gpg_msg, &mut never_asked).expect("decrypt gpg message");
    assert_eq!(&plain[..], SECRET);

    // A cert built from the TSK keeps only the public part and is usable.
    let from_tsk = Certificate::from_bytes(&tsk).expect("TSK accepted as certificate");
    assert_eq!(from_tsk.fingerprint(), cert.fingerprint());
}

// 3. Passphrase-protected gpg key: three wrong tries fail, the right one works.
#[test]
fn passphrase_protected_gpg_key() {
    let gpg = Gpg::new();
    let pass = "correct horse battery staple";
    gpg.gen_key("Bob <bob@example.org>", "default", "default", "never", pass);
    let (fpr, _) = gpg.colons("bob@example.org");
    let cert = Certificate::from_bytes(&gpg.ok(&["--export", "--armor"], None)).expect("cert");
    let tsk = gpg.ok(
        &[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            pass,
            "--export-secret-keys",
            "--armor",
        ],
        None,
    );
    let msg = cert.encrypt(SECRET).expect("encrypt");

    let prompts = RefCell::new(Vec::new());
    let mut wrong = |prompt: &KeyPrompt| {
        prompts.borrow_mut().push(prompt.text.clone());
        Ok(SecretString::from("wrong".to_string()))
    };
    let err = match decrypt(&tsk, &msg, &mut wrong) {
        Err(e) => e,
        Ok(_) => panic!("wrong passphrase decrypted"),
    };
    assert!(matches!(err, PgpError::WrongPassphrase), "{err:?}");
    assert_eq!(prompts.borrow().len(), PASSPHRASE_ATTEMPTS);
    assert!(prompts.borrow()[0].contains(&fpr), "{:?}", prompts.borrow());
    assert!(prompts.borrow()[0].contains("Bob <bob@example.org>"));

    let mut calls = 0;
    let mut third_time_lucky = |_: &KeyPrompt| {
        calls += 1;
        let p = if calls == 3 { pass } else { "nope" };
        Ok(SecretString::from(p.to_string()))
    };
    let plain = decrypt(&tsk, &msg, &mut third_time_lucky).expect("right passphrase");
    assert_eq!(&plain[..], SECRET);
    assert_eq!(calls, 3);

    // A callback that gives up ends the attempt at once with its reason.
    let mut cancel = |_: &KeyPrompt| {
        Err(PgpError::PassphraseUnavailable(
            "user cancelled".to_string(),
        ))
    };
    let err = match decrypt(&tsk, &msg, &mut cancel) {
        Err(e) => e,
        Ok(_) => panic!("decrypted without passphrase"),
    };
    assert!(matches!(err, PgpError::PassphraseUnavailable(_)), "{err:?}");
}

fn check_generated(passphrase: Option<&str>) {
    let secret = passphrase.map(|p| SecretString::from(p.to_string()));
    let (public, tsk) =
        generate_key("Carol <carol@example.org>", secret.as_ref()).expect("generate_key");
    let cert = Certificate::from_bytes(&public).expect("generated cert accepted");
    assert!(!cert.supports_seipdv2());
    assert_eq!(
        cert.primary_user_id().as_deref(),
        Some("Carol <carol@example.org>")
    );

    let gpg = Gpg::new();
    gpg.ok(&["--import"], Some(&public));
    let (fpr, enc) = gpg.colons("carol@example.org");
    assert_eq!(fpr, cert.fingerprint());
    assert_eq!(enc.len(), 1, "one encryption subkey");

    // Features subpacket: SEIPDv1 (0x01) only; no SEIPDv2 (0x08), no
    // LibrePGP AEAD (0x02).
    let packets = String::from_utf8_lossy(&gpg.ok(&["--list-packets"], Some(&public))).into_owned();
    assert!(packets.contains("(features: 01)"), "{packets}");
    assert!(packets.contains("version 4"), "{packets}");

    let mut import = vec!["--pinentry-mode", "loopback"];
    if let Some(p) = passphrase {
        import.extend(["--passphrase", p]);
    }
    import.push("--import");
    gpg.ok(&import, Some(&tsk));

    let msg = cert.encrypt(SECRET).expect("encrypt");
    let file = gpg.write("msg.asc", &msg);
    let out = gpg.decrypt_file(&file, Some(passphrase.unwrap_or("")));
    assert!(
        out.status.success(),
        "gpg --decrypt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, SECRET);

    let asked = RefCell::new(0);
    let mut ask = |_: &KeyPrompt| {
        *asked.borrow_mut() += 1;
        Ok(SecretString::from(passphrase.unwrap_or("").to_string()))
    };
    let plain = decrypt(&tsk, &msg, &mut ask).expect("decrypt");
    assert_eq!(&plain[..], SECRET);
    assert_eq!(*asked.borrow(), usize::from(passphrase.is_some()));

    // gpg's own (default: compressed) encryption to the generated key.
    let gpg_msg = gpg.ok(
        &[
            "--trust-model",
            "always",
            "--armor",
            "--encrypt",
            "--recipient",
            "carol@example.org",
        ],
        Some(SECRET),
    );
    let plain = decrypt(&tsk, &gpg_msg, &mut ask).expect("decrypt gpg message");
    assert_eq!(&plain[..], SECRET);
}

// 4a. generate_key without passphrase: gpg and we both decrypt.
#[test]
fn generated_key_unprotected() {
    check_generated(None);
}

// 4b. generate_key with passphrase: gpg and we both decrypt.
#[test]
fn generated_key_protected() {
    check_generated(Some("s3cret pass"));
}

// 5a. A message to another key names its recipient key id.
#[test]
fn message_for_another_key() {
    let gpg = Gpg::new();
    gpg.gen_key(
        "Alice <alice@example.org>",
        "default",
        "default",
        "never",
        "",
    );
    gpg.gen_key("Dave <dave@example.org>", "default", "default", "never", "");
    let alice_tsk = gpg.ok(&["--export-secret-keys", "alice@example.org"], None);
    let dave = Certificate::from_bytes(&gpg.ok(&["--export", "dave@example.org"], None))
        .expect("dave cert");
    let (_, dave_subkeys) = gpg.colons("dave@example.org");
    let msg = dave.encrypt(SECRET).expect("encrypt");
    match decrypt(&alice_tsk, &msg, &mut never_asked) {
        Err(PgpError::NotForThisKey { recipients }) => {
            assert_eq!(recipients, dave_subkeys);
            let text = PgpError::NotForThisKey { recipients }.to_string();
            assert!(text.contains(&dave_subkeys[0]), "{text}");
        }
        Err(e) => panic!("expected NotForThisKey, got {e:?}"),
        Ok(_) => panic!("decrypted with the wrong key"),
    }
}

// 5b. No flipped byte anywhere yields plaintext.
#[test]
fn flipped_bytes_never_decrypt() {
    let (gpg, cert) = alice();
    let tsk = gpg.ok(&["--export-secret-keys"], None);
    let msg = cert.encrypt(SECRET).expect("encrypt");
    let bin = gpg.ok(&["--dearmor"], Some(&msg));

    let mut integrity = 0;
    for i in 0..bin.len() {
        let mut bad = bin.clone();
        bad[i] ^= 0x01;
        match decrypt(&tsk, &bad, &mut never_asked) {
            Ok(p) => panic!("flip at {i} of {} decrypted to {:?}", bin.len(), &p[..]),
            Err(PgpError::Integrity(_)) => integrity += 1,
            Err(e) => {
                if std::env::var_os("SHOW_FLIPS").is_some() {
                    eprintln!("flip {i}: {e}");
                }
            }
        }
    }
    // Flips in the encrypted body must be caught by the MDC.
    assert!(integrity > 0);

    // Same in the armored text (mid-body character).
    let mut bad = msg.clone();
    let mid = bad.len() / 2;
    bad[mid] = if bad[mid] == b'A' { b'B' } else { b'A' };
    assert!(decrypt(&tsk, &bad, &mut never_asked).is_err());
}

// 5c. A signing-only gpg key is refused for encryption.
#[test]
fn sign_only_cert_is_refused() {
    let gpg = Gpg::new();
    gpg.gen_key("Erin <erin@example.org>", "ed25519", "sign", "never", "");
    let cert = gpg.ok(&["--export", "--armor"], None);
    let err = Certificate::from_bytes(&cert).expect_err("no encryption key");
    assert!(matches!(err, PgpError::NoEncryptionKey { .. }), "{err:?}");
}

#[test]
fn revoked_cert_is_refused() {
    let (gpg, cert) = alice();
    let fpr = cert.fingerprint();
    let rev = std::fs::read_to_string(gpg.path(&format!("openpgp-revocs.d/{fpr}.rev")))
        .expect("gpg stores a revocation certificate");
    // gpg prefixes the armor line with ':' to prevent accidental import.
    let rev = rev.replace(
        ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    );
    gpg.ok(&["--import"], Some(rev.as_bytes()));
    let revoked = gpg.ok(&["--export", "--armor"], None);
    let err = Certificate::from_bytes(&revoked).expect_err("revoked");
    assert!(matches!(err, PgpError::Revoked { .. }), "{err:?}");
}

#[test]
fn expired_cert_is_refused() {
    let gpg = Gpg::new();
    // Made "in 2020" with a one-year lifetime, so expired now.
    gpg.ok(
        &[
            "--faked-system-time",
            "20200101T000000!",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Frank <frank@example.org>",
            "default",
            "default",
            "1y",
        ],
        None,
    );
    let cert = gpg.ok(&["--export", "--armor"], None);
    let err = Certificate::from_bytes(&cert).expect_err("expired");
    assert!(matches!(err, PgpError::Expired { .. }), "{err:?}");
}

#[test]
fn unprotected_and_unencrypted_messages_are_refused() {
    let (gpg, _cert) = alice();
    let tsk = gpg.ok(&["--export-secret-keys"], None);

    // Legacy SED container without MDC.
    let sed = gpg.ok(
        &[
            "--rfc2440",
            "--trust-model",
            "always",
            "--encrypt",
            "--recipient",
            "alice@example.org",
        ],
        Some(SECRET),
    );
    let err = decrypt(&tsk, &sed, &mut never_asked).expect_err("SED refused");
    assert!(matches!(err, PgpError::NoIntegrityProtection), "{err:?}");

    // A bare literal packet.
    let stored = gpg.ok(&["--store"], Some(SECRET));
    let err = decrypt(&tsk, &stored, &mut never_asked).expect_err("plain refused");
    assert!(matches!(err, PgpError::NotEncrypted), "{err:?}");
}

#[test]
fn key_file_problems() {
    let (gpg, cert) = alice();
    let msg = cert.encrypt(SECRET).expect("encrypt");
    let public = gpg.ok(&["--export"], None);
    let err = decrypt(&public, &msg, &mut never_asked).expect_err("public only");
    assert!(matches!(err, PgpError::NoSecretKey(_)), "{err:?}");

    let err = decrypt(b"garbage", &msg, &mut never_asked).expect_err("garbage");
    assert!(matches!(err, PgpError::NotACertificate(_)), "{err:?}");

    let err = Certificate::from_bytes(b"not a key").expect_err("garbage cert");
    assert!(matches!(err, PgpError::NotACertificate(_)), "{err:?}");

    gpg.gen_key("Gina <gina@example.org>", "default", "default", "never", "");
    let two = gpg.ok(&["--export"], None);
    let err = Certificate::from_bytes(&two).expect_err("two certs");
    assert!(matches!(err, PgpError::MultipleCertificates(2)), "{err:?}");

    // A keyring holding several secret keys is fine for decryption.
    let both = gpg.ok(&["--export-secret-keys"], None);
    let plain = decrypt(&both, &msg, &mut never_asked).expect("keyring");
    assert_eq!(&plain[..], SECRET);
}

#[test]
fn sniffing() {
    let (gpg, cert) = alice();
    let msg = cert.encrypt(SECRET).expect("encrypt");
    assert!(looks_like_message(&msg));
    let mut padded = b"\n  ".to_vec();
    padded.extend_from_slice(&msg);
    assert!(looks_like_message(&padded));
    assert!(looks_like_message(&gpg.ok(&["--dearmor"], Some(&msg))));
    assert!(!looks_like_message(&gpg.ok(&["--export", "--armor"], None)));
    assert!(!looks_like_message(&gpg.ok(&["--export"], None)));
    assert!(!looks_like_message(
        b"age-encryption.org/v1\n-> X25519 abc\n"
    ));
    assert!(!looks_like_message(b""));
    assert!(!looks_like_message(&[0x84]));
    assert!(!looks_like_message(&[0xC1, 0x05]));
}

// gnu-dummy stubs: an offline primary is fine, a stubbed encryption subkey
// (secret on a smartcard or deleted) is reported as missing secret material.
#[test]
fn gnu_dummy_stubs() {
    let (gpg, cert) = alice();
    let msg = cert.encrypt(SECRET).expect("encrypt");

    let subkeys_only = gpg.ok(&["--export-secret-subkeys"], None);
    let plain = decrypt(&subkeys_only, &msg, &mut never_asked).expect("offline primary");
    assert_eq!(&plain[..], SECRET);

    let out = String::from_utf8(gpg.ok(&["--with-colons", "--fingerprint"], None)).expect("utf8");
    let sub_fpr = out
        .lines()
        .filter(|l| l.starts_with("fpr:"))
        .nth(1)
        .and_then(|l| l.split(':').nth(9))
        .expect("subkey fingerprint")
        .to_string();
    gpg.ok(
        &["--yes", "--delete-secret-keys", &format!("{sub_fpr}!")],
        None,
    );
    let stubbed = gpg.ok(&["--export-secret-keys"], None);
    let err = decrypt(&stubbed, &msg, &mut never_asked).expect_err("stubbed subkey");
    assert!(matches!(err, PgpError::NoSecretKey(_)), "{err:?}");
}

// Why the SEIPDv1 rule matters: a cert that advertises SEIPDv2 gets a
// SEIPDv2 message, which we read but GnuPG 2.2 cannot.
#[test]
fn seipdv2_only_when_advertised() {
    use sequoia_openpgp::cert::prelude::*;
    use sequoia_openpgp::serialize::SerializeInto;

    let (sq_cert, _) = CertBuilder::general_purpose(Some("Henry <henry@example.org>"))
        .set_cipher_suite(CipherSuite::Cv25519)
        .generate()
        .expect("sequoia key");
    let public = sq_cert.armored().to_vec().expect("armor");
    let tsk = sq_cert.as_tsk().armored().to_vec().expect("armor");
    let cert = Certificate::from_bytes(&public).expect("cert");
    assert!(cert.supports_seipdv2());
    let msg = cert.encrypt(SECRET).expect("encrypt");
    let plain = decrypt(&tsk, &msg, &mut never_asked).expect("we read SEIPDv2");
    assert_eq!(&plain[..], SECRET);

    let gpg = Gpg::new();
    gpg.ok(&["--pinentry-mode", "loopback", "--import"], Some(&tsk));
    let file = gpg.write("v2.asc", &msg);
    let out = gpg.decrypt_file(&file, Some(""));
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("gpg on SEIPDv2: {stderr}");
    assert!(!out.status.success() && out.stdout != SECRET, "{stderr}");
}
