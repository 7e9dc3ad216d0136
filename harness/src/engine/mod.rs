//! The engine: shards pinned to cores, joined by channels, fed by the load driver,
//! persisted by the store.
//!
//! Threads: one worker per core used (pinned with `core_affinity`; shards assigned
//! round-robin, each worker polls its shards in turn), one driver, one store. Messages:
//! loader → shard inbox (the next chunk of its stream, [`stream::ShardChunk`], ahead of
//! the releases), driver → shard inbox ([`clients::Submit`], a range of the stream per
//! tick), shard →
//! store ([`store::Append`], one record per block), store → worker
//! ([`store::Persisted`], per shard per flush group), worker → worker (Atomix messages,
//! [`ShardMessage`], batched: one channel per (sender worker, receiver worker), one send
//! per poll round and destination), and every thread → main ([`IntervalReport`], one
//! per second). All channels are bounded except the store's acknowledgements (at most
//! one per block in flight), so a full queue slows its producer and is counted; a
//! worker whose peer's channel is full keeps the batch and retries (it never blocks:
//! two workers blocked on each other would deadlock).

pub mod batching;
pub mod client;
pub mod clients;
pub mod driver;
pub mod funds;
pub mod host;
pub mod intake;
pub mod schedule;
pub mod store;
pub mod stream;
pub mod uring;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded, unbounded};
use ioschain_core::crypto::cosi::{CosiError, Roster, ValidatorKey};
use ioschain_core::crypto::hash::Domain;
use ioschain_core::types::ShardId;
use ioschain_workloads::cache::CacheError;

use crate::adversary::{AccountKeys, SeededAdversary};
use crate::config::{Backend, Fsync};
use crate::metrics::{IntervalReport, Levels, ShardMetrics, Window};
use driver::{DriverPlan, DriverReport, drive};
use host::{HostSetup, Shard};
use ioschain_core::node::ShardSetup;
use ioschain_core::node::atomix::{self, ShardMessage};
use ioschain_core::node::meter::{Stopwatch, Unmetered};
use ioschain_core::node::pob;
use ioschain_reports::summary::ThreadsCpu;
use store::{StoreReport, run_store};

/// Nanoseconds since the run's start: the wall clock in the engine, logical time in the
/// simulator (`crate::sim`), which sets it between steps. A shard reads it as a node reads
/// its local clock; with logical time, its state is a function of its inputs alone.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// Wall-clock time since this instant.
    Wall(Instant),
    /// Logical time, set by its driver.
    Logical(&'static AtomicU64),
}

impl Clock {
    /// A wall clock starting now.
    pub fn start() -> Clock {
        Clock::Wall(Instant::now())
    }

    /// What a shard's role meter reads: the wall clock, or (on logical time, where
    /// nothing takes time) nothing.
    pub fn stopwatch(&self) -> Box<dyn Stopwatch> {
        match self {
            Clock::Wall(_) => Box::new(WallStopwatch(Instant::now())),
            Clock::Logical(_) => Box::new(Unmetered),
        }
    }

    /// Nanoseconds since the start.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self {
            Clock::Wall(start) => start.elapsed().as_nanos() as u64,
            Clock::Logical(now) => now.load(Ordering::Relaxed),
        }
    }
}

/// The wall clock as a role meter reads it.
struct WallStopwatch(Instant);

