//! Reading `summary.json`, the run summary that `ioschain run --out DIR` writes (schema
//! `ioschain.run/1`, DESIGN.md §5).
//!
//! [`RunSummary`] and the types it holds are the schema's one definition: the harness
//! fills and writes them (`harness/src/run.rs`), the reports load them. A round-trip test
//! (`harness/tests/summary_schema.rs`) loads a real run's `summary.json` and writes it
//! back identical, so no field the writer produces is unknown to the reader. Every
//! section has defaults, so summaries written before a field existed still load (the
//! field reads as zero or empty). Errors are typed ([`SummaryError`]) and always name the
//! file.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema tag this reader understands.
pub const SCHEMA: &str = "ioschain.run/1";

/// The file `ioschain run --out DIR` writes into `DIR`.
pub const SUMMARY_FILE: &str = "summary.json";

/// Why a summary could not be loaded. Every variant names the file.
/// The underlying error is part of the message, not a `source()`, so error chains print
/// it once.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// A directory without `summary.json` in it.
    #[error(
        "{}: no {SUMMARY_FILE} in this directory (give the --out DIR of `ioschain run`, or a summary.json file)",
        dir.display()
    )]
    NoSummaryInDir {
        /// The directory given.
        dir: PathBuf,
    },
    /// The file could not be read.
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Not JSON, or JSON without the fields a run summary has.
    #[error("{}: not a valid run summary: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde_json found wrong (with line and column).
        error: serde_json::Error,
    },
    /// A `schema` other than [`SCHEMA`], or none.
    #[error(
        "{}: schema is {}, expected \"{SCHEMA}\" (is this the summary.json of `ioschain run`?)",
        path.display(),
        found.as_deref().map_or_else(|| "missing".to_owned(), |s| format!("{s:?}"))
    )]
    Schema {
        /// The file.
        path: PathBuf,
        /// The schema tag found, if any.
        found: Option<String>,
    },
}

/// The run summary, `summary.json`: written by `ioschain run`, read by the reports. A
/// file without the schema tag, the offered rate, throughputs, latencies or validity is
/// not a run summary; every other section defaults when absent.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunSummary {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The fully resolved configuration (every default filled in), kept as JSON: the
    /// reports compare two runs' settings key by key.
    #[serde(default)]
    pub config: serde_json::Value,
    /// Where it ran.
    #[serde(default)]
    pub machine: Machine,
    /// Ceilings measured at start (`None` when disabled).
    #[serde(default)]
    pub limits: Option<Limits>,
    /// The schedule's rate, tx/s.
    pub offered_tps: f64,
    /// Throughputs.
    pub tps: Tps,
    /// Latencies.
    pub latency_us: Latency,
    /// `(tps.final × signatures per transaction) / limits.verify_sigs_per_s_cores`
    /// (`None` when the run skipped the ceiling measurement).
    #[serde(default)]
    pub efficiency: Option<f64>,
    /// `tps.final / limits.model_tx_per_s`: final throughput as a share of the model
    /// ceiling (`None` when the run skipped the ceiling measurement, or in summaries
    /// written before it existed).
    #[serde(default)]
    pub efficiency_model: Option<f64>,
    /// Counts.
    #[serde(default)]
    pub counts: Counts,
    /// Load.
    #[serde(default)]
    pub load: Load,
    /// The block log.
    #[serde(default)]
    pub store: StoreReport,
    /// Shard → core.
    #[serde(default)]
    pub pinning: Vec<Option<usize>>,
    /// The workload's cache key.
    #[serde(default)]
    pub workload_key: String,
    /// Warnings about the run (shown in the summary block too).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Proof-of-Believability.
    #[serde(default)]
    pub pob: PobSummary,
    /// Atomix (cross-shard transactions).
    #[serde(default)]
    pub atomix: AtomixSummary,
    /// The shards' workers' busy time by role (`ordering`, `checking`, `sampling`,
    /// `leader`, `signing`, `atomix`, `coordinator`, `clients`, `host`), over the whole
    /// run; empty when nothing was metered (a simulation).
    #[serde(default)]
    pub roles: BTreeMap<String, RoleCost>,
    /// What one validator of a real shard would sustain, projected from `roles`
    /// (`None` when nothing was metered).
    #[serde(default)]
    pub projected: Option<Projection>,
    /// What a transaction cost the workers, also in model transactions (`None` without
    /// role timers or without the model ceiling, e.g. `--no-limits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Memory and disk (`None` in older summaries and in simulations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// How a long run held up (`None` unless the measured window is at least two
    /// minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<Soak>,
    /// Validity.
    pub validity: Validity,
    /// The file it was read from (empty when written, or parsed without one).
    #[serde(skip)]
    pub path: PathBuf,
}

