//! The sealed-file format: one stream of data (a file, or stdin such as a
//! `pg_dump`) sealed to a vault with public material only, signed by its
//! sealer. See `format` for the layout and FORMAT.md for the specification.

pub mod format;
pub mod inspect;
pub mod open;
pub mod seal;

pub use format::{Header, Metadata};

/// Batches carry about this many plaintext bytes: large enough that handing
/// a batch to a worker costs nothing next to encrypting it, small enough that
/// a few dozen in flight stay within a few MiB.
const BATCH_BYTES: usize = 1 << 20;

/// Chunks per batch for a chunk size.
fn batch_chunks(chunk: usize) -> usize {
    (BATCH_BYTES / chunk).max(1)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(r) => n += r,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
