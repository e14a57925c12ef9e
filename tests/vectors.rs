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
/// installs them and sets SEIF_CI, under which a skip fails.
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
        skip(
            "the FORMAT.md decryptor needs python3 with PyNaCl and the age CLI (run scripts/test to install them)",
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

/// `tests/vectors/kdf.txt` holds the keys derived from the test vault
/// secret 00 01 … 1f: the library must derive exactly those from the
/// secret the file states, and FORMAT.md (section 1.1) must state them.
#[test]
fn format_md_key_derivation_vectors_hold() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/kdf.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("seif key-derivation vector"));
    let fields: std::collections::BTreeMap<&str, &str> = lines
        .map(|l| {
            l.split_once(": ")
                .unwrap_or_else(|| panic!("{}: not `name: value`: {l}", path.display()))
        })
        .collect();
    let field = |k: &str| -> &str {
        fields
            .get(k)
            .unwrap_or_else(|| panic!("{} has no {k}", path.display()))
    };
    let secret: [u8; 32] = hex::decode(field("vault-secret"))
        .unwrap()
        .try_into()
        .unwrap();
    let keys = seif::keys::VaultKeys::derive(&seif::secrets::VaultSecret::from_bytes(
        zeroize::Zeroizing::new(secret),
    ));
    let public = keys.public();
    let derived = [
        ("age-identity", keys.age_identity_text().to_string()),
        ("age-recipient", public.age_recipient.clone()),
        (
            "pq-seed",
            hex::encode(*seif::keys::hkdf32(&secret, seif::keys::LABEL_AGE_PQ)),
        ),
        ("pq-identity", keys.pq_identity_text().to_string()),
        ("pq-recipient", public.pq_recipient.clone()),
        (
            "signing-public-key",
            hex::encode(public.signing_key.as_bytes()),
        ),
        (
            "vault-id",
            hex::encode(seif::descriptor::vault_id_of(&public.signing_key)),
        ),
        (
            "mldsa-seed",
            hex::encode(*seif::keys::hkdf32(&secret, seif::keys::LABEL_MLDSA)),
        ),
        (
            "mldsa-public-key-sha256",
            hex::encode(public.mldsa_key.fingerprint()),
        ),
        (
            "hybrid-vault-id",
            hex::encode(seif::descriptor::hybrid_vault_id_of(
                &public.signing_key,
                &public.mldsa_key,
            )),
        ),
    ];
    assert_eq!(
        fields.len(),
        derived.len() + 1,
        "{}: unexpected fields {fields:?}",
        path.display()
    );
    let format =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("FORMAT.md")).unwrap();
    for (name, value) in derived {
        assert_eq!(field(name), value, "{}: {name}", path.display());
        assert!(
            format.contains(&format!("`{value}`")),
            "FORMAT.md does not state the {name} {value}"
        );
    }
    assert!(format.contains(&format!("`{}`", field("vault-secret"))));
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

/// FORMAT.md's text, and its fenced blocks (` ```text `, ` ```json `) in order.
fn format_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("FORMAT.md")).unwrap()
}

fn fenced_blocks(doc: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&open) {
        let body = &rest[i + open.len()..];
        let end = body.find("```").expect("a closed block");
        out.push(body[..end].to_owned());
        rest = &body[end + 3..];
    }
    out
}

/// The text of FORMAT.md from `heading` to the next heading of its level.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("FORMAT.md has no {heading}"));
    let level = heading.split(' ').next().unwrap();
    let rest = &doc[start + heading.len()..];
    let end = rest.find(&format!("\n{level} ")).unwrap_or(rest.len());
    &doc[start..start + heading.len() + end]
}

fn test_secret() -> seif::secrets::VaultSecret {
    seif::secrets::VaultSecret::from_bytes(zeroize::Zeroizing::new(std::array::from_fn(|i| {
        i as u8
    })))
}

