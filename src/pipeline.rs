//! A bounded, ordered parallel pipeline: one reader fills batches, workers
//! transform them in place on every core, and the caller's thread consumes
//! them in their original order. A fixed pool of batch buffers is recycled,
//! so memory stays constant whatever the stream's length, and no buffer is
//! allocated per chunk.
//!
//! It is [`crate::workers::ordered`] with a pool of buffers: the first
//! error any stage meets ends the run and is returned.

use crossbeam_channel::bounded;

/// One unit of work: a buffer and where it sits in the stream.
pub struct Batch {
    /// Position of this batch in the stream (0, 1, 2, …).
    pub seq: u64,
    /// The buffer, allocated once at its full capacity.
    pub buf: Vec<u8>,
    /// Free for the stages' own bookkeeping (e.g. chunks and lengths).
    pub chunks: usize,
    /// Length of the final chunk in this batch.
    pub tail_len: usize,
    /// Whether this batch ends the stream.
    pub last: bool,
}

pub use crate::workers::default_threads;

/// Runs the pipeline.
///
/// - `fill` is called on a reader thread with an empty batch; it fills the
///   buffer and sets `last` on the final batch.
/// - `work` is called on `threads` worker threads, on batches in any order.
/// - `drain` is called on this thread, on batches in stream order.
pub fn run<E: Send>(
    threads: usize,
    batch_len: usize,
    mut fill: impl FnMut(&mut Batch) -> Result<(), E> + Send,
    work: impl Fn(&mut Batch) -> Result<(), E> + Sync,
    mut drain: impl FnMut(&Batch) -> Result<(), E>,
) -> Result<(), E> {
    let threads = threads.max(1);
    // Two batches per worker keep every core busy while one is being
    // filled and one drained; more would only cost memory.
    let in_flight = 2 * threads + 2;
    let (pool_tx, pool_rx) = bounded::<Batch>(in_flight);
    for _ in 0..in_flight {
        pool_tx
            .send(Batch {
                seq: 0,
                buf: vec![0u8; batch_len],
                chunks: 0,
                tail_len: 0,
                last: false,
            })
            .expect("pool has room");
    }
    crate::workers::ordered(
        threads,
        in_flight,
        move |emit| {
            let mut seq = 0;
            // A buffer from the pool, unless the run stopped (the consumer,
            // which returns buffers, may have stopped first).
            let take = |emit: &crate::workers::Emit<'_, Batch>| loop {
                if emit.stopped() {
                    return None;
                }
                match pool_rx.recv_timeout(std::time::Duration::from_millis(50)) {
                    Ok(b) => return Some(b),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                    Err(_) => return None,
                }
            };
            while let Some(mut batch) = take(emit) {
                batch.seq = seq;
                batch.chunks = 0;
                batch.tail_len = 0;
                batch.last = false;
                seq += 1;
                fill(&mut batch)?;
                let last = batch.last;
                if !emit.send(batch) || last {
                    break;
                }
            }
            Ok(())
        },
        |mut batch| {
            work(&mut batch)?;
            Ok(batch)
        },
        |batch| {
            drain(&batch)?;
            // The buffer goes back to the reader.
            let _ = pool_tx.send(batch);
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_under_parallel_work() {
        let mut produced = 0u32;
        let mut seen = Vec::new();
        run::<String>(
            4,
            4,
            |b| {
                b.buf[..4].copy_from_slice(&produced.to_be_bytes());
                produced += 1;
                b.last = produced == 1000;
                Ok(())
            },
            |b| {
                // Uneven work so that batches finish out of order.
                if b.seq % 3 == 0 {
                    std::thread::yield_now();
                }
                Ok(())
            },
            |b| {
                seen.push(u32::from_be_bytes(b.buf[..4].try_into().unwrap()));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_in_any_stage_ends_the_run() {
        let mut n = 0;
        let r = run::<String>(
            2,
            1,
            |b| {
                n += 1;
                b.last = false;
                if n > 100 {
                    Err("reader".into())
                } else {
                    Ok(())
                }
            },
            |_| Ok(()),
            |_| Ok(()),
        );
        assert_eq!(r.unwrap_err(), "reader");
        let r = run::<String>(
            2,
            1,
            |_| Ok(()),
            |b| {
                if b.seq == 7 {
                    Err("worker".into())
                } else {
                    Ok(())
                }
            },
            |_| Ok(()),
        );
        assert_eq!(r.unwrap_err(), "worker");
        let r = run::<String>(
            2,
            1,
            |_| Ok(()),
            |_| Ok(()),
            |b| {
                if b.seq == 3 {
                    Err("drain".into())
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r.unwrap_err(), "drain");
    }
}