impl Stopwatch for WallStopwatch {
    fn ns(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// Everything the engine needs for one run.
#[derive(Debug)]
pub struct EngineParams {
    /// Where the streams are read from.
    pub stream: stream::StreamSource,
    /// Positions of each stream loaded before the clock starts; the rest is loaded
    /// during the run, [`LOOKAHEAD_CHUNKS`] chunks ahead of the releases.
    pub preload_positions: u32,
    /// Positions per chunk the streams are loaded (and dropped) by
    /// ([`stream::LOADER_CHUNK`], the cache's, unless a test needs small ones).
    pub load_chunk: u32,
    /// Worker threads (one per core).
    pub cores: usize,
    /// Offered rate (all shards).
    pub rate: f64,
    /// A rate profile in place of `rate` (open loop).
    pub profile: Option<schedule::RateProfile>,
    /// Closed-loop budget.
    pub inflight: Option<u64>,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Measured window, seconds.
    pub duration_s: f64,
    /// Drain allowance, seconds.
    pub drain_timeout_s: f64,
    /// Seed (roster keys).
    pub seed: u64,
    /// Batch bound.
    pub verify_batch_max: usize,
    /// Batch fill target.
    pub verify_batch_min: usize,
    /// Longest wait for the fill target, µs (the bound of adaptive batching).
    pub verify_wait_us: u64,
    /// Shortest wait adaptive batching may set, µs.
    pub verify_wait_min_us: u64,
    /// Block size bound.
    pub block_tx_max: usize,
    /// Block age bound, ms.
    pub block_interval_ms: u64,
    /// Roster size.
    pub validators_per_shard: usize,
    /// Spent UTXO entries kept per shard for double-spend attribution.
    pub spent_retention: usize,
    /// How each shard's intake is bounded (admission control).
    pub intake: intake::IntakePlan,
    /// Channel capacity.
    pub channel_capacity: usize,
    /// Idle worker sleep.
    pub idle_sleep: Duration,
    /// Block log directory.
    pub log_dir: PathBuf,
    /// Store backend.
    pub backend: Backend,
    /// Flush policy.
    pub fsync: Fsync,
    /// Group bound.
    pub group_blocks_max: usize,
    /// Pin workers to cores.
    pub pin: bool,
    /// Proof-of-Believability parameters.
    pub pob: pob::PobParams,
    /// Atomix: FinalBlocks without news about a cross-shard transaction before its
    /// coordinator acts.
    pub t_unlock_blocks: u64,
}

/// What a run produced, before analysis.
#[derive(Debug)]
pub struct EngineOutcome {
    /// The shards at the end (state, counters, histograms).
    pub shards: Vec<Shard>,
    /// Every interval report, in arrival order.
    pub intervals: Vec<IntervalReport>,
    /// The driver's report.
    pub driver: DriverReport,
    /// The store's report.
    pub store: StoreReport,
    /// The measurement window.
    pub window: Window,
    /// Whether every released transaction finished before the drain timeout.
    pub drained: bool,
    /// Seconds from the start to the end of the drain.
    pub elapsed_s: f64,
    /// Shard → core pinning map (`None`: not pinned).
    pub pinning: Vec<Option<usize>>,
    /// Wall-clock time of the run clock's start.
    pub started_at: std::time::SystemTime,
    /// CPU time of the engine's threads (`None`: unknown, or a simulation).
    pub cpu: Option<ThreadsCpu>,
}

/// The validator keys of `shard`'s roster, derived from the seed.
pub fn roster_keys(seed: u64, shard: u32, count: usize) -> Vec<ValidatorKey> {
    (0..count as u32)
        .map(|i| {
            let secret = Domain::ValidatorKey.hash_parts(&[
                b"ioschain/roster",
                &seed.to_le_bytes(),
                &shard.to_le_bytes(),
                &i.to_le_bytes(),
            ]);
            ValidatorKey::from_seed(secret.as_bytes())
        })
        .collect()
}

/// The roster `keys` form (each member's key with its proof of possession).
pub fn roster_of(keys: &[ValidatorKey]) -> Result<Roster, CosiError> {
    let members: Vec<_> = keys
        .iter()
        .map(|k| (k.public(), k.prove_possession()))
        .collect();
    Roster::new(&members)
}

/// Fresh bytes from the operating system (CoSi nonce material must not repeat across
/// runs; `core` takes it as an input).
fn os_random() -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    let mut out = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut out)?;
    Ok(out)
}

/// How far ahead of the furthest release the loader keeps the streams loaded during a
/// run, in chunks.
pub const LOOKAHEAD_CHUNKS: u32 = 4;

/// The shards of a run at genesis, with the senders of their inboxes.
pub(crate) struct BuiltShards {
    /// By shard id.
    pub shards: Vec<Shard>,
    /// Each shard's inbox (the driver's and the loader's side).
    pub inboxes: Vec<Sender<clients::Inbox>>,
    /// The loader, past the chunks already in the shards.
    pub loader: stream::Loader,
}

