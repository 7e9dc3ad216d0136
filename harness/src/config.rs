//! Run configuration: TOML file (`--config`), then flags, then defaults; validated up
//! front with errors that name the key, the value and what is allowed.
//!
//! Why one file of about 950 lines: it is the whole configuration schema, each key's
//! type, default and allowed range side by side per section, with the validation that
//! names them; split by section, a key's default and its range would live apart.
//!
//! Every key has a default, so an empty file (or no file) is a complete configuration.
//! The resolved configuration (every default filled in) is what `--print-config` prints
//! and what `summary.json` records.

use crate::engine::schedule::RateProfile;
use std::path::PathBuf;

use ioschain_workloads::{ClientMix, SenderDistribution, WorkloadSpec};
use serde::{Deserialize, Serialize};

pub use ioschain_reports::summary::{Backend, Fsync};

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// How the run is driven and measured.
    pub run: RunSection,
    /// What transactions are generated.
    pub workload: WorkloadSection,
    /// The engine's batching and roster.
    pub engine: EngineSection,
    /// The block log.
    pub store: StoreSection,
    /// Proof-of-Believability.
    pub pob: PobSection,
    /// Misbehaving believable validators (seeded).
    pub byzantine: ByzantineSection,
    /// Cross-shard transactions (Atomix).
    pub atomix: AtomixSection,
}

/// `[atomix]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtomixSection {
    /// FinalBlocks of the coordinator shard without a new proof about a cross-shard
    /// transaction before it finishes the transaction itself (PROTOCOL.md §5.6's
    /// `T_unlock`; a backup shard waits twice as long). The default, 50 (1 s at the
    /// default 20 ms FinalBlock interval), is several cross-shard latencies: a
    /// coordinator that acts while the client is merely slow does harmless but costly
    /// duplicate work, and under overload that feeds on itself.
    pub t_unlock_blocks: u64,
}

impl Default for AtomixSection {
    fn default() -> Self {
        AtomixSection {
            t_unlock_blocks: 50,
        }
    }
}

/// `[run]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// Shards (default: the cores used).
    pub shards: Option<u32>,
    /// Cores (worker threads) used (default: all available).
    pub cores: Option<u32>,
    /// Offered rate, transactions per second over all shards (open loop).
    pub rate: f64,
    /// Closed loop: keep this many transactions in flight instead of a fixed rate.
    pub inflight: Option<u64>,
    /// An offered rate that changes over the run: `[step:]seconds:rate,…` keyframes
    /// (`engine::schedule`). When set, `rate` becomes its peak (what sizes the engine's
    /// bounds) and the workload holds what the profile offers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_profile: Option<String>,
    /// Warm-up seconds (run, then discarded).
    pub warmup_s: f64,
    /// Measured seconds.
    pub duration_s: f64,
    /// Seconds allowed after the schedule ends for in-flight transactions to finish.
    pub drain_timeout_s: f64,
    /// Seed of the workload and of CoSi nonce material.
    pub seed: u64,
    /// Output directory (default `target/ioschain/runs/<timestamp>-<params>/`).
    pub out: Option<PathBuf>,
    /// Measure the signature-verification ceiling at start (about one second) and report
    /// `efficiency` against it.
    pub measure_limits: bool,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            shards: None,
            cores: None,
            rate: 100_000.0,
            inflight: None,
            rate_profile: None,
            warmup_s: 5.0,
            duration_s: 20.0,
            drain_timeout_s: 30.0,
            seed: 1,
            out: None,
            measure_limits: true,
        }
    }
}

