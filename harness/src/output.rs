//! Run output (DESIGN.md §5, schema `ioschain.run/1`): `summary.json`, `timeline.csv`,
//! `latency.hlog`, and the fixed summary block printed at the end of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use serde::Serialize;

use ioschain_reports::numbers::thousands;

use crate::engine::store::StoreReport;
use crate::limits::Limits;
use crate::machine::Machine;
use crate::metrics::{IntervalReport, Percentiles, Stage, latency_histogram};
use crate::validity::Check;

/// The schema tag of `summary.json`.
pub const SCHEMA: &str = "ioschain.run/1";

/// Throughputs in the measured window, transactions per second.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tps {
    /// Intra-shard transactions in a certified block persisted to the log, plus
    /// cross-shard ones committed everywhere.
    #[serde(rename = "final")]
    pub final_: f64,
    /// In a built block.
    pub provisional: f64,
    /// Final transactions touching one shard (`final` = `intra_shard` + `cross_shard`).
    pub intra_shard: f64,
    /// Cross-shard transactions committed everywhere (the last involved shard's commit
    /// final).
    pub cross_shard: f64,
}

/// Latency percentiles per stage, µs from the intended send time.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// To inclusion in a built block.
    pub provisional: Percentiles,
    /// To a certified, persisted block.
    #[serde(rename = "final")]
    pub final_: Percentiles,
    /// Cross-shard transactions, to the last involved shard's commit being final
    /// (`None` without any).
    pub cross_shard: Option<Percentiles>,
}

/// Transaction counts over the whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    /// Released by the driver.
    pub submitted: u64,
    /// Included in built blocks.
    pub provisional: u64,
    /// Final: intra-shard transactions in persisted FinalBlocks, and cross-shard ones
    /// committed everywhere.
    #[serde(rename = "final")]
    pub final_: u64,
    /// Cross-shard transactions aborted everywhere.
    pub aborted: u64,
    /// Rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Blocks sealed.
    pub blocks: u64,
    /// Signatures verified by shard leaders.
    pub signatures_verified: u64,
    /// Batch equations evaluated (one per clean batch or chunk).
    pub verify_batches: u64,
    /// Signatures verified one by one (the entries of failed batches).
    pub verify_singles: u64,
}

/// Validity of the run.
#[derive(Clone, Debug, Serialize)]
pub struct Validity {
    /// True only if every check passed.
    pub valid: bool,
    /// The checks.
    pub checks: Vec<Check>,
}

/// Load figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Load {
    /// `"open"` or `"closed"`.
    pub mode: String,
    /// Achieved submission rate over the measured window, tx/s.
    pub achieved_tps: f64,
    /// Sends to a full shard inbox (driver) — retried, never dropped.
    pub inbox_backpressure: u64,
    /// Sends to a full store queue (shards).
    pub store_backpressure: u64,
    /// Seconds from start to the end of the drain.
    pub elapsed_s: f64,
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The resolved configuration.
    pub config: serde_json::Value,
    /// Where it ran.
    pub machine: Machine,
    /// Ceilings measured at start (`None` when disabled).
    pub limits: Option<Limits>,
    /// The schedule's rate.
    pub offered_tps: f64,
    /// Throughputs.
    pub tps: Tps,
    /// Latencies.
    pub latency_us: Latency,
    /// `(tps.final × signatures per transaction) / limits.verify_sigs_per_s_cores`.
    pub efficiency: Option<f64>,
    /// Counts.
    pub counts: Counts,
    /// Load.
    pub load: Load,
    /// The block log.
    pub store: StoreReport,
    /// Shard → core.
    pub pinning: Vec<Option<usize>>,
    /// The workload's cache key.
    pub workload_key: String,
    /// Warnings about the run (shown in the summary block too).
    pub warnings: Vec<String>,
    /// Proof-of-Believability.
    pub pob: PobSummary,
    /// Atomix (cross-shard transactions).
    pub atomix: AtomixSummary,
    /// Validity.
    pub validity: Validity,
}

