//! Interoperability evidence for `seif::pq` (age's `mlkem768x25519`):
//!
//! - the C2SP CCTV age vectors, written by Go age, through the `age` crate
//!   with seif's hybrid identity: every `hybrid*` vector succeeds or is
//!   refused exactly as its `expect:` line says, with the payload hash
//!   matching; the other kinds run through the age crate's own identities;
//! - the independent reader `tests/spec/pq_unwrap.py` (Python's
//!   `cryptography` and hashlib, written from FORMAT.md section 9): it opens
//!   what seif wraps, and the CCTV `hybrid*` successes;
//! - the worked example of FORMAT.md section 9.8.

mod common;

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::SecretString;
use seif::pq::{HybridIdentity, HybridRecipient};
use sha2::{Digest, Sha256};

struct Vector {
    name: String,
    path: PathBuf,
    expect: String,
    payload: Option<String>,
    identities: Vec<String>,
    passphrases: Vec<String>,
    armored: bool,
    /// The age file, decompressed.
    file: Vec<u8>,
}

fn cctv_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/cctv-age/testdata")
}

fn cctv_vectors() -> Vec<Vector> {
    let mut out: Vec<Vector> = std::fs::read_dir(cctv_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let split = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
            let head = std::str::from_utf8(&bytes[..split]).unwrap();
            let all = |k: &str| -> Vec<String> {
                head.lines()
                    .filter_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::to_owned))
                    .collect()
            };
            let one = |k: &str| all(k).into_iter().next();
            let body = &bytes[split + 2..];
            let file = match one("compressed").as_deref() {
                Some("zlib") => {
                    let mut d = flate2::read::ZlibDecoder::new(body);
                    let mut v = Vec::new();
                    d.read_to_end(&mut v).unwrap();
                    v
                }
                None => body.to_vec(),
                Some(other) => panic!("unknown compression {other}"),
            };
            Vector {
                name: path.file_name().unwrap().to_string_lossy().into_owned(),
                expect: one("expect").unwrap(),
                payload: one("payload"),
                identities: all("identity"),
                passphrases: all("passphrase"),
                armored: one("armored").as_deref() == Some("yes"),
                file,
                path,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What the age crate made of a vector: the CCTV outcome name, and every
/// plaintext byte it released (for `success` and `payload failure`).
fn run_through_age(v: &Vector) -> (&'static str, Vec<u8>) {
    let mut identities: Vec<Box<dyn age::Identity>> = Vec::new();
    for text in &v.identities {
        if text.starts_with("AGE-SECRET-KEY-PQ-") {
            identities.push(Box::new(HybridIdentity::from_str(text).unwrap()));
        } else {
            identities.push(Box::new(age::x25519::Identity::from_str(text).unwrap()));
        }
    }
    for p in &v.passphrases {
        let mut id = age::scrypt::Identity::new(SecretString::from(p.clone()));
        // Go age's limit (and the vectors'): a work factor above 22 is a
        // header failure, not a 30-second wait.
        id.set_max_work_factor(22);
        identities.push(Box::new(id));
    }
    let input: Box<dyn Read> = if v.armored {
        Box::new(age::armor::ArmoredReader::new(&v.file[..]))
    } else {
        Box::new(&v.file[..])
    };
    let header_error = |e: age::DecryptError| match e {
        age::DecryptError::Io(_) if v.armored => "armor failure",
        age::DecryptError::InvalidMac => "HMAC failure",
        _ => "header failure",
    };
    let decryptor = match age::Decryptor::new(BufReader::new(input)) {
        Ok(d) => d,
        Err(e) => return (header_error(e), Vec::new()),
    };
    let mut reader = match decryptor.decrypt(identities.iter().map(|i| i.as_ref())) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys) => return ("no match", Vec::new()),
        Err(age::DecryptError::ExcessiveWork { .. }) => return ("header failure", Vec::new()),
        Err(e) => return (header_error(e), Vec::new()),
    };
    let mut out = Vec::new();
    match reader.read_to_end(&mut out) {
        Ok(_) => ("success", out),
        Err(_) => ("payload failure", out),
    }
}

