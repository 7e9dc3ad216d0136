//! The command line: `ioschain run`, `sweep`, `capacity`, `limits`, `compare`, `report`
//! and `plan`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// ioschain: engine and benchmarking harness for the IOS sharded blockchain.
#[derive(Debug, Parser)]
#[command(name = "ioschain", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `ioschain report`: a Markdown report (and with `--html` one self-contained HTML file)
/// of one or more runs, side by side when several, or of one sweep (its curves).
#[derive(Debug, Args)]
#[command(
    after_help = "A run's charts: latency spectrum, latency per second, cost by role, throughput, \
memory and disk (when recorded), final throughput per shard. A sweep directory (the --out DIR of \
`ioschain sweep`, holding sweep.csv) is reported alone: final latency against achieved throughput \
and final throughput per core, one line per shard count."
)]
pub struct ReportArgs {
    /// Run directories (the --out DIR of `ioschain run`), or one sweep directory (the
    /// --out DIR of `ioschain sweep`).
    #[arg(required = true, value_name = "RUN_DIR|SWEEP_DIR")]
    pub runs: Vec<PathBuf>,
    /// Also write report.html with the charts inlined.
    #[arg(long)]
    pub html: bool,
    /// Where to write the report (default: target/ioschain/reports/<UTC time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `ioschain compare`: medians of the new runs against medians of the base runs, in
/// asymmetric bands (see `ioschain_reports::compare`).
#[derive(Debug, Args)]
#[command(
    after_help = "Compared: tps.final, tps.provisional, latency_us.final.p50, latency_us.final.p99, \
latency_us.provisional.p99, efficiency (when every run has it). With several runs per side their \
medians are compared. Default bands (new/base): throughput fails below 0.80x and above 1.15x \
(recalibrate the baseline), warns below 0.90x and above 1.05x; latency fails above 1.25x and \
below 0.87x, warns above 1.11x and below 0.95x. An invalid run on either side fails; runs with \
different shards, cores, rate, duration or workload warn.\n\n\
Exit codes: 0 pass or warn, 1 fail, 2 bad input (a missing or malformed summary or bands file)."
)]
pub struct CompareArgs {
    /// A baseline run: the --out DIR of `ioschain run`, or its summary.json. Repeat (or
    /// list several) for repeated runs.
    #[arg(long = "base", value_name = "RUN", required = true, num_args = 1..)]
    pub base: Vec<PathBuf>,
    /// A run to judge against the baseline: a run directory or its summary.json. Repeat (or
    /// list several) for repeated runs.
    #[arg(long = "new", value_name = "RUN", required = true, num_args = 1..)]
    pub new: Vec<PathBuf>,
    /// TOML bands file overriding the defaults: sections [throughput], [latency],
    /// [efficiency], [cost], keys fail_below, warn_below, warn_above, fail_above.
    #[arg(long, value_name = "FILE")]
    pub bands: Option<PathBuf>,
    /// Also write one JSON line per compared metric to FILE (the entry shape of
    /// github-action-benchmark's customSmallerIsBetter / customBiggerIsBetter, with a
    /// `tool` key naming which).
    #[arg(long, value_name = "FILE")]
    pub json_lines: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine on a signed workload and measure throughput and latency.
    Run(Box<RunArgs>),
    /// Compare new runs with baseline runs: the regression gate (BENCHMARKING.md rule 8).
    Compare(CompareArgs),
    /// Build two git refs and run them interleaved on one machine, then compare the
    /// medians like `compare` (throughput, latency, cost per transaction).
    Ab(Box<crate::ab::AbArgs>),
    /// Write a Markdown (and optionally HTML) report of one or more runs, or of a sweep.
    Report(ReportArgs),
    /// Measure this machine's raw ceilings (signature verification, hashing, channels).
    Limits(LimitsArgs),
    /// Run a grid of shard counts × offered rates: scaling curves and the highest rate
    /// that meets a p99 SLO (BENCHMARKING.md rule 10).
    Sweep(Box<SweepArgs>),
    /// Find the highest offered rate that runs VALID, finalizes 95% of the offered valid
    /// rate and keeps final p99 within an SLO: bracketing, then bisection, each probe a
    /// short run (BENCHMARKING.md rule 10).
    Capacity(Box<CapacityArgs>),
    /// Run for minutes at a share of the capacity and report whether memory, latency or
    /// throughput drift: the run's summary gains a soak section.
    Soak(Box<crate::soak::SoakArgs>),
    /// Size shards: per-shard and per-epoch failure probability, years to failure
    /// (PROTOCOL.md §3.4), optionally measured on simulated EDS epochs.
    Plan(crate::plan::PlanArgs),
    /// Drive the shards and their clients on one thread with a seeded scheduler
    /// (logical time, seeded message order and store delays), check the result with the
    /// validity oracle and print a digest of every effect: same seed, same digest.
    Sim(Box<SimArgs>),
}