/// FORMAT.md's canonical JSON vector: the naive form canonicalizes to the
/// stated bytes (non-ASCII raw), with the stated hash and signature; the
/// ASCII-escaped form has the stated other hash and fails the signature.
#[test]
fn format_md_canonical_json_vector_holds() {
    let doc = format_md();
    let intro = &doc[..doc.find("## 1. ").unwrap()];
    let naive = &fenced_blocks(intro, "json")[0];
    let stated = fenced_blocks(intro, "text")[0]
        .trim_end_matches('\n')
        .to_owned();
    let value: serde_json::Value = serde_json::from_str(naive).unwrap();
    let canonical = seif::signed::canonical_json(&value).unwrap();
    assert_eq!(String::from_utf8(canonical.clone()).unwrap(), stated);
    assert_eq!(canonical.len(), 146);
    let hash = hex::encode(Sha256::digest(&canonical));
    assert!(
        intro.contains(&format!("| SHA-256 of the canonical form | `{hash}` |")),
        "{hash}"
    );
    let keys = seif::keys::VaultKeys::derive(&test_secret());
    let sig = seif::signed::sign(keys.signing_key(), "seif/v1/vault-descriptor", &value).unwrap();
    assert!(intro.contains(&format!("`{sig}`")), "{sig}");
    // The same record with non-ASCII escaped: other bytes, no signature.
    let ascii: String = stated
        .chars()
        .flat_map(|c| {
            if c.is_ascii() {
                vec![c.to_string()]
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    let ascii_hash = hex::encode(Sha256::digest(ascii.as_bytes()));
    assert!(
        intro.contains(&format!("whose SHA-256 is\n`{ascii_hash}`")),
        "{ascii_hash}"
    );
    let mut message = b"seif/v1/vault-descriptor\0".to_vec();
    message.extend_from_slice(ascii.as_bytes());
    let signature =
        ed25519_dalek::Signature::from_bytes(&hex::decode(&sig).unwrap().try_into().unwrap());
    assert!(
        keys.public()
            .signing_key
            .verify_strict(&message, &signature)
            .is_err()
    );
}

/// FORMAT.md 5.5: the three shares parse, their commitments and
/// acknowledgement checks are the stated ones, and any two give the test
/// vault secret (and so the keys of section 1.1).
#[test]
fn format_md_shamir_vector_holds() {
    let doc = format_md();
    let s55 = section(&doc, "### 5.5 Shamir test vector");
    let shares: Vec<seif::shares::Share> = fenced_blocks(s55, "text")
        .iter()
        .map(|t| seif::shares::Share::from_text(t).unwrap())
        .collect();
    assert_eq!(shares.len(), 3);
    for s in &shares {
        let row = format!(
            "| {} | `{}` | `{}` |",
            s.index,
            hex::encode(s.commitment()),
            hex::encode(seif::shares::ack_check(&s.ack_token()))
        );
        assert!(s55.contains(&row), "FORMAT.md 5.5 lacks {row}");
    }
    let secret = test_secret();
    for pair in [[0, 1], [0, 2], [1, 2]] {
        let got = seif::shares::combine(&[&shares[pair[0]], &shares[pair[1]]]).unwrap();
        assert!(got.ct_eq(&secret), "shares {pair:?}");
    }
    // One share alone is refused, not interpolated.
    assert!(seif::shares::combine(&[&shares[0]]).is_err());
}

/// FORMAT.md 5.4: the passphrase-protected vector opens, with the
/// passphrase typed in NFC or NFD, to alice's share of 5.5.
#[test]
fn format_md_passphrase_share_vector_opens() {
    let doc = format_md();
    let s54 = section(&doc, "### 5.4 Passphrase-protected share");
    let file = fenced_blocks(s54, "text")
        .into_iter()
        .find(|b| b.starts_with("seif passphrase-protected share v1\ncustodian: alice\n"))
        .expect("the 5.4 vector");
    let alice = fenced_blocks(section(&doc, "### 5.5 Shamir test vector"), "text")
        .into_iter()
        .next()
        .unwrap();
    for typed in [
        "k\u{f5}ik on h\u{e4}sti, T\u{f5}nis",
        "ko\u{303}ik on ha\u{308}sti, To\u{303}nis",
    ] {
        let plain = seif::custody::passphrase::unprotect(
            file.as_bytes(),
            &secrecy::SecretString::from(typed.to_owned()),
        )
        .unwrap();
        assert_eq!(std::str::from_utf8(&plain).unwrap(), alice);
    }
    assert!(
        seif::custody::passphrase::unprotect(
            file.as_bytes(),
            &secrecy::SecretString::from("koik on hasti, Tonis".to_owned())
        )
        .is_err()
    );
}

/// FORMAT.md Appendix A is enough to open a wrapped data key as seif
/// writes it (grease stanza and all), with primitives only: X25519, HKDF,
/// HMAC, ChaCha20-Poly1305, base64.
#[test]
fn format_md_appendix_a_opens_a_wrapped_key() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use chacha20poly1305::aead::{AeadInOut, KeyInit};
    use hkdf::Hkdf;
    use hmac::Mac;

    let hkdf = |ikm: &[u8], salt: &[u8], info: &[u8]| -> [u8; 32] {
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut out)
            .unwrap();
        out
    };
    let open = |key: &[u8; 32], nonce: [u8; 12], sealed: &[u8]| -> Option<Vec<u8>> {
        let (ct, tag) = sealed.split_at(sealed.len().checked_sub(16)?);
        let mut buf = ct.to_vec();
        chacha20poly1305::ChaCha20Poly1305::new(key.into())
            .decrypt_inout_detached(
                &nonce.into(),
                b"",
                buf.as_mut_slice().into(),
                <&chacha20poly1305::Tag>::try_from(tag).ok()?,
            )
            .ok()?;
        Some(buf)
    };
    // The vault identity of section 1 for the test secret.
    let secret = hkdf(
        &std::array::from_fn::<u8, 32, _>(|i| i as u8),
        &[],
        b"seif/v1/vault/age-x25519-identity",
    );
    let public = x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES);
    let keys = seif::keys::VaultKeys::derive(&test_secret());
    let mut greased = 0;
    for _ in 0..16 {
        let data_key = seif::secrets::DataKey::generate();
        let file = seif::wrap::wrap(
            &data_key,
            std::slice::from_ref(&keys.public().age_recipient),
        )
        .unwrap();
        // Header: lines up to "--- MAC".
        let mac_at = file.windows(5).position(|w| w == b"\n--- ").unwrap() + 1;
        let header_end = mac_at + file[mac_at..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let text = std::str::from_utf8(&file[..header_end]).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("age-encryption.org/v1"));
        let mut stanzas: Vec<(Vec<String>, Vec<u8>)> = Vec::new();
        let mut line = lines.next().unwrap();
        while let Some(args) = line.strip_prefix("-> ") {
            let mut body = String::new();
            loop {
                let l = lines.next().unwrap();
                body.push_str(l);
                if l.len() < 64 {
                    break;
                }
            }
            stanzas.push((
                args.split(' ').map(str::to_owned).collect(),
                STANDARD_NO_PAD.decode(&body).unwrap(),
            ));
            line = lines.next().unwrap();
        }
        let mac = STANDARD_NO_PAD
            .decode(line.strip_prefix("--- ").unwrap())
            .unwrap();
        // Unknown stanzas (the grease) are skipped; the X25519 one opens.
        greased += usize::from(stanzas.iter().any(|(a, _)| a[0] != "X25519"));
        let file_key = stanzas
            .iter()
            .filter(|(a, _)| a[0] == "X25519" && a.len() == 2)
            .find_map(|(a, body)| {
                let share: [u8; 32] = STANDARD_NO_PAD.decode(&a[1]).ok()?.try_into().ok()?;
                let z = x25519_dalek::x25519(secret, share);
                assert_ne!(z, [0u8; 32]);
                let mut salt = share.to_vec();
                salt.extend_from_slice(&public);
                let wrap_key = hkdf(&z, &salt, b"age-encryption.org/v1/X25519");
                open(&wrap_key, [0; 12], body)
            })
            .expect("the X25519 stanza opens");
        assert_eq!(file_key.len(), 16);
        let mut h = hmac::Hmac::<Sha256>::new_from_slice(&hkdf(&file_key, &[], b"header")).unwrap();
        h.update(&file[..mac_at + 3]);
        h.verify_slice(&mac).expect("the header MAC");
        // Payload: a 16-byte nonce, then one final chunk.
        let nonce = &file[header_end..header_end + 16];
        let payload_key = hkdf(&file_key, nonce, b"payload");
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[11] = 1;
        let plain = open(&payload_key, chunk_nonce, &file[header_end + 16..]).expect("the payload");
        assert_eq!(&plain[..], &data_key.expose()[..]);
    }
    assert!(
        greased > 0,
        "no grease stanza in 16 files: the skip rule was not exercised"
    );
}