/// Vectors where the age crate 0.12.1 refuses as it should, but names the
/// refusal differently from Go age. Each is a refusal all the same; the
/// test fails if the list stops being exact, so a change upstream is
/// noticed. (vector, Go age's outcome, the age crate's)
const AGE_CRATE_NAMES_IT_DIFFERENTLY: &[(&str, &str, &str)] = &[
    // An armor that is empty, or whose first line is not the BEGIN line,
    // surfaces from the age crate's ArmoredReader either as an I/O error
    // (which we call an armor failure) or as a header that does not parse.
    ("armor_empty", "header failure", "armor failure"),
    ("armor_garbage_leading", "armor failure", "header failure"),
    ("armor_lowercase", "armor failure", "header failure"),
    ("armor_whitespace_begin", "armor failure", "header failure"),
    ("armor_wrong_type", "armor failure", "header failure"),
    // The age crate reports a scrypt stanza that does not open as a
    // decryption error rather than "no identity matched": a scrypt stanza
    // must be alone in its file, so there is nothing else to try.
    ("scrypt_bad_tag", "no match", "header failure"),
    ("scrypt_no_match", "no match", "header failure"),
    ("scrypt_work_factor_wrong", "no match", "header failure"),
];

/// Vectors where the age crate 0.12.1 and Go age disagree on success, with
/// why. (vector, Go age's outcome, the age crate's)
const AGE_CRATE_DISAGREES: &[(&str, &str, &str)] = &[
    // Whitespace before the BEGIN line: allowed by the spec ("whitespace is
    // allowed before and after armored files"), refused by the age crate's
    // ArmoredReader. seif reads binary wrapped keys, never armored ones.
    ("armor_whitespace_outside", "success", "header failure"),
    // A stanza without its final short body line. age-core 0.12 parses
    // stanzas with `legacy_age_stanza` on purpose, to read files written
    // by rage before age 1.0, which ended a body that fills whole lines
    // without an empty line. The header MAC still covers the header as
    // read, so nothing is lost but strictness; seif never writes such a
    // stanza (the age crate writes the final line).
    ("stanza_missing_body", "header failure", "success"),
    ("stanza_missing_final_line", "header failure", "success"),
];

#[test]
fn cctv_vectors_through_the_age_crate() {
    let vectors = cctv_vectors();
    assert_eq!(vectors.len(), 143, "the CCTV copy is incomplete");
    let mut by_kind: std::collections::BTreeMap<String, [usize; 3]> = Default::default();
    let mut disagreements = Vec::new();
    let mut other_name = Vec::new();
    for v in &vectors {
        let (outcome, plaintext) = run_through_age(v);
        let kind = v.name.split('_').next().unwrap().to_owned();
        let entry = by_kind.entry(kind).or_default();
        entry[0] += 1;
        // Success exactly when expected, and whatever plaintext was
        // released matches the payload hash (CCTV: also for payload
        // failures, up to the failing chunk).
        let released_ok = match &v.payload {
            Some(hash) => &hex::encode(Sha256::digest(&plaintext)) == hash,
            None => plaintext.is_empty(),
        };
        if (outcome == "success") != (v.expect == "success") || !released_ok {
            disagreements.push((v.name.clone(), v.expect.clone(), outcome.to_owned()));
            continue;
        }
        entry[1] += 1;
        if outcome == v.expect {
            entry[2] += 1;
        } else {
            other_name.push((v.name.clone(), v.expect.clone(), outcome.to_owned()));
        }
        // The hybrid vectors name their refusal exactly as Go age does.
        if v.name.starts_with("hybrid") || v.name == "armor_hybrid" {
            assert_eq!(outcome, v.expect, "{}", v.path.display());
        }
    }
    eprintln!("kind: vectors, agreeing with Go age, and naming the refusal alike");
    for (kind, [n, agree, same]) in &by_kind {
        eprintln!("{kind:>8}: {n:>3} {agree:>3} {same:>3}");
    }
    for (name, expect, got) in &disagreements {
        eprintln!("  DISAGREES {name}: Go age says {expect}, the age crate {got}");
    }
    for (name, expect, got) in &other_name {
        eprintln!("  named differently {name}: Go age says {expect}, the age crate {got}");
    }
    let listed = |l: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        l.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    };
    assert_eq!(disagreements, listed(AGE_CRATE_DISAGREES));
    assert_eq!(other_name, listed(AGE_CRATE_NAMES_IT_DIFFERENTLY));
    assert_eq!(by_kind["hybrid"], [18, 18, 18]);
}

