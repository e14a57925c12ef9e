//! The ceiling for `scripts/bench`: XChaCha20-Poly1305 of the
//! `chacha20poly1305` crate, encrypting 64 KiB chunks in place in memory,
//! on one core and on all cores. Prints JSON.
//!
//! `cargo run --release --example ceiling -- [TOTAL_MIB]` (default 2048).

use std::time::Instant;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const CHUNK: usize = 64 * 1024;

/// Encrypts `total` bytes, chunk by chunk, over a 64 MiB buffer per thread
/// (larger than the caches, as a real stream is), on `threads` threads.
fn run(threads: usize, total: usize) -> f64 {
    let per_thread = total / threads;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let aead = XChaCha20Poly1305::new(&[t as u8; 32].into());
                let mut buf = vec![0x5au8; 64 << 20];
                let mut done = 0usize;
                let mut counter = 0u64;
                while done < per_thread {
                    for chunk in buf.chunks_mut(CHUNK) {
                        let mut nonce = [0u8; 24];
                        nonce[..8].copy_from_slice(&counter.to_be_bytes());
                        counter += 1;
                        let tag = aead
                            .encrypt_inout_detached(&XNonce::from(nonce), b"aad", chunk.into())
                            .expect("encrypts");
                        std::hint::black_box(tag);
                        done += chunk.len();
                        if done >= per_thread {
                            break;
                        }
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    (per_thread * threads) as f64 / secs / 1e6
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2048);
    let total = mib << 20;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Warm up the CPU's frequency and the allocator.
    run(cores, 256 << 20);
    let one = run(1, total);
    let all = run(cores, total);
    println!(
        "{{\"one_core_mb_s\": {one:.0}, \"all_cores_mb_s\": {all:.0}, \"cores\": {cores}, \"bytes\": {total}}}"
    );
}