/// `type path mode sha256|target` for every entry under `root`, sorted, as
/// `examples/make_snapshot_vectors.rs` lists a tree.
fn tree_listing(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p
                .strip_prefix(root.parent().unwrap())
                .unwrap()
                .display()
                .to_string();
            let mode = m.mode() & 0o777;
            if m.file_type().is_symlink() {
                out.push(format!(
                    "symlink {rel} {mode:o} {}",
                    std::fs::read_link(&p).unwrap().display()
                ));
            } else if m.is_dir() {
                stack.push(p.clone());
                out.push(format!("dir {rel} {mode:o} -"));
            } else {
                out.push(format!(
                    "file {rel} {mode:o} {}",
                    hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
                ));
            }
        }
    }
    out.sort();
    out
}

/// The snapshot vectors: each snapshot id with the listing of its tree.
fn snapshot_vectors() -> (std::path::PathBuf, Vec<(String, Vec<String>)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/snapshots");
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in std::fs::read_to_string(dir.join("expected"))
        .unwrap()
        .lines()
    {
        match line.strip_prefix("snapshot ") {
            Some(id) => out.push((id.to_owned(), Vec::new())),
            None => out.last_mut().unwrap().1.push(line.to_owned()),
        }
    }
    assert_eq!(out.len(), 2, "two snapshots, the second incremental");
    (dir, out)
}

