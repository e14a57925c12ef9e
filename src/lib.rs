//! seif: a data-embassy vault.
//!
//! A state seals its data on its own machines with public material only, ships
//! the ciphertext to a host abroad, and opens it again only when a quorum of
//! custodians reconstructs the vault secret in a key ceremony.
//!
//! The modules follow the key hierarchy and the formats of `FORMAT.md`, one
//! line each. The command lines are not here: `seif` (src/bin/seif/),
//! `seif-ceremony` (ceremony/) and what they share (seif-cli, cli/) call
//! this library and print.
//!
//! Secrets and keys:
//! - [`secrets`]: the secret types (vault secret, data keys), zeroized on drop.
//! - [`keys`]: what is derived from the vault secret (age identity, signing key).
//! - [`shares`]: Shamir shares of the vault secret, validated before combining.
//! - [`custody`]: share files protected per custodian (OpenPGP, age, passphrase).
//! - [`sealer`]: the export pipelines' signing keys.
//! - [`mldsa`]: ML-DSA-65, the post-quantum half of hybrid signatures.
//! - [`wrap`]: data keys wrapped to age recipients, and the key commitment.
//! - [`pq`]: age's hybrid post-quantum recipient (`mlkem768x25519`, X-Wing).
//!
//! Formats:
//! - [`encoding`]: hex and Bech32, the text encodings of keys and ids.
//! - [`ids`]: typed identifiers (vault, snapshot, blob, commitment), parsed once.
//! - [`signed`]: canonical JSON and the domain-separated Ed25519 signatures
//!   that every public record uses.
//! - [`descriptor`]: the public, self-signed vault descriptor (`vault.json`),
//!   and what a vault accepts.
//! - [`stream`]: the chunked XChaCha20-Poly1305 STREAM construction.
//! - [`sealed`]: the sealed-file format (`seif seal` / `seif open`).
//! - [`padme`]: Padmé padding of lengths.
//! - [`snapshot`]: snapshots of trees: push, records, manifests, verify, restore.
//! - [`store`]: object stores (a local directory, S3) behind one interface.
//! - [`ceremony`]: the key ceremony's steps, log, quorum and air-gap check.
//!
//! Running safely:
//! - [`pipeline`]: the ordered parallel pipeline of seal and open, in constant memory.
//! - [`workers`]: threads that stop together at the first error.
//! - [`atomic`]: output files that appear only when complete.
//! - [`hardening`]: process hardening (no core dumps) for tools that hold secrets.
//! - [`untrusted`]: text from outside escaped before it reaches a terminal.
//! - [`time`]: UTC timestamps for records and logs.
//! - [`retention`]: the vault's retention policy: which snapshots a prune expires.
//! - [`killpoint`]: named write points where tests kill a debug build.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod atomic;
pub mod ceremony;
pub mod custody;
pub mod descriptor;
pub mod encoding;
pub mod hardening;
pub mod ids;
pub mod keys;
pub mod killpoint;
pub mod mldsa;
pub mod padme;
pub mod pipeline;
pub mod pq;
pub mod retention;
pub mod sealed;
pub mod sealer;
pub mod secrets;
pub mod shares;
pub mod signed;
pub mod snapshot;
pub mod store;
pub mod stream;
pub mod time;
pub mod untrusted;
pub mod workers;
pub mod wrap;

#[cfg(test)]
mod tests {
    /// The module map above names every module, and nothing else.
    #[test]
    fn the_module_map_is_whole() {
        let text = include_str!("lib.rs");
        let declared: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
            .collect();
        let mapped: std::collections::BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("//! - [`")?.split_once("`]"))
            .map(|(m, _)| m)
            .collect();
        assert_eq!(
            declared, mapped,
            "src/lib.rs: the module map (//! - [`name`]: …) must list every `pub mod`, one line each"
        );
    }
}
