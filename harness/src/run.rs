//! `ioschain run`: configuration → workload → ceilings → engine → validity → output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ioschain_core::tx::RejectReason;
use ioschain_workloads::{CrossExpected, Expected, Workload, cache};

use crate::cli::RunArgs;
use crate::config::{Backend, Config, ConfigError};
use crate::engine::batching::Batching;
use crate::engine::host::Shard;
use crate::engine::intake::IntakePlan;
use crate::engine::stream::StreamSource;
use crate::engine::{self, EngineParams, store};
use crate::metrics::{Percentiles, Stage, latency_histogram};
use crate::output::{self, Counts, Latency, Load, RunSummary, Tps, Validity};
use crate::{limits, machine, validity};
use ioschain_reports::summary::Resources;

/// How a run ended, as the process exit code (DESIGN.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: the run completed and is valid.
    Valid = 0,
    /// 1: the run completed but a validity check failed.
    Invalid = 1,
    /// 2: bad input (config, flags, files).
    BadInput = 2,
}

/// The backend `auto` stands for where the kernel allows it, chosen by measuring both on
/// the development machine with `ioschain limits`: equal with group flushes (≈1,500 MiB
/// records/s each), io_uring three times faster with a flush per record (≈1,050 vs
/// ≈360/s). `auto` falls back to `write` where io_uring is refused.
pub const DEFAULT_BACKEND: Backend = Backend::IoUring;

/// Resolves and validates the configuration from the flags (and file).
pub fn resolve_config(args: &RunArgs) -> Result<Config, ConfigError> {
    let mut config = match (&args.config, &args.preset) {
        (Some(path), _) => Config::from_file(path)?,
        (None, Some(name)) => crate::presets::load(name)?,
        (None, None) => Config::default(),
    };
    args.apply(&mut config);
    let available = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    config.resolve(available);
    config.validate(available)?;
    Ok(config)
}

/// `YYYYMMDDTHHMMSSZ` for `time` (UTC), used to name output directories.
pub fn utc_stamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn default_out(config: &Config, now: SystemTime) -> PathBuf {
    let mode = match config.run.inflight {
        Some(n) => format!("inflight{n}"),
        None => format!("rate{}", config.run.rate.round() as u64),
    };
    PathBuf::from("target/ioschain/runs").join(format!(
        "{}-shards{}-cores{}-{mode}-d{}",
        utc_stamp(now),
        config.shards(),
        config.cores(),
        config.run.duration_s
    ))
}

fn progress_bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stdout());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// Loads the workload from the cache, generating (and caching) it first if needed.
pub fn workload(config: &Config) -> anyhow::Result<Workload> {
    let spec = config.workload_spec();
    let path = cached_workload(config)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let workload = cache::load(dir, &spec)?
        .with_context(|| format!("workload cache {} vanished", path.display()))?;
    eprintln!(
        "workload: loaded {} transactions from {}",
        workload.tx_count(),
        path.display()
    );
    Ok(workload)
}

/// The workload's cache file, generated (and signed) first if there is none or it is
/// damaged at its head (a damaged chunk is found, and reported, when read).
pub fn cached_workload(config: &Config) -> anyhow::Result<PathBuf> {
    let spec = config.workload_spec();
    let dir = config
        .workload
        .cache_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/ioschain/workloads"));
    match cache::WorkloadFile::open(&dir, &spec).and_then(|file| {
        if let Some(file) = &file {
            file.verify()?;
        }
        Ok(file)
    }) {
        Ok(Some(file)) => return Ok(file.path().to_path_buf()),
        Ok(None) => {}
        Err(e @ cache::CacheError::Damaged { .. }) => eprintln!("warning: {e}; regenerating it"),
        Err(e) => return Err(e.into()),
    }
    let total = spec.txs_per_shard * u64::from(spec.shards);
    eprintln!(
        "workload: generating and signing {total} transactions ({} shards, seed {})",
        spec.shards, spec.seed
    );
    // Written to the cache a chunk at a time (resuming an interrupted generation), then
    // loaded from it like a cached workload.
    let bar = progress_bar(total, "signing");
    let generated = cache::generate_to_cache(&dir, &spec, &|done| bar.set_position(done)).map_err(
        |e| match e {
            cache::GenerateError::Spec(e) => anyhow::Error::new(ConfigError::Value {
                key: format!("workload.{}", e.key),
                value: e.value.clone(),
                allowed: e.allowed.clone(),
            }),
            other => other.into(),
        },
    )?;
    bar.finish_and_clear();
    if generated.resumed_txs > 0 {
        eprintln!(
            "workload: resumed an interrupted generation after {} transactions",
            generated.resumed_txs
        );
    }
    eprintln!("workload: cached at {}", generated.path.display());
    Ok(generated.path)
}

