//! A bounded, ordered parallel pipeline: one reader fills batches, workers
//! transform them in place on every core, and the caller's thread consumes
//! them in their original order. A fixed pool of batch buffers is recycled,
//! so memory stays constant whatever the stream's length, and no buffer is
//! allocated per chunk.
//!
//! Errors travel with the data: the first error any stage meets ends the run
//! and is returned; the other stages see their channels close and stop.

use std::collections::BTreeMap;

use crossbeam_channel::{Receiver, Sender, bounded};

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

enum Msg<E> {
    Batch(Batch),
    Err(E),
}

/// How many worker threads to use by default: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs the pipeline.
///
/// - `fill` is called on a reader thread with an empty batch; it fills the
///   buffer and sets `last` on the final batch.
/// - `work` is called on `threads` worker threads, on batches in any order.
/// - `drain` is called on this thread, on batches in stream order.
pub fn run<E: Send>(
    threads: usize,
    batch_len: usize,
    fill: impl FnMut(&mut Batch) -> Result<(), E> + Send,
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
    let (work_tx, work_rx) = bounded::<Msg<E>>(in_flight);
    let (done_tx, done_rx) = bounded::<Msg<E>>(in_flight);

    std::thread::scope(|scope| {
        let mut stages = vec![scope.spawn(move || reader(fill, pool_rx, work_tx))];
        for _ in 0..threads {
            let (work_rx, done_tx, work) = (work_rx.clone(), done_tx.clone(), &work);
            stages.push(scope.spawn(move || worker(work, work_rx, done_tx)));
        }
        drop((work_rx, done_tx));
        let result = consume(&mut drain, &done_rx, &pool_tx);
        // Closing our ends unblocks any stage still waiting to send.
        drop((done_rx, pool_tx));
        // Join each thread rather than let the scope wait for its closure:
        // a scope only waits for the closure to return, and a thread still
        // running its thread-local destructors would outlive the call (the
        // fuzzers' leak checker saw exactly that).
        for stage in stages {
            if let Err(panic) = stage.join() {
                std::panic::resume_unwind(panic);
            }
        }
        result
    })
}

fn reader<E>(
    mut fill: impl FnMut(&mut Batch) -> Result<(), E>,
    pool: Receiver<Batch>,
    out: Sender<Msg<E>>,
) {
    let mut seq = 0;
    while let Ok(mut batch) = pool.recv() {
        batch.seq = seq;
        batch.chunks = 0;
        batch.tail_len = 0;
        batch.last = false;
        seq += 1;
        match fill(&mut batch) {
            Ok(()) => {
                let last = batch.last;
                if out.send(Msg::Batch(batch)).is_err() || last {
                    return;
                }
            }
            Err(e) => {
                let _ = out.send(Msg::Err(e));
                return;
            }
        }
    }
}

fn worker<E>(
    work: &(impl Fn(&mut Batch) -> Result<(), E> + Sync),
    input: Receiver<Msg<E>>,
    out: Sender<Msg<E>>,
) {
    while let Ok(msg) = input.recv() {
        let msg = match msg {
            Msg::Batch(mut batch) => match work(&mut batch) {
                Ok(()) => Msg::Batch(batch),
                Err(e) => Msg::Err(e),
            },
            err => err,
        };
        let stop = matches!(msg, Msg::Err(_));
        if out.send(msg).is_err() || stop {
            return;
        }
    }
}

fn consume<E>(
    drain: &mut impl FnMut(&Batch) -> Result<(), E>,
    done: &Receiver<Msg<E>>,
    pool: &Sender<Batch>,
) -> Result<(), E> {
    let mut next = 0u64;
    let mut waiting = BTreeMap::new();
    loop {
        match done.recv() {
            Ok(Msg::Batch(batch)) => {
                waiting.insert(batch.seq, batch);
            }
            Ok(Msg::Err(e)) => return Err(e),
            Err(_) => {
                unreachable!("the reader always ends the stream with a last batch or an error")
            }
        }
        while let Some(batch) = waiting.remove(&next) {
            drain(&batch)?;
            next += 1;
            if batch.last {
                return Ok(());
            }
            let _ = pool.send(batch);
        }
    }
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
