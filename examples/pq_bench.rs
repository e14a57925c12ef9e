//! The cost of the hybrid post-quantum recipient (`seif::pq`): one wrap and
//! one unwrap of a 32-byte data key through the `age` crate, in µs, beside
//! the classic X25519 recipient, and the size of a stanza and of a whole
//! wrapped key. Prints the machine first. A measurement, not a test: nothing
//! here asserts a time.
//!
//! Then the crypto of two ceremonies over many snapshot keys, through
//! seif's own wrap layer (`seif::wrap`, what `grant` and `rotate
//! --post-quantum` call), without the store's I/O: a grant (each key
//! unwrapped with the vault's hybrid identity and wrapped to a team's
//! `age1pq1…` key) and the post-quantum upgrade (each key unwrapped with the
//! classic identity, wrapped hybrid-only, and checked by opening it with the
//! hybrid identity against its commitment).
//!
//! And the hybrid signatures (Ed25519 + ML-DSA-65) of vault.json and
//! snapshot records: one signature and one verification of each half.
//!
//! `cargo run --release --example pq_bench -- [ITERATIONS] [KEYS]`
//! (defaults 2000 and 10000).

use std::io::{Read, Write};
use std::time::Instant;

use seif::keys::VaultKeys;
use seif::pq::HybridIdentity;
use seif::secrets::{DataKey, VaultSecret};

fn wrap(recipient: &dyn age::Recipient, key: &[u8; 32]) -> Vec<u8> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient)).unwrap();
    let mut out = Vec::with_capacity(2048);
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(key).unwrap();
    w.finish().unwrap();
    out
}

fn unwrap(file: &[u8], identity: &dyn age::Identity) -> Vec<u8> {
    let d = age::Decryptor::new_buffered(file).unwrap();
    let mut r = d.decrypt(std::iter::once(identity)).unwrap();
    let mut out = Vec::with_capacity(32);
    r.read_to_end(&mut out).unwrap();
    out
}

/// Median of `n` timed runs of `f`, in µs.
fn median_us(n: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[n / 2]
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("ITERATIONS is a number"))
        .unwrap_or(2000);
    println!(
        "machine: {} ({} logical CPUs), {} build",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let key = [0x42u8; 32];

    let pq = HybridIdentity::generate();
    let pq_recipient = pq.to_public();
    let classic = age::x25519::Identity::generate();
    let classic_recipient = classic.to_public();

    let pq_file = wrap(&pq_recipient, &key);
    let classic_file = wrap(&classic_recipient, &key);
    assert_eq!(unwrap(&pq_file, &pq), key);
    assert_eq!(unwrap(&classic_file, &classic), key);

    // Warm up, then measure.
    for _ in 0..n / 10 {
        std::hint::black_box(wrap(&pq_recipient, &key));
        std::hint::black_box(unwrap(&pq_file, &pq));
    }
    let pq_wrap = median_us(n, || {
        std::hint::black_box(wrap(&pq_recipient, &key));
    });
    let pq_unwrap = median_us(n, || {
        std::hint::black_box(unwrap(&pq_file, &pq));
    });
    let classic_wrap = median_us(n, || {
        std::hint::black_box(wrap(&classic_recipient, &key));
    });
    let classic_unwrap = median_us(n, || {
        std::hint::black_box(unwrap(&classic_file, &classic));
    });
    let from_seed = median_us(n, || {
        std::hint::black_box(HybridIdentity::from_seed(&zeroize::Zeroizing::new(
            [7u8; 32],
        )));
    });

    // The stanza's size in the header: "-> mlkem768x25519 " + 1494 base64
    // characters + "\n", then the 43-character body and its "\n".
    let stanza = "-> mlkem768x25519 ".len() + 1494 + 1 + 43 + 1;
    println!("iterations: {n} (median)");
    println!(
        "mlkem768x25519: wrap {pq_wrap:.1} µs, unwrap {pq_unwrap:.1} µs, identity from seed {from_seed:.1} µs"
    );
    println!("X25519 (classic): wrap {classic_wrap:.1} µs, unwrap {classic_unwrap:.1} µs");
    // The age crate adds a random "grease" stanza to some files; the
    // smallest of a few wraps has none.
    let smallest = |r: &dyn age::Recipient| (0..50).map(|_| wrap(r, &key).len()).min().unwrap();
    println!(
        "stanza: {stanza} bytes in the header (1120-byte encapsulated key + 32-byte body, base64)"
    );
    println!(
        "a wrapped 32-byte data key (an age file, without grease): {} bytes (classic X25519: {} bytes)",
        smallest(&pq_recipient),
        smallest(&classic_recipient)
    );

    signatures(n);

    let keys: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().expect("KEYS is a number"))
        .unwrap_or(10_000);
    ceremonies(keys);
}

