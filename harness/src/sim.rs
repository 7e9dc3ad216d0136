//! `ioschain sim`: the engine's shards and their clients driven by one thread with a
//! seeded scheduler (issue 12, item 7) — the ground the fault simulator will stand on.
//!
//! The same [`Shard`] state machines the engine's workers poll run here, on logical time
//! ([`Clock::Logical`]), with seeded fresh bytes: their state is then a function of the
//! inputs alone. Each step of logical time (1 ms):
//!
//! 1. the schedule releases each shard's transactions due by now (open loop at the
//!    configured rate, like the engine's driver);
//! 2. messages between shards whose delivery time has come are delivered, and store
//!    acknowledgements that are due are given to their shards — both in an order drawn
//!    from the seed;
//! 3. every shard is polled, in an order drawn from the seed;
//! 4. what the shards asked for is performed: each FinalBlock record is written to its
//!    shard's log at once and acknowledged (durable) 0–4 steps later, each message is
//!    delivered 0–2 steps later, both delays drawn from the seed.
//!
//! Every effect — a record appended, a message sent, an acknowledgement given — is folded
//! into a blake3 digest in the order it happens. The run ends when every released
//! transaction is done and nothing is in flight, or at the drain deadline (a stall); the
//! validity oracle then checks it as it checks an engine run. The seed names the whole
//! run: it seeds the workload and the validators (`--seed` of `ioschain run`), the fresh
//! bytes, and the scheduler, so the same seed and flags give the same digest.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use crossbeam::channel::unbounded;
use ioschain_core::prg::Prg;
use ioschain_core::types::ShardId;

use crate::cli::SimArgs;
use crate::config::Backend;
use crate::engine::clients::{Inbox, Submit, Timing};
use crate::engine::driver::DriverReport;
use crate::engine::store::{self, Append, Persisted, StoreReport};
use crate::engine::stream::StreamSource;
use crate::engine::{Clock, EngineOutcome, build_shards};
use crate::metrics::{IntervalReport, Window};
use crate::output::RunSummary;
use crate::run::{Exit, engine_params, resolve_config, summarize, workload};
use crate::validity::{self, Check};
use ioschain_core::node::atomix::{AtomixRequest, MessageBody, ShardMessage};

/// One step of logical time, ns.
const STEP_NS: u64 = 1_000_000;
/// A message is delivered 0..=`MESSAGE_DELAY_STEPS` steps after it is sent.
const MESSAGE_DELAY_STEPS: u64 = 2;
/// A record is acknowledged 0..=`ACK_DELAY_STEPS` steps after it is written.
const ACK_DELAY_STEPS: u64 = 4;

/// What a simulation produced.
#[derive(Debug)]
pub struct SimOutcome {
    /// The effects digested and the oracle's verdict.
    pub trace: Trace,
    /// The seed.
    pub seed: u64,
    /// Shards simulated.
    pub shards: u32,
    /// Offered rate (logical), tx/s.
    pub rate: f64,
    /// The run's summary, as `ioschain run` writes it (`summary.json`), on logical time:
    /// throughput and latencies are logical, the ceilings are not measured.
    pub summary: RunSummary,
    /// The output directory: the block logs and `summary.json`.
    pub out: PathBuf,
}

/// What [`simulate`] digested, and the validity oracle's verdict on it.
#[derive(Debug)]
pub struct Trace {
    /// blake3 over the effects in order, hex.
    pub digest: String,
    /// The validity checks.
    pub checks: Vec<Check>,
    /// Every released transaction was done before the drain deadline.
    pub drained: bool,
    /// Logical seconds simulated.
    pub logical_s: f64,
    /// Transactions released.
    pub released: u64,
    /// Effects digested: records, messages, acknowledgements.
    pub effects: [u64; 3],
}

impl SimOutcome {
    /// Whether every transaction finished and every check passed.
    pub fn valid(&self) -> bool {
        self.trace.drained && self.trace.checks.iter().all(|c| c.ok)
    }
}

/// Something due at a logical time: ordered by time, then by a seeded key.
#[derive(Debug)]
enum Due {
    Message(ShardMessage),
    Ack(Persisted),
}

