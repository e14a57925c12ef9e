//! seif: a data-embassy vault.
//!
//! A state seals its data on its own machines with public material only, ships
//! the ciphertext to a host abroad, and opens it again only when a quorum of
//! custodians reconstructs the vault secret in a key ceremony.
//!
//! The modules follow the key hierarchy and the formats of `FORMAT.md`:
//!
//! - [`secrets`]: the secret types (vault secret, data keys), zeroized on drop.
//! - [`keys`]: what is derived from the vault secret (age identity, signing key).
//! - [`signed`]: canonical JSON and the domain-separated Ed25519 signatures
//!   that every public record uses.
//! - [`descriptor`]: the public, self-signed vault descriptor (`vault.json`).
//! - [`sealer`]: the export pipelines' signing keys.
//! - [`stream`]: the chunked XChaCha20-Poly1305 STREAM construction.
//! - [`wrap`]: data keys wrapped to age recipients, and the key commitment.
//! - [`pq`]: age's hybrid post-quantum recipient (`mlkem768x25519`, X-Wing).
//! - [`sealed`]: the sealed-file format (`seif seal` / `seif open`).
//! - [`padme`]: Padmé padding of lengths.
//! - [`atomic`]: output files that appear only when complete.
//! - [`hardening`]: process hardening (no core dumps) for tools that hold secrets.
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
pub mod padme;
pub mod pipeline;
pub mod pq;
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
