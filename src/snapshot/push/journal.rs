//! The resume journal of one push (`push-<…>.journal` in the state
//! directory, 0600, MAC'd lines).
//!
//! ```text
//! {"journal":"seif-push-journal/2", vault, sealer, stores, paths, pad, snapshot_id, commitment, envelope, data_key}
//! {"pack":{"id":…,"size":…,"chunks":[[fingerprint, offset, length], …]}}   one per stored pack, in order
//! {"ready":{"lists":[…],"summary":{…},"time":…}}                          the snapshot is complete in every store
//! {"recorded":{"store":…,"record":…}}                                      its record is in that store
//! ```
//!
//! A push killed while it walks resumes the same snapshot: it walks the
//! whole tree again and proves every chunk it reuses from the packs the
//! journal names by its content (a chunk whose fingerprint is not found is
//! stored afresh), so a file changed, deleted or added between the runs is
//! recorded as it is now. A push killed after `ready` does not walk again:
//! it writes the record to the stores that lack it.
//!
//! The journal holds the unfinished snapshot's data key (it opens only
//! data already on this machine in plaintext). When the snapshot is
//! `ready`, the journal is rewritten without the key: from then on the
//! pipeline holds no key to it, as for every finished snapshot.

use std::fs::File;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::PushError;
use super::index::Fingerprint;
use super::state::{LocalKeys, MacWriter, StateDir};
use crate::encoding::from_hex;
use crate::ids::{BlobId, Commitment, SnapshotId, VaultId};
use crate::secrets::DataKey;
use crate::snapshot::record::{ListRef, Summary};

const FORMAT: &str = "seif-push-journal/2";
const DOMAIN: &str = "seif/v1/pipeline/journal";

/// The first line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Always [`FORMAT`].
    pub journal: String,
    /// The vault.
    pub vault_id: VaultId,
    /// The sealer.
    pub sealer: String,
    /// The stores, as named.
    pub stores: Vec<String>,
    /// The pushed paths, absolute.
    pub paths: Vec<String>,
    /// Padding.
    pub pad: bool,
    /// The snapshot being pushed.
    pub snapshot_id: SnapshotId,
    /// Its key commitment.
    pub commitment: Commitment,
    /// Its key envelope's bytes (stored again as they are).
    pub envelope: String,
    /// Its data key, hex; gone once the snapshot is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<String>,
}

impl Drop for Head {
    fn drop(&mut self) {
        if let Some(k) = &mut self.data_key {
            zeroize::Zeroize::zeroize(k);
        }
    }
}

/// A stored pack and the chunks in it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackLine {
    /// The object.
    pub id: BlobId,
    /// Its size.
    pub size: u64,
    /// `[fingerprint (hex), offset, length]`.
    pub chunks: Vec<(String, u32, u32)>,
}

impl PackLine {
    /// The chunks with their fingerprints decoded (a malformed one is
    /// skipped: it is then simply not reused).
    pub fn fingerprints(&self) -> impl Iterator<Item = (Fingerprint, u32, u32)> + '_ {
        self.chunks
            .iter()
            .filter_map(|(fp, o, l)| from_hex::<32>(fp).ok().map(|fp| (fp, *o, *l)))
    }
}

/// What the record will say (but for `previous`), fixed once the snapshot
/// is complete.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// The lists.
    pub lists: Vec<ListRef>,
    /// Their sums.
    pub summary: Summary,
    /// When the push finished.
    pub time: String,
}

/// A record written to one store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// The store, as named.
    pub store: String,
    /// The record.
    pub record: BlobId,
}

/// A line after the head.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Line {
    /// A stored pack.
    Pack(PackLine),
    /// The snapshot is complete.
    Ready(Ready),
    /// A record written.
    Recorded(Recorded),
}

/// A journal read back.
pub struct Loaded {
    /// Its head.
    pub head: Head,
    /// The packs stored.
    pub packs: Vec<PackLine>,
    /// Set once the snapshot is complete.
    pub ready: Option<Ready>,
    /// Records written.
    pub recorded: Vec<Recorded>,
}

impl Loaded {
    /// The data key (a journal that is not yet ready has one).
    pub fn key(&self) -> Option<DataKey> {
        let hex = self.head.data_key.as_deref()?;
        let bytes = Zeroizing::new(from_hex::<32>(hex).ok()?);
        Some(DataKey::from_bytes(bytes))
    }
}

/// The journal file of one push.
pub struct Journal {
    name: String,
    w: MacWriter<File>,
}

fn err(state: &StateDir, name: &str, message: impl Into<String>) -> PushError {
    PushError::Journal {
        path: state.file(name),
        message: message.into(),
    }
}