/// Builds every shard of `params.stream` at genesis: rosters and their federation, one
/// inbox each (capacity `params.channel_capacity`), the store and report channels
/// given, shard `s` on worker `s % workers`; and loads the first
/// `params.preload_positions` of every stream into the shards. A damaged cache file is
/// an error.
pub(crate) fn build_shards(
    params: &EngineParams,
    nonce_seed: [u8; 32],
    workers: usize,
    store: &Sender<store::Append>,
    reports: &Sender<IntervalReport>,
    window: Window,
    clock: Clock,
) -> Result<BuiltShards, CacheError> {
    let shards = params.stream.shards();
    let keys: Vec<Vec<ValidatorKey>> = (0..shards)
        .map(|shard| roster_keys(params.seed, shard as u32, params.validators_per_shard))
        .collect();
    let rosters: Vec<Roster> = keys
        .iter()
        .map(|keys| roster_of(keys).expect("roster keys derived from seeds are valid and distinct"))
        .collect();
    let federation = Arc::new(atomix::Federation::new(rosters.clone()));
    let mut loader = params.stream.loader(params.load_chunk)?;
    // A `double-spend` adversary colludes with clients: it holds their account keys.
    let account_keys = params
        .pob
        .byzantine
        .as_ref()
        .filter(|b| b.behaviour == pob::Behaviour::DoubleSpend)
        .map(|_| {
            let spec = params.stream.spec();
            Arc::new(AccountKeys::derive(spec.seed, spec.accounts))
        });
    let mut inboxes = Vec::with_capacity(shards);
    let mut built = Vec::with_capacity(shards);
    for (shard, (keys, roster)) in keys.into_iter().zip(rosters).enumerate() {
        let (tx, rx) = bounded(params.channel_capacity);
        inboxes.push(tx);
        let setup = ShardSetup {
            id: ShardId(shard as u32),
            shard_count: shards as u32,
            roster_keys: keys,
            roster,
            nonce_seed,
            seed: params.seed,
            verify_batch_max: params.verify_batch_max,
            verify_batch_min: params.verify_batch_min,
            verify_wait_ns: params.verify_wait_us * 1000,
            block_tx_max: params.block_tx_max,
            block_interval_ns: params.block_interval_ms * 1_000_000,
            spent_retention: params.spent_retention,
            pob: params.pob.clone(),
            adversary: Box::new(SeededAdversary::new(
                params.pob.byzantine.clone(),
                params.seed,
                ShardId(shard as u32),
                account_keys.clone(),
            )),
            federation: Arc::clone(&federation),
            t_unlock_blocks: params.t_unlock_blocks,
            stopwatch: clock.stopwatch(),
        };
        let host = HostSetup {
            genesis: params.stream.genesis(shard)?,
            window_start: loader.window_start(shard),
            inbox: rx,
            store: store.clone(),
            worker: shard % workers,
            metrics: ShardMetrics::new(window, reports.clone()),
            clock,
            intake: params.intake.clone(),
        };
        built.push(Shard::new(setup, host));
    }
    while loader.loaded_end() < params.preload_positions
        && let Some(chunks) = loader.next_chunk()?
    {
        for (shard, chunk) in built.iter_mut().zip(chunks) {
            shard.clients.load(chunk);
        }
    }
    Ok(BuiltShards {
        shards: built,
        inboxes,
        loader,
    })
}

