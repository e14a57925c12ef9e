//! The committed test vectors (`tests/vectors/`), run through the library,
//! the `seif` binary, and `tests/spec/decrypt.py` (a decryptor written from
//! FORMAT.md alone, using the age CLI and PyNaCl).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use seif::sealed::open::{OpenError, OpenOptions, Opener};
use sha2::{Digest, Sha256};

struct Vector {
    path: PathBuf,
    expect: String,
    content_len: Option<u64>,
    content_sha256: Option<String>,
    identity: String,
    sealed: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sealed");
    let mut out: Vec<Vector> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vector"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let split = bytes
                .windows(2)
                .position(|w| w == b"\n\n")
                .expect("header ends with a blank line");
            let head = std::str::from_utf8(&bytes[..split]).unwrap();
            let field = |k: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::to_owned))
            };
            assert!(head.starts_with("seif test vector\n"));
            Vector {
                expect: field("expect").expect("expect:"),
                content_len: field("content-length").map(|s| s.parse().unwrap()),
                content_sha256: field("content-sha256"),
                identity: field("identity").expect("identity:"),
                sealed: bytes[split + 2..].to_vec(),
                path,
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    assert!(out.len() >= 15, "the vectors are missing");
    out
}

fn outcome(e: &OpenError) -> &'static str {
    match e {
        OpenError::Format(_) => "header failure",
        OpenError::Unwrap(_) => "unwrap failure",
        OpenError::Chunk { .. } | OpenError::AfterLast { .. } => "payload failure",
        OpenError::Truncated(_) => "truncated",
        OpenError::BadSignature | OpenError::SignatureRemoved => "signature failure",
        _ => "other failure",
    }
}

#[test]
fn vectors_through_the_library() {
    for v in vectors() {
        let identity: age::x25519::Identity = v.identity.parse().unwrap();
        let result = (|| {
            let opener = Opener::new(&v.sealed[..])?;
            let key = opener.unwrap_key(&[&identity])?;
            let mut out = Vec::new();
            opener.decrypt_to(&key, &mut out, &OpenOptions { threads: 2 })?;
            Ok::<_, OpenError>(out)
        })();
        match result {
            Ok(out) => {
                assert_eq!(v.expect, "success", "{}", v.path.display());
                assert_eq!(Some(out.len() as u64), v.content_len);
                assert_eq!(
                    Some(hex::encode(Sha256::digest(&out))),
                    v.content_sha256,
                    "{}",
                    v.path.display()
                );
            }
            Err(e) => assert_eq!(outcome(&e), v.expect, "{}: {e}", v.path.display()),
        }
    }
}

#[test]
fn vectors_through_the_binary() {
    let work = tempfile::tempdir().unwrap();
    for (i, v) in vectors().into_iter().enumerate() {
        let id = work.path().join(format!("id-{i}"));
        std::fs::write(&id, format!("{}\n", v.identity)).unwrap();
        let input = work.path().join(format!("in-{i}"));
        std::fs::write(&input, &v.sealed).unwrap();
        let out = work.path().join(format!("out-{i}"));
        let o = run(seif()
            .args(["open", "--identity"])
            .arg(&id)
            .arg("-o")
            .arg(&out)
            .arg(&input));
        if v.expect == "success" {
            ok(&o);
            assert_eq!(
                Some(hex::encode(Sha256::digest(std::fs::read(&out).unwrap()))),
                v.content_sha256
            );
        } else {
            assert_eq!(
                o.status.code(),
                Some(3),
                "{}: {}",
                v.path.display(),
                stderr(&o)
            );
            assert!(!out.exists());
        }
    }
}

/// The spec decryptor needs python3 with PyNaCl and the age CLI. `.ci/run`
/// installs them and sets SEIF_REQUIRE_SPEC_TOOLS=1, so CI never skips this.
fn spec_tools_available() -> bool {
    let have = std::process::Command::new("python3")
        .args(["-c", "import nacl"])
        .output()
        .is_ok_and(|o| o.status.success())
        && std::process::Command::new("age")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("SEIF_REQUIRE_SPEC_TOOLS").is_none(),
            "SEIF_REQUIRE_SPEC_TOOLS is set but python3+PyNaCl or the age CLI is missing"
        );
        eprintln!(
            "SKIPPED: the FORMAT.md decryptor needs python3 with PyNaCl and the age CLI (run scripts/test to install them)"
        );
    }
    have
}