/// Proof counts by kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProofCounts {
    /// Invalid signature found by a sampler.
    pub bad_signature: u64,
    /// Two OptBlocks for one slot.
    pub equivocation: u64,
    /// A transaction failing a cheap check (double spend, unknown input).
    pub failed_check: u64,
}

/// Forged transactions (Byzantine `bad-signature`) and whether sampling caught them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Escape {
    /// Forged transactions that reached the normal league.
    pub forged: u64,
    /// Of those, selected by at least one sampler.
    pub sampled: u64,
    /// Selected by no sampler: the measured escape rate is `unsampled / forged`.
    pub unsampled: u64,
    /// Forged transactions that ended in a FinalBlock.
    pub final_: u64,
    /// `unsampled / forged` (`None` without forged transactions).
    pub measured: Option<f64>,
    /// The model: the mean of `(1 − p)^V` over the forged transactions, `V` the samplers
    /// of each one's OptBlock (1 with `samplers = "one"`; the normal validators not
    /// banned with `"all"`).
    pub model: f64,
    /// Samplers `V` per OptBlock at the end of the run.
    pub samplers: u64,
    /// Standard deviation of the unsampled count under the model (binomial).
    pub model_sd: f64,
}

/// The Atomix part of `summary.json`: what the clients saw, what the shards committed,
/// and what the coordinator rule did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AtomixSummary {
    /// Cross-shard transactions whose clients started.
    pub dispatched: u64,
    /// Committed everywhere.
    pub committed: u64,
    /// Aborted everywhere.
    pub aborted: u64,
    /// Aborts by the refusal that caused them (`other_declaration`: a lock under another
    /// declaration of the transaction).
    pub aborted_by: BTreeMap<String, u64>,
    /// Entries committed in FinalBlocks, by kind.
    pub entries: BTreeMap<&'static str, u64>,
    /// Requests that changed nothing (repeated lock requests, replayed or duplicate
    /// unlocks).
    pub repeats: u64,
    /// Unlocks refused, by error (forged proofs show up as `bad_proof`).
    pub refused: BTreeMap<&'static str, u64>,
    /// Coordinator (or backup) actions sent.
    pub coordinator: BTreeMap<&'static str, u64>,
    /// Misbehaving clients' messages: forged proofs and replayed commits sent.
    pub forged_sent: u64,
    /// See `forged_sent`.
    pub replays_sent: u64,
    /// Proofs published to clients and named input shards.
    pub proofs_published: u64,
    /// Intra-shard transactions that waited for an output a cross-shard transaction
    /// pays them.
    pub waits: u64,
    /// Lock requests held back a FinalBlock because an input was not known yet (the
    /// client waits for its funds to confirm at the input shard).
    pub lock_waits: u64,
    /// Cross-shard messages sent between workers, and sends that found a full channel.
    pub messages: u64,
    /// See `messages`.
    pub backpressure: u64,
    /// Outcomes that differ from the workload's expectation.
    pub mismatched: u64,
}

impl AtomixSummary {
    /// Sums the shards' Atomix counters.
    pub fn collect(shards: &[crate::engine::shard::Shard]) -> AtomixSummary {
        use ioschain_core::atomix::Refusal;
        let mut s = AtomixSummary::default();
        for shard in shards {
            let c = &shard.atomix.counters;
            s.dispatched += c.dispatched;
            s.committed += c.committed;
            s.aborted += c.aborted;
            for (k, n) in c.aborted_by.iter().enumerate() {
                if *n > 0 {
                    let name = Refusal::ALL
                        .get(k)
                        .map_or("other_declaration", |r| r.as_str());
                    *s.aborted_by.entry(name.to_string()).or_default() += n;
                }
            }
            for (kind, n) in [
                ("lock", c.locks),
                ("reject", c.rejects),
                ("commit", c.commits),
                ("abort", c.aborts),
            ] {
                *s.entries.entry(kind).or_default() += n;
            }
            s.repeats += c.repeats;
            for (kind, n) in &c.refused {
                *s.refused.entry(kind).or_default() += n;
            }
            for (kind, n) in [
                ("forward", c.coordinator_forwards),
                ("commit", c.coordinator_commits),
                ("abort", c.coordinator_aborts),
            ] {
                *s.coordinator.entry(kind).or_default() += n;
            }
            s.forged_sent += c.forged_sent;
            s.replays_sent += c.replays_sent;
            s.proofs_published += c.proofs_published;
            s.waits += c.waits;
            s.lock_waits += c.lock_waits;
            s.messages += c.messages;
            s.backpressure += c.backpressure;
            s.mismatched += c.mismatched;
        }
        s
    }
}