/// Runs the engine on `params.stream` and returns the raw outcome. `on_interval` sees
/// every interval report as it arrives (for the live status line).
pub fn run(
    params: &EngineParams,
    mut on_interval: impl FnMut(&IntervalReport),
) -> std::io::Result<EngineOutcome> {
    let shards = params.stream.shards();
    let workers = params.cores.min(shards).max(1);
    let window = Window {
        warmup_end_ns: (params.warmup_s * 1e9) as u64,
        measure_end_ns: ((params.warmup_s + params.duration_s) * 1e9) as u64,
    };
    let files = store::open_logs(&params.log_dir, shards as u32)?;
    let (store_tx, store_rx) = bounded(params.channel_capacity);
    let mut ack_txs = Vec::with_capacity(workers);
    let mut ack_rxs = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = unbounded();
        ack_txs.push(tx);
        ack_rxs.push(rx);
    }
    let (report_tx, report_rx) = unbounded::<IntervalReport>();
    let nonce_seed = os_random()?;
    // Shards are built (rosters registered, genesis loaded) before the clock starts.
    let built = build_shards(
        params,
        nonce_seed,
        workers,
        &store_tx,
        &report_tx,
        window,
        Clock::start(),
    )
    .map_err(std::io::Error::other)?;
    let mut loader = built.loader;
    let loaded = Arc::new(AtomicU32::new(loader.loaded_end()));
    let mut link_txs = Vec::with_capacity(workers);
    let mut link_rxs = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = bounded::<Vec<ShardMessage>>(params.channel_capacity);
        link_txs.push(tx);
        link_rxs.push(rx);
    }
    let inbox_txs = built.inboxes;
    let done: Vec<Arc<AtomicU64>> = built.shards.iter().map(|s| Arc::clone(&s.done)).collect();
    let mut per_worker: Vec<Vec<Shard>> = (0..workers).map(|_| Vec::new()).collect();
    for s in built.shards {
        per_worker[s.id.0 as usize % workers].push(s);
    }
    drop(store_tx);
    let released: Vec<Arc<AtomicU64>> = (0..shards).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let core_ids = if params.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let pinning: Vec<Option<usize>> = (0..shards)
        .map(|s| core_ids.get(s % workers).map(|c| c.id))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(AtomicBool::new(false));
    let clock = Clock::start();
    let started_at = std::time::SystemTime::now();
    for shard in per_worker.iter_mut().flatten() {
        shard.clock = clock;
    }

    let (backend, fsync, group) = (params.backend, params.fsync, params.group_blocks_max);
    let cpu = Arc::new(CpuNs::default());
    let store = {
        let cpu = Arc::clone(&cpu);
        std::thread::Builder::new()
            .name("ioschain-store".into())
            .spawn(move || {
                let report = run_store(files, backend, fsync, group, store_rx, ack_txs);
                cpu.charge(|c| &c.store);
                report
            })?
    };
    let mut worker_handles = Vec::with_capacity(workers);
    for (w, ((shards_of_worker, acks), inbox)) in per_worker
        .into_iter()
        .zip(ack_rxs)
        .zip(link_rxs)
        .enumerate()
    {
        let core = core_ids.get(w).copied();
        let stop = Arc::clone(&stop);
        let abort = Arc::clone(&abort);
        let idle = params.idle_sleep;
        let batching = batching::Batching::new(
            params.verify_wait_min_us * 1000,
            params.verify_wait_us * 1000,
        );
        let links = Links {
            me: w,
            inbox,
            peers: link_txs.clone(),
            waiting: (0..workers).map(|_| Vec::new()).collect(),
        };
        let cpu = Arc::clone(&cpu);
        worker_handles.push(
            std::thread::Builder::new()
                .name(format!("ioschain-worker-{w}"))
                .spawn(move || {
                    let ended = worker_loop(
                        core,
                        shards_of_worker,
                        acks,
                        links,
                        clock,
                        &stop,
                        &abort,
                        idle,
                        batching,
                    );
                    cpu.charge(|c| &c.workers);
                    ended
                })?,
        );
    }
    drop(link_txs);
    let plan = DriverPlan {
        rate: params.rate,
        inflight: params.inflight,
        profile: params.profile.clone().map(Arc::new),
        stream_len: vec![params.stream.stream_len(); shards],
        warmup_end_ns: window.warmup_end_ns,
        end_ns: window.measure_end_ns,
        tick: Duration::from_millis(1),
    };
    let loader_stop = Arc::new(AtomicBool::new(false));
    let lookahead = LOOKAHEAD_CHUNKS * params.load_chunk;
    let feeder = {
        let inboxes = inbox_txs.clone();
        let released = released.clone();
        let loaded = Arc::clone(&loaded);
        let stop = Arc::clone(&loader_stop);
        let abort = Arc::clone(&abort);
        let cpu = Arc::clone(&cpu);
        std::thread::Builder::new()
            .name("ioschain-loader".into())
            .spawn(move || {
                let report = stream::feed(
                    &mut loader,
                    &inboxes,
                    &released,
                    &loaded,
                    lookahead,
                    &stop,
                    &abort,
                );
                cpu.charge(|c| &c.driver);
                report
            })?
    };
    let driver = {
        let done = done.clone();
        let released = released.clone();
        let reports = report_tx.clone();
        let abort = Arc::clone(&abort);
        let cpu = Arc::clone(&cpu);
        let loaded = Arc::clone(&loaded);
        std::thread::Builder::new()
            .name("ioschain-driver".into())
            .spawn(move || {
                let report = drive(
                    &plan, &clock, &inbox_txs, &loaded, &done, &released, &reports, &abort,
                );
                cpu.charge(|c| &c.driver);
                report
            })?
    };
    drop(report_tx);

    let mut intervals = Vec::new();
    let mut driver_report = None;
    let mut driver = Some(driver);
    let drain_deadline_ns = window.measure_end_ns + (params.drain_timeout_s * 1e9) as u64;
    let mut drained = false;
    // The host's sampler: the process's memory and the log's bytes at the end of each
    // second, from this thread (it runs through the drain, unlike the driver).
    let mut sampled_second = 0u64;
    loop {
        let second = clock.now_ns() / 1_000_000_000;
        if second > sampled_second {
            let report = IntervalReport {
                levels: Levels {
                    resident_bytes: crate::machine::resident_bytes(),
                    disk_bytes: store::log_bytes(&params.log_dir, shards as u32),
                    ..Levels::default()
                },
                ..IntervalReport::empty(second - 1)
            };
            on_interval(&report);
            intervals.push(report);
            sampled_second = second;
        }
        match report_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(report) => {
                on_interval(&report);
                intervals.push(report);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if driver.as_ref().is_some_and(|d| d.is_finished()) {
            driver_report = Some(
                driver
                    .take()
                    .expect("checked")
                    .join()
                    .expect("the driver does not panic"),
            );
        }
        if !stop.load(Ordering::Relaxed) {
            let all_done = (0..shards)
                .all(|s| done[s].load(Ordering::Relaxed) >= released[s].load(Ordering::Relaxed));
            if driver_report.is_some() && all_done {
                drained = true;
                stop.store(true, Ordering::Relaxed);
            } else if clock.now_ns() > drain_deadline_ns || store.is_finished() {
                // Past the drain allowance (a stalled shard), or the store stopped early
                // (its error is returned below).
                abort.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
            }
        }
        if stop.load(Ordering::Relaxed) && worker_handles.iter().all(|h| h.is_finished()) {
            break;
        }
    }
    let elapsed_s = clock.now_ns() as f64 / 1e9;
    let mut shards_out: Vec<Shard> = Vec::with_capacity(shards);
    let mut pinned_ok = Vec::with_capacity(workers);
    for handle in worker_handles {
        let (worker_shards, pinned) = handle
            .join()
            .expect("workers assert loudly; a panic is a bug");
        pinned_ok.push(pinned);
        shards_out.extend(worker_shards);
    }
    shards_out.sort_by_key(|s| s.id);
    if let Some(driver) = driver.take() {
        driver_report = Some(driver.join().expect("the driver does not panic"));
    }
    loader_stop.store(true, Ordering::Relaxed);
    let feed = feeder.join().expect("the loader does not panic");
    if let Some(error) = feed.error {
        return Err(std::io::Error::other(format!(
            "the workload cache could not be read during the run: {error}"
        )));
    }
    let store_report = store.join().expect("the store does not panic")?;
    // Report a core only where pinning succeeded.
    let pinning: Vec<Option<usize>> = pinning
        .iter()
        .enumerate()
        .map(|(shard, core)| core.filter(|_| pinned_ok[shard % workers]))
        .collect();
    intervals.extend(report_rx.try_iter());
    Ok(EngineOutcome {
        shards: shards_out,
        intervals,
        driver: driver_report.unwrap_or_default(),
        store: store_report,
        window,
        drained,
        elapsed_s,
        pinning,
        started_at,
        cpu: cpu.seconds(),
    })
}