/// `ioschain sim`: runs the simulation, prints the digest and the verdict.
pub fn sim(args: &SimArgs) -> anyhow::Result<Exit> {
    if args.run.list_presets {
        print!("{}", crate::presets::list());
        return Ok(Exit::Valid);
    }
    let Some(outcome) = simulate_args(args)? else {
        return Ok(Exit::BadInput);
    };
    let (seed, shards, rate) = (outcome.seed, outcome.shards, outcome.rate);
    let trace = &outcome.trace;
    println!(
        "ioschain sim · seed {seed} · shards {shards} · {} transactions released at {rate} tx/s (logical) · {:.3} logical s",
        trace.released, trace.logical_s
    );
    println!(
        "  effects     {} records · {} messages · {} acknowledgements",
        trace.effects[0], trace.effects[1], trace.effects[2]
    );
    println!("  digest      {}", trace.digest);
    println!(
        "  summary     {} (logical time)",
        outcome.out.join("summary.json").display()
    );
    for check in &trace.checks {
        let mark = if check.ok { "ok" } else { "FAIL" };
        println!("    [{mark}] {}: {}", check.name, check.detail);
    }
    if outcome.valid() {
        println!("  validity    VALID");
        return Ok(Exit::Valid);
    }
    println!(
        "  validity    INVALID{}",
        if outcome.trace.drained {
            ""
        } else {
            " (stalled: not every transaction finished before the drain deadline)"
        }
    );
    // The flags as given, and what they resolved to: the same run again.
    let flags: Vec<String> = std::env::args().skip(2).collect();
    println!(
        "  replay with: ioschain sim {} (resolved: --seed {seed} --shards {shards} --rate {rate} --txs {})",
        flags.join(" "),
        args.txs
    );
    Ok(Exit::Invalid)
}

/// Resolves `args` like `ioschain run` does and simulates. `None`: bad input (the
/// problem is printed).
pub fn simulate_args(args: &SimArgs) -> anyhow::Result<Option<SimOutcome>> {
    let Some((config, params, out)) = prepare(args)? else {
        return Ok(None);
    };
    let (trace, engine) = simulate(&params, config.run.seed)?;
    let summary = summarize(
        &config,
        sim_workload(&params),
        &engine,
        None,
        trace.checks.clone(),
    );
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(Some(SimOutcome {
        trace,
        seed: config.run.seed,
        shards: config.shards(),
        rate: config.run.rate,
        summary,
        out,
    }))
}

/// What a simulation of `args` runs on: the resolved configuration, the engine's
/// parameters (the workload loaded or generated) and the output directory. `None`: bad
/// input (the problem is printed).
pub fn prepare(
    args: &SimArgs,
) -> anyhow::Result<Option<(crate::config::Config, crate::engine::EngineParams, PathBuf)>> {
    let mut run = args.run.clone();
    run.shards = Some(run.shards.unwrap_or(2));
    // The engine's cores and pinning mean nothing here.
    run.cores = Some(1);
    run.warmup = Some(0.0);
    run.no_limits = true;
    if args.txs == 0 {
        eprintln!("error: --txs 0 is not allowed: simulate at least one transaction");
        return Ok(None);
    }
    let mut config = match resolve_config(&run) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(None);
        }
    };
    if config.run.rate_profile.is_some() {
        eprintln!("error: --rate-profile is not allowed in sim: its schedule is --txs at --rate");
        return Ok(None);
    }
    // The rate of the flags, the file or preset, or the default; the schedule is `--txs`
    // transactions long, however short that is in logical time.
    config.run.duration_s = args.txs as f64 / config.run.rate;
    let out = config.run.out.clone().unwrap_or_else(|| {
        PathBuf::from("target/ioschain/sim").join(format!("seed{}", config.run.seed))
    });
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    let workload = Arc::new(workload(&config)?);
    let params = engine_params(
        &config,
        StreamSource::Memory(workload),
        out.join("blocks"),
        Backend::Write,
    )?;
    Ok(Some((config, params, out)))
}

/// The workload a simulation runs on (it is in memory, and loaded whole into the shards
/// before the schedule starts).
fn sim_workload(params: &crate::engine::EngineParams) -> &ioschain_workloads::Workload {
    params
        .stream
        .workload()
        .expect("a simulation runs on a workload in memory")
}