/// The one-line description of the configuration in the summary block.
fn config_line(config: &Config, backend: Backend) -> String {
    let load = match config.run.inflight {
        Some(n) => format!("closed loop, {n} in flight"),
        None => format!("offered {} tx/s open loop", config.run.rate),
    };
    format!(
        "shards {} · cores {} · {load} · warm-up {} s · measured {} s · blocks ≤{} tx/{} ms · roster {} · verify batch {}..{} · store {}/{} · seed {}",
        config.shards(),
        config.cores(),
        config.run.warmup_s,
        config.run.duration_s,
        config.engine.block_tx_max,
        config.engine.block_interval_ms,
        config.engine.validators_per_shard,
        config.engine.verify_batch_min,
        config.engine.verify_batch_max,
        backend.name(),
        config.store.fsync,
        config.run.seed
    )
}

/// The default of `engine.preload_s`, the seconds of the schedule whose transactions a
/// run loads before its clock starts (the rest is read during the run, ahead of the
/// releases): the default run (25 s) is loaded whole, so streaming costs it nothing; a
/// longer run holds about this many seconds of its workload at the start.
pub const PRELOAD_S: f64 = 30.0;

/// The engine's parameters for `config`, on the streams of `stream`, writing its block
/// log under `log_dir` with `backend`.
pub fn engine_params(
    config: &Config,
    stream: StreamSource,
    log_dir: PathBuf,
    backend: Backend,
) -> anyhow::Result<EngineParams> {
    let preload_positions = match &stream {
        // Already in memory: load it whole.
        StreamSource::Memory(_) => u32::MAX,
        StreamSource::Cache { .. } => {
            let peak_rate = config.rate_profile().map_or(config.run.rate, |p| p.peak());
            (peak_rate / f64::from(config.shards()) * config.engine.preload_s)
                .min(f64::from(u32::MAX)) as u32
        }
    };
    Ok(EngineParams {
        stream,
        preload_positions,
        load_chunk: crate::engine::stream::LOADER_CHUNK,
        cores: config.cores() as usize,
        rate: config.run.rate,
        profile: config.rate_profile(),
        inflight: config.run.inflight,
        warmup_s: config.run.warmup_s,
        duration_s: config.run.duration_s,
        drain_timeout_s: config.run.drain_timeout_s,
        seed: config.run.seed,
        verify_batch_max: config.engine.verify_batch_max as usize,
        verify_batch_min: config.engine.verify_batch_min as usize,
        verify_wait_us: config.engine.verify_wait_us,
        verify_wait_min_us: config.engine.verify_wait_min_us,
        block_tx_max: config.engine.block_tx_max as usize,
        block_interval_ms: config.engine.block_interval_ms,
        validators_per_shard: config.engine.validators_per_shard as usize,
        spent_retention: config.spent_retention() as usize,
        intake: IntakePlan {
            max: config.engine.intake_max.map(u64::from),
            budget_ns: config.engine.latency_budget_ms * 1_000_000,
            // Until measured: the offered rate (at its peak); a run that measured its
            // model ceiling caps it there.
            expected_rate: config.run.rate / f64::from(config.shards()),
            floor: 2 * u64::from(config.engine.verify_batch_max),
            give_up_at_ns: ((config.run.warmup_s + config.run.duration_s) * 1e9) as u64
                + config.engine.latency_budget_ms * 1_000_000,
        },
        channel_capacity: config.engine.channel_capacity as usize,
        idle_sleep: Duration::from_micros(config.engine.idle_sleep_us),
        log_dir,
        backend,
        fsync: config.fsync()?,
        group_blocks_max: config.store.group_blocks_max as usize,
        pin: true,
        pob: config.pob_params()?,
        t_unlock_blocks: config.atomix.t_unlock_blocks,
    })
}

