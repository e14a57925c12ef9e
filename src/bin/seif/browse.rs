//! The recovery team's views into snapshots, with a granted identity:
//! `seif ls --identity` (a snapshot's files), `seif find` (paths by a glob,
//! in one snapshot or all), `seif diff` (what changed between two). The
//! library half is `seif::snapshot::browse`. Every path comes from a
//! manifest and is printed escaped.

use std::io::Write;

use clap::Args;
use seif::descriptor::Descriptor;
use seif::snapshot::browse::{self, Change};
use seif::snapshot::list::Tables;
use seif::snapshot::manifest::{Entry, EntryKind};
use seif::snapshot::read::KeyRing;
use seif::snapshot::record::Record;
use seif::snapshot::{self};
use seif::store::Store;
use seif::untrusted::escape;
use seif_cli::report::{self, Failure};
use serde_json::json;

use crate::files::load_vault;
use crate::snapshot::{KeyArgs, Keys, StoreArgs, existing_store, json_text, judge, pruned_or};

/// A snapshot opened for reading: its tables and keys.
struct Opened {
    record: Record,
    tables: Tables,
    ring: KeyRing,
}

/// What every view needs: the store, its records, the vault and the keys.
struct Session {
    store: Box<dyn Store>,
    records: std::collections::BTreeMap<seif::ids::BlobId, Record>,
    vault: Option<Descriptor>,
    keys: Keys,
}

impl Session {
    fn start(keys: &KeyArgs, store: &StoreArgs) -> Result<Self, Failure> {
        seif::hardening::disable_core_dumps()
            .map_err(|e| Failure::error(format!("cannot disable core dumps: {e}")))?;
        let vault = keys.vault.as_deref().map(load_vault).transpose()?;
        let keys = Keys::load(keys, vault.as_ref())?;
        let (store, (records, _)) = existing_store(store, false)?;
        Ok(Session {
            store,
            records,
            vault,
            keys,
        })
    }

    fn find(&self, spec: &str) -> Result<Record, Failure> {
        snapshot::find(&self.records, spec)
            .cloned()
            .map_err(Failure::error)
    }

    fn open(&self, record: Record) -> Result<Opened, Failure> {
        if let Some(v) = &self.vault {
            judge(v, &record)?;
        }
        let store = self.store.as_ref();
        let tables = snapshot::read::load_tables(store, &record)
            .map_err(|e| pruned_or(store, self.vault.as_ref(), &record, e))?;
        let ring = snapshot::read::unwrap_keys(store, &record, &tables, &self.keys)
            .map_err(|e| pruned_or(store, self.vault.as_ref(), &record, e))?;
        Ok(Opened {
            record,
            tables,
            ring,
        })
    }

    fn entries<'a>(
        &'a self,
        o: &'a Opened,
    ) -> Result<snapshot::read::ManifestEntries<'a>, Failure> {
        browse::entries(self.store.as_ref(), &o.record, &o.tables, &o.ring).map_err(Failure::from)
    }
}

fn out_err(e: std::io::Error) -> Failure {
    Failure::stdout(&e)
}

/// One entry as a line: permissions, size, time, path (and a symlink's
/// target), everything from the manifest escaped.
fn entry_line(e: &Entry) -> String {
    format!(
        "{} {:>14} {}  {}{}",
        browse::mode_string(e.kind, e.mode),
        e.size.unwrap_or(0),
        seif::time::rfc3339(e.mtime),
        escape(&e.path),
        match (&e.kind, &e.target) {
            (EntryKind::Symlink, Some(t)) => format!(" -> {}", escape(t)),
            _ => String::new(),
        }
    )
}

fn entry_json(e: &Entry) -> serde_json::Value {
    json!({
        "path": e.path, "type": browse::kind_name(e.kind), "size": e.size.unwrap_or(0),
        "mode": format!("{:04o}", e.mode), "permissions": browse::mode_string(e.kind, e.mode),
        "mtime": seif::time::rfc3339(e.mtime), "target": e.target,
    })
}

/// `seif ls --identity KEY --store S SNAPSHOT [PATH…]`.
pub fn ls_snapshot(
    keys: &KeyArgs,
    store: &StoreArgs,
    spec: &str,
    paths: &[String],
    json: bool,
) -> Result<(), Failure> {
    let s = Session::start(keys, store)?;
    let o = s.open(s.find(spec)?)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut listed = Vec::new();
    let mut seen = vec![false; paths.len()];
    for e in s.entries(&o)? {
        let e = e.map_err(Failure::from)?;
        if !browse::is_under(&e.path, paths) {
            continue;
        }
        for (i, p) in paths.iter().enumerate() {
            seen[i] |= browse::is_under(&e.path, std::slice::from_ref(p));
        }
        if json {
            listed.push(entry_json(&e));
        } else {
            writeln!(out, "{}", entry_line(&e)).map_err(out_err)?;
        }
    }
    if json {
        let doc = json!({"snapshot_id": o.record.body.snapshot_id, "record": o.record.hash, "entries": listed});
        writeln!(out, "{}", json_text(&doc)).map_err(out_err)?;
    }
    out.flush().map_err(out_err)?;
    let missing: Vec<String> = paths
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !**s)
        .map(|(p, _)| format!("'{}'", escape(p)))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::error(format!(
            "not in snapshot {}: {}",
            o.record.body.snapshot_id,
            missing.join(", ")
        ))
        .hint("`seif find` looks for a name anywhere in the snapshot"));
    }
    Ok(())
}

