//! The post-quantum upgrade of a classic vault (issue 14), end to end
//! through the real binaries: `seif-ceremony rotate --post-quantum`, `seif
//! sync`, and the host's keyless `seif drop-classic-keys`. After it, no
//! object in the store holds an X25519 stanza, the new post-quantum key
//! restores every snapshot (incremental ones through their bases), verify
//! counts no classic key, and the old key opens nothing. The host step
//! refuses, deleting nothing, whenever it cannot prove each snapshot keeps
//! a post-quantum key.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::Engine;
use common::*;
use seif::custody::CustodianSpec;
use seif::descriptor::{Descriptor, KeyWrapping, SealerEntry, SetStatus};
use seif::ids::{BlobId, SnapshotId, VaultId};
use seif::keys::VaultKeys;
use seif::secrets::VaultSecret;
use seif::snapshot::upgrade_list::{ListedEnvelope, UpgradeList};

/// A classic vault as `seif-ceremony init` made them before post-quantum
/// wrapping (X25519 recipient, no require_pq), with three age custodians
/// (any two open it) and one sealer. `seif-ceremony init` makes only
/// post-quantum vaults now, so it is made through the library, the way
/// init does it.
struct Classic {
    v: AgeVault,
    keys: VaultKeys,
}

fn classic_vault() -> Classic {
    let dir = tempfile::tempdir().unwrap();
    let secret = VaultSecret::generate();
    let keys = VaultKeys::derive(&secret);
    let vault_id = seif::descriptor::vault_id_of(&keys.public().signing_key);
    let mut identities = Vec::new();
    let mut labels = Vec::new();
    let specs: Vec<CustodianSpec> = (1..=3)
        .map(|i| {
            let path = dir.path().join(format!("custodian-{i}.key"));
            let r = age_identity_file(&path);
            identities.push(path);
            labels.push(format!("c{i}"));
            CustodianSpec::parse(&format!("c{i}=age:{r}")).unwrap()
        })
        .collect();
    let issued = seif::ceremony::issue_share_set(
        &secret,
        vault_id,
        1,
        2,
        SetStatus::Active,
        &specs,
        &mut NoPassphrases,
    )
    .unwrap();
    let sealer_key = dir.path().join("sealer.key");
    let o = run(seif().args(["sealer", "new", "--out"]).arg(&sealer_key));
    ok(&o);
    let sealer_public = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let d = Descriptor::genesis_with(
        "classic vault",
        &keys,
        issued.set,
        vec![SealerEntry {
            key: sealer_public.clone(),
            label: "pipeline".into(),
        }],
        None,
        KeyWrapping::Classic,
    )
    .unwrap();
    assert!(!d.is_pq());
    let vault_dir = dir.path().join("vault");
    seif::ceremony::write_vault_dir(&vault_dir, &d, &issued.files, |staging| {
        use seif::ceremony::log::{CeremonyLog, Draft, LOG_FILE};
        let mut log = CeremonyLog::new(&staging.join(LOG_FILE));
        log.append(
            &d,
            Draft {
                event: "init".into(),
                participants: vec![],
                details: serde_json::json!({}),
                files: vec![],
            },
            Some(&keys),
        )?;
        Ok(())
    })
    .unwrap();
    Classic {
        v: AgeVault {
            vault_json: vault_dir.join("vault.json"),
            vault_dir,
            labels,
            identities,
            sealer_key,
            sealer_public,
            init_stdout: String::new(),
            dir,
        },
        keys,
    }
}

/// Every regular file under `root`, relative path -> bytes.
fn files_of(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(root)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The age stanza tag of an X25519 recipient, as it stands in a header.
const X25519_STANZA: &[u8] = b"-> X25519 ";

fn holds(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The files of a store (or sealed files) that hold an X25519 stanza:
/// in their raw bytes (a sealed file's header) or in a base64
/// `wrapped_key` (a key envelope).
fn with_x25519_stanza(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (name, bytes) in files_of(root) {
        let mut hit = holds(&bytes, X25519_STANZA);
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&bytes)
            && let Some(serde_json::Value::String(w)) = m.get("wrapped_key")
        {
            let raw = base64::engine::general_purpose::STANDARD.decode(w).unwrap();
            hit |= holds(&raw, X25519_STANZA);
        }
        if hit {
            found.push(name);
        }
    }
    found
}

/// `seif drop-classic-keys` on a store.
fn drop_classic(vault_json: &Path, store: &Path, extra: &[&str]) -> std::process::Output {
    run(seif()
        .args(["drop-classic-keys", "--vault"])
        .arg(vault_json)
        .arg("--store")
        .arg(store)
        .args(extra))
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    ok(&run(std::process::Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)));
}