/// The PoB part of `summary.json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PobSummary {
    /// Believable validators per shard (`0`: one league).
    pub believable: u64,
    /// `"one"` or `"all"`.
    pub samplers: String,
    /// Sampling probability.
    pub p: f64,
    /// OptBlocks signed.
    pub opt_blocks: u64,
    /// FinalBlocks that finalized OptBlocks.
    pub final_blocks: u64,
    /// FinalBlocks with no OptBlock in them (only transactions the normal league
    /// ordered itself, or only proofs).
    pub blocks_without_optblocks: u64,
    /// Proofs.
    pub proofs: ProofCounts,
    /// Validators slashed.
    pub slashes: u64,
    /// Stake slashed (the compensation pool).
    pub slashed_stake: u128,
    /// Transactions excluded from finality.
    pub excluded: u64,
    /// Clients whose provisional confirmation was reverted (they re-submitted).
    pub harmed: u64,
    /// Value of those transactions (compensation owed from the slashed stake).
    pub compensation: u128,
    /// Transactions re-routed by their clients (timeout, ban, exposure cap).
    pub reroutes: u64,
    /// Transactions a believable validator's exposure cap held back.
    pub exposure_deferrals: u64,
    /// Signatures verified by the normal league's samples.
    pub sampled_signatures: u64,
    /// Signatures re-verified in full after a slash.
    pub recheck_signatures: u64,
    /// Sampled signatures as a share of all signatures verified.
    pub sampling_share: f64,
    /// VRF evaluations.
    pub vrf_proofs: u64,
    /// Escape of forged transactions.
    pub escape: Escape,
    /// Epochs (league selections) per shard, and how many ran as one league.
    pub epochs: u64,
    /// Epochs that ran as one league.
    pub single_league_epochs: u64,
    /// Distinct validators that were believable in some epoch, per shard.
    pub distinct_believable: Vec<u64>,
    /// Byzantine validators (roster indices), per shard.
    pub byzantine: Vec<Vec<u32>>,
    /// Slashed validators (roster indices), per shard.
    pub slashed: Vec<Vec<u32>>,
    /// The believable league of every epoch (roster indices), per shard.
    pub leagues: Vec<Vec<Vec<u32>>>,
    /// The ten highest believability scores at the end, per shard.
    pub top_believability: Vec<Vec<crate::engine::pob::Standing>>,
}

