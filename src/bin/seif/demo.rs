//! `seif demo`: the whole story on a temporary local store, narrated, so a
//! newcomer understands the system from its output. It runs the same
//! library code as the real commands.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use secrecy::SecretString;
use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE};
use seif::ceremony::quorum::{self, Presented};
use seif::ceremony::{create_vault, write_vault_dir};
use seif::custody::{CustodianSpec, CustodyError, Identities, Passphrases, open_share};
use seif::descriptor::{SealerEntry, format_fingerprint};
use seif::sealer::SealerSecretKey;
use seif::snapshot::{self, Counters};
use seif::store::Store;
use seif_cli::report::Failure;
use sha2::{Digest, Sha256};

#[derive(Args)]
pub struct DemoArgs {
    /// Keep everything in DIR (created; must be empty) instead of a
    /// temporary directory that is removed at the end.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// Generated passphrases, one per custodian (a real ceremony asks each
/// custodian at a prompt).
struct Generated(BTreeMap<String, String>);

impl Passphrases for Generated {
    fn new_passphrase(&mut self, label: &str) -> Result<SecretString, CustodyError> {
        let words = seif::encoding::to_hex(&seif::secrets::random_array::<10>());
        self.0.insert(label.to_owned(), words.clone());
        Ok(SecretString::from(words))
    }
    fn share_passphrase(
        &mut self,
        label: &str,
        attempt: usize,
    ) -> Result<Option<SecretString>, CustodyError> {
        Ok((attempt == 1)
            .then(|| self.0.get(label).map(|p| SecretString::from(p.clone())))
            .flatten())
    }
    fn key_passphrase(
        &mut self,
        _: &str,
        _: &str,
        _: usize,
    ) -> Result<Option<SecretString>, CustodyError> {
        Ok(None)
    }
}

/// `println!`, except with `-q`: the narration is the demo's summary, so a
/// quiet demo (an install's smoke test) says nothing unless it fails.
macro_rules! tell {
    ($($arg:tt)*) => {
        if seif_cli::report::verbosity() >= seif_cli::report::Verbosity::Normal {
            println!($($arg)*);
        }
    };
}

fn step(n: u32, title: &str) {
    tell!("\n== {n}. {title}");
}

fn say(text: &str) {
    tell!("   {text}");
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::error(format!("demo: {e}"))
}

pub fn demo(args: DemoArgs) -> Result<(), Failure> {
    seif::hardening::disable_core_dumps().map_err(fail)?;
    let temp;
    let root: PathBuf = match &args.keep {
        Some(d) => {
            if d.read_dir().is_ok_and(|mut e| e.next().is_some()) {
                return Err(Failure::error(format!("{} is not empty", d.display())));
            }
            std::fs::create_dir_all(d).map_err(fail)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("seif-demo-")
                .tempdir()
                .map_err(fail)?;
            temp.path().to_owned()
        }
    };
    tell!(
        "seif demo: a data embassy in one directory, {}",
        root.display()
    );
    say("A state seals its records at home, stores only ciphertext abroad, and can open it");
    say("again only when enough custodians meet. Every step below runs seif's real code.");

    step(1, "Key ceremony (seif-ceremony init, on an offline laptop)");
    let labels = ["minister", "archivist", "auditor", "ambassador", "cio"];
    let custodians: Vec<CustodianSpec> = labels
        .iter()
        .map(|l| CustodianSpec::parse(&format!("{l}=passphrase")).expect("valid"))
        .collect();
    let mut passphrases = Generated(BTreeMap::new());
    let sealer = SealerSecretKey::generate();
    let sealers = vec![SealerEntry {
        key: sealer.public().to_string(),
        label: "population-register export".into(),
    }];
    let vault_dir = root.join("vault");
    let new = create_vault(
        "Demo state registers",
        3,
        &custodians,
        sealers,
        None,
        &mut passphrases,
    )
    .map_err(fail)?;
    write_vault_dir(&vault_dir, &new.descriptor, &new.files, |staging| {
        let mut log = CeremonyLog::new(&staging.join(LOG_FILE));
        log.append(
            &new.descriptor,
            Draft {
                event: "init".into(),
                participants: vec![],
                details: serde_json::json!({"demo": true}),
                files: vec![],
            },
            Some(&new.keys),
        )?;
        Ok(())
    })
    .map_err(fail)?;
    let d = new.descriptor.clone();
    drop(new);
    say("A 32-byte vault secret was made from the OS random generator, split into 5 Shamir");
    say("shares (any 3 reconstruct it, 2 reveal nothing), and each share encrypted to one");
    say("custodian (here with generated passphrases; OpenPGP and age keys work the same way).");
    say("The secret itself was never written anywhere. What was written:");
    say(&format!(
        "  {}/vault.json      public descriptor, self-signed by the vault key",
        vault_dir.display()
    ));
    say(&format!(
        "  {}/shares/*.pass   one encrypted share per custodian",
        vault_dir.display()
    ));
    say(&format!(
        "  {}/ceremony.log    signed, hash-chained record of the ceremony",
        vault_dir.display()
    ));
    say("The witnesses record the vault fingerprint:");
    say(&format!("  {}", format_fingerprint(&d.body().vault_id)));

    step(2, "An export pipeline gets a sealer key (seif sealer new)");
    say(&format!(
        "public key {} — listed in vault.json as accepted.",
        sealer.public()
    ));
    say(
        "The pipeline holds vault.json and this key: public material only. It can seal, never open.",
    );

    step(
        3,
        "The pipeline pushes a tree of records abroad (seif push)",
    );
    let tree = root.join("population-register");
    let (files, bytes) = sample_tree(&tree).map_err(fail)?;
    let store_dir = root.join("store-abroad");
    let store: Box<dyn Store> =
        seif::store::open(&store_dir.display().to_string(), &Default::default()).map_err(fail)?;
    let options = seif::snapshot::push::PushOptions::new(root.join("state"));
    let counters = Counters::default();
    let pushed = snapshot::push::push(
        &d,
        &sealer,
        std::slice::from_ref(&store),
        std::slice::from_ref(&tree),
        &options,
        &counters,
    )
    .map_err(fail)?;
    let r = &pushed.records[0].1;
    say(&format!(
        "{files} files, {bytes} bytes → {} sealed objects in {}",
        r.body.summary.packs + r.body.summary.manifest_parts,
        store_dir.display()
    ));
    say("One data key for the whole snapshot, wrapped once to the vault's public key; files");
    say("cut into chunks and packed into 8 MiB objects sealed with XChaCha20-Poly1305; names,");
    say("sizes and the tree's shape live only in the encrypted manifest. The sealer signed a");
    say("public record:");
    say(&format!(
        "  snapshot {}  record {}",
        r.body.snapshot_id, r.hash
    ));

    step(
        4,
        "The host checks what it holds, with no key (seif verify)",
    );
    let report = snapshot::verify::verify(
        store.as_ref(),
        &d,
        &snapshot::verify::VerifyOptions {
            head: Some(r.hash.to_hex()),
            read_data: snapshot::verify::ReadData::All,
            threads: 2,
        },
        &Counters::default(),
    )
    .map_err(fail)?;
    if !report.problems.is_empty() {
        return Err(fail(report.problems.join("; ")));
    }
    say(&format!(
        "{} record, {} objects ({} bytes) hashed: every object matches its name,",
        report.records, report.objects_checked, report.bytes_checked
    ));
    say(
        "the record is signed by a sealer the vault accepts, the chain is whole. What the host sees:",
    );
    for (key, size) in store.list("objects/").map_err(fail)?.sizes().take(4) {
        say(&format!("  {key}  {size} bytes"));
    }
    say("  … ciphertext named by its SHA-256; no file names, no sizes of files.");

    step(5, "Two custodians meet (seif-ceremony open): not enough");
    let log = CeremonyLog::open(&vault_dir.join(LOG_FILE)).map_err(fail)?;
    let bring = |which: &[&str], passphrases: &mut Generated| -> Result<Vec<Presented>, Failure> {
        which
            .iter()
            .map(|l| {
                let path = vault_dir.join("shares").join(format!("{l}.share.pass"));
                let bytes = std::fs::read(&path).map_err(fail)?;
                let share =
                    open_share(&bytes, &mut Identities::default(), passphrases).map_err(fail)?;
                Ok(Presented {
                    source: path.display().to_string(),
                    share,
                })
            })
            .collect()
    };
    let mut problems = Vec::new();
    let two = quorum::assess(
        &d,
        &log,
        bring(&["minister", "auditor"], &mut passphrases)?,
        &mut problems,
    );
    match quorum::reconstruct(&d, &log, &two) {
        Ok(_) => return Err(fail("two shares opened the vault")),
        Err(e) => say(&format!("refused: {e}")),
    }
    say("Two shares are two points on a degree-2 polynomial: every secret is equally likely.");

    step(
        6,
        "A third custodian arrives: the key comes back, and is checked",
    );
    let three = quorum::assess(
        &d,
        &log,
        bring(&["minister", "auditor", "cio"], &mut passphrases)?,
        &mut problems,
    );
    let q = quorum::reconstruct(&d, &log, &three).map_err(fail)?;
    say(&format!(
        "key check passed: the keys derived from the reconstructed secret match vault.json ({} custodians: {})",
        q.participants.len(),
        q.participants
            .iter()
            .map(|p| p.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let tables = snapshot::read::load_tables(store.as_ref(), r).map_err(fail)?;
    let ids = q.keys.identities();
    let keys = snapshot::read::unwrap_keys(
        store.as_ref(),
        r,
        &tables,
        &snapshot::read::Identities(&ids),
    )
    .map_err(fail)?;
    drop(q);
    say("The vault key unwrapped the snapshot's data key (checked against the signed commitment).");

    step(7, "Restore, and compare byte for byte (seif restore)");
    let out = root.join("restored");
    let s = snapshot::restore::restore(
        store.as_ref(),
        r,
        &tables,
        &keys,
        &out,
        &[],
        snapshot::restore::RestoreOptions::default(),
        &Counters::default(),
    )
    .map_err(fail)?;
    let same = digest_tree(&tree).map_err(fail)?
        == digest_tree(&out.join("population-register")).map_err(fail)?;
    say(&format!(
        "{} files, {} bytes restored; every chunk checked against its SHA-256 in the manifest",
        s.files, s.bytes
    ));
    if !same {
        return Err(fail("the restored tree differs from the original"));
    }
    say("identical to the original.");
    tell!();
    match &args.keep {
        Some(dir) => tell!(
            "Everything is kept in {} (passphrases were generated and are not stored).",
            dir.display()
        ),
        None => tell!(
            "Done; the temporary directory is removed. `seif demo --keep DIR` keeps it to look around."
        ),
    }
    tell!(
        "Next: README.md (how a real deployment runs), ceremony/runbook/ (the ceremonies), FORMAT.md, SECURITY.md."
    );
    let _ = std::io::stdout().flush();
    Ok(())
}

fn sample_tree(root: &Path) -> std::io::Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for county in ["harju", "tartu", "ida-viru", "parnu"] {
        let dir = root.join(county);
        std::fs::create_dir_all(&dir)?;
        for i in 0..60u64 {
            let text: String = (0..(20 + i % 40))
                .map(|n| format!("{county};{i:05};{n:03};resident record\n"))
                .collect();
            std::fs::write(dir.join(format!("household-{i:05}.csv")), &text)?;
            files += 1;
            bytes += text.len() as u64;
        }
    }
    let mut big = Vec::with_capacity(6 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while big.len() < 6 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(root.join("scans.bin"), &big)?;
    std::os::unix::fs::symlink("harju/household-00000.csv", root.join("first-household"))?;
    Ok((files + 1, bytes + big.len() as u64))
}

fn digest_tree(root: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            let m = std::fs::symlink_metadata(&p)?;
            let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            if m.file_type().is_symlink() {
                out.insert(rel, format!("-> {}", std::fs::read_link(&p)?.display()));
            } else if m.is_dir() {
                stack.push(p);
                out.insert(rel, "dir".into());
            } else {
                out.insert(
                    rel,
                    seif::encoding::to_hex(&Sha256::digest(std::fs::read(&p)?)),
                );
            }
        }
    }
    Ok(out)
}