/// `ioschain sim`: `--seed` seeds everything (workload, validators, scheduler); the other
/// `ioschain run` flags configure the shards as they would a run.
#[derive(Debug, Args)]
#[command(
    mut_arg("print_config", |a| a.hide(true)),
    mut_arg("warmup", |a| a.hide(true)),
    mut_arg("duration", |a| a.hide(true)),
    mut_arg("inflight", |a| a.hide(true)),
    mut_arg("cores", |a| a.hide(true)),
    mut_arg("out", |a| a.help("Output directory: the block logs (default: target/ioschain/sim/seed<SEED>)")),
    after_help = "The schedule releases --txs transactions over all shards at --rate (logical time); \
--shards defaults to 2. Exit codes: 0 valid, 1 a validity check failed or the run stalled (the \
command that replays it is printed), 2 bad input."
)]
pub struct SimArgs {
    /// Transactions to simulate, over all shards.
    #[arg(long, default_value_t = 20_000)]
    pub txs: u64,
    /// The `ioschain run` flags (`--seed`, `--shards`, `--rate`, roster, PoB, Atomix…).
    #[command(flatten)]
    pub run: RunArgs,
}

/// `ioschain sweep`: every other `ioschain run` flag is passed through to every run.
#[derive(Debug, Args)]
#[command(
    mut_arg("shards", |a| a.long("run-shards").hide(true)),
    mut_arg("rate", |a| a.hide(true)),
    mut_arg("inflight", |a| a.hide(true)),
    mut_arg("print_config", |a| a.hide(true)),
    mut_arg("out", |a| a.help("Sweep directory; each run goes to OUT/shards{S}-rate{R}-rep{k} (default: target/ioschain/sweeps/<UTC time>)")),
    after_help = "Runs shards x rates x repeat points, each into OUT/shards{S}-rate{R}-rep{k}, \
then writes OUT/sweep.csv and OUT/sweep.md. Max sustainable rate (per shard count): the highest \
offered rate whose median final p99 <= --slo-ms, whose median final tps >= 0.95 x offered, and \
whose repeats are all valid. --rate, --inflight and --print-config are not allowed (the sweep \
sets the rate per point); --out names the sweep directory (default: \
target/ioschain/sweeps/<UTC time>).\n\n\
Exit codes: 0 every run valid, 1 some run invalid (the tables are still written), 2 bad input."
)]
pub struct SweepArgs {
    /// Shard counts, comma-separated (e.g. 1,2,4).
    #[arg(
        id = "sweep_shards",
        long = "shards",
        value_name = "LIST",
        required = true
    )]
    pub shards: String,
    /// Offered rates in tx/s over all shards, comma-separated (e.g. 25000,50000).
    #[arg(long, value_name = "LIST", required = true)]
    pub rates: String,
    /// Runs per (shards, rate) point; the tables show medians over them.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Latency SLO on the median final p99, ms, for the max sustainable rate.
    #[arg(long, default_value_t = 250.0)]
    pub slo_ms: f64,
    /// The `ioschain run` flags given to every run (`--out` is the sweep directory).
    #[command(flatten)]
    pub run: RunArgs,
}