/// `[workload]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSection {
    /// Accounts (owners) over all shards.
    pub accounts: u32,
    /// Outputs each account holds at genesis.
    pub utxos_per_account: u32,
    /// Amount of each genesis output.
    pub genesis_amount: u64,
    /// Inputs per transaction.
    pub inputs_per_tx: u32,
    /// Outputs per transaction.
    pub outputs_per_tx: u32,
    /// `"uniform"` or `"zipf"`.
    pub sender: String,
    /// Zipf exponent when `sender = "zipf"`.
    pub zipf_theta: f64,
    /// Fraction of deliberately invalid transactions (bad signature, unknown input,
    /// double spend, overspend).
    pub invalid_fraction: f64,
    /// Fraction of intra-shard transactions whose client signs with an edge-case
    /// signature (torsion components, non-canonical encodings, `S ≥ L`), some valid and
    /// some invalid under ZIP-215.
    pub client_edge_signatures: f64,
    /// Fraction of intra-shard transactions that are canaries (a bad signature, an
    /// unknown input, a double spend), which every correct run rejects; 0 turns them off.
    pub canary_rate: f64,
    /// Fraction of transactions that are cross-shard (Atomix); ignored with one shard
    /// (there is no other shard to cross to).
    pub cross_shard: f64,
    /// A cross-shard transaction takes its inputs from 1 to this many shards.
    pub cross_input_shards: u32,
    /// Stream positions (per shard) an output ages before a cross-shard transaction
    /// spends it, and before an output a cross-shard transaction created is spent.
    pub cross_maturity: u32,
    /// Fraction of cross-shard transactions drawn as conflicting pairs.
    pub cross_conflicts: f64,
    /// Fraction of cross-shard clients that never send the unlock.
    pub client_never_unlock: f64,
    /// Fraction that send the unlock-to-commit to one shard only.
    pub client_partial_commit: f64,
    /// Fraction that forge a proof of acceptance (their transactions abort).
    pub client_forged_proof: f64,
    /// Fraction that replay their unlock-to-commit after the commit.
    pub client_replay_commit: f64,
    /// Where generated workloads are cached (default `target/ioschain/workloads`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for WorkloadSection {
    fn default() -> Self {
        WorkloadSection {
            accounts: 100_000,
            utxos_per_account: 4,
            genesis_amount: 1_000_000,
            inputs_per_tx: 2,
            outputs_per_tx: 2,
            sender: "uniform".into(),
            zipf_theta: 0.99,
            invalid_fraction: 0.0,
            client_edge_signatures: 0.0,
            canary_rate: 1e-5,
            cross_shard: 0.1,
            cross_input_shards: 2,
            cross_maturity: 20_000,
            cross_conflicts: 0.0,
            client_never_unlock: 0.0,
            client_partial_commit: 0.0,
            client_forged_proof: 0.0,
            client_replay_commit: 0.0,
            cache_dir: None,
        }
    }
}

/// The least `engine.spent_retention` a run derives when it is not set.
pub const SPENT_RETENTION_MIN: u32 = 65_536;
/// The most `engine.spent_retention` may be.
pub const SPENT_RETENTION_MAX: u32 = 1 << 26;

/// `[engine]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// Most transactions verified in one signature batch.
    pub verify_batch_max: u32,
    /// A shard waits for this many pending transactions before verifying a batch…
    pub verify_batch_min: u32,
    /// …unless the oldest has waited this long (µs past its intended send time): the
    /// bound of adaptive batching, which shortens the wait while the core has room…
    pub verify_wait_us: u64,
    /// …down to this (µs); at or above `verify_wait_us`, the wait is fixed.
    pub verify_wait_min_us: u64,
    /// Seconds of the schedule whose transactions are read from the workload cache
    /// before the clock starts; the rest is read during the run, a few chunks ahead of
    /// the releases (more memory at the start against less decoding during the run).
    pub preload_s: f64,
    /// A block is sealed when it holds this many transactions…
    pub block_tx_max: u32,
    /// …or when its first transaction is this old.
    pub block_interval_ms: u64,
    /// Validators in each shard's roster (all cosign final blocks).
    pub validators_per_shard: u32,
    /// Capacity, in messages, of each channel between threads.
    pub channel_capacity: u32,
    /// How long an idle worker sleeps before polling again.
    pub idle_sleep_us: u64,
    /// Spent outputs each shard remembers (newest first) so a double spend is reported as
    /// such; older ones are pruned, and re-spending them reads as an unknown input.
    /// Unset: derived from the rate (see [`Config::spent_retention_needed`]), at least
    /// [`SPENT_RETENTION_MIN`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spent_retention: Option<u32>,
    /// Latency budget of admitted transactions, ms: each shard admits as many in flight
    /// as it finishes in this long (measured as it runs) and refuses the rest as
    /// `overloaded` (shed).
    pub latency_budget_ms: u64,
    /// A fixed intake bound per shard, in transactions in flight, in place of the one the
    /// latency budget derives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake_max: Option<u32>,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            verify_batch_max: 2048,
            verify_batch_min: 1024,
            verify_wait_us: 10_000,
            verify_wait_min_us: 1_000,
            preload_s: crate::run::PRELOAD_S,
            block_tx_max: 4096,
            block_interval_ms: 50,
            validators_per_shard: 72,
            channel_capacity: 1024,
            idle_sleep_us: 50,
            spent_retention: None,
            latency_budget_ms: 250,
            intake_max: None,
        }
    }
}