/// The host step must refuse on `store` (exit `code`, `fragment` in the
/// message) and leave every byte of it as it was.
fn refuses_and_deletes_nothing(vault_json: &Path, store: &Path, code: i32, fragment: &str) {
    let before = files_of(store);
    let o = drop_classic(vault_json, store, &[]);
    fails_with(&o, code, fragment);
    assert_eq!(files_of(store), before, "the store changed");
}

struct Upgraded {
    c: Classic,
    tree: PathBuf,
    store: PathBuf,
    sealed_plain: Vec<u8>,
    sealed: PathBuf,
    snapshots: Vec<String>,
    v2: PathBuf,
    new_ids: Vec<PathBuf>,
    /// The tree as each snapshot saw it.
    trees: Vec<BTreeMap<String, Vec<u8>>>,
}

impl Upgraded {
    fn vault2(&self) -> PathBuf {
        self.v2.join("vault.json")
    }

    fn new_shares(&self) -> Vec<OsString> {
        ["x", "y"]
            .iter()
            .zip(&self.new_ids)
            .flat_map(|(l, k)| {
                [
                    "--share".into(),
                    self.v2
                        .join(format!("shares/{l}.share.age"))
                        .into_os_string(),
                    "--identity".into(),
                    k.clone().into_os_string(),
                ]
            })
            .collect()
    }
}

/// A classic vault with two snapshots (the second reusing the first's
/// packs) and a sealed file, upgraded in a ceremony on a copy of the
/// store (naming the second snapshot only: the first comes as its base),
/// and the copy's new envelopes and upgrade list synced to the host.
/// Nothing classic is deleted yet.
fn upgraded() -> Upgraded {
    let c = classic_vault();
    let v = &c.v;
    let tree = v.dir.path().join("t");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("big"), content(3 << 19, 1)).unwrap();
    std::fs::write(tree.join("small"), b"first").unwrap();
    let store = v.dir.path().join("store");
    let mut snapshots = Vec::new();
    let mut trees = Vec::new();
    for (i, small) in [&b"first"[..], b"second"].iter().enumerate() {
        std::fs::write(tree.join("small"), small).unwrap();
        let (j, _) = v.push_ok(&[&store], &[&tree], &[]);
        assert_eq!(j["bases"], i, "{j}");
        snapshots.push(j["snapshot_id"].as_str().unwrap().to_owned());
        trees.push(files_of(&tree));
    }
    let sealed_plain = content(70_000, 3);
    let sealed = v.seal("file.seif", &sealed_plain);
    // The starting point is classic: the grep below can see X25519 stanzas.
    assert_eq!(with_x25519_stanza(&store).len(), 2);
    assert!(holds(&std::fs::read(&sealed).unwrap(), X25519_STANZA));

    // The ceremony, on a copy of the store.
    let copy = v.dir.path().join("copy");
    copy_dir(&store, &copy);
    let new_ids: Vec<PathBuf> = (0..2)
        .map(|i| {
            let p = v.dir.path().join(format!("g2-{i}.key"));
            age_identity_file(&p);
            p
        })
        .collect();
    let recipient = |p: &Path| {
        let text = std::fs::read_to_string(p).unwrap();
        let id: age::x25519::Identity = text.trim().parse().unwrap();
        id.to_public().to_string()
    };
    let v2 = v.dir.path().join("v2");
    let o = run(ceremony()
        .arg("rotate")
        .arg("--post-quantum")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 2]))
        .arg("--custodian")
        .arg(format!("x=age:{}", recipient(&new_ids[0])))
        .arg("--custodian")
        .arg(format!("y=age:{}", recipient(&new_ids[1])))
        .arg("--store")
        .arg(&copy)
        .arg("--out")
        .arg(&v2)
        .arg(&sealed)
        // Only the second snapshot: the first is its base, and its key
        // must be upgraded all the same (no snapshot is left out).
        .arg(&snapshots[1]));
    ok(&o);
    assert!(!stderr(&o).contains("left out"), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("the vault is now post-quantum")
            && out.contains("upgrade list signed by generation 2")
            && out.contains("seif drop-classic-keys"),
        "{out}"
    );
    let d2 = Descriptor::load(&v2.join("vault.json")).unwrap();
    assert!(d2.is_pq() && d2.require_pq() && d2.body().generation == 2);
    assert!(v2.join("pq-upgrade.json").is_file());
    // The log says it was the post-quantum upgrade, and names the list.
    let log = std::fs::read_to_string(v2.join("ceremony.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    let details = &last["body"]["details"];
    assert_eq!(details["post_quantum_upgrade"], true, "{last}");
    assert!(
        details["upgrade_list"]
            .as_str()
            .is_some_and(|k| k.starts_with("upgrades/")),
        "{last}"
    );
    // The re-wrapped sealed file has no classic stanza; the data is the
    // same bytes after the header.
    let rotated = v2.join("rotated/file.seif");
    assert!(!holds(&std::fs::read(&rotated).unwrap(), X25519_STANZA));

    // The host gets the new envelopes and the signed list (sync copies,
    // checked, and deletes nothing).
    let o = run(seif()
        .args(["sync", "--json", "--vault"])
        .arg(v2.join("vault.json"))
        .arg("--from")
        .arg(&copy)
        .arg("--to")
        .arg(&store));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["copied"]["key_envelopes"]["blobs"], 2, "{j}");
    assert_eq!(j["copied"]["upgrade_lists"]["blobs"], 1, "{j}");
    Upgraded {
        c,
        tree,
        store,
        sealed_plain,
        sealed,
        snapshots,
        v2,
        new_ids,
        trees,
    }
}