/// What a transaction cost the engine's workers (issue 17): busy time (every role but
/// idle) per submitted transaction, and the same in *model transactions*, the cost of
/// the least work any validating ledger does per transaction on this machine
/// (`limits.model_tx_per_s` on the run's cores): `model_txs = us_per_tx × 1e-6 ×
/// model_tx_per_s / cores`. A code regression raises it; a faster or slower machine
/// moves both the cost and the model ceiling, so the ratio travels between machines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cost {
    /// Busy worker time per submitted transaction, µs (summed over shards and roles).
    pub us_per_tx: f64,
    /// `us_per_tx` in model transactions.
    pub model_txs: f64,
    /// Per role (as in `roles`), in model transactions.
    pub roles: BTreeMap<String, f64>,
}

/// What the run held in memory and on disk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// The process's peak resident memory (`VmHWM`), bytes: the engine's and then the
    /// validity oracle's, whichever was higher.
    pub peak_resident_bytes: u64,
    /// The highest resident memory sampled while the engine ran, bytes.
    pub engine_peak_resident_bytes: u64,
    /// Bytes of the block log on disk at the end.
    pub disk_bytes: u64,
}

/// How a long run held up, from its one-second timeline (issue 18): whether memory, the
/// final p99 or throughput drifted over the measured window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Soak {
    /// Measured minutes.
    pub minutes: f64,
    /// Final tx/s over the first measured minute.
    pub first_minute_tps: f64,
    /// Final tx/s over the last measured minute.
    pub last_minute_tps: f64,
    /// `last_minute_tps / first_minute_tps`.
    pub last_to_first: f64,
    /// Resident memory at the end of the first measured minute, bytes.
    pub resident_after_first_minute_bytes: u64,
    /// Least-squares slope of resident memory after the first measured minute, bytes
    /// per minute.
    pub resident_slope_bytes_per_min: f64,
    /// Least-squares slope of the per-second final p99 after the first measured minute,
    /// ms per minute.
    pub final_p99_slope_ms_per_min: f64,
    /// Least-squares slope of the block log's bytes on disk, bytes per minute.
    pub disk_slope_bytes_per_min: f64,
    /// Memory kept growing: the fitted growth after the first minute exceeds 5% of its
    /// level then and 64 MiB.
    pub memory_growing: bool,
    /// The last minute's throughput is below 0.95 of the first's.
    pub throughput_fell: bool,
}

/// One role's cost over the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoleCost {
    /// Busy µs in the role per transaction submitted, summed over shards.
    pub us_per_tx: f64,
    /// Share of the workers' busy time.
    pub share: f64,
}

/// A projection from measured costs (network excluded): the throughput one shard would
/// sustain if each of its validators had one core like the run's, set by its slowest
/// validator. Per transaction of the shard's traffic, a believable validator carries
/// its 1/L share of ordering; a normal validator the checks, its own sample, one
/// partial signature per FinalBlock and the Atomix entries; the FinalBlock leader, a
/// normal validator too, the FinalBlock and coordinator work besides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Projection {
    /// Transactions per second one shard would sustain (the mean over shards).
    pub node_tps: f64,
    /// `node_tps` × shards: the federation, each shard on its own machines.
    pub federation_tps: f64,
    /// A believable validator's µs per transaction.
    pub believable_us_per_tx: f64,
    /// A normal validator's.
    pub normal_us_per_tx: f64,
    /// The FinalBlock leader's.
    pub leader_us_per_tx: f64,
    /// Which is slowest: `believable` or `leader`.
    pub slowest: String,
}

/// Where and with what a run was made (BENCHMARKING.md rule 6).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Cores available to the process.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// Host name.
    pub hostname: String,
    /// rustc that built the binary.
    pub rustc: String,
    /// Build profile.
    pub profile: String,
    /// Git commit of the build.
    pub git_sha: String,
    /// Whether the working tree had uncommitted changes at build time.
    pub git_dirty: bool,
}