/// `ioschain capacity`: every other `ioschain run` flag is passed through to every probe.
#[derive(Debug, Args)]
#[command(
    mut_arg("rate", |a| a.hide(true)),
    mut_arg("inflight", |a| a.hide(true)),
    mut_arg("warmup", |a| a.hide(true)),
    mut_arg("duration", |a| a.hide(true)),
    mut_arg("print_config", |a| a.hide(true)),
    mut_arg("out", |a| a.help("Capacity directory; probe k at rate R goes to OUT/probe-<k>-rate<R> (default: target/ioschain/capacity/<UTC time>)")),
    after_help = "A probe passes when its run is VALID, its final tx/s >= 0.95 x the offered valid rate \
(offered x the share of the stream the workload marks valid) and its final p99 <= --slo-ms. The \
search probes --start-rate, doubles while probes pass (up to --max-rate) or halves while they fail \
(down to --min-rate), then bisects between the highest pass and the lowest failure until they are \
within --precision of the pass, which is the result. Each new rate generates and signs its own \
workload (cached for the next search); --no-limits saves about 2 s per probe. --rate, --inflight, \
--warmup, --duration and --print-config are not allowed. Writes OUT/capacity.json.\n\n\
Exit codes: 0 a rate passed, 1 even the lowest probe failed, 2 bad input."
)]
pub struct CapacityArgs {
    /// Latency SLO on the final p99 of a probe, ms.
    #[arg(long, default_value_t = 250.0)]
    pub slo_ms: f64,
    /// Offered rate of the first probe, tx/s over all shards.
    #[arg(long, default_value_t = 20_000)]
    pub start_rate: u64,
    /// Lowest rate to probe when probes fail, tx/s.
    #[arg(long, default_value_t = 1_000)]
    pub min_rate: u64,
    /// Highest rate to probe when probes pass, tx/s.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_rate: u64,
    /// Stop when the failing rate is within this fraction above the passing one.
    #[arg(long, default_value_t = 0.02)]
    pub precision: f64,
    /// Warm-up of each probe, s (discarded).
    #[arg(long, default_value_t = 1.0)]
    pub probe_warmup: f64,
    /// Measured seconds of each probe.
    #[arg(long, default_value_t = 3.0)]
    pub probe_duration: f64,
    /// The `ioschain run` flags given to every probe (`--out` is the capacity directory).
    #[command(flatten)]
    pub run: RunArgs,
}

/// `ioschain limits`.
#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// Cores to measure together (default: all).
    #[arg(long)]
    pub cores: Option<u32>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
}