/// CPU time of the engine's threads, ns, each thread adding its own as it ends.
#[derive(Debug, Default)]
struct CpuNs {
    workers: AtomicU64,
    driver: AtomicU64,
    store: AtomicU64,
    /// A thread could not read its CPU time.
    unknown: AtomicBool,
}

impl CpuNs {
    /// Adds the calling thread's CPU time (it is ending) to the slot `of` picks.
    fn charge(&self, of: fn(&CpuNs) -> &AtomicU64) {
        match crate::machine::thread_cpu_ns() {
            Some(ns) => {
                of(self).fetch_add(ns, Ordering::Relaxed);
            }
            None => self.unknown.store(true, Ordering::Relaxed),
        }
    }

    /// The totals, or `None` if a thread could not read its CPU time.
    fn seconds(&self) -> Option<ThreadsCpu> {
        if self.unknown.load(Ordering::Relaxed) {
            return None;
        }
        let s = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e9;
        Some(ThreadsCpu {
            workers_s: s(&self.workers),
            driver_s: s(&self.driver),
            store_s: s(&self.store),
        })
    }
}

/// A worker's ends of the worker-to-worker channels.
struct Links {
    me: usize,
    inbox: Receiver<Vec<ShardMessage>>,
    peers: Vec<Sender<Vec<ShardMessage>>>,
    /// Per destination worker, messages not sent yet (its channel was full).
    waiting: Vec<Vec<ShardMessage>>,
}