/// Drives the shards of `params` on logical time with the scheduler seeded by `seed`,
/// then runs the validity oracle on the result.
pub fn simulate(
    params: &crate::engine::EngineParams,
    seed: u64,
) -> anyhow::Result<(Trace, EngineOutcome)> {
    let shard_count = params.stream.shards();
    let mut files = store::open_logs(&params.log_dir, shard_count as u32).with_context(|| {
        format!(
            "cannot open the block logs under {}",
            params.log_dir.display()
        )
    })?;
    let window = Window {
        warmup_end_ns: 0,
        measure_end_ns: ((params.warmup_s + params.duration_s) * 1e9) as u64,
    };
    // Logical time: the one leaked word of a simulation (a `Clock` is `Copy`).
    let now: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    let mut scheduler = Prg::new(&[b"ioschain/sim", &seed.to_le_bytes()]);
    let nonce_seed = scheduler.bytes32();
    let (store_tx, store_rx) = unbounded::<Append>();
    let (report_tx, report_rx) = unbounded::<IntervalReport>();
    let built = build_shards(
        params,
        nonce_seed,
        shard_count,
        &store_tx,
        &report_tx,
        window,
        Clock::Logical(now),
    )
    .context("cannot load the workload into the shards")?;
    assert!(
        built.loader.is_done(),
        "a simulation loads its whole workload before the schedule starts"
    );
    drop(store_tx);
    let mut shards = built.shards;
    let inboxes = built.inboxes;
    let spacing_ns = 1e9 * shard_count as f64 / params.rate;
    let stream_len: Vec<u32> = vec![params.stream.stream_len(); shard_count];
    let mut released = vec![0u32; shard_count];
    let mut due: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut pending: Vec<Option<Due>> = Vec::new();
    let mut digest = blake3::Hasher::new();
    let mut effects = [0u64; 3];
    let mut store_report = StoreReport::default();
    let deadline_ns = window.measure_end_ns + (params.drain_timeout_s * 1e9) as u64;
    let mut t = 0u64;
    let mut order: Vec<usize> = (0..shard_count).collect();
    let drained = loop {
        now.store(t, Ordering::Relaxed);
        // 1. Releases.
        if t <= window.measure_end_ns {
            for (shard, inbox) in inboxes.iter().enumerate() {
                let due_count = ((t as f64 / spacing_ns).floor() as u64 + 1)
                    .min(u64::from(stream_len[shard])) as u32;
                if due_count > released[shard] {
                    let submit = Submit {
                        start: released[shard],
                        end: due_count,
                        timing: Timing::Scheduled { spacing_ns },
                        refused: false,
                    };
                    inbox
                        .send(Inbox::Release(submit))
                        .expect("the simulator polls every shard each step");
                    released[shard] = due_count;
                }
            }
        }
        // 2. Deliveries and acknowledgements due.
        while due.peek().is_some_and(|Reverse((at, _, _))| *at <= t) {
            let Reverse((_, _, slot)) = due.pop().expect("peeked");
            match pending[slot].take().expect("each slot is due once") {
                Due::Message(msg) => {
                    let shard = &mut shards[msg.to.0 as usize];
                    shard.deliver(t, msg.body);
                }
                Due::Ack(ack) => {
                    effects[2] += 1;
                    digest.update(b"ack");
                    digest.update(&ack.shard.to_le_bytes());
                    digest.update(&ack.height.to_le_bytes());
                    shards[ack.shard as usize].on_persisted(ack);
                }
            }
        }
        if due.is_empty() {
            pending.clear();
        }
        // 3. Every shard, in a seeded order.
        shuffle(&mut scheduler, &mut order);
        for &s in &order {
            shards[s].poll(t);
        }
        // 4. Effects: records, then messages, each with a seeded delay.
        for append in store_rx.try_iter() {
            use std::io::Write;
            effects[0] += 1;
            digest.update(b"append");
            digest.update(&append.shard.to_le_bytes());
            digest.update(&append.height.to_le_bytes());
            digest.update(&append.bytes);
            files[append.shard as usize]
                .write_all(&append.bytes)
                .with_context(|| format!("cannot write the block log of shard {}", append.shard))?;
            store_report.blocks += 1;
            store_report.bytes += append.bytes.len() as u64;
            let at = t + scheduler.below(ACK_DELAY_STEPS + 1) * STEP_NS;
            let ack = Persisted {
                shard: append.shard,
                height: append.height,
                buffers: vec![append.bytes],
            };
            schedule(&mut due, &mut pending, &mut scheduler, at, Due::Ack(ack));
        }
        for s in &order {
            let mut outbox = Vec::new();
            shards[*s].send_messages(|_, msg| outbox.push(msg));
            for msg in outbox {
                effects[1] += 1;
                digest_message(&mut digest, ShardId(*s as u32), &msg);
                let at = t + scheduler.below(MESSAGE_DELAY_STEPS + 1) * STEP_NS;
                schedule(
                    &mut due,
                    &mut pending,
                    &mut scheduler,
                    at,
                    Due::Message(msg),
                );
            }
        }
        report_rx.try_iter().for_each(drop);
        let schedule_over = t >= window.measure_end_ns;
        if schedule_over
            && due.is_empty()
            && shards.iter().all(|s| {
                s.is_idle()
                    && s.done.load(Ordering::Relaxed) >= u64::from(released[s.id.0 as usize])
            })
        {
            break true;
        }
        if t >= deadline_ns {
            break false;
        }
        t += STEP_NS;
    };
    for shard in &mut shards {
        if !drained {
            eprintln!("shard {} at the drain deadline: {}", shard.id, shard.busy());
        }
        shard.metrics.at(t);
        shard.metrics.finish();
        shard.close_store();
    }
    let intervals: Vec<IntervalReport> = report_rx.try_iter().collect();
    let released_total: u64 = released.iter().map(|&r| u64::from(r)).sum();
    let outcome = EngineOutcome {
        shards,
        intervals,
        driver: DriverReport {
            released: released.iter().map(|&r| u64::from(r)).collect(),
            offered: released_total,
            window_offered: released_total,
            window_submitted: released_total,
            ..DriverReport::default()
        },
        store: store_report,
        window,
        drained,
        elapsed_s: t as f64 / 1e9,
        pinning: vec![None; shard_count],
        started_at: std::time::SystemTime::now(),
        cpu: None,
    };
    let checks = validity::check_run(&params.log_dir, sim_workload(params), &params.pob, &outcome);
    let trace = Trace {
        digest: digest.finalize().to_hex().to_string(),
        checks,
        drained,
        logical_s: t as f64 / 1e9,
        released: released_total,
        effects,
    };
    Ok((trace, outcome))
}