/// `ioschain run`: flags override the config file, which overrides the defaults.
#[derive(Clone, Debug, Args)]
pub struct RunArgs {
    /// TOML configuration file (sections [run], [workload], [engine], [store]).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A named configuration from `experiments/` (built in): the setting of a published
    /// figure. Flags override it. `--list-presets` lists them.
    #[arg(long, value_name = "NAME", conflicts_with = "config")]
    pub preset: Option<String>,
    /// List the presets and what each is for, and exit.
    #[arg(long)]
    pub list_presets: bool,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Shards (default: the cores used).
    #[arg(long)]
    pub shards: Option<u32>,
    /// Cores (worker threads) to use (default: all).
    #[arg(long)]
    pub cores: Option<u32>,
    /// Offered rate, transactions per second over all shards (open loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// An offered rate that changes over the run: `seconds:rate` keyframes from 0 s,
    /// linear between them, or held with the prefix `step:` (e.g. "0:50000,10:100000,20:20000").
    #[arg(long, value_name = "PROFILE")]
    pub rate_profile: Option<String>,
    /// Closed loop: transactions kept in flight (instead of a fixed rate).
    #[arg(long)]
    pub inflight: Option<u64>,
    /// Warm-up seconds (discarded).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Measured seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds allowed after the schedule for in-flight transactions to finish.
    #[arg(long)]
    pub drain_timeout: Option<f64>,
    /// Seed of the workload and the roster keys.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip measuring the ceilings at start (about 1.5 s; no `efficiency` or `efficiency_model`).
    #[arg(long)]
    pub no_limits: bool,
    /// Accounts over all shards.
    #[arg(long)]
    pub accounts: Option<u32>,
    /// Fraction of deliberately invalid transactions.
    #[arg(long)]
    pub invalid_fraction: Option<f64>,
    /// Sender distribution: uniform or zipf.
    #[arg(long)]
    pub sender: Option<String>,
    /// Zipf exponent (with --sender zipf).
    #[arg(long)]
    pub zipf_theta: Option<f64>,
    /// Workload cache directory.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Most transactions per signature batch.
    #[arg(long)]
    pub verify_batch_max: Option<u32>,
    /// Pending transactions a shard waits for before verifying a batch.
    #[arg(long)]
    pub verify_batch_min: Option<u32>,
    /// Longest wait for --verify-batch-min, µs: the bound of adaptive batching.
    #[arg(long)]
    pub verify_wait_us: Option<u64>,
    /// Shortest wait adaptive batching sets while the core has room, µs (at or above
    /// --verify-wait-us: a fixed wait).
    #[arg(long)]
    pub verify_wait_min_us: Option<u64>,
    /// Seconds of the schedule read from the workload cache before the clock starts
    /// (the rest is read during the run, ahead of the releases) [default: 30]
    #[arg(long)]
    pub preload_s: Option<f64>,
    /// Latency budget of admitted transactions, ms: a shard admits what it finishes in
    /// this long and sheds the rest as `overloaded`.
    #[arg(long)]
    pub latency_budget_ms: Option<u64>,
    /// A fixed bound per shard on admitted transactions in flight (in place of the one
    /// --latency-budget-ms derives).
    #[arg(long)]
    pub intake_max: Option<u32>,
    /// Most transactions per block.
    #[arg(long)]
    pub block_tx_max: Option<u32>,
    /// Block interval, ms.
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
    /// Validators per shard roster.
    #[arg(long)]
    pub validators_per_shard: Option<u32>,
    /// Block log backend: auto, write or io_uring.
    #[arg(long)]
    pub store_backend: Option<String>,
    /// Flush policy: group, every or never.
    #[arg(long)]
    pub fsync: Option<String>,
    /// Believable validators per shard (0: one league, no OptBlocks).
    #[arg(long)]
    pub believable: Option<u32>,
    /// Sampling probability of each normal validator.
    #[arg(long)]
    pub p: Option<f64>,
    /// Samplers computed: one (the per-node critical path) or all (detection experiments).
    #[arg(long)]
    pub samplers: Option<String>,
    /// An OptBlock is signed when it holds this many transactions…
    #[arg(long)]
    pub opt_block_tx_max: Option<u32>,
    /// …or when its first transaction is this old, ms.
    #[arg(long)]
    pub opt_block_interval_ms: Option<u64>,
    /// Genesis stake scale: each validator's stake is drawn from STAKE..2·STAKE; a
    /// believable validator's exposure cap is its stake.
    #[arg(long)]
    pub stake: Option<u64>,
    /// Fewer eligible believable validators than this: the shard runs one league.
    #[arg(long)]
    pub league_min: Option<u32>,
    /// FinalBlocks per epoch (leagues are re-selected every epoch).
    #[arg(long)]
    pub epoch_final_blocks: Option<u32>,
    /// Minimum age of an OptBlock before it may be finalized, ms.
    #[arg(long)]
    pub challenge_window_ms: Option<u64>,
    /// FinalBlock interval, ms.
    #[arg(long)]
    pub final_interval_ms: Option<u64>,
    /// Misbehaviour of Byzantine believable validators: none, bad-signature,
    /// double-spend, equivocate, censor or crash.
    #[arg(long)]
    pub byzantine: Option<String>,
    /// Byzantine believable validators per shard.
    #[arg(long)]
    pub byzantine_count: Option<u32>,
    /// Probability that a Byzantine validator misbehaves at each opportunity.
    #[arg(long)]
    pub byzantine_q: Option<f64>,
    /// Fraction of cross-shard transactions (Atomix; ignored with one shard).
    #[arg(long)]
    pub cross_shard: Option<f64>,
    /// A cross-shard transaction takes its inputs from 1 to this many shards.
    #[arg(long)]
    pub cross_input_shards: Option<u32>,
    /// Stream positions an output ages before a cross-shard transaction spends it (and
    /// before a cross-shard transaction's output is spent).
    #[arg(long)]
    pub cross_maturity: Option<u32>,
    /// Fraction of intra-shard transactions that are canaries (must be rejected: a bad
    /// signature, an unknown input, a double spend); 0 turns them off.
    #[arg(long)]
    pub canary_rate: Option<f64>,
    /// Fraction of intra-shard transactions whose client signs with an edge-case
    /// signature (torsion components, non-canonical encodings, S ≥ L), some valid and
    /// some invalid under ZIP-215.
    #[arg(long)]
    pub client_edge_signatures: Option<f64>,
    /// Fraction of cross-shard transactions drawn as conflicting pairs.
    #[arg(long)]
    pub cross_conflicts: Option<f64>,
    /// Fraction of cross-shard clients that never send the unlock.
    #[arg(long)]
    pub client_never_unlock: Option<f64>,
    /// Fraction of cross-shard clients that send the unlock-to-commit to one shard only.
    #[arg(long)]
    pub client_partial_commit: Option<f64>,
    /// Fraction of cross-shard clients that forge a proof of acceptance.
    #[arg(long)]
    pub client_forged_proof: Option<f64>,
    /// Fraction of cross-shard clients that replay their commit.
    #[arg(long)]
    pub client_replay_commit: Option<f64>,
    /// FinalBlocks without news about a cross-shard transaction before its coordinator
    /// finishes it.
    #[arg(long)]
    pub t_unlock_blocks: Option<u64>,
}