/// Hybrid signatures (`seif::mldsa` beside Ed25519): one signature and one
/// verification of a snapshot record's signed message (about 700 bytes),
/// and what the ML-DSA half adds to a record.
fn signatures(n: usize) {
    use ed25519_dalek::{Signer, Verifier};
    let msg = vec![0x5au8; 700];
    let ed = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let ed_sig = ed.sign(&msg);
    let ed_sign = median_us(n, || {
        std::hint::black_box(ed.sign(&msg));
    });
    let ed_verify = median_us(n, || {
        std::hint::black_box(ed.verifying_key().verify(&msg, &ed_sig).is_ok());
    });
    let ml = seif::mldsa::MlDsaSigningKey::from_seed(&[3u8; 32]);
    let ml_public = ml.public();
    let ml_sig = ml.sign(&msg);
    let ml_keygen = median_us(n, || {
        std::hint::black_box(seif::mldsa::MlDsaSigningKey::from_seed(&[4u8; 32]));
    });
    let ml_sign = median_us(n, || {
        std::hint::black_box(ml.sign(&msg));
    });
    let ml_verify = median_us(n, || {
        std::hint::black_box(ml_public.verify(&msg, &ml_sig));
    });
    println!("Ed25519: sign {ed_sign:.1} µs, verify {ed_verify:.1} µs (64-byte signature)");
    println!(
        "ML-DSA-65: key from seed {ml_keygen:.1} µs, sign {ml_sign:.1} µs, verify {ml_verify:.1} µs; \
         a record's ML-DSA half adds {} bytes (public key and signature, hex)",
        2 * (seif::mldsa::PUBLIC_KEY_LEN + seif::mldsa::SIGNATURE_LEN)
    );
}

/// A grant of `n` snapshot keys and the upgrade of a store of `n`
/// snapshots: seconds for the crypto of each, on one thread.
fn ceremonies(n: usize) {
    let vault = VaultKeys::derive(&VaultSecret::generate());
    let public = vault.public();
    let team = HybridIdentity::generate().to_public().to_string();
    let data: Vec<(DataKey, [u8; 32])> = (0..n)
        .map(|_| {
            let k = DataKey::generate();
            let c = seif::wrap::key_commitment(&k);
            (k, c)
        })
        .collect();
    let wrap_all = |recipient: &str| -> Vec<Vec<u8>> {
        data.iter()
            .map(|(k, _)| seif::wrap::wrap(k, &[recipient.to_owned()]).unwrap())
            .collect()
    };
    let pq_wrapped = wrap_all(&public.pq_recipient);
    let classic_wrapped = wrap_all(&public.age_recipient);
    let pq_id: &dyn age::Identity = vault.pq_identity();
    let classic_id: &dyn age::Identity = vault.age_identity();

    let t = Instant::now();
    for (w, (_, c)) in pq_wrapped.iter().zip(&data) {
        let k = seif::wrap::unwrap(w, &[pq_id], c).unwrap();
        std::hint::black_box(seif::wrap::wrap(&k, std::slice::from_ref(&team)).unwrap());
    }
    let grant = t.elapsed().as_secs_f64();

    let t = Instant::now();
    for (w, (_, c)) in classic_wrapped.iter().zip(&data) {
        let k = seif::wrap::unwrap(w, &[classic_id], c).unwrap();
        let again =
            seif::wrap::wrap_with_policy(&k, std::slice::from_ref(&public.pq_recipient), true)
                .unwrap();
        assert_eq!(seif::wrap::is_pq_only(&again), Some(true));
        std::hint::black_box(seif::wrap::unwrap(&again, &[pq_id], c).unwrap());
    }
    let upgrade = t.elapsed().as_secs_f64();
    println!(
        "a grant of {n} snapshot keys (unwrap hybrid, wrap to an age1pq1 team key): {grant:.2} s of crypto ({:.0} µs a key)",
        grant * 1e6 / n as f64
    );
    println!(
        "the post-quantum upgrade of {n} snapshot keys (unwrap X25519, wrap hybrid-only, check by opening): {upgrade:.2} s of crypto ({:.0} µs a key)",
        upgrade * 1e6 / n as f64
    );
    let envelope = seif::snapshot::key_envelope::KeyEnvelope::wrap(
        &data[0].0,
        seif::ids::VaultId([1; 32]),
        seif::ids::SnapshotId([2; 16]),
        2,
        std::slice::from_ref(&public.pq_recipient),
    )
    .unwrap()
    .to_bytes()
    .len();
    println!(
        "the upgrade adds {n} key envelopes of {envelope} bytes each to the store ({:.1} MB)",
        (n * envelope) as f64 / 1e6
    );
}