/// Queues `what` for time `at`, after whatever is already due then in a seeded order.
fn schedule(
    due: &mut BinaryHeap<Reverse<(u64, u64, usize)>>,
    pending: &mut Vec<Option<Due>>,
    scheduler: &mut Prg,
    at: u64,
    what: Due,
) {
    let slot = pending.len();
    pending.push(Some(what));
    due.push(Reverse((at, scheduler.below(u64::MAX), slot)));
}

/// A seeded Fisher–Yates shuffle.
fn shuffle(prg: &mut Prg, order: &mut [usize]) {
    for i in (1..order.len()).rev() {
        let j = prg.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
}

/// Folds a message into the digest: sender, receiver, kind and what it is about.
fn digest_message(digest: &mut blake3::Hasher, from: ShardId, msg: &ShardMessage) {
    digest.update(b"msg");
    digest.update(&from.0.to_le_bytes());
    digest.update(&msg.to.0.to_le_bytes());
    match &msg.body {
        MessageBody::Request(AtomixRequest::Lock { id, .. }) => {
            digest.update(b"lock");
            digest.update(&id.0.0);
        }
        MessageBody::Request(AtomixRequest::Commit { unlock, .. }) => {
            digest.update(b"commit");
            digest.update(&unlock.xtx.id().0.0);
        }
        MessageBody::Request(AtomixRequest::Abort { unlock, .. }) => {
            digest.update(b"abort");
            digest.update(&unlock.tx.0.0);
        }
        MessageBody::Proof { proof, .. } => {
            digest.update(b"proof");
            digest.update(&proof.entry.hash().0);
            digest.update(&proof.header.hash().0);
        }
        MessageBody::Receipt { index, shed } => {
            digest.update(if *shed {
                b"receipt/shed".as_slice()
            } else {
                b"receipt"
            });
            digest.update(&index.to_le_bytes());
        }
    }
}