impl RunArgs {
    /// The flags given that only `ioschain run` takes (they print and exit), as the
    /// commands that run many runs refuse them.
    pub fn run_only_flags(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.print_config {
            given.push("--print-config (use it with `ioschain run`)");
        }
        if self.list_presets {
            given.push("--list-presets (use it with `ioschain run`)");
        }
        if self.rate_profile.is_some() {
            given.push("--rate-profile (use it with `ioschain run`: the others set the rate)");
        }
        given
    }

    /// Applies the flags given on top of `config`.
    pub fn apply(&self, config: &mut Config) {
        macro_rules! set {
            ($flag:expr => $field:expr) => {
                if let Some(v) = $flag.clone() {
                    $field = v;
                }
            };
        }
        if self.shards.is_some() {
            config.run.shards = self.shards;
        }
        if self.cores.is_some() {
            config.run.cores = self.cores;
        }
        if self.inflight.is_some() {
            config.run.inflight = self.inflight;
        }
        if self.out.is_some() {
            config.run.out = self.out.clone();
        }
        if self.cache_dir.is_some() {
            config.workload.cache_dir = self.cache_dir.clone();
        }
        if self.no_limits {
            config.run.measure_limits = false;
        }
        set!(self.rate => config.run.rate);
        if let Some(profile) = &self.rate_profile {
            config.run.rate_profile = Some(profile.clone());
        }
        set!(self.warmup => config.run.warmup_s);
        set!(self.duration => config.run.duration_s);
        set!(self.drain_timeout => config.run.drain_timeout_s);
        set!(self.seed => config.run.seed);
        set!(self.accounts => config.workload.accounts);
        set!(self.invalid_fraction => config.workload.invalid_fraction);
        set!(self.sender => config.workload.sender);
        set!(self.zipf_theta => config.workload.zipf_theta);
        set!(self.verify_batch_max => config.engine.verify_batch_max);
        set!(self.verify_batch_min => config.engine.verify_batch_min);
        set!(self.verify_wait_us => config.engine.verify_wait_us);
        set!(self.verify_wait_min_us => config.engine.verify_wait_min_us);
        set!(self.preload_s => config.engine.preload_s);
        set!(self.latency_budget_ms => config.engine.latency_budget_ms);
        if self.intake_max.is_some() {
            config.engine.intake_max = self.intake_max;
        }
        set!(self.block_tx_max => config.engine.block_tx_max);
        set!(self.block_interval_ms => config.engine.block_interval_ms);
        set!(self.validators_per_shard => config.engine.validators_per_shard);
        set!(self.store_backend => config.store.backend);
        set!(self.fsync => config.store.fsync);
        set!(self.believable => config.pob.believable);
        set!(self.p => config.pob.p);
        set!(self.league_min => config.pob.league_min);
        set!(self.stake => config.pob.stake);
        set!(self.opt_block_tx_max => config.pob.opt_block_tx_max);
        set!(self.opt_block_interval_ms => config.pob.opt_block_interval_ms);
        set!(self.epoch_final_blocks => config.pob.epoch_final_blocks);
        set!(self.samplers => config.pob.samplers);
        set!(self.challenge_window_ms => config.pob.challenge_window_ms);
        set!(self.final_interval_ms => config.pob.final_interval_ms);
        set!(self.byzantine => config.byzantine.behaviour);
        set!(self.byzantine_count => config.byzantine.count);
        set!(self.byzantine_q => config.byzantine.q);
        set!(self.cross_shard => config.workload.cross_shard);
        set!(self.cross_input_shards => config.workload.cross_input_shards);
        set!(self.cross_maturity => config.workload.cross_maturity);
        set!(self.cross_conflicts => config.workload.cross_conflicts);
        set!(self.client_never_unlock => config.workload.client_never_unlock);
        set!(self.client_edge_signatures => config.workload.client_edge_signatures);
        set!(self.canary_rate => config.workload.canary_rate);
        set!(self.client_partial_commit => config.workload.client_partial_commit);
        set!(self.client_forged_proof => config.workload.client_forged_proof);
        set!(self.client_replay_commit => config.workload.client_replay_commit);
        set!(self.t_unlock_blocks => config.atomix.t_unlock_blocks);
    }
}
