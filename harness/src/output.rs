//! Run output (DESIGN.md §5, schema `ioschain.run/1`): `summary.json`, `timeline.csv`,
//! `latency.hlog`, and the fixed summary block printed at the end of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use ioschain_reports::numbers::thousands;

use crate::metrics::{IntervalReport, Levels, Percentiles, Stage, latency_histogram};

pub use ioschain_reports::summary::{
    AtomixSummary, Counts, Escape, Latency, Load, PobSummary, ProofCounts, RunSummary, SCHEMA, Tps,
    Validity,
};

/// Sums the shards' Atomix counters.
pub fn atomix_summary(shards: &[crate::engine::host::Shard]) -> AtomixSummary {
    use ioschain_core::atomix::Refusal;
    let mut s = AtomixSummary::default();
    for shard in shards {
        let c = &shard.atomix_counters();
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
            *s.entries.entry(kind.to_string()).or_default() += n;
        }
        s.repeats += c.repeats;
        for (kind, n) in &c.refused {
            *s.refused.entry(kind.to_string()).or_default() += n;
        }
        for (kind, n) in [
            ("forward", c.coordinator_forwards),
            ("commit", c.coordinator_commits),
            ("abort", c.coordinator_aborts),
        ] {
            *s.coordinator.entry(kind.to_string()).or_default() += n;
        }
        s.forged_sent += c.forged_sent;
        s.replays_sent += c.replays_sent;
        s.proofs_published += c.proofs_published;
        s.proofs_dropped += c.proofs_dropped;
        s.waits += shard.clients.funds.waited;
        s.lock_waits += c.lock_waits;
        s.messages += c.messages;
        s.backpressure += c.backpressure;
    }
    s
}

/// The `n` highest believability scores of a shard's validators.
fn top_standing(
    validators: &ioschain_core::node::pob::Validators,
    params: &ioschain_core::pob::score::ScoreParams,
    n: usize,
) -> Vec<ioschain_reports::summary::Standing> {
    let scores = ioschain_core::pob::score::believability(&validators.records, params);
    let mut standing: Vec<ioschain_reports::summary::Standing> = validators
        .records
        .iter()
        .zip(scores)
        .map(|(r, score)| ioschain_reports::summary::Standing {
            validator: r.id.0,
            score,
            stake: r.stake,
            servi: r.servi,
            reputation: f64::from(r.reputation) / 1000.0,
            banned: r.banned,
        })
        .collect();
    standing.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.validator.cmp(&b.validator))
    });
    standing.truncate(n);
    standing
}

