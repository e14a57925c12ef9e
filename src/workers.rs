//! Threads that stop together: the one home for "run this on every core,
//! and let the first error stop the rest".
//!
//! - [`parallel_for`]: independent items, any order (verify's hashing).
//! - [`ordered`]: a producer, parallel workers, and a consumer that sees
//!   results in the producer's order, with a bounded number of items in
//!   flight (sealing and opening files, push's packs, restore's fetches).
//!
//! Every thread is joined before these return (a scope alone waits only
//! for each closure to return, and a thread still running its thread-local
//! destructors would outlive the call: the fuzzers' leak checker saw it),
//! and a panic in any thread is resumed in the caller.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender, bounded};

/// How many worker threads to use by default: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The first error of a group of threads. Setting it raises a flag the
/// others poll, so they stop at their next item.
pub struct FirstError<E> {
    stop: AtomicBool,
    error: Mutex<Option<E>>,
}

impl<E> Default for FirstError<E> {
    fn default() -> Self {
        FirstError {
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
        }
    }
}

impl<E> FirstError<E> {
    /// Records `e` unless an error came first, and stops everyone.
    pub fn fail(&self, e: E) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether someone failed.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The first error, if any.
    pub fn into_result(self) -> Result<(), E> {
        match self.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn join_all(handles: Vec<std::thread::ScopedJoinHandle<'_, ()>>) {
    for h in handles {
        if let Err(panic) = h.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs `f(i)` for every `i` in `0..count` on `threads` threads, in no
/// particular order. The first error stops the others and is returned.
pub fn parallel_for<E: Send>(
    count: usize,
    threads: usize,
    f: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let next = AtomicUsize::new(0);
    let first = FirstError::default();
    std::thread::scope(|scope| {
        let handles = (0..threads.max(1).min(count.max(1)))
            .map(|_| {
                scope.spawn(|| {
                    while !first.stopped() {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= count {
                            return;
                        }
                        if let Err(e) = f(i) {
                            first.fail(e);
                        }
                    }
                })
            })
            .collect();
        join_all(handles);
    });
    first.into_result()
}

/// Hands a producer's items to the workers; `false` once the run has
/// stopped (an error elsewhere): the producer should return.
pub struct Emit<'a, I> {
    tx: &'a Sender<(u64, I)>,
    tokens: &'a Receiver<()>,
    seq: u64,
    first: &'a dyn Fn() -> bool,
}

impl<I> Emit<'_, I> {
    /// Whether the run has stopped (an error elsewhere).
    pub fn stopped(&self) -> bool {
        (self.first)()
    }

    /// Sends one item, waiting while `in_flight` items are unconsumed.
    pub fn send(&mut self, item: I) -> bool {
        if (self.first)() || self.tokens.recv().is_err() {
            return false;
        }
        let ok = self.tx.send((self.seq, item)).is_ok();
        self.seq += 1;
        ok && !(self.first)()
    }
}

/// Runs a producer (on its own thread), `workers` threads that map each
/// item, and `consume` (on the calling thread), which receives the results
/// in the order the producer emitted the items. At most `in_flight` items
/// are between the producer and the consumer at once, so memory is bounded
/// whatever the stream's length. The first error of any stage stops all of
/// them and is returned.
pub fn ordered<I: Send, O: Send, E: Send>(
    workers: usize,
    in_flight: usize,
    produce: impl FnOnce(&mut Emit<'_, I>) -> Result<(), E> + Send,
    work: impl Fn(I) -> Result<O, E> + Sync,
    mut consume: impl FnMut(O) -> Result<(), E>,
) -> Result<(), E> {
    let in_flight = in_flight.max(1);
    let first = FirstError::default();
    let (token_tx, token_rx) = bounded::<()>(in_flight);
    for _ in 0..in_flight {
        token_tx.send(()).expect("room");
    }
    let (work_tx, work_rx) = bounded::<(u64, I)>(in_flight);
    let (done_tx, done_rx) = bounded::<(u64, O)>(in_flight);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        {
            let (first, token_rx) = (&first, token_rx);
            handles.push(scope.spawn(move || {
                let stopped = || first.stopped();
                let mut emit = Emit {
                    tx: &work_tx,
                    tokens: &token_rx,
                    seq: 0,
                    first: &stopped,
                };
                if let Err(e) = produce(&mut emit) {
                    first.fail(e);
                }
                // Dropping the sender ends the workers' input.
            }));
        }
        for _ in 0..workers.max(1) {
            let (work_rx, done_tx, work, first) = (work_rx.clone(), done_tx.clone(), &work, &first);
            handles.push(scope.spawn(move || {
                while let Ok((seq, item)) = work_rx.recv() {
                    if first.stopped() {
                        return;
                    }
                    match work(item) {
                        Ok(out) => {
                            if done_tx.send((seq, out)).is_err() {
                                return;
                            }
                        }
                        Err(e) => return first.fail(e),
                    }
                }
            }));
        }
        drop((work_rx, done_tx));
        let mut next = 0u64;
        let mut waiting = BTreeMap::new();
        'consume: while let Ok((seq, out)) = done_rx.recv() {
            waiting.insert(seq, out);
            while let Some(out) = waiting.remove(&next) {
                next += 1;
                if first.stopped() {
                    break 'consume;
                }
                if let Err(e) = consume(out) {
                    first.fail(e);
                    break 'consume;
                }
                let _ = token_tx.send(());
            }
        }
        // Closing our ends unblocks any stage still waiting to send.
        drop((done_rx, token_tx, waiting));
        join_all(handles);
    });
    first.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_keeps_order_under_uneven_work() {
        let mut seen = Vec::new();
        ordered::<u32, u32, String>(
            4,
            8,
            |emit| {
                for i in 0..1000 {
                    if !emit.send(i) {
                        break;
                    }
                }
                Ok(())
            },
            |i| {
                if i % 3 == 0 {
                    std::thread::yield_now();
                }
                Ok(i * 2)
            },
            |o| {
                seen.push(o);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_error_of_any_stage_ends_the_run() {
        let endless = |emit: &mut Emit<'_, u32>| {
            let mut i = 0;
            while emit.send(i) {
                i += 1;
            }
            Ok(())
        };
        let r = ordered::<u32, u32, String>(
            2,
            4,
            endless,
            |i| if i == 7 { Err("worker".into()) } else { Ok(i) },
            |_| Ok(()),
        );
        assert_eq!(r.unwrap_err(), "worker");
        let r = ordered::<u32, u32, String>(2, 4, endless, Ok, |o| {
            if o == 3 {
                Err("consumer".into())
            } else {
                Ok(())
            }
        });
        assert_eq!(r.unwrap_err(), "consumer");
        let r = ordered::<u32, u32, String>(
            2,
            4,
            |emit| {
                for i in 0..10 {
                    emit.send(i);
                }
                Err("producer".into())
            },
            Ok,
            |_| Ok(()),
        );
        assert_eq!(r.unwrap_err(), "producer");
        let r = parallel_for::<String>(1000, 3, |i| {
            if i == 500 {
                Err(format!("item {i}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(r.unwrap_err(), "item 500");
        let count = AtomicUsize::new(0);
        parallel_for::<String>(1000, 3, |_| {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        assert_eq!(count.into_inner(), 1000);
    }
}