impl PobSummary {
    /// Sums the shards' PoB state.
    pub fn collect(shards: &[crate::engine::shard::Shard], signatures: u64) -> PobSummary {
        let mut s = PobSummary::default();
        let Some(first) = shards.first() else {
            return s;
        };
        let params = first.pob_params();
        s.believable = params.believable as u64;
        s.samplers = if params.all_samplers { "all" } else { "one" }.into();
        s.p = params.p;
        let mut samplers = 0;
        let mut expected = 0.0;
        for shard in shards {
            let c = &shard.pob;
            s.opt_blocks += c.opt_blocks;
            s.final_blocks += c.final_blocks;
            s.blocks_without_optblocks += shard.counters.blocks - c.final_blocks;
            s.proofs.bad_signature += c.proofs[0];
            s.proofs.equivocation += c.proofs[1];
            s.proofs.failed_check += c.proofs[2];
            s.slashes += c.slashes;
            s.slashed_stake += c.slashed_stake;
            s.excluded += c.excluded;
            s.harmed += c.harmed;
            s.compensation += c.harmed_value;
            s.reroutes += c.reroutes;
            s.exposure_deferrals += c.exposure_deferrals;
            s.sampled_signatures += c.sampled_signatures;
            s.recheck_signatures += c.recheck_signatures;
            s.vrf_proofs += c.vrf_proofs;
            s.escape.sampled += c.forged_sampled;
            s.escape.unsampled += c.forged_unsampled;
            s.escape.final_ += c.forged_final;
            expected += c.forged_escape_expected;
            s.epochs += c.epochs;
            s.single_league_epochs += c.single_league_epochs;
            let mut distinct: Vec<u32> = c.league_history.iter().flatten().copied().collect();
            distinct.sort_unstable();
            distinct.dedup();
            s.distinct_believable.push(distinct.len() as u64);
            s.byzantine
                .push(shard.validators.byzantine.iter().map(|v| v.0).collect());
            s.slashed.push(
                shard
                    .validators
                    .records
                    .iter()
                    .filter(|r| r.banned)
                    .map(|r| r.id.0)
                    .collect(),
            );
            s.leagues.push(c.league_history.clone());
            s.top_believability
                .push(shard.validators.top(&params.score, 10));
            samplers = if params.all_samplers {
                let records = &shard.validators.records;
                shard
                    .validators
                    .leagues
                    .normal()
                    .iter()
                    .filter(|id| !records[id.0 as usize].banned)
                    .count() as u64
            } else {
                1
            };
        }
        s.escape.forged = s.escape.sampled + s.escape.unsampled;
        s.escape.samplers = samplers;
        if s.escape.forged > 0 {
            let forged = s.escape.forged as f64;
            s.escape.model = expected / forged;
            s.escape.model_sd = (forged * s.escape.model * (1.0 - s.escape.model)).sqrt();
        } else {
            s.escape.model = (1.0 - s.p).powi(samplers as i32);
        }
        s.escape.measured =
            (s.escape.forged > 0).then(|| s.escape.unsampled as f64 / s.escape.forged as f64);
        s.sampling_share = if signatures > 0 {
            s.sampled_signatures as f64 / signatures as f64
        } else {
            0.0
        };
        s
    }
}

/// One row of `timeline.csv`.
#[derive(Clone, Debug)]
pub struct Row {
    /// Seconds since start.
    pub second: u64,
    /// `warmup`, `measure` or `drain`.
    pub phase: &'static str,
    /// Due by the schedule.
    pub offered: u64,
    /// Submitted.
    pub submitted: u64,
    /// Reached provisional.
    pub provisional: u64,
    /// Reached final.
    pub final_: u64,
    /// Rejected.
    pub rejected: u64,
    /// Backpressure events.
    pub backpressure: u64,
    /// Cross-shard transactions committed.
    pub cross_shard: u64,
    /// Latency histograms of the second, per stage.
    pub histograms: [Histogram<u64>; 3],
}