#[test]
fn the_upgrade_leaves_nothing_an_x25519_attacker_could_open() {
    let u = upgraded();
    let v = &u.c.v;
    let vault2 = u.vault2();
    // Before the host step: still two classic envelopes; verify under the
    // new vault (require_pq) says so and fails.
    assert_eq!(with_x25519_stanza(&u.store).len(), 2);
    let o = run(seif()
        .args(["verify", "--json", "--vault"])
        .arg(&vault2)
        .arg("--store")
        .arg(&u.store));
    assert_eq!(o.status.code(), Some(3));

    // A dry run deletes nothing and says what it would.
    let before = files_of(&u.store);
    let o = drop_classic(&vault2, &u.store, &["--dry-run"]);
    ok(&o);
    assert!(
        stdout(&o).contains("would remove 2 classic-only key envelope(s)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(files_of(&u.store), before);

    // The host step.
    let o = drop_classic(&vault2, &u.store, &[]);
    ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains("removed 2 classic-only key envelope(s); 2 post-quantum kept")
            && out.matches("the snapshot keeps keys/").count() == 2,
        "{out}"
    );

    // (a) No object in the store holds an X25519 stanza, raw or in an
    // envelope's wrapped key; nor does the re-wrapped sealed file.
    assert_eq!(with_x25519_stanza(&u.store), Vec::<String>::new());
    assert!(!holds(
        &std::fs::read(u.v2.join("rotated/file.seif")).unwrap(),
        X25519_STANZA
    ));
    // No payload was touched: every object and list is as it was.
    for (k, b) in &before {
        if !k.starts_with("keys/") {
            assert_eq!(files_of(&u.store).get(k), Some(b), "{k}");
        }
    }

    // (c) verify under the new vault: ok, no classic key.
    let o = run(seif()
        .args(["verify", "--json", "--vault"])
        .arg(&vault2)
        .arg("--store")
        .arg(&u.store));
    ok(&o);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["classic_key_envelopes"], 0, "{j}");
    assert_eq!(j["key_envelopes"], 2, "{j}");

    // (b) A grant from the new vault to a post-quantum team key restores
    // both snapshots (the second through its base's key) to their bytes.
    let team = v.dir.path().join("team.key");
    let team_public = pq_identity_file(&team);
    let grants = v.dir.path().join("grants");
    ok(&run(ceremony()
        .arg("grant")
        .arg("--vault")
        .arg(&vault2)
        .args(u.new_shares())
        .arg("--store")
        .arg(&u.store)
        .arg("--to")
        .arg(&team_public)
        .arg("--out")
        .arg(&grants)
        .args(&u.snapshots)));
    for (sid, tree) in u.snapshots.iter().zip(&u.trees) {
        let out = v.dir.path().join(format!("restored-{sid}"));
        ok(&run(seif()
            .args(["restore", "--identity"])
            .arg(&team)
            .arg("--grant")
            .arg(grants.join(format!("{sid}.grant")))
            .arg("--vault")
            .arg(&vault2)
            .arg("--store")
            .arg(&u.store)
            .arg("--out")
            .arg(&out)
            .arg(sid)));
        assert_eq!(&files_of(&out.join("t")), tree, "snapshot {sid}");
    }
    // The re-wrapped sealed file opens with the new shares.
    let opened = v.dir.path().join("opened");
    ok(&run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&vault2)
        .args(u.new_shares())
        .arg("--out")
        .arg(&opened)
        .arg(u.v2.join("rotated/file.seif"))));
    assert_eq!(std::fs::read(opened.join("file")).unwrap(), u.sealed_plain);

    // The old shares open nothing in the store any more: not through the
    // ceremony, and the old vault key unwraps no envelope there.
    let o = run(ceremony()
        .arg("open")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--store")
        .arg(&u.store)
        .arg("--out")
        .arg(v.dir.path().join("old-open"))
        .arg(&u.snapshots[1]));
    assert!(!o.status.success(), "{}", stdout(&o));
    let old = u.c.keys.identities();
    for (k, bytes) in files_of(&u.store.join("keys")) {
        let env = seif::snapshot::key_envelope::KeyEnvelope::parse(&bytes).unwrap();
        assert!(env.unwrap(&old[1..], &env.commitment).is_err(), "{k}");
    }
    // Run again: nothing left to do.
    let o = drop_classic(&vault2, &u.store, &[]);
    ok(&o);
    assert!(
        stdout(&o).contains("removed 0 classic-only"),
        "{}",
        stdout(&o)
    );
    let _ = (&u.tree, &u.sealed);
}