/// Ceilings of the machine, measured in the run's process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Batched ed25519 verification (ZIP-215) on one core, signatures per second.
    pub verify_sigs_per_s_per_core: f64,
    /// The same on `cores` pinned threads at once.
    pub verify_sigs_per_s_cores: f64,
    /// Cores measured together.
    pub cores: usize,
    /// Batch size used.
    pub batch: usize,
    /// blake3 of 150 bytes per second on one core (only measured by `ioschain limits`).
    pub blake3_150b_per_s: Option<f64>,
    /// One channel round trip between two threads, µs (only by `ioschain limits`).
    pub channel_round_trip_us: Option<f64>,
    /// The model ceiling: transactions per second, summed over `cores` pinned threads, at
    /// the least work any correct validating ledger does per default transaction (its
    /// id, one batched ZIP-215 verification with cached keys, one UTXO spend and create
    /// in a map of `model_utxos` live outputs; `harness/src/limits.rs`). `None` in
    /// summaries written before it was measured.
    pub model_tx_per_s: Option<f64>,
    /// Live outputs in each core's UTXO map for the model ceiling.
    pub model_utxos: Option<u64>,
}

/// Throughputs in the measured window, transactions per second.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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

/// Latency percentiles of one stage, µs from the intended send time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
    /// Values recorded.
    pub count: u64,
}

impl Percentiles {
    /// Reads the percentiles of `h` (all zero when empty).
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            count: h.len(),
        }
    }
}

/// Latency percentiles per stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    /// To inclusion in a built block.
    pub provisional: Percentiles,
    /// To a certified, persisted block (intra-shard transactions).
    #[serde(rename = "final")]
    pub final_: Percentiles,
    /// Cross-shard transactions, to the last involved shard's commit being final
    /// (`None` without any).
    pub cross_shard: Option<Percentiles>,
}

/// Transaction counts over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Arrivals refused at a full intake (`overloaded`): their clients sent them again
    /// once the shard had room (latency runs from that attempt).
    pub overloaded: u64,
    /// Shed: never admitted before their clients gave up at the end of the schedule, or
    /// given up because one they depend on was; neither final nor rejected, and not an
    /// error.
    pub shed: u64,
    /// FinalBlocks built (cosigned and sent to the store).
    pub blocks: u64,
    /// Signatures verified by the ordering step.
    pub signatures_verified: u64,
    /// Batch equations evaluated (one per clean batch or chunk).
    pub verify_batches: u64,
    /// Signatures verified one by one (the entries of failed batches).
    pub verify_singles: u64,
}

/// Load figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Load {
    /// `"open"` or `"closed"`.
    pub mode: String,
    /// Achieved submission rate over the measured window, tx/s.
    pub achieved_tps: f64,
    /// Sends to a full shard inbox (driver) — retried, never dropped.
    pub inbox_backpressure: u64,
    /// Sends to a full store queue (shards).
    pub store_backpressure: u64,
    /// How long the transactions refused at a full intake and admitted later waited at
    /// their clients, mean and most, ms (`None`: none was).
    pub overloaded_wait_ms: Option<(f64, f64)>,
    /// Adaptive batching's wait for a full verification batch over the run, ms: mean
    /// (time-weighted, over the workers), least and most (`None` in a simulation).
    pub verify_wait_ms: Option<(f64, f64, f64)>,
    /// Seconds from start to the end of the drain.
    pub elapsed_s: f64,
    /// CPU time of the engine's threads (`None` where the kernel does not say, or in a
    /// simulation).
    pub cpu: Option<ThreadsCpu>,
}

/// CPU seconds each kind of engine thread ran, start to end of the drain (Linux
/// `schedstat`; the kernel's io_uring workers are not counted).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThreadsCpu {
    /// The shards' worker threads, summed.
    pub workers_s: f64,
    /// The load driver.
    pub driver_s: f64,
    /// The store.
    pub store_s: f64,
}

impl ThreadsCpu {
    /// The driver's and the store's share of `cores` cores over `elapsed_s`.
    pub fn helpers_share(&self, cores: u32, elapsed_s: f64) -> f64 {
        (self.driver_s + self.store_s) / (f64::from(cores.max(1)) * elapsed_s.max(1e-9))
    }
}

