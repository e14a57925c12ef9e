//! Threads that stop together: the one home for "run this on every core,
//! and let the first error stop the rest".
//!
//! - [`parallel_for`]: independent items, any order (verify's hashing).
//! - [`ordered`]: a producer, parallel workers, and a consumer that sees
//!   results in the producer's order, with a bounded number of items in
//!   flight (sealing and opening files, push's packs, restore's fetches).
//! - [`in_order`]: jobs run ahead on worker threads, each producing a
//!   bounded stream of items, which the caller takes job after job in the
//!   order it gave them (push reading and hashing files ahead of packing).
//!
//! Every thread is joined before these return (a scope alone waits only
//! for each closure to return, and a thread still running its thread-local
//! destructors would outlive the call: the fuzzers' leak checker saw it),
//! and a panic in any thread is resumed in the caller.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

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

/// A message on one job's stream.
enum Msg<T, E> {
    Item(T),
    Failed(E),
}

/// A job as a worker takes it: its place in the order given, the job, and
/// where its stream goes.
type Given<J, T, E> = (u64, J, Sender<Msg<T, E>>);

/// What [`InOrder::recv`] gives: the next message of the oldest job whose
/// stream the caller has not finished with.
pub enum Next<T, E> {
    /// An item of the job's output.
    Item(T),
    /// The job failed. No job given after it runs on, so this is the first
    /// failure in the order the jobs were given, whichever failed first in
    /// time.
    Failed(E),
    /// The job's stream ended without a failure, or was cut off (its worker
    /// panicked: the panic is resumed when [`in_order`] returns). A caller
    /// whose items say where a job's output ends knows which.
    Ended,
}

/// A job's output, as its worker hands it on (see [`in_order`]).
pub struct Out<'a, T, E> {
    tx: &'a Sender<Msg<T, E>>,
    seq: u64,
    first_failed: &'a AtomicU64,
}

impl<T, E> Out<'_, T, E> {
    /// Sends one item, waiting while the caller has not taken earlier ones.
    /// `false` if no one will take it (the caller is done, or an earlier
    /// job failed): the job should return.
    pub fn send(&mut self, item: T) -> bool {
        self.seq <= self.first_failed.load(Ordering::SeqCst)
            && self.tx.send(Msg::Item(item)).is_ok()
    }
}

/// The caller's side of [`in_order`]: gives jobs, and takes their output in
/// the order given.
pub struct InOrder<J, T, E> {
    jobs: Sender<Given<J, T, E>>,
    streams: VecDeque<Receiver<Msg<T, E>>>,
    next_seq: u64,
    ahead: usize,
}

impl<J, T, E> InOrder<J, T, E> {
    /// Whether another job may be given now: fewer than `ahead` are given
    /// and not yet finished with.
    pub fn has_room(&self) -> bool {
        self.streams.len() < self.ahead
    }

    /// Jobs given and not yet finished with.
    pub fn in_flight(&self) -> usize {
        self.streams.len()
    }

    /// Gives a job (there must be room: [`InOrder::has_room`]), whose
    /// worker may get `depth` items ahead of the caller. Its output comes
    /// after the output of every job given before it.
    pub fn submit(&mut self, job: J, depth: usize) {
        assert!(self.has_room(), "in_order: a job given with no room");
        let (tx, rx) = bounded(depth.max(1));
        // Never blocks: the queue holds `ahead` jobs, and at most `ahead`
        // are given and not finished with. It fails only if every worker is
        // gone (they panicked): the stream then reads as ended.
        let _ = self.jobs.send((self.next_seq, job, tx));
        self.next_seq += 1;
        self.streams.push_back(rx);
    }

    /// The next message of the oldest job not finished with (waiting for
    /// it). [`Next::Ended`] if no job is in flight.
    pub fn recv(&mut self) -> Next<T, E> {
        let Some(rx) = self.streams.front() else {
            return Next::Ended;
        };
        match rx.recv() {
            Ok(Msg::Item(t)) => Next::Item(t),
            Ok(Msg::Failed(e)) => Next::Failed(e),
            Err(_) => Next::Ended,
        }
    }

    /// Finishes with the oldest job: [`InOrder::recv`] reads the next one.
    /// If its worker is still sending, its sends now fail.
    pub fn finish_job(&mut self) {
        self.streams.pop_front();
    }
}