/// The independent reader needs python3 with `cryptography` ≥ 47 (ML-KEM).
/// `.ci/run` installs it (scripts/lib.sh, `ensure_test_tools`) and sets
/// SEIF_CI, under which a skip fails.
fn reader_available() -> bool {
    let have = std::process::Command::new("python3")
        .args([
            "-c",
            "from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        common::skip(
            "tests/spec/pq_unwrap.py needs python3 with cryptography >= 47 (run scripts/test to install it)",
        );
    }
    have
}

fn reader() -> std::process::Command {
    let mut c = std::process::Command::new("python3");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec/pq_unwrap.py"));
    c
}

fn wrap(recipients: &[&HybridRecipient], plaintext: &[u8]) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| *r as &dyn age::Recipient))
            .unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap();
    out
}

/// What seif wraps, the independent reader opens: single and several
/// recipients, a 32-byte data key, an empty payload and one of several
/// chunks. With another identity it refuses and prints nothing.
#[test]
fn seif_wraps_open_with_the_independent_reader() {
    if !reader_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<HybridIdentity> = (0..3).map(|_| HybridIdentity::generate()).collect();
    let id_files: Vec<PathBuf> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let p = dir.path().join(format!("id-{i}.txt"));
            std::fs::write(&p, format!("# a test identity\n{}\n", *id.to_bech32())).unwrap();
            p
        })
        .collect();
    let r: Vec<HybridRecipient> = ids.iter().map(|i| i.to_public()).collect();
    let data_key = seif::secrets::random_array::<32>();
    let cases: Vec<(Vec<&HybridRecipient>, Vec<u8>)> = vec![
        (vec![&r[0]], data_key.to_vec()),
        (vec![&r[1], &r[0]], data_key.to_vec()),
        (vec![&r[0]], Vec::new()),
        (vec![&r[0]], common::content(150_000, 7)),
    ];
    for (i, (recipients, plaintext)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("wrapped-{i}.age"));
        std::fs::write(&file, wrap(recipients, plaintext)).unwrap();
        let o = common::run(reader().arg(&id_files[0]).arg(&file));
        common::ok(&o);
        assert_eq!(&o.stdout, plaintext, "case {i}");
        // Not a recipient: refused, nothing printed.
        let o = common::run(reader().arg(&id_files[2]).arg(&file));
        assert_eq!(o.status.code(), Some(3), "case {i}: {}", common::stderr(&o));
        assert!(o.stdout.is_empty());
    }
    // A stanza slipped into the header breaks the MAC; a flipped bit of the
    // payload breaks its chunk. Both are refused and nothing is printed.
    let good = wrap(&[&r[0]], &data_key);
    let mut slipped = b"age-encryption.org/v1\n-> slipped-in arg\n\n".to_vec();
    slipped.extend_from_slice(&good[b"age-encryption.org/v1\n".len()..]);
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    for (what, bytes, message) in [
        ("stanza slipped in", slipped, "header MAC"),
        ("payload bit flipped", flipped, "does not authenticate"),
    ] {
        let file = dir.path().join("tampered.age");
        std::fs::write(&file, bytes).unwrap();
        let o = common::run(reader().arg(&id_files[0]).arg(&file));
        common::fails_with(&o, 3, message);
        assert!(o.stdout.is_empty(), "{what}");
    }
}