#[test]
fn the_host_step_refuses_unless_the_vault_vouches_for_each_pq_envelope() {
    let u = upgraded();
    let v = &u.c.v;
    let vault2 = u.vault2();
    let lists: Vec<PathBuf> = std::fs::read_dir(u.store.join("upgrades"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(lists.len(), 1);
    let list_bytes = std::fs::read(&lists[0]).unwrap();
    let list = UpgradeList::verify(&list_bytes, &Descriptor::load(&vault2).unwrap()).unwrap();
    let named: Vec<ListedEnvelope> = list.body.envelopes.clone();
    let scratch = |name: &str| {
        let s = v.dir.path().join(name);
        copy_dir(&u.store, &s);
        s
    };

    // The classic vault.json: refused (the host must use the new one).
    refuses_and_deletes_nothing(&v.vault_json, &scratch("classic-json"), 4, "classic vault");

    // No list in the store.
    let s = scratch("no-list");
    std::fs::remove_dir_all(s.join("upgrades")).unwrap();
    refuses_and_deletes_nothing(&vault2, &s, 4, "no verified upgrade list in the store");

    // A list signed by the wrong key: the old (classic) generation's key,
    // or a stranger's, claiming generation 2. Named as refused.
    for (name, keys) in [
        ("old-key", VaultKeys::derive(&VaultSecret::generate())),
        ("stranger", VaultKeys::derive(&VaultSecret::generate())),
    ] {
        let keys = if name == "old-key" { &u.c.keys } else { &keys };
        let s = scratch(name);
        std::fs::remove_dir_all(s.join("upgrades")).unwrap();
        let forged = UpgradeList::sign(
            keys,
            VaultId(Descriptor::load(&vault2).unwrap().vault_id()),
            2,
            named.clone(),
        )
        .unwrap();
        std::fs::create_dir(s.join("upgrades")).unwrap();
        std::fs::write(s.join(UpgradeList::store_key(&forged)), &forged).unwrap();
        let before = files_of(&s);
        let o = drop_classic(&vault2, &s, &[]);
        fails_with(&o, 4, "nothing was deleted");
        assert!(
            stderr(&o).contains("signature does not verify under the vault key of generation 2"),
            "{}",
            stderr(&o)
        );
        assert_eq!(files_of(&s), before);
        // Nor does sync carry a forged list to another store: named as
        // damage (exit 3), not copied.
        let dest = scratch(&format!("{name}-dest"));
        std::fs::remove_dir_all(dest.join("upgrades")).unwrap();
        let o = run(seif()
            .args(["sync", "--vault"])
            .arg(&vault2)
            .arg("--from")
            .arg(&s)
            .arg("--to")
            .arg(&dest));
        fails_with(&o, 3, "not an upgrade list of this vault");
        assert!(!dest.join("upgrades").exists() || entries(&dest.join("upgrades")).is_empty());
    }

    // A listed post-quantum envelope absent from the store.
    let s = scratch("absent");
    std::fs::remove_file(s.join(named[0].store_key())).unwrap();
    refuses_and_deletes_nothing(&vault2, &s, 4, "nothing was deleted");
    let o = drop_classic(&vault2, &s, &[]);
    assert!(
        stdout(&o).contains("absent, or its bytes differ"),
        "{}",
        stdout(&o)
    );

    // Its bytes differ from the hash the list names (same name, other
    // bytes: a well-formed post-quantum envelope of another key).
    let s = scratch("altered");
    let other = seif::snapshot::key_envelope::KeyEnvelope::wrap(
        &seif::secrets::DataKey::generate(),
        VaultId(Descriptor::load(&vault2).unwrap().vault_id()),
        named[1].snapshot_id,
        2,
        &Descriptor::load(&vault2).unwrap().body().recipients,
    )
    .unwrap();
    std::fs::write(s.join(named[1].store_key()), other.to_bytes()).unwrap();
    refuses_and_deletes_nothing(&vault2, &s, 4, "nothing was deleted");

    // A forger's own post-quantum envelope, rightly named, in place of
    // the listed one: not what the list names, so still refused.
    let s = scratch("planted");
    std::fs::remove_file(s.join(named[1].store_key())).unwrap();
    std::fs::write(s.join(other.store_key()), other.to_bytes()).unwrap();
    refuses_and_deletes_nothing(&vault2, &s, 4, "nothing was deleted");

    // After all that, the real store still works.
    ok(&drop_classic(&vault2, &u.store, &[]));
    let _: (&SnapshotId, &BlobId) = (&named[0].snapshot_id, &named[0].envelope);
}

/// A post-quantum vault has nothing to upgrade: refused before any share
/// is asked for.
#[test]
fn rotate_post_quantum_refuses_a_vault_that_is_already_post_quantum() {
    let v = age_vault(3, 2);
    let r = age_identity_file(&v.dir.path().join("n.key"));
    let r2 = age_identity_file(&v.dir.path().join("n2.key"));
    let o = run(ceremony()
        .arg("rotate")
        .arg("--post-quantum")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--custodian")
        .arg(format!("x=age:{r}"))
        .arg("--custodian")
        .arg(format!("y=age:{r2}"))
        .arg("--out")
        .arg(v.dir.path().join("v2")));
    fails_with(&o, 2, "already post-quantum");
    assert!(!v.dir.path().join("v2").exists());
}

/// A snapshot with a key in the store copy that the upgrade neither names
/// nor reaches as a base: the ceremony warns, and the host step deletes
/// nothing while its classic key is there, naming it.
#[test]
fn a_snapshot_left_out_of_the_upgrade_is_warned_of_and_blocks_the_host_step() {
    let c = classic_vault();
    let v = &c.v;
    let store = v.dir.path().join("store");
    let mut ids = Vec::new();
    for (i, name) in ["a", "b"].iter().enumerate() {
        let tree = v.dir.path().join(name);
        std::fs::create_dir(&tree).unwrap();
        std::fs::write(tree.join("f"), content(20_000, 10 + i as u64)).unwrap();
        let o = run(seif()
            .args(["push", "--json", "--vault"])
            .arg(&v.vault_json)
            .arg("--sealer")
            .arg(&v.sealer_key)
            .arg("--state-dir")
            .arg(v.dir.path().join(format!("state-{name}")))
            .arg("--store")
            .arg(&store)
            .arg(&tree));
        ok(&o);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["bases"], 0, "{j}");
        ids.push(j["snapshot_id"].as_str().unwrap().to_owned());
    }
    let copy = v.dir.path().join("copy");
    copy_dir(&store, &copy);
    let r1 = age_identity_file(&v.dir.path().join("x.key"));
    let r2 = age_identity_file(&v.dir.path().join("y.key"));
    let v2 = v.dir.path().join("v2");
    let o = run(ceremony()
        .arg("rotate")
        .arg("--post-quantum")
        .arg("--vault")
        .arg(&v.vault_json)
        .args(v.share_args(&[0, 1]))
        .arg("--custodian")
        .arg(format!("x=age:{r1}"))
        .arg("--custodian")
        .arg(format!("y=age:{r2}"))
        .arg("--store")
        .arg(&copy)
        .arg("--out")
        .arg(&v2)
        .arg(&ids[0]));
    ok(&o);
    assert!(
        stderr(&o).contains(&format!(
            "--post-quantum: 1 snapshot(s) with a key in the store copy are left out (the first: {})",
            ids[1]
        )),
        "{}",
        stderr(&o)
    );
    let vault2 = v2.join("vault.json");
    ok(&run(seif()
        .args(["sync", "--vault"])
        .arg(&vault2)
        .arg("--from")
        .arg(&copy)
        .arg("--to")
        .arg(&store)));
    refuses_and_deletes_nothing(&vault2, &store, 4, "nothing was deleted");
    let o = drop_classic(&vault2, &store, &[]);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("keys/{}/", ids[1]))
            && out.contains(
                "no verified upgrade list names a post-quantum envelope for this snapshot"
            ),
        "{out}"
    );
}