/// The committed incremental store (two snapshots; the second reuses the
/// first's packs, so its restore needs the first's key too) restores, by
/// FORMAT.md §8 alone, to exactly the trees it was made from.
#[test]
fn snapshot_vectors_restore_with_the_spec_reader() {
    if !spec_tools_available() {
        return;
    }
    let (dir, snapshots) = snapshot_vectors();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/restore.py");
    let work = tempfile::tempdir().unwrap();
    for (id, want) in &snapshots {
        let out = work.path().join(id);
        let o = run(std::process::Command::new("python3")
            .arg(&script)
            .arg(dir.join("identity.txt"))
            .arg(dir.join("store"))
            .arg(id)
            .arg(&out));
        ok(&o);
        assert_eq!(&tree_listing(&out.join("register")), want, "snapshot {id}");
    }
    assert!(
        stderr(&run(std::process::Command::new("python3")
            .arg(&script)
            .arg(dir.join("identity.txt"))
            .arg(dir.join("store"))
            .arg(&snapshots[1].0)
            .arg(work.path().join("again"))))
        .contains("1 bases")
    );
}

/// The same store through seif: the host's verify, and a restore of each.
#[test]
fn snapshot_vectors_verify_and_restore_with_seif() {
    let (dir, snapshots) = snapshot_vectors();
    let store = dir.join("store");
    ok(&run(seif()
        .args(["verify", "--vault"])
        .arg(dir.join("vault.json"))
        .arg("--store")
        .arg(&store)));
    let work = tempfile::tempdir().unwrap();
    for (id, want) in &snapshots {
        let out = work.path().join(id);
        ok(&run(seif()
            .args(["restore", "--identity"])
            .arg(dir.join("identity.txt"))
            .arg("--vault")
            .arg(dir.join("vault.json"))
            .arg("--store")
            .arg(&store)
            .arg("--out")
            .arg(&out)
            .arg(id)));
        assert_eq!(&tree_listing(&out.join("register")), want, "snapshot {id}");
    }
}

