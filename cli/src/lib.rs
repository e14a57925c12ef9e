//! What seif's two binaries (`seif` and `seif-ceremony`) share, and the
//! library must not hold: how an outcome becomes a message on stderr and an
//! exit code, built from the library's error types; how inputs are opened
//! with errors that name the file; and progress bars.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod docs;
pub mod errors;
pub mod files;
#[cfg(feature = "progress")]
pub mod progress;
pub mod report;

pub use report::{Exit, Failure, Kind};