impl Links {
    /// Delivers what arrived for this worker's shards, then moves every shard's outbox:
    /// to a shard of this worker directly, to another worker in one batch per worker.
    /// Returns whether anything moved.
    fn exchange(&mut self, shards: &mut [Shard], clock: &Clock) -> bool {
        let workers = self.peers.len();
        let mut moved = false;
        let mut local = Vec::new();
        while let Ok(batch) = self.inbox.try_recv() {
            local.extend(batch);
        }
        for shard in shards.iter_mut() {
            shard.send_messages(|counters, msg| {
                let worker = msg.to.0 as usize % workers;
                if worker == self.me {
                    local.push(msg);
                } else {
                    counters.messages += 1;
                    self.waiting[worker].push(msg);
                }
            });
        }
        // One clock reading and one role switch per shard's run of messages (a stable
        // sort keeps each shard's messages in the order they were sent).
        local.sort_by_key(|msg| msg.to);
        let now = clock.now_ns();
        let mut local = local.into_iter().peekable();
        while let Some(first) = local.peek() {
            moved = true;
            let to = first.to;
            let shard = shards
                .iter_mut()
                .find(|s| s.id == to)
                .expect("messages reach their shard's worker");
            let previous = shard.begin_deliveries();
            while let Some(msg) = local.next_if(|msg| msg.to == to) {
                shard.deliver(now, msg.body);
            }
            shard.end_deliveries(previous);
        }
        for worker in 0..workers {
            if self.waiting[worker].is_empty() {
                continue;
            }
            moved = true;
            let batch = std::mem::take(&mut self.waiting[worker]);
            match self.peers[worker].try_send(batch) {
                Ok(()) => {}
                Err(TrySendError::Full(batch)) => {
                    if let Some(shard) = shards.first_mut() {
                        shard.node.atomix.counters.backpressure += 1;
                    }
                    self.waiting[worker] = batch;
                }
                // The peer stopped (end of run or abort): nothing left to deliver to.
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        moved
    }

    fn is_idle(&self) -> bool {
        self.waiting.iter().all(Vec::is_empty) && self.inbox.is_empty()
    }
}

#[allow(clippy::too_many_arguments)]
fn worker_loop(
    core: Option<core_affinity::CoreId>,
    mut shards: Vec<Shard>,
    acks: Receiver<store::Persisted>,
    mut links: Links,
    clock: Clock,
    stop: &AtomicBool,
    abort: &AtomicBool,
    idle: Duration,
    mut batching: batching::Batching,
) -> (Vec<Shard>, bool) {
    let pinned = core.is_some_and(core_affinity::set_for_current);
    loop {
        let now = clock.now_ns();
        let mut worked = false;
        while let Ok(ack) = acks.try_recv() {
            let shard = shards
                .iter_mut()
                .find(|s| s.id.0 == ack.shard)
                .expect("acknowledgements reach the shard's own worker");
            shard.on_persisted(ack);
            worked = true;
        }
        for shard in &mut shards {
            worked |= shard.poll(now);
        }
        worked |= links.exchange(&mut shards, &clock);
        let busy = || {
            shards
                .iter()
                .map(|s| batching::busy_ns(&s.node.meter.ns))
                .sum()
        };
        if let Some(wait) = batching.observe(now, busy) {
            for shard in &mut shards {
                shard.node.set_verify_wait(wait);
            }
        }
        if abort.load(Ordering::Relaxed)
            || shards.iter().any(|s| s.store_failed)
            || (stop.load(Ordering::Relaxed)
                && links.is_idle()
                && shards.iter().all(Shard::is_idle))
        {
            break;
        }
        if !worked {
            std::thread::sleep(idle);
        }
    }
    for shard in &mut shards {
        if !shard.is_idle() {
            eprintln!(
                "shard {} stopped with work pending: {}",
                shard.id,
                shard.busy()
            );
        }
        shard.metrics.at(clock.now_ns());
        shard.metrics.finish();
        shard.close_store();
        shard.batching = Some(batching.clone());
    }
    (shards, pinned)
}