/// Runs `ioschain run` and returns the exit status.
pub fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    if args.list_presets {
        print!("{}", crate::presets::list());
        return Ok(Exit::Valid);
    }
    let config = match resolve_config(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "(see `ioschain run --help`, or `ioschain run --print-config` for every key and its default)"
            );
            return Ok(Exit::BadInput);
        }
    };
    if args.print_config {
        print!("{}", config.to_toml());
        return Ok(Exit::Valid);
    }
    let backend = match config.backend()? {
        Some(Backend::IoUring) if !store::io_uring_available() => {
            eprintln!(
                "error: store.backend = \"io_uring\" is not available here (the kernel or sandbox refuses io_uring); use \"write\" or \"auto\""
            );
            return Ok(Exit::BadInput);
        }
        Some(backend) => backend,
        None if DEFAULT_BACKEND == Backend::IoUring && !store::io_uring_available() => {
            Backend::Write
        }
        None => DEFAULT_BACKEND,
    };
    let started = SystemTime::now();
    let out = config
        .run
        .out
        .clone()
        .unwrap_or_else(|| default_out(&config, started));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create output directory {}", out.display()))?;
    let stream = StreamSource::Cache {
        path: cached_workload(&config)?,
        spec: config.workload_spec(),
    };
    let largest_genesis = (0..stream.shards())
        .map(|s| stream.genesis(s).map(|g| g.len()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    let limits = config.run.measure_limits.then(|| {
        let model = limits::Model::of_run(&config, largest_genesis);
        eprintln!(
            "limits: measuring the signature-verification ceiling and the model ceiling ({} live outputs per core; about 2 s)",
            model.utxos
        );
        limits::measure(config.cores() as usize, Duration::from_millis(500), &model)
    });

    let mut params = engine_params(&config, stream, out.join("blocks"), backend)?;
    if let Some(model) = limits.as_ref().and_then(|l| l.model_tx_per_s) {
        let per_shard = model / f64::from(config.shards());
        params.intake.expected_rate = params.intake.expected_rate.min(per_shard);
    }
    let status = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
    status.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
    let warmup_s = config.run.warmup_s;
    let end_s = warmup_s + config.run.duration_s;
    let mut seconds: BTreeMap<u64, (u64, hdrhistogram::Histogram<u64>)> = BTreeMap::new();
    let outcome = engine::run(&params, |report| {
        if status.is_hidden() {
            return;
        }
        if let Some(h) = &report.histograms {
            let entry = seconds
                .entry(report.second)
                .or_insert_with(|| (0, latency_histogram()));
            entry.0 += report.counts.final_ + report.counts.cross_shard;
            entry.1.add(&h[Stage::Final as usize]).expect("same bounds");
        }
        let phase = if (report.second as f64) < warmup_s {
            "warm-up"
        } else if (report.second as f64) < end_s {
            "measure"
        } else {
            "drain"
        };
        // The last complete second across shards.
        if let Some((second, (count, h))) = seconds.iter().rev().nth(1) {
            status.set_message(format!(
                "{second} s · {phase} · final {count} tx/s · final p99 {:.1} ms",
                Percentiles::of(h).p99 as f64 / 1000.0
            ));
            status.tick();
        }
    })
    .context("the engine failed to start or its store failed")?;
    status.finish_and_clear();

    // The oracle reads the workload with its answer key after the run (the engine read
    // it a chunk at a time and dropped each chunk once done).
    let workload = workload(&config)?;
    eprintln!("validity: re-reading the block log and replaying it");
    let checks = validity::check_run(&params.log_dir, &workload, &params.pob, &outcome);
    let valid = checks.iter().all(|c| c.ok);
    let rows = output::timeline(&outcome.intervals, warmup_s, end_s);
    let mut summary = summarize(&config, &workload, &outcome, limits, checks);
    summary.resources = Some(resources(&rows, &params.log_dir, config.shards()));
    summary.soak = crate::soak::stability(&rows, warmup_s, end_s);
    if let Some(soak) = &summary.soak {
        summary.warnings.extend(crate::soak::warnings(soak));
    }
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    let final_by_shard: Vec<&[u64]> = outcome
        .shards
        .iter()
        .map(|s| s.metrics.final_by_second())
        .collect();
    output::write_timeline(&out.join("timeline.csv"), &rows, &final_by_shard)?;
    output::write_hlog(&out.join("latency.hlog"), &rows, outcome.started_at)?;
    print!(
        "{}",
        output::summary_block(&summary, &config_line(&config, backend))
    );
    println!("  output      {}", out.display());
    Ok(if valid { Exit::Valid } else { Exit::Invalid })
}

/// Memory and disk of a run with timeline `rows` and its block log under `log_dir`.
fn resources(rows: &[output::Row], log_dir: &Path, shards: u32) -> Resources {
    Resources {
        peak_resident_bytes: crate::machine::peak_resident_bytes().unwrap_or(0),
        engine_peak_resident_bytes: rows
            .iter()
            .filter_map(|r| r.levels.resident_bytes)
            .max()
            .unwrap_or(0),
        disk_bytes: store::log_bytes(log_dir, shards).unwrap_or(0),
    }
}

/// The run's summary from what the engine (or the simulator) returned: throughput and
/// latency over the measured window, counts, load, warnings, PoB and Atomix figures, and
/// the validity verdict from `checks`.
pub(crate) fn summarize(
    config: &Config,
    workload: &Workload,
    outcome: &engine::EngineOutcome,
    limits: Option<limits::Limits>,
    checks: Vec<validity::Check>,
) -> RunSummary {
    let valid = checks.iter().all(|c| c.ok);
    let (roles, projected) = crate::costs::role_costs(&outcome.shards);
    let window_s = outcome.window.seconds();
    let mut final_h = latency_histogram();
    let mut provisional_h = latency_histogram();
    let mut cross_h = latency_histogram();
    let mut counts = Counts::default();
    let mut window_final = 0u64;
    let mut window_cross = 0u64;
    let mut window_provisional = 0u64;
    let mut store_backpressure = 0u64;
    let (mut waited_ns, mut waited_max_ns, mut admitted_late) = (0u64, 0u64, 0u64);
    for shard in &outcome.shards {
        final_h
            .add(&shard.metrics.window_histograms[Stage::Final as usize])
            .expect("same bounds");
        provisional_h
            .add(&shard.metrics.window_histograms[Stage::Provisional as usize])
            .expect("same bounds");
        cross_h
            .add(&shard.metrics.window_histograms[Stage::CrossShard as usize])
            .expect("same bounds");
        window_final += shard.metrics.window_counts.final_;
        window_cross += shard.metrics.window_counts.cross_shard;
        let x = shard.atomix_counters();
        counts.aborted += x.aborted;
        window_provisional += shard.metrics.window_counts.provisional;
        let c = &shard.counters();
        counts.submitted += c.submitted;
        counts.shed += shard.shed();
        counts.overloaded += shard.intake.refused;
        waited_ns += shard.clients.refused_wait_ns;
        admitted_late += shard.clients.refused_admitted;
        waited_max_ns = waited_max_ns.max(shard.clients.refused_wait_max_ns);
        counts.provisional += c.provisional;
        // Intra-shard transactions final, cross-shard ones committed everywhere.
        counts.final_ += c.final_ + x.committed;
        counts.blocks += c.blocks;
        counts.signatures_verified += c.signatures;
        counts.verify_batches += c.verify_batches;
        counts.verify_singles += c.verify_singles;
        store_backpressure += c.store_backpressure;
        for (reason, n) in RejectReason::ALL.iter().zip(c.rejected) {
            *counts
                .rejected
                .entry(reason.as_str().to_string())
                .or_default() += n;
        }
    }
    let counts_signatures = counts.signatures_verified;
    let tps_intra = window_final as f64 / window_s;
    let tps_cross = window_cross as f64 / window_s;
    let tps_final = tps_intra + tps_cross;
    let admitted = counts.submitted - counts.shed;
    let sigs_per_tx = if admitted > 0 {
        counts.signatures_verified as f64 / admitted as f64
    } else {
        0.0
    };
    let efficiency = limits
        .as_ref()
        .map(|l| tps_final * sigs_per_tx / l.verify_sigs_per_s_cores);
    let efficiency_model = limits
        .as_ref()
        .and_then(|l| l.model_tx_per_s)
        .filter(|&ceiling| ceiling > 0.0)
        .map(|ceiling| tps_final / ceiling);
    let offered_tps = match (config.run.inflight, config.rate_profile()) {
        (None, None) => config.run.rate,
        // The profile's mean over the measured window.
        (None, Some(profile)) => {
            let (start, end) = (
                config.run.warmup_s,
                config.run.warmup_s + config.run.duration_s,
            );
            (profile.cumulative(end) - profile.cumulative(start)) / config.run.duration_s
        }
        (Some(_), _) => outcome.driver.window_offered as f64 / window_s,
    };
    let achieved_tps = outcome.driver.window_submitted as f64 / window_s;
    // Only valid transactions can become final: the rate to keep up with is the offered
    // rate times the share of the released stream the workload marks valid.
    let released_total: u64 = outcome.driver.released.iter().sum();
    let valid_released: u64 = workload
        .shards
        .iter()
        .zip(&outcome.driver.released)
        .map(|(stream, &n)| {
            stream.expected[..n as usize]
                .iter()
                .filter(|e| match e {
                    Expected::Valid => true,
                    Expected::Cross(k) => {
                        stream.cross[*k as usize].expected == CrossExpected::Commit
                    }
                    Expected::Invalid(_) => false,
                })
                .count() as u64
        })
        .sum();
    let valid_share = if released_total > 0 {
        valid_released as f64 / released_total as f64
    } else {
        1.0
    };
    let mut warnings = Vec::new();
    if config.run.inflight.is_none() && achieved_tps < 0.95 * offered_tps {
        warnings.push(format!(
            "the driver submitted {achieved_tps:.0} tx/s, below 95% of the offered {offered_tps:.0} tx/s: the shards' inboxes were full ({} times); the engine is saturated, so latency includes queueing",
            outcome.driver.backpressure
        ));
    }
    if !outcome.drained {
        warnings.push(format!(
            "transactions were still in flight {} s after the schedule ended",
            config.run.drain_timeout_s
        ));
    }
    let overloaded_wait_ms = (admitted_late > 0).then(|| {
        (
            waited_ns as f64 / admitted_late as f64 / 1e6,
            waited_max_ns as f64 / 1e6,
        )
    });
    if counts.overloaded > 0 {
        warnings.push(format!(
            "overload: {} arrivals ({:.1}% of those released) found their shard's intake full (latency budget {} ms); their clients sent them again once there was room{}, and {} were never admitted (shed, with what depends on them); latency runs from the admitted attempt",
            counts.overloaded,
            100.0 * counts.overloaded as f64 / counts.submitted.max(1) as f64,
            config.engine.latency_budget_ms,
            overloaded_wait_ms.map_or(String::new(), |(mean, max)| format!(
                " (waiting {mean:.0} ms on average, at most {max:.0} ms)"
            )),
            counts.shed
        ));
    }
    if outcome.driver.exhausted {
        warnings.push("the closed-loop driver used up the generated stream before the end".into());
    }
    if tps_final < 0.95 * offered_tps * valid_share && config.run.inflight.is_none() {
        warnings.push(format!(
            "final throughput {tps_final:.0} tx/s is below 95% of the offered valid rate ({:.0} tx/s): the engine did not keep up",
            offered_tps * valid_share
        ));
    }
    let cost = crate::costs::cost(&roles, limits.as_ref());
    RunSummary {
        schema: output::SCHEMA.into(),
        config: serde_json::to_value(config).expect("the configuration serializes"),
        machine: machine::describe(),
        limits,
        offered_tps,
        tps: Tps {
            final_: tps_final,
            provisional: window_provisional as f64 / window_s,
            intra_shard: tps_intra,
            cross_shard: tps_cross,
        },
        latency_us: Latency {
            provisional: Percentiles::of(&provisional_h),
            final_: Percentiles::of(&final_h),
            cross_shard: (!cross_h.is_empty()).then(|| Percentiles::of(&cross_h)),
        },
        efficiency,
        efficiency_model,
        counts,
        load: Load {
            mode: if config.run.inflight.is_some() {
                "closed".into()
            } else {
                "open".into()
            },
            achieved_tps,
            inbox_backpressure: outcome.driver.backpressure,
            store_backpressure,
            overloaded_wait_ms,
            verify_wait_ms: verify_wait_ms(&outcome.shards),
            elapsed_s: outcome.elapsed_s,
            cpu: outcome.cpu.clone(),
        },
        store: outcome.store.clone(),
        pinning: outcome.pinning.clone(),
        workload_key: workload.spec.key().to_string(),
        warnings,
        pob: output::pob_summary(&outcome.shards, counts_signatures),
        atomix: output::atomix_summary(&outcome.shards),
        roles,
        cost,
        projected,
        resources: None,
        soak: None,
        validity: Validity { valid, checks },
        path: std::path::PathBuf::new(),
    }
}

/// Adaptive batching's wait over the run, ms: mean over the workers (each worker's
/// time-weighted mean, once per worker), least and most.
fn verify_wait_ms(shards: &[Shard]) -> Option<(f64, f64, f64)> {
    let mut workers: Vec<(usize, &Batching)> = shards
        .iter()
        .filter_map(|s| s.batching.as_ref().map(|b| (s.worker(), b)))
        .collect();
    workers.sort_by_key(|(w, _)| *w);
    workers.dedup_by_key(|(w, _)| *w);
    if workers.is_empty() {
        return None;
    }
    let ms = |ns: f64| ns / 1e6;
    let mean = workers.iter().map(|(_, b)| b.mean_ns()).sum::<f64>() / workers.len() as f64;
    let least = workers.iter().map(|(_, b)| b.least_ns).min().unwrap_or(0);
    let most = workers.iter().map(|(_, b)| b.most_ns).max().unwrap_or(0);
    Some((ms(mean), ms(least as f64), ms(most as f64)))
}