/// `[store]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `"auto"` (the measured default), `"write"` or `"io_uring"`.
    pub backend: String,
    /// `"group"` (one flush covers every block written since the last), `"every"` (one
    /// flush per block) or `"never"`.
    pub fsync: String,
    /// Most blocks written before a group flush.
    pub group_blocks_max: u32,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            backend: "auto".into(),
            fsync: "group".into(),
            group_blocks_max: 64,
        }
    }
}

/// `[pob]`: Proof-of-Believability (PROTOCOL.md §6). Intervals are tuned for in-process
/// runs (milliseconds, DESIGN.md §3), not the paper's wide-area cadence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PobSection {
    /// Believable validators per shard, `L` (0: always one league).
    pub believable: u32,
    /// Fewer eligible believable validators than this: one league (fallback).
    pub league_min: u32,
    /// Probability that a normal validator's sample selects a transaction.
    pub p: f64,
    /// `"one"`: the shard does the work of one normal validator (the per-node critical
    /// path); `"all"`: every normal validator's sample is computed and checked.
    pub samplers: String,
    /// Believable validators sign their OptBlocks at the end of every verification
    /// batch, or earlier when one holds this many transactions…
    pub opt_block_tx_max: u32,
    /// …or when its first transaction is this old (an upper bound: with batches shorter
    /// than this it never fires).
    pub opt_block_interval_ms: u64,
    /// The normal league proposes a FinalBlock this often.
    pub final_interval_ms: u64,
    /// An OptBlock may be finalized once it is this old (PROTOCOL.md §6.4: twice the
    /// final interval).
    pub challenge_window_ms: u64,
    /// FinalBlocks per epoch (leagues are re-selected at each epoch).
    pub epoch_final_blocks: u32,
    /// A client re-routes a transaction not included within this time.
    pub reroute_timeout_ms: u64,
    /// Bonded stake of each validator at genesis is drawn from `stake..2·stake`; a
    /// believable validator's exposure cap is its stake.
    pub stake: u64,
    /// Weights of the believability score: stake, servi, reputation.
    pub weights: [f64; 3],
}

impl Default for PobSection {
    fn default() -> Self {
        PobSection {
            believable: 4,
            league_min: 2,
            p: 0.1,
            samplers: "one".into(),
            opt_block_tx_max: 1024,
            opt_block_interval_ms: 5,
            final_interval_ms: 20,
            challenge_window_ms: 40,
            epoch_final_blocks: 100,
            reroute_timeout_ms: 50,
            stake: 1_000_000_000_000,
            weights: [0.4, 0.4, 0.2],
        }
    }
}

/// `[byzantine]`: which believable validators misbehave, how and when. In each listed
/// shard an adversary holds up to `count` corrupted validators that can still be
/// selected: at each epoch, while it has fewer, it corrupts believable validators of
/// that epoch (lowest league index first). A corrupted validator stays Byzantine for the
/// rest of the run; once slashed it is banned, once crashed it loses eligibility by
/// missed duty, and the adversary moves on to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByzantineSection {
    /// `"none"`, `"bad-signature"` (includes transactions whose signature it
    /// corrupted), `"double-spend"` (appends a validly signed spend of inputs its
    /// previous OptBlock spent, to another recipient), `"equivocate"` (signs two OptBlocks for one sequence number),
    /// `"censor"` (drops transactions routed to it) or `"crash"` (stops).
    pub behaviour: String,
    /// Byzantine believable validators per shard.
    pub count: u32,
    /// Shards with Byzantine validators (empty: every shard).
    pub shards: Vec<u32>,
    /// Probability of misbehaving at each opportunity (per transaction, or per
    /// OptBlock for equivocation); 1 = always.
    pub q: f64,
    /// If not empty: misbehave only in the validator's OptBlocks with these sequence
    /// numbers (`crash`: from the first of them on), still with probability `q`.
    pub heights: Vec<u64>,
}

impl Default for ByzantineSection {
    fn default() -> Self {
        ByzantineSection {
            behaviour: "none".into(),
            count: 1,
            shards: Vec::new(),
            q: 1.0,
            heights: Vec::new(),
        }
    }
}

pub use ioschain_core::node::pob::Behaviour;