#[derive(Args)]
pub struct FindArgs {
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Look in every snapshot of the store.
    #[arg(long)]
    all: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// [SNAPSHOT] GLOB: the snapshot (`latest` when not given; not with
    /// --all), and a glob (`*.csv`; with a `/`, matched against the whole
    /// path: `registry/**/x.csv`).
    #[arg(value_name = "SNAPSHOT|GLOB", num_args = 1..=2, required = true)]
    args: Vec<String>,
}

pub fn find(args: FindArgs) -> Result<(), Failure> {
    let (spec, glob) = match args.args.as_slice() {
        [glob] => (None, glob.clone()),
        [spec, glob] => (Some(spec.clone()), glob.clone()),
        _ => return Err(Failure::usage("give [SNAPSHOT] GLOB")),
    };
    if args.all && spec.is_some() {
        return Err(Failure::usage("give a SNAPSHOT or --all, not both"));
    }
    let s = Session::start(&args.keys, &args.store)?;
    let chosen: Vec<Record> = if args.all {
        snapshot::verify::ordered(&s.records)
            .into_iter()
            .cloned()
            .collect()
    } else {
        vec![s.find(spec.as_deref().unwrap_or("latest"))?]
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut found = Vec::new();
    let mut hits = 0u64;
    let mut failed = Vec::new();
    for r in chosen {
        let sid = r.body.snapshot_id;
        let o = match s.open(r) {
            Ok(o) => o,
            Err(f) if args.all => {
                report::warn(crate::TOOL, &format!("snapshot {sid}: {}", f.message));
                failed.push(f);
                continue;
            }
            Err(f) => return Err(f),
        };
        for e in s.entries(&o)? {
            let e = e.map_err(Failure::from)?;
            if !browse::glob_matches(&glob, &e.path) {
                continue;
            }
            hits += 1;
            if args.json {
                let mut j = entry_json(&e);
                j["snapshot_id"] = json!(sid);
                j["time"] = json!(o.record.body.time);
                found.push(j);
            } else {
                writeln!(
                    out,
                    "{} {}  {}",
                    sid.short(12),
                    escape(&o.record.body.time),
                    entry_line(&e)
                )
                .map_err(out_err)?;
            }
        }
    }
    if args.json {
        writeln!(
            out,
            "{}",
            json_text(&json!({"glob": glob, "matches": found}))
        )
        .map_err(out_err)?;
    }
    out.flush().map_err(out_err)?;
    if let Some(f) = failed.into_iter().reduce(|a, b| {
        if b.kind.graver(a.kind) == b.kind {
            b
        } else {
            a
        }
    }) {
        return Err(f.reworded(
            "some snapshots could not be opened (named above); their paths were not searched",
        ));
    }
    if hits == 0 {
        report::note(crate::TOOL, &format!("no path matches '{}'", escape(&glob)));
    }
    Ok(())
}

#[derive(Args)]
pub struct DiffArgs {
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The earlier snapshot.
    old: String,
    /// The later snapshot.
    new: String,
}

pub fn diff(args: DiffArgs) -> Result<(), Failure> {
    let s = Session::start(&args.keys, &args.store)?;
    let a = s.open(s.find(&args.old)?)?;
    let b = s.open(s.find(&args.new)?)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut added, mut removed, mut changed) = (0u64, 0u64, 0u64);
    let mut listed = Vec::new();
    let mut failure = None;
    let walked = browse::diff(s.entries(&a)?, s.entries(&b)?, |c| {
        let (sign, what) = match &c {
            Change::Added(_) => {
                added += 1;
                ("+", String::new())
            }
            Change::Removed(_) => {
                removed += 1;
                ("-", String::new())
            }
            Change::Changed { what, .. } => {
                changed += 1;
                ("M", format!("  ({})", what.join(", ")))
            }
        };
        if args.json {
            listed.push(json!({"change": match &c { Change::Added(_) => "added", Change::Removed(_) => "removed", Change::Changed { .. } => "changed" },
                "path": c.path(), "what": match &c { Change::Changed { what, .. } => what.clone(), _ => Vec::new() }}));
        } else if let Err(e) = writeln!(out, "{sign}  {}{what}", escape(c.path())) {
            failure.get_or_insert(out_err(e));
        }
        Ok(())
    });
    if let Some(f) = failure {
        return Err(f);
    }
    walked.map_err(Failure::from)?;
    if args.json {
        let doc = json!({"old": a.record.body.snapshot_id, "new": b.record.body.snapshot_id,
            "added": added, "removed": removed, "changed": changed, "changes": listed});
        writeln!(out, "{}", json_text(&doc)).map_err(out_err)?;
    }
    out.flush().map_err(out_err)?;
    if !args.json {
        report::note(
            crate::TOOL,
            &format!(
                "{} -> {}: {added} added, {removed} removed, {changed} changed",
                a.record.body.snapshot_id, b.record.body.snapshot_id
            ),
        );
    }
    Ok(())
}