/// Runs `work` on `threads` threads for the jobs that `drive` (on the
/// calling thread) gives through [`InOrder::submit`]. Each job's output is
/// a stream with a bound of its own on the items waiting, and `drive`
/// takes the streams one after another in the order it gave the jobs
/// ([`InOrder::recv`]), so that work runs ahead of the caller, in
/// parallel, while the caller sees everything in its own order. At most
/// `ahead` jobs are given and not finished with, so memory is bounded by
/// `ahead` jobs' bounds (and an item being made, and one being used, per
/// job) whatever the number of jobs.
///
/// Workers take jobs in the order given, each running one to its end
/// before taking another, so the oldest job always has a worker: the
/// caller never waits on a job stuck behind later ones.
///
/// A job's failure is sent as its stream's last message: the caller meets
/// the first failure in its order, and no job given after a failed one is
/// started or continued. When `drive` returns (done, failed or stopped),
/// every worker stops at its next item; all are joined before this returns
/// `drive`'s result.
pub fn in_order<J: Send, T: Send, E: Send, R>(
    threads: usize,
    ahead: usize,
    work: impl Fn(J, &mut Out<'_, T, E>) -> Result<(), E> + Sync,
    drive: impl FnOnce(&mut InOrder<J, T, E>) -> R,
) -> R {
    let ahead = ahead.max(1);
    let first_failed = AtomicU64::new(u64::MAX);
    let done = AtomicBool::new(false);
    let (jobs_tx, jobs_rx) = bounded::<Given<J, T, E>>(ahead);
    std::thread::scope(|scope| {
        let handles = (0..threads.max(1))
            .map(|_| {
                let (jobs_rx, work, first_failed, done) =
                    (jobs_rx.clone(), &work, &first_failed, &done);
                scope.spawn(move || {
                    while let Ok((seq, job, tx)) = jobs_rx.recv() {
                        if done.load(Ordering::SeqCst) || seq > first_failed.load(Ordering::SeqCst)
                        {
                            continue;
                        }
                        let mut out = Out {
                            tx: &tx,
                            seq,
                            first_failed,
                        };
                        if let Err(e) = work(job, &mut out) {
                            first_failed.fetch_min(seq, Ordering::SeqCst);
                            let _ = tx.send(Msg::Failed(e));
                        }
                    }
                })
            })
            .collect();
        drop(jobs_rx);
        let mut jobs = InOrder {
            jobs: jobs_tx,
            streams: VecDeque::new(),
            next_seq: 0,
            ahead,
        };
        let result = drive(&mut jobs);
        // Jobs still queued are skipped; closing every stream ends the
        // sends of those running.
        done.store(true, Ordering::SeqCst);
        drop(jobs);
        join_all(handles);
        result
    })
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

    /// Drives `in_order` over `jobs` jobs, job `j` sending `j % 5` items
    /// (slowly for some) and failing if `fail(j)`; returns what the caller
    /// saw, in order: `(job, item)`, and the failure it met.
    fn drive_streams(
        jobs: u64,
        ahead: usize,
        fail: impl Fn(u64) -> bool + Sync,
    ) -> (Vec<(u64, u64)>, Option<String>) {
        in_order::<u64, (u64, u64), String, _>(
            3,
            ahead,
            |j, out| {
                if j % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                for i in 0..j % 5 {
                    if !out.send((j, i)) {
                        return Ok(());
                    }
                }
                if fail(j) {
                    Err(format!("job {j}"))
                } else {
                    Ok(())
                }
            },
            |q| {
                let mut seen = Vec::new();
                let mut given = 0;
                while given < jobs || q.in_flight() > 0 {
                    while given < jobs && q.has_room() {
                        q.submit(given, 1 + given as usize % 2);
                        given += 1;
                    }
                    loop {
                        match q.recv() {
                            Next::Item(t) => seen.push(t),
                            Next::Failed(e) => return (seen, Some(e)),
                            Next::Ended => break,
                        }
                    }
                    q.finish_job();
                }
                (seen, None)
            },
        )
    }

    #[test]
    fn in_order_hands_each_jobs_stream_over_in_the_order_given() {
        let (seen, failed) = drive_streams(200, 6, |_| false);
        assert_eq!(failed, None);
        let want: Vec<(u64, u64)> = (0..200)
            .flat_map(|j| (0..j % 5).map(move |i| (j, i)))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn in_order_reports_the_first_failure_in_the_order_given() {
        // Job 14 sleeps before failing; 15 and 16 fail at once, earlier in
        // time, but after it in order.
        let (seen, failed) = drive_streams(200, 6, |j| j >= 14);
        assert_eq!(failed.as_deref(), Some("job 14"));
        let want: Vec<(u64, u64)> = (0..15)
            .flat_map(|j| (0..j % 5).map(move |i| (j, i)))
            .collect();
        assert_eq!(
            seen, want,
            "everything before the failure, and all of its own output"
        );
    }

    #[test]
    fn in_order_stops_its_workers_when_the_caller_returns() {
        let ran = AtomicUsize::new(0);
        let r = in_order::<u64, u64, String, _>(
            2,
            4,
            |_, out| {
                ran.fetch_add(1, Ordering::SeqCst);
                // An endless job: only a closed stream ends it.
                let mut i = 0;
                while out.send(i) {
                    i += 1;
                }
                Ok(())
            },
            |q| {
                for j in 0..4 {
                    q.submit(j, 1);
                }
                match q.recv() {
                    Next::Item(i) => i,
                    _ => u64::MAX,
                }
            },
        );
        assert_eq!(r, 0);
        assert!(ran.into_inner() <= 4);
    }
}