/// A configuration value outside its allowed range, or an unreadable file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key holds a value that is not allowed.
    #[error("{key} = {value} is not allowed: {allowed}")]
    Value {
        /// `section.key`.
        key: String,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration (unknown key, wrong type).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key and line).
        message: String,
    },
}

fn bad(key: &str, value: impl ToString, allowed: impl ToString) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

impl Config {
    /// Parses a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })
    }

    /// Fills the defaults that depend on the machine (`cores`, `shards`).
    pub fn resolve(&mut self, available_cores: u32) {
        // A bad profile is reported by `validate`.
        if let Some(Ok(profile)) = self.run.rate_profile.as_deref().map(RateProfile::parse) {
            self.run.rate = profile.peak();
        }
        let cores = *self.run.cores.get_or_insert(available_cores);
        self.run.shards.get_or_insert(cores);
        if self.engine.spent_retention.is_none() {
            // A bad rate or window is reported by `validate`; the bound stays in range.
            let needed = self.spent_retention_needed();
            let derived = if needed.is_finite() {
                needed.clamp(
                    f64::from(SPENT_RETENTION_MIN),
                    f64::from(SPENT_RETENTION_MAX),
                )
            } else {
                f64::from(SPENT_RETENTION_MIN)
            };
            self.engine.spent_retention = Some(derived as u32);
        }
    }

    /// The spent outputs a shard must remember so an excluded transaction can be
    /// reverted: four times the inputs a shard spends while a transaction can still be
    /// excluded (the challenge window plus a final interval), at the offered rate.
    pub fn spent_retention_needed(&self) -> f64 {
        let pob = &self.pob;
        let shards = f64::from(self.run.shards.unwrap_or(1).max(1));
        (self.run.rate / shards
            * f64::from(self.workload.inputs_per_tx)
            * (pob.challenge_window_ms + pob.final_interval_ms) as f64
            / 1000.0
            * 4.0)
            .ceil()
    }

    /// `engine.spent_retention` (after [`Config::resolve`]).
    pub fn spent_retention(&self) -> u32 {
        self.engine.spent_retention.expect("resolved")
    }

    /// Cores used (after [`Config::resolve`]).
    pub fn cores(&self) -> u32 {
        self.run.cores.expect("resolved")
    }

    /// Shards (after [`Config::resolve`]).
    pub fn shards(&self) -> u32 {
        self.run.shards.expect("resolved")
    }

    /// Checks every value (after [`Config::resolve`]).
    pub fn validate(&self, available_cores: u32) -> Result<(), ConfigError> {
        let run = &self.run;
        let cores = self.cores();
        if cores == 0 || cores > available_cores {
            return Err(bad(
                "run.cores",
                cores,
                format!("1..={available_cores} (the cores of this machine)"),
            ));
        }
        let shards = self.shards();
        if shards == 0 || shards > 1024 {
            return Err(bad("run.shards", shards, "1..=1024"));
        }
        if !(run.rate.is_finite() && run.rate > 0.0) {
            return Err(bad(
                "run.rate",
                run.rate,
                "a number above 0 (transactions per second)",
            ));
        }
        if let Some(spec) = &run.rate_profile {
            if let Err(problem) = RateProfile::parse(spec) {
                return Err(bad(
                    "run.rate_profile",
                    format!("{spec:?}"),
                    format!("[step:]seconds:rate,… keyframes from 0 s ({problem})"),
                ));
            }
            if run.inflight.is_some() {
                return Err(bad(
                    "run.rate_profile",
                    format!("{spec:?}"),
                    "no profile with run.inflight (a profile is an open-loop schedule)",
                ));
            }
        }
        if run.inflight == Some(0) {
            return Err(bad(
                "run.inflight",
                0,
                "at least 1 (or leave it out for an open-loop run)",
            ));
        }
        if !(run.warmup_s.is_finite() && run.warmup_s >= 0.0) {
            return Err(bad("run.warmup_s", run.warmup_s, "0 or more seconds"));
        }
        if !(run.duration_s.is_finite() && run.duration_s >= 1.0) {
            return Err(bad("run.duration_s", run.duration_s, "at least 1 second"));
        }
        if !(run.drain_timeout_s.is_finite() && run.drain_timeout_s >= 0.0) {
            return Err(bad(
                "run.drain_timeout_s",
                run.drain_timeout_s,
                "0 or more seconds",
            ));
        }
        let planned = self.offered_total();
        if planned > 200_000_000.0 {
            return Err(bad(
                "run.rate",
                run.rate,
                format!(
                    "at most 200,000,000 transactions per run (rate × (warmup + duration) = {planned:.0})"
                ),
            ));
        }
        let engine = &self.engine;
        if !(1..=65_536).contains(&engine.verify_batch_max) {
            return Err(bad(
                "engine.verify_batch_max",
                engine.verify_batch_max,
                "1..=65536",
            ));
        }
        if !(1..=engine.verify_batch_max.max(1)).contains(&engine.verify_batch_min) {
            return Err(bad(
                "engine.verify_batch_min",
                engine.verify_batch_min,
                format!("1..=verify_batch_max ({})", engine.verify_batch_max),
            ));
        }
        if engine.verify_wait_us > 1_000_000 {
            return Err(bad(
                "engine.verify_wait_us",
                engine.verify_wait_us,
                "0..=1000000",
            ));
        }
        if engine.verify_wait_min_us > 1_000_000 {
            return Err(bad(
                "engine.verify_wait_min_us",
                engine.verify_wait_min_us,
                "0..=1000000",
            ));
        }
        if !(0.0..=86_400.0).contains(&engine.preload_s) {
            return Err(bad("engine.preload_s", engine.preload_s, "0..=86400"));
        }
        if !(1..=60_000).contains(&engine.latency_budget_ms) {
            return Err(bad(
                "engine.latency_budget_ms",
                engine.latency_budget_ms,
                "1..=60000",
            ));
        }
        if engine.intake_max == Some(0) {
            return Err(bad(
                "engine.intake_max",
                0,
                "at least 1 (leave it unset to derive it from engine.latency_budget_ms)",
            ));
        }
        if !(1..=65_536).contains(&engine.block_tx_max) {
            return Err(bad("engine.block_tx_max", engine.block_tx_max, "1..=65536"));
        }
        if !(1..=60_000).contains(&engine.block_interval_ms) {
            return Err(bad(
                "engine.block_interval_ms",
                engine.block_interval_ms,
                "1..=60000",
            ));
        }
        if !(4..=1024).contains(&engine.validators_per_shard) {
            return Err(bad(
                "engine.validators_per_shard",
                engine.validators_per_shard,
                "4..=1024 (a BFT roster needs at least 3f+1 = 4 members)",
            ));
        }
        if !(2..=1_048_576).contains(&engine.channel_capacity) {
            return Err(bad(
                "engine.channel_capacity",
                engine.channel_capacity,
                "2..=1048576",
            ));
        }
        let retention_min = ioschain_workloads::DOUBLE_SPEND_WINDOW as u32;
        if !(retention_min..=SPENT_RETENTION_MAX).contains(&self.spent_retention()) {
            return Err(bad(
                "engine.spent_retention",
                self.spent_retention(),
                format!(
                    "{retention_min}..={SPENT_RETENTION_MAX} (at least the workload's double-spend window)"
                ),
            ));
        }
        if engine.idle_sleep_us > 10_000 {
            return Err(bad(
                "engine.idle_sleep_us",
                engine.idle_sleep_us,
                "0..=10000",
            ));
        }
        self.validate_pob()?;
        self.validate_sender()?;
        self.backend()?;
        self.fsync()?;
        if !(1..=4096).contains(&self.store.group_blocks_max) {
            return Err(bad(
                "store.group_blocks_max",
                self.store.group_blocks_max,
                "1..=4096",
            ));
        }
        if self.atomix.t_unlock_blocks == 0 {
            return Err(bad(
                "atomix.t_unlock_blocks",
                0,
                "at least 1 (FinalBlocks before the coordinator acts)",
            ));
        }
        self.workload_spec()
            .validate()
            .map_err(|e| bad(&format!("workload.{}", e.key), e.value, e.allowed))?;
        Ok(())
    }

    /// The requested backend (`None` for `auto`).
    pub fn backend(&self) -> Result<Option<Backend>, ConfigError> {
        match self.store.backend.as_str() {
            "auto" => Ok(None),
            "write" => Ok(Some(Backend::Write)),
            "io_uring" => Ok(Some(Backend::IoUring)),
            other => Err(bad(
                "store.backend",
                format!("{other:?}"),
                "\"auto\", \"write\" or \"io_uring\"",
            )),
        }
    }

    /// The flush policy.
    pub fn fsync(&self) -> Result<Fsync, ConfigError> {
        match self.store.fsync.as_str() {
            "group" => Ok(Fsync::Group),
            "every" => Ok(Fsync::Every),
            "never" => Ok(Fsync::Never),
            other => Err(bad(
                "store.fsync",
                format!("{other:?}"),
                "\"group\", \"every\" or \"never\"",
            )),
        }
    }

    /// The rate profile, if the run has one (after [`Config::validate`]).
    pub fn rate_profile(&self) -> Option<RateProfile> {
        self.run
            .rate_profile
            .as_deref()
            .map(|spec| RateProfile::parse(spec).expect("validated"))
    }

    /// Transactions offered over the whole schedule (warm-up and measured window).
    pub fn offered_total(&self) -> f64 {
        let end = self.run.warmup_s + self.run.duration_s;
        match self.run.rate_profile.as_deref().map(RateProfile::parse) {
            Some(Ok(profile)) => profile.cumulative(end),
            _ => self.run.rate * end,
        }
    }

    /// Transactions each shard's stream needs: the whole schedule (warm-up and measured
    /// window) at the offered rate (or profile).
    pub fn txs_per_shard(&self) -> u64 {
        let total = self.offered_total();
        ((total / f64::from(self.shards())).ceil() as u64).max(1)
    }

    /// The workload this configuration asks for.
    pub fn workload_spec(&self) -> WorkloadSpec {
        let w = &self.workload;
        WorkloadSpec {
            seed: self.run.seed,
            shards: self.run.shards.unwrap_or(1),
            accounts: w.accounts,
            utxos_per_account: w.utxos_per_account,
            genesis_amount: w.genesis_amount,
            inputs_per_tx: w.inputs_per_tx,
            outputs_per_tx: w.outputs_per_tx,
            sender: if w.sender == "zipf" {
                SenderDistribution::Zipf {
                    theta: w.zipf_theta,
                }
            } else {
                SenderDistribution::Uniform
            },
            invalid_fraction: w.invalid_fraction,
            client_edge_signatures: w.client_edge_signatures,
            canary_rate: w.canary_rate,
            txs_per_shard: if self.run.shards.is_some() {
                self.txs_per_shard()
            } else {
                1
            },
            cross_shard: if self.run.shards.unwrap_or(1) >= 2 {
                w.cross_shard
            } else {
                0.0
            },
            cross_input_shards: w.cross_input_shards,
            cross_maturity: w.cross_maturity,
            cross_conflicts: w.cross_conflicts,
            clients: ClientMix {
                never_unlock: w.client_never_unlock,
                partial_commit: w.client_partial_commit,
                forged_proof: w.client_forged_proof,
                replay_commit: w.client_replay_commit,
            },
        }
    }

    /// The configured misbehaviour (`None` for `"none"`).
    pub fn behaviour(&self) -> Result<Option<Behaviour>, ConfigError> {
        match self.byzantine.behaviour.as_str() {
            "none" => Ok(None),
            other => Behaviour::ALL
                .iter()
                .find(|(name, _)| *name == other)
                .map(|(_, b)| Some(*b))
                .ok_or_else(|| {
                    bad(
                        "byzantine.behaviour",
                        format!("{other:?}"),
                        "\"none\", \"bad-signature\", \"double-spend\", \"equivocate\", \"censor\" or \"crash\"",
                    )
                }),
        }
    }

    /// The engine's PoB parameters.
    pub fn pob_params(&self) -> Result<ioschain_core::node::pob::PobParams, ConfigError> {
        let pob = &self.pob;
        let ms = |v: u64| v * 1_000_000;
        let byzantine =
            self.behaviour()?
                .map(|behaviour| ioschain_core::node::pob::ByzantineParams {
                    behaviour,
                    count: self.byzantine.count as usize,
                    shards: self.byzantine.shards.clone(),
                    q: self.byzantine.q,
                    heights: self.byzantine.heights.clone(),
                });
        Ok(ioschain_core::node::pob::PobParams {
            believable: pob.believable as usize,
            league_min: pob.league_min as usize,
            p: pob.p,
            all_samplers: self.all_samplers()?,
            opt_block_tx_max: pob.opt_block_tx_max as usize,
            opt_block_interval_ns: ms(pob.opt_block_interval_ms),
            final_interval_ns: ms(pob.final_interval_ms),
            challenge_window_ns: ms(pob.challenge_window_ms),
            epoch_final_blocks: u64::from(pob.epoch_final_blocks),
            reroute_timeout_ns: ms(pob.reroute_timeout_ms),
            stake: pob.stake,
            score: ioschain_core::pob::score::ScoreParams {
                weight_stake: pob.weights[0],
                weight_servi: pob.weights[1],
                weight_reputation: pob.weights[2],
                ..Default::default()
            },
            byzantine,
        })
    }

    /// Whether every normal validator's sample is computed (`samplers = "all"`).
    pub fn all_samplers(&self) -> Result<bool, ConfigError> {
        match self.pob.samplers.as_str() {
            "one" => Ok(false),
            "all" => Ok(true),
            other => Err(bad(
                "pob.samplers",
                format!("{other:?}"),
                "\"one\" or \"all\"",
            )),
        }
    }

    fn validate_pob(&self) -> Result<(), ConfigError> {
        let pob = &self.pob;
        let n = self.engine.validators_per_shard;
        // The normal league cosigns FinalBlocks: it must hold more than 2/3 of the roster.
        let most = n - (2 * n / 3 + 1);
        if pob.believable > most {
            return Err(bad(
                "pob.believable",
                pob.believable,
                format!(
                    "0..={most} (the normal league must keep more than 2/3 of the {n} validators to cosign)"
                ),
            ));
        }
        if pob.league_min < 1 {
            return Err(bad("pob.league_min", pob.league_min, "at least 1"));
        }
        if !(pob.p > 0.0 && pob.p <= 1.0) {
            return Err(bad("pob.p", pob.p, "a probability in (0, 1]"));
        }
        self.all_samplers()?;
        if !(1..=16_384).contains(&pob.opt_block_tx_max) {
            return Err(bad(
                "pob.opt_block_tx_max",
                pob.opt_block_tx_max,
                "1..=16384",
            ));
        }
        for (key, value) in [
            ("pob.opt_block_interval_ms", pob.opt_block_interval_ms),
            ("pob.final_interval_ms", pob.final_interval_ms),
            ("pob.reroute_timeout_ms", pob.reroute_timeout_ms),
        ] {
            if !(1..=60_000).contains(&value) {
                return Err(bad(key, value, "1..=60000"));
            }
        }
        if pob.challenge_window_ms > 600_000 {
            return Err(bad(
                "pob.challenge_window_ms",
                pob.challenge_window_ms,
                "0..=600000",
            ));
        }
        // Excluding a transaction reverts it, which needs its spent inputs still in the
        // retention (derived from this when unset).
        let needed = self.spent_retention_needed();
        if pob.believable > 0 && f64::from(self.spent_retention()) < needed {
            return Err(bad(
                "engine.spent_retention",
                self.spent_retention(),
                format!(
                    "at least {needed:.0} with this rate and challenge window (4 × the inputs a shard spends in challenge_window_ms + final_interval_ms, so an excluded transaction can be reverted); leave it unset to derive it"
                ),
            ));
        }
        if pob.epoch_final_blocks == 0 {
            return Err(bad("pob.epoch_final_blocks", 0, "at least 1"));
        }
        if pob.stake == 0 || pob.stake > u64::MAX / 2 {
            return Err(bad("pob.stake", pob.stake, "1..=2^63-1"));
        }
        if pob.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || pob.weights.iter().sum::<f64>() <= 0.0
        {
            return Err(bad(
                "pob.weights",
                format!("{:?}", pob.weights),
                "three weights (stake, servi, reputation), each 0 or more, not all 0",
            ));
        }
        let byz = &self.byzantine;
        let behaviour = self.behaviour()?;
        if byz.count > pob.believable {
            return Err(bad(
                "byzantine.count",
                byz.count,
                format!("0..=pob.believable ({})", pob.believable),
            ));
        }
        if matches!(behaviour, Some(Behaviour::Censor | Behaviour::Crash))
            && byz.count >= pob.believable
        {
            return Err(bad(
                "byzantine.count",
                byz.count,
                format!(
                    "below pob.believable ({}) for censor and crash: clients re-route to an honest believable validator",
                    pob.believable
                ),
            ));
        }
        if !(byz.q >= 0.0 && byz.q <= 1.0) {
            return Err(bad("byzantine.q", byz.q, "a probability in [0, 1]"));
        }
        let shards = self.run.shards.unwrap_or(1);
        if let Some(s) = byz.shards.iter().find(|s| **s >= shards) {
            return Err(bad(
                "byzantine.shards",
                s,
                format!("shard ids below run.shards ({shards})"),
            ));
        }
        Ok(())
    }

    /// Checks `workload.sender` (kept as a string in the file for readability).
    fn validate_sender(&self) -> Result<(), ConfigError> {
        match self.workload.sender.as_str() {
            "uniform" | "zipf" => Ok(()),
            other => Err(bad(
                "workload.sender",
                format!("{other:?}"),
                "\"uniform\" or \"zipf\"",
            )),
        }
    }

    /// The resolved configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "test.toml".into(),
            message: e.to_string(),
        })?;
        config.resolve(2);
        config.validate(2)?;
        Ok(config)
    }

    fn value_error_key(result: Result<Config, ConfigError>) -> String {
        match result {
            Err(ConfigError::Value { key, .. }) => key,
            other => panic!("expected a value error, got {other:?}"),
        }
    }

    #[test]
    fn rate_dependent_bounds_are_derived_unless_set() {
        // No file, a million tx/s: the spent retention follows the rate.
        let config = resolved("[run]\nrate = 1000000.0\n").expect("derived bounds are valid");
        assert!(f64::from(config.spent_retention()) >= config.spent_retention_needed());
        assert!(config.spent_retention() > SPENT_RETENTION_MIN);
        // At the default rate the floor holds; an explicit value is kept as given.
        let config = resolved("").unwrap();
        assert_eq!(config.spent_retention(), SPENT_RETENTION_MIN);
        let config = resolved("[engine]\nspent_retention = 100000\n").unwrap();
        assert_eq!(config.spent_retention(), 100_000);
        // The resolved value is printed, so the run can be repeated from its config.
        assert!(config.to_toml().contains("spent_retention = 100000"));
    }

    #[test]
    fn empty_file_is_the_default_configuration() {
        let config = resolved("").unwrap();
        assert_eq!(config.shards(), 2);
        assert_eq!(config.cores(), 2);
        assert_eq!(config.run.rate, 100_000.0);
        assert_eq!(config.engine.validators_per_shard, 72);
    }

    #[test]
    fn unknown_key_is_rejected_naming_it() {
        let err = resolved("[run]\nrat = 5\n").unwrap_err();
        assert!(err.to_string().contains("rat"), "{err}");
        let err = resolved("[nonsense]\n").unwrap_err();
        assert!(err.to_string().contains("nonsense"), "{err}");
    }

    #[test]
    fn impossible_values_name_the_key_and_the_range() {
        for (toml, key) in [
            ("[run]\nshards = 0\n", "run.shards"),
            ("[run]\nrate = 0.0\n", "run.rate"),
            ("[run]\ncores = 3\n", "run.cores"),
            (
                "[workload]\ninvalid_fraction = 1.5\n",
                "workload.invalid_fraction",
            ),
            (
                "[workload]\nclient_edge_signatures = 2.0\n",
                "workload.client_edge_signatures",
            ),
            ("[workload]\ncanary_rate = -1.0\n", "workload.canary_rate"),
            (
                "[engine]\nvalidators_per_shard = 2\n",
                "engine.validators_per_shard",
            ),
            ("[store]\nbackend = \"tape\"\n", "store.backend"),
            ("[workload]\nsender = \"pareto\"\n", "workload.sender"),
            (
                "[engine]\nspent_retention = 70000\n[pob]\nchallenge_window_ms = 5000\n",
                "engine.spent_retention",
            ),
            ("[pob]\nbelievable = 30\n", "pob.believable"),
            (
                "[byzantine]\nbehaviour = \"crash\"\ncount = 4\n",
                "byzantine.count",
            ),
        ] {
            assert_eq!(value_error_key(resolved(toml)), key, "{toml}");
        }
        let err = resolved("[run]\nrate = -5.0\n").unwrap_err();
        assert!(err.to_string().contains("above 0"), "{err}");
    }

    #[test]
    fn resolved_config_round_trips_through_toml() {
        let config = resolved("[run]\nrate = 20000.0\n").unwrap();
        let again: Config = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn stream_length_covers_the_whole_schedule() {
        let config =
            resolved("[run]\nrate = 1000.0\nwarmup_s = 1.0\nduration_s = 3.0\nshards = 2\n")
                .unwrap();
        assert_eq!(config.txs_per_shard(), 2000);
    }
}