/// Snapshots pushed now (a full one, then an incremental one after edits)
/// restore with the spec reader too, byte for byte.
#[test]
fn fresh_incremental_pushes_restore_with_the_spec_reader() {
    if !spec_tools_available() {
        return;
    }
    let v = test_vault("spec snapshots");
    let tree = v.dir.path().join("register");
    std::fs::create_dir_all(tree.join("d")).unwrap();
    std::fs::write(tree.join("d/big"), content(3 << 20, 1)).unwrap();
    for i in 0..20 {
        std::fs::write(tree.join(format!("d/f{i}")), content(1000 + i, i as u64)).unwrap();
    }
    let store = v.dir.path().join("store");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/restore.py");
    let mut ids = Vec::new();
    for round in 0..2 {
        if round == 1 {
            let mut big = std::fs::read(tree.join("d/big")).unwrap();
            big.splice(1000..1000, b"inserted".iter().copied());
            std::fs::write(tree.join("d/big"), big).unwrap();
            std::fs::remove_file(tree.join("d/f3")).unwrap();
        }
        let o = run(seif()
            .args(["push", "--json", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&v.sealer_key)
            .arg("--state-dir")
            .arg(v.dir.path().join("state"))
            .arg("--store")
            .arg(&store)
            .arg(&tree));
        ok(&o);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        ids.push(j["snapshot_id"].as_str().unwrap().to_owned());
        let out = v.dir.path().join(format!("out-{round}"));
        ok(&run(std::process::Command::new("python3")
            .arg(&script)
            .arg(&v.identity)
            .arg(&store)
            .arg(&ids[round])
            .arg(&out)));
        assert_eq!(
            tree_listing(&out.join("register")),
            tree_listing(&tree),
            "round {round}"
        );
    }
}

/// A real push to a post-quantum vault, read by code that shares nothing
/// with seif: its key envelope holds one `mlkem768x25519` stanza and no
/// classic one; `tests/spec/pq_unwrap.py` (written from FORMAT.md section 9)
/// unwraps it with the vault's derived `AGE-SECRET-KEY-PQ-1` identity alone,
/// to the data key the envelope commits to; and `restore.py` restores the
/// snapshot with it, byte for byte.
#[test]
fn pq_push_opens_with_the_independent_reader() {
    if !spec_tools_available() {
        return;
    }
    if !std::process::Command::new("python3")
        .args([
            "-c",
            "from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        skip(
            "tests/spec/pq_unwrap.py needs python3 with cryptography >= 47 (run scripts/test to install it)",
        );
        return;
    }
    use base64::Engine;
    let v = test_vault_pq("pq spec");
    let tree = v.dir.path().join("register");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a"), content(200_000, 7)).unwrap();
    std::fs::write(tree.join("b"), b"small").unwrap();
    let store = v.dir.path().join("store");
    let o = run(seif()
        .args(["push", "--json", "--vault"])
        .arg(&v.vault_json)
        .arg("--sealer")
        .arg(&v.sealer_key)
        .arg("--state-dir")
        .arg(v.dir.path().join("state"))
        .arg("--store")
        .arg(&store)
        .arg(&tree));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sid = j["snapshot_id"].as_str().unwrap().to_owned();
    let envelopes = entries(&store.join("keys").join(&sid));
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    let bytes = std::fs::read(store.join("keys").join(&sid).join(&envelopes[0])).unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(envelope["wrapped_key"].as_str().unwrap())
        .unwrap();
    let header = String::from_utf8_lossy(&wrapped[..wrapped.len() - 64]);
    // One mlkem768x25519 stanza; any other is age's random grease stanza.
    let types: Vec<&str> = header
        .split("\n-> ")
        .skip(1)
        .map(|l| l.split([' ', '\n']).next().unwrap())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "mlkem768x25519").count(),
        1,
        "{types:?}"
    );
    assert!(
        types
            .iter()
            .all(|t| *t == "mlkem768x25519" || t.ends_with("-grease")),
        "{types:?}"
    );
    let wrapped_path = v.dir.path().join("wrapped.age");
    std::fs::write(&wrapped_path, &wrapped).unwrap();
    // The PQ identity alone, as the derivation gives it (FORMAT.md 1.2).
    let pq_only = v.dir.path().join("pq-identity.txt");
    std::fs::write(
        &pq_only,
        format!("{}\n", v.keys.pq_identity_text().as_str()),
    )
    .unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec");
    let o = run(std::process::Command::new("python3")
        .arg(spec.join("pq_unwrap.py"))
        .arg(&pq_only)
        .arg(&wrapped_path));
    ok(&o);
    assert_eq!(o.stdout.len(), 32);
    let commitment = hex::encode(*seif::keys::hkdf32(
        &o.stdout.clone().try_into().unwrap(),
        seif::wrap::LABEL_KEY_COMMITMENT,
    ));
    assert_eq!(envelope["commitment"].as_str().unwrap(), commitment);
    // The classic identity does not open it.
    let classic_only = v.dir.path().join("classic-identity.txt");
    std::fs::write(
        &classic_only,
        format!("{}\n", v.keys.age_identity_text().as_str()),
    )
    .unwrap();
    let o = run(std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&classic_only)
        .arg(&wrapped_path));
    assert!(!o.status.success());
    // The whole snapshot, with the spec reader and the PQ identity.
    let out = v.dir.path().join("out");
    ok(&run(std::process::Command::new("python3")
        .arg(spec.join("restore.py"))
        .arg(&pq_only)
        .arg(&store)
        .arg(&sid)
        .arg(&out)));
    assert_eq!(tree_listing(&out.join("register")), tree_listing(&tree));
}