/// Every CCTV `hybrid*` vector through the independent reader: the
/// successes give the payload of the vector's hash; every other vector is
/// refused (the reader knows only the hybrid stanza, so the refusal of
/// `hybrid_x25519_arg`, whose fault is in the X25519 stanza, is "no
/// match" there).
#[test]
fn cctv_hybrid_vectors_through_the_independent_reader() {
    if !reader_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut successes = 0;
    for v in cctv_vectors()
        .into_iter()
        .filter(|v| v.name.starts_with("hybrid"))
    {
        let id = dir.path().join(format!("{}.id", v.name));
        let pq: Vec<&String> = v
            .identities
            .iter()
            .filter(|i| i.starts_with("AGE-SECRET-KEY-PQ-"))
            .collect();
        std::fs::write(&id, format!("{}\n", pq[0])).unwrap();
        let o = common::run(reader().arg(&id).arg(&v.path));
        if v.expect == "success" {
            common::ok(&o);
            assert_eq!(
                Some(hex::encode(Sha256::digest(&o.stdout))),
                v.payload,
                "{}",
                v.name
            );
            successes += 1;
        } else {
            assert_eq!(
                o.status.code(),
                Some(3),
                "{}: {}",
                v.name,
                common::stderr(&o)
            );
            assert!(o.stdout.is_empty(), "{}", v.name);
        }
    }
    assert_eq!(successes, 4);
}

/// A value of the worked example in FORMAT.md (9.8).
fn doc_value(name: &str) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("FORMAT.md")).unwrap();
    doc.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("| {name} | `"))?
                .strip_suffix("` |")
                .map(str::to_owned)
        })
        .unwrap()
}

/// The document's stanza, in an age file built here by hand (section 9.7:
/// header, MAC, one empty final chunk), opens with the document's identity
/// both in the `age` crate and in the independent reader, to the
/// document's file key.
#[test]
fn the_documents_worked_example_opens_everywhere() {
    use chacha20poly1305::aead::{AeadInOut, KeyInit};
    use hkdf::hmac::{Hmac, Mac};

    let secret: [u8; 32] = hex::decode(doc_value("vault secret"))
        .unwrap()
        .try_into()
        .unwrap();
    let seed = seif::keys::hkdf32(&secret, "seif/v1/vault/age-mlkem768x25519-identity");
    let id = HybridIdentity::from_seed(&seed);
    assert_eq!(*id.to_bech32(), doc_value("identity"));
    assert_eq!(id.to_public().to_string(), doc_value("recipient"));

    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("FORMAT.md")).unwrap();
    let block = doc
        .split("The stanza, as it stands in the header:\n\n```\n")
        .nth(1)
        .unwrap();
    let stanza = block.split("```").next().unwrap();
    let file_key = hex::decode(doc_value("file key")).unwrap();

    let mut header = format!("age-encryption.org/v1\n{stanza}---").into_bytes();
    let hk = hkdf::Hkdf::<Sha256>::new(None, &file_key);
    let mut mac_key = [0u8; 32];
    hk.expand(b"header", &mut mac_key).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).unwrap();
    mac.update(&header);
    let tag = mac.finalize().into_bytes();
    header.extend_from_slice(
        format!(
            " {}\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, tag)
        )
        .as_bytes(),
    );
    let nonce = [0x11u8; 16];
    let hk = hkdf::Hkdf::<Sha256>::new(Some(&nonce), &file_key);
    let mut payload_key = [0u8; 32];
    hk.expand(b"payload", &mut payload_key).unwrap();
    let mut chunk_nonce = [0u8; 12];
    chunk_nonce[11] = 1;
    let aead = chacha20poly1305::ChaCha20Poly1305::new(&payload_key.into());
    let mut empty: [u8; 0] = [];
    let chunk_tag = aead
        .encrypt_inout_detached(&chunk_nonce.into(), b"", (&mut empty[..]).into())
        .unwrap();
    let mut file = header;
    file.extend_from_slice(&nonce);
    file.extend_from_slice(&chunk_tag);

    // The age crate, with seif's identity.
    let d = age::Decryptor::new(&file[..]).unwrap();
    let mut r = d
        .decrypt(std::iter::once(&id as &dyn age::Identity))
        .unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert!(out.is_empty());

    if !reader_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.age");
    std::fs::write(&path, &file).unwrap();
    let seed_arg = format!("seed:{}", doc_value("seed"));
    let o = common::run(reader().arg(&seed_arg).arg(&path).arg("--file-key"));
    common::ok(&o);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().trim(),
        doc_value("file key")
    );
    let o = common::run(reader().arg(&seed_arg).arg(&path));
    common::ok(&o);
    assert!(o.stdout.is_empty());
}