/// Sums the shards' PoB state.
pub fn pob_summary(shards: &[crate::engine::host::Shard], signatures: u64) -> PobSummary {
    let mut s = PobSummary::default();
    let Some(first) = shards.first() else {
        return s;
    };
    let params = first.node.pob_params();
    s.believable = params.believable as u64;
    s.samplers = if params.all_samplers { "all" } else { "one" }.into();
    s.p = params.p;
    let mut samplers = 0;
    let mut expected = 0.0;
    for shard in shards {
        let c = &shard.node.pob;
        s.opt_blocks += c.opt_blocks;
        s.final_blocks += c.final_blocks;
        s.blocks_without_optblocks += shard.node.counters.blocks - c.final_blocks;
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
        s.byzantine.push(
            shard
                .node
                .validators
                .byzantine
                .iter()
                .map(|v| v.0)
                .collect(),
        );
        s.slashed.push(
            shard
                .node
                .validators
                .records
                .iter()
                .filter(|r| r.banned)
                .map(|r| r.id.0)
                .collect(),
        );
        s.leagues.push(c.league_history.clone());
        s.top_believability
            .push(top_standing(&shard.node.validators, &params.score, 10));
        samplers = if params.all_samplers {
            let records = &shard.node.validators.records;
            shard
                .node
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
    /// Shed (given up by their clients).
    pub shed: u64,
    /// Arrivals refused at a full intake.
    pub overloaded: u64,
    /// Backpressure events.
    pub backpressure: u64,
    /// Cross-shard transactions committed.
    pub cross_shard: u64,
    /// Latency histograms of the second, per stage.
    pub histograms: [Histogram<u64>; 3],
    /// Levels at the second's end: queues summed over the shards, and the host's samples.
    pub levels: Levels,
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
            shed: 0,
            overloaded: 0,
            backpressure: 0,
            cross_shard: 0,
            histograms: [
                latency_histogram(),
                latency_histogram(),
                latency_histogram(),
            ],
            levels: Levels::default(),
        });
        row.offered += r.offered;
        row.submitted += r.submitted;
        row.provisional += r.counts.provisional;
        // Like `tps.final`: intra-shard and cross-shard (the latency columns of
        // `final` are intra-shard; `cross_shard` has its own).
        row.final_ += r.counts.final_ + r.counts.cross_shard;
        row.cross_shard += r.counts.cross_shard;
        row.rejected += r.rejected;
        row.shed += r.shed;
        row.overloaded += r.overloaded;
        row.backpressure += r.backpressure;
        row.levels.queued_clients += r.levels.queued_clients;
        row.levels.queued_validators += r.levels.queued_validators;
        row.levels.resident_bytes = row.levels.resident_bytes.max(r.levels.resident_bytes);
        row.levels.disk_bytes = row.levels.disk_bytes.max(r.levels.disk_bytes);
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

/// A CSV cell: the value, or empty where it was not measured.
fn optional(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// Writes `timeline.csv` (see [`render_timeline`]).
pub fn write_timeline(path: &Path, rows: &[Row], final_by_shard: &[&[u64]]) -> std::io::Result<()> {
    std::fs::write(path, render_timeline(rows, final_by_shard))
}

/// The text of `timeline.csv`: one row per second, then per shard what it finalized
/// that second (`final_by_shard[s]` is shard `s`'s
/// [`ShardMetrics::final_by_second`](crate::metrics::ShardMetrics::final_by_second)). The
/// columns the report reads are named by [`ioschain_reports::timeline`], which reads them
/// by name; new columns go at the end of the header.
pub fn render_timeline(rows: &[Row], final_by_shard: &[&[u64]]) -> String {
    use ioschain_reports::timeline as col;
    let shards = final_by_shard.len();
    let mut out = format!(
        "{},{},{},{},provisional,{},{},backpressure,provisional_p50_us,provisional_p99_us,final_p50_us,final_p99_us,final_max_us,cross_shard,cross_shard_p99_us,queued_clients,queued_validators,{},{},{},{}",
        col::SECOND,
        col::PHASE,
        col::OFFERED,
        col::SUBMITTED,
        col::FINAL,
        col::REJECTED,
        col::RSS_BYTES,
        col::DISK_BYTES,
        col::SHED,
        col::OVERLOADED
    );
    for shard in 0..shards {
        let _ = write!(out, ",{}", col::final_shard_column(shard));
    }
    out.push('\n');
    for r in rows {
        let p = Percentiles::of(&r.histograms[Stage::Provisional as usize]);
        let f = Percentiles::of(&r.histograms[Stage::Final as usize]);
        let x = Percentiles::of(&r.histograms[Stage::CrossShard as usize]);
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
            x.p99,
            r.levels.queued_clients,
            r.levels.queued_validators,
            optional(r.levels.resident_bytes),
            optional(r.levels.disk_bytes),
            r.shed,
            r.overloaded,
        );
        for shard in final_by_shard {
            let n = shard.get(r.second as usize).copied().unwrap_or(0);
            let _ = write!(out, ",{n}");
        }
        out.push('\n');
    }
    out
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
pub fn summary_block(s: &RunSummary, config_line: &str) -> String {
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
    if let Some((mean, least, most)) = s.load.verify_wait_ms {
        let _ = writeln!(
            out,
            "  batching    {} signatures per verification batch · batch wait {mean:.1} ms on average ({least:.1}–{most:.1} ms; shorter while a core is under {:.0}% busy)",
            thousands(s.counts.signatures_verified as f64 / s.counts.verify_batches.max(1) as f64),
            crate::engine::batching::RELAX_BELOW * 100.0
        );
    }
    if let (Some(limits), Some(eff)) = (&s.limits, s.efficiency) {
        let model = match (s.efficiency_model, limits.model_tx_per_s) {
            (Some(eff_model), Some(ceiling)) => format!(
                " · {:.0}% of the model ceiling ({} tx/s)",
                eff_model * 100.0,
                thousands(ceiling)
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  efficiency  {:.0}% of the {}-core verification ceiling ({} sig/s; 1 core {} sig/s){model}",
            eff * 100.0,
            limits.cores,
            thousands(limits.verify_sigs_per_s_cores),
            thousands(limits.verify_sigs_per_s_per_core)
        );
    }
    let rejected: u64 = s.counts.rejected.values().sum();
    let _ = writeln!(
        out,
        "  counts      submitted {} · final {} · rejected {} · overloaded {} · shed {} · blocks {} · store {}/{}, {} flushes",
        thousands(s.counts.submitted as f64),
        thousands(s.counts.final_ as f64),
        thousands(rejected as f64),
        thousands(s.counts.overloaded as f64),
        thousands(s.counts.shed as f64),
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
    if !s.roles.is_empty() {
        let roles: Vec<String> = s
            .roles
            .iter()
            .filter(|(_, c)| c.share >= 0.005)
            .map(|(name, c)| format!("{name} {:.2} ({:.0}%)", c.us_per_tx, c.share * 100.0))
            .collect();
        let _ = writeln!(out, "  roles       µs/tx: {}", roles.join(" · "));
    }
    if let Some(p) = &s.projected {
        let _ = writeln!(
            out,
            "  projected   {} tx/s per shard with one core per validator (slowest: {}; believable {:.2} · normal {:.2} · leader {:.2} µs/tx) · network excluded",
            thousands(p.node_tps),
            p.slowest,
            p.believable_us_per_tx,
            p.normal_us_per_tx,
            p.leader_us_per_tx
        );
    }
    if let Some(cpu) = &s.load.cpu {
        let cores = s.config["run"]["cores"].as_u64().unwrap_or(1) as u32;
        let _ = writeln!(
            out,
            "  threads     CPU s: workers {:.1} · driver {:.1} · store {:.1} (driver and store: {:.1}% of {cores} core{} over {:.1} s)",
            cpu.workers_s,
            cpu.driver_s,
            cpu.store_s,
            cpu.helpers_share(cores, s.load.elapsed_s) * 100.0,
            if cores == 1 { "" } else { "s" },
            s.load.elapsed_s
        );
    }
    if let Some(r) = &s.resources {
        let _ = writeln!(
            out,
            "  memory      peak resident {} MB (engine {} MB, then the oracle) · block log {} MB on disk",
            thousands(r.peak_resident_bytes as f64 / 1e6),
            thousands(r.engine_peak_resident_bytes as f64 / 1e6),
            thousands(r.disk_bytes as f64 / 1e6)
        );
    }
    if let Some(soak) = &s.soak {
        out.push_str(&crate::soak::render(soak));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::StageCounts;

    fn shard_report(second: u64, final_: u64, cross_shard: u64) -> IntervalReport {
        IntervalReport {
            counts: StageCounts {
                provisional: final_,
                final_,
                cross_shard,
            },
            ..IntervalReport::empty(second)
        }
    }

    /// The round trip from this writer to the report's reader: the per-shard columns
    /// come back by name and sum to `final`.
    #[test]
    fn per_shard_final_columns_round_trip_through_the_reports_reader() {
        let reports = [
            shard_report(0, 5, 1),
            shard_report(0, 3, 0),
            shard_report(1, 7, 2),
            shard_report(1, 4, 0),
        ];
        let shard0: &[u64] = &[6, 9];
        let shard1: &[u64] = &[3, 4];
        let rows = timeline(&reports, 1.0, 2.0);
        let text = render_timeline(&rows, &[shard0, shard1]);
        let header = text.lines().next().unwrap();
        assert!(header.ends_with(",final_s0,final_s1"), "{header}");

        let read = ioschain_reports::timeline::parse(&text).unwrap();
        assert_eq!(read.shards, 2);
        assert_eq!(read.rows.len(), 2);
        for (row, second) in read.rows.iter().zip([0usize, 1]) {
            assert_eq!(
                row.final_by_shard,
                vec![Some(shard0[second]), Some(shard1[second])]
            );
            let sum: u64 = row.final_by_shard.iter().flatten().sum();
            assert_eq!(sum, row.final_, "second {second}");
        }
        assert_eq!(
            read.rows
                .iter()
                .map(|r| r.phase.as_str())
                .collect::<Vec<_>>(),
            ["warmup", "measure"]
        );
    }

    #[test]
    fn a_timeline_without_shards_has_the_old_header() {
        let rows = timeline(&[shard_report(0, 1, 0)], 0.0, 1.0);
        let text = render_timeline(&rows, &[]);
        assert!(text.starts_with("second,phase,offered,submitted,provisional,final,rejected,backpressure,provisional_p50_us,provisional_p99_us,final_p50_us,final_p99_us,final_max_us,cross_shard,cross_shard_p99_us,queued_clients,queued_validators,rss_bytes,disk_bytes,shed,overloaded\n"), "{text}");
        assert_eq!(ioschain_reports::timeline::parse(&text).unwrap().shards, 0);
    }
}