/// Block-log backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// `write` + `fdatasync`.
    Write,
    /// io_uring writes and `fdatasync`.
    IoUring,
}

impl Backend {
    /// The name used in configuration and output.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Write => "write",
            Backend::IoUring => "io_uring",
        }
    }
}

/// Flush policies of the block log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// One flush per group of blocks.
    Group,
    /// One flush per block.
    Every,
    /// No flush (the OS writes back when it likes).
    Never,
}

impl Fsync {
    /// The name used in configuration and output.
    pub const fn name(self) -> &'static str {
        match self {
            Fsync::Group => "group",
            Fsync::Every => "every",
            Fsync::Never => "never",
        }
    }
}

/// What the block log's store did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreReport {
    /// Backend used.
    pub backend: Option<Backend>,
    /// Flush policy.
    pub fsync: Option<Fsync>,
    /// Records written.
    pub blocks: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Flushes issued.
    pub flushes: u64,
    /// Groups written (one drain of the channel each).
    pub groups: u64,
    /// Total time in flushes, µs.
    pub flush_us_total: u64,
    /// Longest flush, µs.
    pub flush_us_max: u64,
}

/// Proof counts by kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProofCounts {
    /// Invalid signature found by a sampler.
    pub bad_signature: u64,
    /// Two OptBlocks for one slot.
    pub equivocation: u64,
    /// A transaction failing a cheap check (double spend, unknown input).
    pub failed_check: u64,
}

/// Forged transactions (Byzantine `bad-signature`) and whether sampling caught them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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

/// One validator's standing at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Standing {
    /// Roster index.
    pub validator: u32,
    /// Believability score.
    pub score: f64,
    /// Stake.
    pub stake: u64,
    /// Servi.
    pub servi: u64,
    /// Reputation (0–1).
    pub reputation: f64,
    /// Banned after proven fraud.
    pub banned: bool,
}

/// The Proof-of-Believability part of the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Epochs (league selections) per shard.
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
    pub top_believability: Vec<Vec<Standing>>,
}

/// The Atomix part of the summary: what the clients saw, what the shards committed,
/// and what the coordinator rule did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    pub entries: BTreeMap<String, u64>,
    /// Requests that changed nothing (repeated lock requests, replayed or duplicate
    /// unlocks).
    pub repeats: u64,
    /// Unlocks refused, by error (forged proofs show up as `bad_proof`).
    pub refused: BTreeMap<String, u64>,
    /// Coordinator (or backup) actions sent.
    pub coordinator: BTreeMap<String, u64>,
    /// Misbehaving clients' messages: forged proofs and replayed commits sent.
    pub forged_sent: u64,
    /// See `forged_sent`.
    pub replays_sent: u64,
    /// Proofs published to clients and named input shards.
    pub proofs_published: u64,
    /// Proofs a named input shard received for the coordinator rule that did not
    /// verify, dropped on arrival (an honest run has none).
    pub proofs_dropped: u64,
    /// Transactions whose client held them until the transactions that created their
    /// inputs were done (a cross-shard one: every creator final or committed; an
    /// intra-shard one: the Atomix payment it spends committed).
    pub waits: u64,
    /// Lock requests held back a FinalBlock because an input was not final, or not
    /// known, yet (an unknown one for at most `t_unlock` FinalBlocks).
    pub lock_waits: u64,
    /// Cross-shard messages sent between workers, and sends that found a full channel.
    pub messages: u64,
    /// See `messages`.
    pub backpressure: u64,
}

/// One validity check of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Check {
    /// Stable name.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was checked and found.
    pub detail: String,
}

/// Validity of the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Validity {
    /// True only if every check passed.
    pub valid: bool,
    /// The checks.
    pub checks: Vec<Check>,
}

#[derive(Deserialize)]
struct SchemaProbe {
    #[serde(default)]
    schema: Option<serde_json::Value>,
}