#[test]
fn vectors_through_the_spec_decryptor() {
    if !spec_tools_available() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/decrypt.py");
    let work = tempfile::tempdir().unwrap();
    for (i, v) in vectors().into_iter().enumerate() {
        let id = work.path().join(format!("id-{i}"));
        std::fs::write(&id, format!("{}\n", v.identity)).unwrap();
        let o = run(std::process::Command::new("python3")
            .arg(&script)
            .arg(&id)
            .arg(&v.path));
        if v.expect == "success" {
            ok(&o);
            assert_eq!(
                Some(hex::encode(Sha256::digest(&o.stdout))),
                v.content_sha256,
                "{}",
                v.path.display()
            );
        } else {
            assert_eq!(
                o.status.code(),
                Some(3),
                "{}: {}",
                v.path.display(),
                stderr(&o)
            );
            assert!(o.stdout.is_empty());
        }
    }
}

/// Files sealed now by the binary (parallel, padded, with metadata) also
/// open with the spec decryptor.
#[test]
fn fresh_seals_open_with_the_spec_decryptor() {
    if !spec_tools_available() {
        return;
    }
    let v = test_vault("spec");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/decrypt.py");
    for (len, pad) in [(0usize, false), (200_000, true), (1 << 20, false)] {
        let input = v.dir.path().join(format!("in-{len}"));
        let data = content(len, 5);
        std::fs::write(&input, &data).unwrap();
        let sealed = v.dir.path().join(format!("sealed-{len}"));
        let mut cmd = seif();
        cmd.args(["seal", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&v.sealer_key)
            .arg("-o")
            .arg(&sealed)
            .arg(&input);
        if pad {
            cmd.arg("--pad");
        }
        ok(&run(&mut cmd));
        let o = run(std::process::Command::new("python3")
            .arg(&script)
            .arg(&v.identity)
            .arg(&sealed));
        ok(&o);
        assert_eq!(o.stdout, data);
    }
}

/// FORMAT.md publishes the keys derived from the test vault secret
/// 00 01 … 1f; this keeps the document and the code in step.
#[test]
fn format_md_key_derivation_vectors_hold() {
    let mut s = [0u8; 32];
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    let keys = seif::keys::VaultKeys::derive(&seif::secrets::VaultSecret::from_bytes(
        zeroize::Zeroizing::new(s),
    ));
    let public = keys.public();
    let format =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("FORMAT.md")).unwrap();
    let expected = [
        keys.age_identity_text().to_string(),
        public.age_recipient.clone(),
        hex::encode(public.signing_key.as_bytes()),
        hex::encode(seif::descriptor::vault_id_of(&public.signing_key)),
    ];
    for value in expected {
        assert!(format.contains(&value), "FORMAT.md does not state {value}");
    }
}

/// From shares to plaintext with no seif code: the `age` CLI decrypts three
/// custodians' shares, `tests/spec/combine.py` (written from FORMAT.md)
/// rebuilds the vault identity, and `decrypt.py` opens a sealed file with it.
#[test]
fn shares_to_plaintext_from_the_spec_alone() {
    if !spec_tools_available() {
        return;
    }
    let v = age_vault(5, 3);
    let sealed = v.seal("registry.seif", &content(150_000, 3));
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec");
    let mut decrypted = Vec::new();
    for i in [0, 2, 4] {
        let o = run(std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&v.identities[i])
            .arg(v.share_file(i)));
        ok(&o);
        let p = v.dir.path().join(format!("share-{i}.txt"));
        std::fs::write(&p, &o.stdout).unwrap();
        decrypted.push(p);
    }
    let o = run(std::process::Command::new("python3")
        .arg(spec.join("combine.py"))
        .args(&decrypted));
    ok(&o);
    let identity = v.dir.path().join("vault-identity.txt");
    std::fs::write(&identity, &o.stdout).unwrap();
    let o = run(std::process::Command::new("python3")
        .arg(spec.join("decrypt.py"))
        .arg(&identity)
        .arg(&sealed));
    ok(&o);
    assert_eq!(o.stdout, content(150_000, 3));
    // Two shares are not enough, even for the independent code.
    let o = run(std::process::Command::new("python3")
        .arg(spec.join("combine.py"))
        .args(&decrypted[..2]));
    fails_with(&o, 3, "2 shares, 3 needed");
}