/// FORMAT.md 5.6's card share vector opens with the independent reader
/// (`tests/spec/card_share.py`, written from that section), the card's
/// scalar standing in for the card, to alice's share of 5.5; altered, or
/// with another key, it does not.
#[test]
fn the_card_share_vector_opens_with_the_independent_reader() {
    if !spec_tools_available() {
        return;
    }
    let spec = include_str!("../FORMAT.md");
    let block = |start: &str| -> String {
        let at = spec.find(&format!("```text\n{start}")).expect("the vector") + 8;
        spec[at..at + spec[at..].find("```").unwrap()].to_owned()
    };
    let file = block("seif card share v1\ncustodian: alice\ncurve: P-384\nrecipient: 04");
    let share = block("seif share v1\nvault: 0279ab54");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/card_share.py");
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("alice.share.card");
    let scalar = hex::encode((1..=48u8).collect::<Vec<_>>());
    let reader = |path: &Path, scalar: &str| {
        run(std::process::Command::new("python3")
            .arg(&script)
            .arg(path)
            .arg("--scalar")
            .arg(scalar))
    };
    std::fs::write(&path, &file).unwrap();
    let o = reader(&path, &scalar);
    ok(&o);
    assert_eq!(String::from_utf8(o.stdout).unwrap(), share);
    let other = hex::encode((2..=49u8).collect::<Vec<_>>());
    let o = reader(&path, &other);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    std::fs::write(&path, file.replace("nonce: 10", "nonce: 11")).unwrap();
    let o = reader(&path, &scalar);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}