impl RunSummary {
    /// Loads a summary from `path`: a run directory (the `--out DIR` of `ioschain run`,
    /// holding `summary.json`) or the `summary.json` file itself.
    pub fn load(path: impl AsRef<Path>) -> Result<RunSummary, SummaryError> {
        let given = path.as_ref();
        let file = if given.is_dir() {
            let file = given.join(SUMMARY_FILE);
            if !file.is_file() {
                return Err(SummaryError::NoSummaryInDir {
                    dir: given.to_path_buf(),
                });
            }
            file
        } else {
            given.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|error| SummaryError::Read {
            path: file.clone(),
            error,
        })?;
        RunSummary::from_json(&text, file)
    }

    /// Parses the text of a `summary.json`; `path` names it in errors and in reports.
    pub fn from_json(text: &str, path: impl Into<PathBuf>) -> Result<RunSummary, SummaryError> {
        let path = path.into();
        let probe: SchemaProbe =
            serde_json::from_str(text).map_err(|error| SummaryError::Parse {
                path: path.clone(),
                error,
            })?;
        match probe.schema {
            Some(serde_json::Value::String(s)) if s == SCHEMA => {}
            Some(serde_json::Value::String(s)) => {
                return Err(SummaryError::Schema {
                    path,
                    found: Some(s),
                });
            }
            Some(other) => {
                return Err(SummaryError::Schema {
                    path,
                    found: Some(other.to_string()),
                });
            }
            None => return Err(SummaryError::Schema { path, found: None }),
        }
        let mut summary: RunSummary =
            serde_json::from_str(text).map_err(|error| SummaryError::Parse {
                path: path.clone(),
                error,
            })?;
        summary.path = path;
        Ok(summary)
    }

    /// How this run is named in reports: its directory when the file is `summary.json`,
    /// else the file.
    pub fn label(&self) -> String {
        let shown = match (self.path.file_name(), self.path.parent()) {
            (Some(name), Some(dir)) if name == SUMMARY_FILE && !dir.as_os_str().is_empty() => dir,
            _ => self.path.as_path(),
        };
        shown.display().to_string()
    }

    /// The names of the validity checks that failed.
    pub fn failed_checks(&self) -> Vec<&str> {
        self.validity
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest summary a run writes: schema, offered rate, throughputs, latencies,
    /// validity, with `limits` and efficiency as before the model ceiling existed.
    const BEFORE_THE_MODEL_CEILING: &str = r#"{
        "schema": "ioschain.run/1",
        "limits": { "verify_sigs_per_s_per_core": 80000.0, "verify_sigs_per_s_cores": 160000.0,
                    "cores": 2, "batch": 1024, "blake3_150b_per_s": null,
                    "channel_round_trip_us": null },
        "offered_tps": 100000.0,
        "tps": { "final": 70000.0, "provisional": 71000.0, "intra_shard": 63000.0,
                 "cross_shard": 7000.0 },
        "latency_us": {},
        "efficiency": 0.55,
        "validity": { "valid": true, "checks": [] }
    }"#;

    #[test]
    fn a_summary_without_the_model_ceiling_still_loads() {
        let s = RunSummary::from_json(BEFORE_THE_MODEL_CEILING, "old.json").unwrap();
        let limits = s.limits.as_ref().unwrap();
        assert_eq!(limits.verify_sigs_per_s_cores, 160_000.0);
        assert_eq!(limits.model_tx_per_s, None);
        assert_eq!(limits.model_utxos, None);
        assert_eq!(s.efficiency, Some(0.55));
        assert_eq!(s.efficiency_model, None);
    }

    #[test]
    fn the_model_ceiling_and_efficiency_model_round_trip() {
        let mut s = RunSummary::from_json(BEFORE_THE_MODEL_CEILING, "old.json").unwrap();
        let limits = s.limits.as_mut().unwrap();
        limits.model_tx_per_s = Some(92_000.0);
        limits.model_utxos = Some(200_000);
        s.efficiency_model = Some(70_000.0 / 92_000.0);
        let written = serde_json::to_value(&s).unwrap();
        assert_eq!(written["limits"]["model_tx_per_s"], 92_000.0);
        assert_eq!(written["limits"]["model_utxos"], 200_000);
        let again = RunSummary::from_json(&written.to_string(), "new.json").unwrap();
        assert_eq!(again.limits, s.limits);
        assert_eq!(again.efficiency_model, s.efficiency_model);
        assert_eq!(serde_json::to_value(&again).unwrap(), written);
    }
}