impl Journal {
    /// The journal's file name for a push.
    pub fn name(vault: &VaultId, sealer: &str, stores: &[String], paths: &[String]) -> String {
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut h, vault.0);
        sha2::Digest::update(&mut h, sealer.as_bytes());
        for s in stores {
            sha2::Digest::update(&mut h, [0]);
            sha2::Digest::update(&mut h, s.as_bytes());
        }
        for p in paths {
            sha2::Digest::update(&mut h, [1]);
            sha2::Digest::update(&mut h, p.as_bytes());
        }
        format!(
            "push-{}.journal",
            &crate::encoding::to_hex(&sha2::Digest::finalize(h))[..24]
        )
    }

    /// Reads a journal, if there is one: it must verify under this
    /// pipeline's key and describe this very push; anything else is refused
    /// (naming the file), never used.
    pub fn load(
        state: &StateDir,
        keys: &LocalKeys,
        name: &str,
        expect: &Head,
    ) -> Result<Option<Loaded>, PushError> {
        let Some(mut r) = super::state::mac_reader(state, name, &keys.mac, DOMAIN)? else {
            return Ok(None);
        };
        let refuse = |m: String| {
            err(
                state,
                name,
                format!(
                    "{m}; it was not written by this push: remove it (`seif push --abandon`) after checking where it came from"
                ),
            )
        };
        let head: Head = match r.next_line() {
            Some(Ok(l)) => serde_json::from_slice(&l).map_err(|e| refuse(e.to_string()))?,
            Some(Err(e)) => return Err(refuse(e)),
            None => {
                // Cut off before its first line was whole: nothing was stored
                // under it.
                return Ok(None);
            }
        };
        if head.journal != FORMAT
            || head.vault_id != expect.vault_id
            || head.sealer != expect.sealer
            || head.stores != expect.stores
            || head.paths != expect.paths
            || head.pad != expect.pad
        {
            return Err(refuse("it describes another push".into()));
        }
        let mut loaded = Loaded {
            head,
            packs: Vec::new(),
            ready: None,
            recorded: Vec::new(),
        };
        while let Some(l) = r.next_line() {
            let l = l.map_err(refuse)?;
            match serde_json::from_slice::<Line>(&l).map_err(|e| refuse(e.to_string()))? {
                Line::Pack(p) if loaded.ready.is_none() => loaded.packs.push(p),
                Line::Ready(ready) if loaded.ready.is_none() => loaded.ready = Some(ready),
                Line::Recorded(rec) if loaded.ready.is_some() => loaded.recorded.push(rec),
                _ => return Err(refuse("its lines are out of order".into())),
            }
        }
        if loaded.ready.is_none() && loaded.head.data_key.is_none() {
            return Err(refuse("it holds no key and is not ready".into()));
        }
        Ok(Some(loaded))
    }

    /// Writes a journal afresh (atomically): the head, then `lines`.
    pub fn write(
        state: &StateDir,
        keys: &LocalKeys,
        name: &str,
        head: &Head,
        lines: &[Line],
    ) -> Result<Self, PushError> {
        let path = state.file(name);
        let io = |e: std::io::Error| err(state, name, e.to_string());
        let mut file = crate::atomic::AtomicFile::create(&path, true).map_err(io)?;
        let count;
        {
            let mut w = MacWriter::new(file.file(), &keys.mac, DOMAIN);
            let text = Zeroizing::new(serde_json::to_vec(head).expect("serializes"));
            w.line(&text).map_err(io)?;
            for l in lines {
                w.line(&serde_json::to_vec(l).expect("serializes"))
                    .map_err(io)?;
            }
            count = w.count();
        }
        file.commit(0o600).map_err(io)?;
        crate::killpoint::reached("journal-written");
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(Journal {
            name: name.into(),
            w: MacWriter::resume(f, &keys.mac, DOMAIN, count),
        })
    }

    /// Appends a line, durably.
    pub fn append(&mut self, state: &StateDir, line: &Line) -> Result<(), PushError> {
        let io = |e: std::io::Error| err(state, &self.name, e.to_string());
        self.w
            .line(&serde_json::to_vec(line).expect("serializes"))
            .map_err(io)?;
        self.w.get_mut().sync_data().map_err(io)
    }

    /// Removes the journal: the push is over.
    pub fn remove(self, state: &StateDir) -> Result<(), PushError> {
        drop(self.w);
        state.remove(&self.name)
    }
}

/// Removes every journal in the state directory (`seif push --abandon`):
/// each held the key of an unfinished snapshot. Returns their names.
pub fn abandon_all(state: &StateDir) -> Result<Vec<String>, PushError> {
    let names = state.names("push-")?;
    for n in &names {
        state.remove(n)?;
    }
    Ok(names)
}