/// Merges interval reports into one row per second.
pub fn timeline(reports: &[IntervalReport], warmup_s: f64, end_s: f64) -> Vec<Row> {
    let mut rows: BTreeMap<u64, Row> = BTreeMap::new();
    for r in reports {
        let row = rows.entry(r.second).or_insert_with(|| Row {
            second: r.second,
            phase: "",
            offered: 0,
            submitted: 0,
            provisional: 0,
            final_: 0,
            rejected: 0,
            backpressure: 0,
            cross_shard: 0,
            histograms: [
                latency_histogram(),
                latency_histogram(),
                latency_histogram(),
            ],
        });
        row.offered += r.offered;
        row.submitted += r.submitted;
        row.provisional += r.counts.provisional;
        // Like `tps.final`: intra-shard and cross-shard (the latency columns of
        // `final` are intra-shard; `cross_shard` has its own).
        row.final_ += r.counts.final_ + r.counts.cross_shard;
        row.cross_shard += r.counts.cross_shard;
        row.rejected += r.rejected;
        row.backpressure += r.backpressure;
        if let Some(h) = &r.histograms {
            for (mine, theirs) in row.histograms.iter_mut().zip(h) {
                mine.add(theirs).expect("same bounds");
            }
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    for row in &mut rows {
        let start = row.second as f64;
        row.phase = if start + 1.0 <= warmup_s {
            "warmup"
        } else if start < end_s {
            "measure"
        } else {
            "drain"
        };
    }
    rows
}

/// Writes `timeline.csv`.
pub fn write_timeline(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let mut out = String::from(
        "second,phase,offered,submitted,provisional,final,rejected,backpressure,provisional_p50_us,provisional_p99_us,final_p50_us,final_p99_us,final_max_us,cross_shard,cross_shard_p99_us\n",
    );
    for r in rows {
        let p = Percentiles::of(&r.histograms[Stage::Provisional as usize]);
        let f = Percentiles::of(&r.histograms[Stage::Final as usize]);
        let x = Percentiles::of(&r.histograms[Stage::CrossShard as usize]);
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.second,
            r.phase,
            r.offered,
            r.submitted,
            r.provisional,
            r.final_,
            r.rejected,
            r.backpressure,
            p.p50,
            p.p99,
            f.p50,
            f.p99,
            f.max,
            r.cross_shard,
            x.p99
        );
    }
    std::fs::write(path, out)
}

/// Writes `latency.hlog`: an HdrHistogram interval log, one histogram per (second,
/// stage), tagged with the stage name.
pub fn write_hlog(path: &Path, rows: &[Row], start: std::time::SystemTime) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(
                "ioschain latency log: microseconds from intended send time, tagged by stage",
            )
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(std::io::Error::other)?;
        for row in rows {
            for stage in Stage::ALL {
                let h = &row.histograms[stage as usize];
                if h.is_empty() {
                    continue;
                }
                writer
                    .write_histogram(
                        h,
                        std::time::Duration::from_secs(row.second),
                        std::time::Duration::from_secs(1),
                        Tag::new(stage.name()),
                    )
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
        }
    }
    std::fs::File::create(path)?.write_all(&buf)
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// The fixed summary block: config line, throughput and latency, validity.
pub fn summary_block(s: &Summary, config_line: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ioschain run · {config_line}");
    let _ = writeln!(
        out,
        "  machine     {} · {} cores · {} · {}{}",
        s.machine.cpu,
        s.machine.cores,
        s.machine.profile,
        &s.machine.git_sha[..s.machine.git_sha.len().min(10)],
        if s.machine.git_dirty { " (dirty)" } else { "" }
    );
    let _ = writeln!(
        out,
        "  throughput  final {} tx/s · provisional {} tx/s · offered {} tx/s · achieved submission {} tx/s",
        thousands(s.tps.final_),
        thousands(s.tps.provisional),
        thousands(s.offered_tps),
        thousands(s.load.achieved_tps)
    );
    let l = &s.latency_us;
    let _ = writeln!(
        out,
        "  latency     final p50 {} · p90 {} · p99 {} · p99.9 {} · max {}",
        ms(l.final_.p50),
        ms(l.final_.p90),
        ms(l.final_.p99),
        ms(l.final_.p999),
        ms(l.final_.max)
    );
    let _ = writeln!(
        out,
        "              provisional p50 {} · p99 {} · max {}",
        ms(l.provisional.p50),
        ms(l.provisional.p99),
        ms(l.provisional.max)
    );
    if let (Some(limits), Some(eff)) = (&s.limits, s.efficiency) {
        let _ = writeln!(
            out,
            "  efficiency  {:.0}% of the {}-core verification ceiling ({} sig/s; 1 core {} sig/s)",
            eff * 100.0,
            limits.cores,
            thousands(limits.verify_sigs_per_s_cores),
            thousands(limits.verify_sigs_per_s_per_core)
        );
    }
    let rejected: u64 = s.counts.rejected.values().sum();
    let _ = writeln!(
        out,
        "  counts      submitted {} · final {} · rejected {} · blocks {} · store {}/{}, {} flushes",
        thousands(s.counts.submitted as f64),
        thousands(s.counts.final_ as f64),
        thousands(rejected as f64),
        thousands(s.counts.blocks as f64),
        s.store.backend.map(|b| b.name()).unwrap_or_default(),
        s.store.fsync.map(|f| f.name()).unwrap_or_default(),
        thousands(s.store.flushes as f64)
    );
    let x = &s.atomix;
    if x.dispatched > 0 {
        let refused: u64 = x.refused.values().sum();
        let coordinator: u64 = x.coordinator.values().sum();
        let _ = writeln!(
            out,
            "  atomix      cross-shard final {} tx/s (p50 {} · p99 {} · max {}) · intra-shard final {} tx/s",
            thousands(s.tps.cross_shard),
            l.cross_shard.map_or("-".into(), |p| ms(p.p50)),
            l.cross_shard.map_or("-".into(), |p| ms(p.p99)),
            l.cross_shard.map_or("-".into(), |p| ms(p.max)),
            thousands(s.tps.intra_shard)
        );
        let _ = writeln!(
            out,
            "              {} started · {} committed · {} aborted {:?} · {} unlocks refused · {} coordinator actions · {} repeats · {} waits",
            thousands(x.dispatched as f64),
            thousands(x.committed as f64),
            thousands(x.aborted as f64),
            x.aborted_by,
            thousands(refused as f64),
            thousands(coordinator as f64),
            thousands(x.repeats as f64),
            thousands(x.waits as f64)
        );
    }
    let p = &s.pob;
    if p.believable > 0 {
        let _ = writeln!(
            out,
            "  pob         L {} · samplers {} · p {} · {} OptBlocks · {} FinalBlocks ({} without OptBlocks) · sampled {:.1}% of signatures · {} epochs ({} one-league)",
            p.believable,
            p.samplers,
            p.p,
            thousands(p.opt_blocks as f64),
            thousands(p.final_blocks as f64),
            thousands(p.blocks_without_optblocks as f64),
            p.sampling_share * 100.0,
            p.epochs,
            p.single_league_epochs
        );
        let _ = writeln!(
            out,
            "              proofs {} (bad signature {}, equivocation {}, failed check {}) · slashed {} · excluded {} · harmed {} · re-routed {}",
            p.proofs.bad_signature + p.proofs.equivocation + p.proofs.failed_check,
            p.proofs.bad_signature,
            p.proofs.equivocation,
            p.proofs.failed_check,
            p.slashes,
            p.excluded,
            p.harmed,
            p.reroutes
        );
        if p.escape.forged > 0 {
            let _ = writeln!(
                out,
                "              forged {} · unsampled by every sampler {} (rate {:.2e}; model (1-p)^V {:.2e}, expected {:.1} ± {:.1}) · final {}",
                p.escape.forged,
                p.escape.unsampled,
                p.escape.measured.unwrap_or(0.0),
                p.escape.model,
                p.escape.model * p.escape.forged as f64,
                p.escape.model_sd,
                p.escape.final_
            );
        }
    }
    for warning in &s.warnings {
        let _ = writeln!(out, "  WARNING     {warning}");
    }
    let _ = writeln!(
        out,
        "  validity    {}",
        if s.validity.valid { "VALID" } else { "INVALID" }
    );
    for c in &s.validity.checks {
        let _ = writeln!(
            out,
            "    [{}] {}: {}",
            if c.ok { "ok" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    out
}
