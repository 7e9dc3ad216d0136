//! `ioschain plan`: how large shards must be (PROTOCOL.md §3.4), computed by
//! [`ioschain_core::eds::sizing`], and optionally measured on real EDS shard maps.
//!
//! **Question.** `--validators N --adversary f` and either `--shard-size s` or `--target P`
//! (the smallest `s` whose hypergeometric per-shard failure is ≤ `P`). `--threshold third`
//! (a shard breaks with `⌈s/3⌉` bad members; partially synchronous BFT, the default) or
//! `half` (`⌈s/2⌉`, a synchronous committee as in [RC]). `--epochs-per-year` defaults to
//! 365: PROTOCOL.md §1.2 takes [OL]'s one-day epoch, and §3.4's [OL] cross-check (≈80
//! years) is at one epoch a day.
//!
//! **Answer.** `p_shard_binomial`, `p_shard_hypergeometric`, `shards = ⌊N/s⌋`, `p_epoch =
//! min(1, shards · p_shard_hypergeometric)` (union bound; the hypergeometric model is the
//! exact one for a permutation), `years_to_failure = 1 / (p_epoch · epochs_per_year)`,
//! and the same two under the binomial model ([OL]'s figures). `--json` prints one object
//! with these fields and the inputs; a probability below `f64`'s range prints as 0 and
//! its infinite lifetime as `null`; `log10_p_epoch` stays finite unless the failure is
//! impossible (fewer bad validators than a shard's threshold), when it is `null` too.
//!
//! **Simulation.** `--simulate-epochs K` (needs `--shard-size`) forms `K` shard maps with
//! the EDS permutation ([`ioschain_core::eds::assignment`]); epoch `e`'s `rnd_e` is
//! `PRG("plan/rnd" ‖ seed ‖ e)`, standing in for the DRP output. The adversary is `K_bad =
//! ⌊f·N⌋` validators drawn once per run from `PRG("plan/adversary" ‖ seed)`. It reports
//! the fraction of shards holding at least the threshold of bad members next to the
//! hypergeometric model for the bucket sizes the map actually has (the `N mod m`
//! remainder makes some buckets one larger than `⌊N/m⌋`), with a z-score, and the
//! fraction of epochs with a failed shard next to `p_epoch`. Epochs run in parallel
//! (rayon); the counts do not depend on the thread count.
//!
//! **TransEpoch.** `--transepoch T` (needs `--shard-size`) plans `T` consecutive epoch
//! changes with [`ioschain_core::transepoch::Plan`]: between the EDS shard maps of epochs
//! `e` and `e + 1` (the simulation's `rnd_e`), with `rnd_{e+1}` ordering the batches. It
//! reports the batch size `k` (`⌈log2 s⌉`, at most `⌊(s−1)/3⌋`), the validators that change
//! shard (mean share), the batches the slowest shard needs (mean and most), the fewest
//! members a roster keeps while a batch is under way (`s − k`) against the quorum, and with
//! `--swap-secs D` how long the slowest shard's transition takes when every joiner is ready
//! within its `Δ_swap = D` (batches × D).
//!
//! **Exit codes.** 0 answered; 2 bad input (a message names the flag and what is
//! allowed), including a `--target` that no shard size up to `N` meets.

use std::time::Instant;

use anyhow::bail;
use clap::Args;
use ioschain_core::eds::ShardMap;
use ioschain_core::eds::assignment::{bucket_start, permutation_into};
use ioschain_core::eds::sizing::{
    LnFactorials, MAX_VALIDATORS, Plan, PlanInput, Threshold, bad_count, ln_p_shard_hypergeometric,
    smallest_shard_size,
};
use ioschain_core::prg::Prg;
use ioschain_core::transepoch::{self, quorum};
use ioschain_core::types::{Epoch, Hash, ShardId};
use rayon::prelude::*;
use serde_json::json;

/// Default `--epochs-per-year`: one-day epochs ([OL], PROTOCOL.md §1.2 and §3.4).
pub const DEFAULT_EPOCHS_PER_YEAR: f64 = 365.0;
/// Most epochs `--simulate-epochs` accepts.
pub const SIMULATE_EPOCHS_MAX: u64 = 10_000_000;
/// Most epoch changes `--transepoch` accepts.
pub const TRANSEPOCH_MAX: u64 = 10_000;

/// `ioschain plan`.
#[derive(Debug, Args)]
#[command(after_help = "Exactly one of --shard-size and --target. \
--simulate-epochs needs --shard-size.\n\n\
Exit codes: 0 answered, 2 bad input (including a --target no shard size meets).")]
pub struct PlanArgs {
    /// Validators N (1 ..= 1,000,000).
    #[arg(long, value_name = "N")]
    pub validators: u64,
    /// Fraction f of bad validators, in [0, 1); the adversary holds ⌊f·N⌋.
    #[arg(long, value_name = "F")]
    pub adversary: f64,
    /// Shard size s (1 ..= N).
    #[arg(long, value_name = "S")]
    pub shard_size: Option<u64>,
    /// Find the smallest shard size whose hypergeometric per-shard failure is ≤ P, in (0, 1).
    #[arg(long, value_name = "P")]
    pub target: Option<f64>,
    /// BFT threshold: third (⌈s/3⌉ bad members break a shard) or half (⌈s/2⌉).
    #[arg(long, default_value = "third", value_parser = ["third", "half"])]
    pub threshold: String,
    /// Epochs per year, for years_to_failure (default 365: one-day epochs, as [OL]).
    #[arg(long, default_value_t = DEFAULT_EPOCHS_PER_YEAR, value_name = "E")]
    pub epochs_per_year: f64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also form K epochs' shard maps with the EDS permutation and measure shard failures.
    #[arg(long, value_name = "K")]
    pub simulate_epochs: Option<u64>,
    /// Also plan T consecutive TransEpoch epoch changes (needs --shard-size): batch size,
    /// validators moved, batches.
    #[arg(long, value_name = "T")]
    pub transepoch: Option<u64>,
    /// Δ_swap in seconds, for --transepoch: how long a transition takes.
    #[arg(long, value_name = "D")]
    pub swap_secs: Option<f64>,
    /// Seed of the simulated adversary and epoch randomness.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What a simulation measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// Epochs formed.
    pub epochs: u64,
    /// Shards per epoch.
    pub shards: u64,
    /// Shards (over all epochs) with at least the threshold of bad members.
    pub shards_failed: u64,
    /// Epochs with at least one such shard.
    pub epochs_failed: u64,
    /// The hypergeometric `P_shard` averaged over the map's bucket sizes.
    pub model_p_shard: f64,
    /// Wall time of the simulation, s.
    pub seconds: f64,
}

impl Simulation {
    /// Measured fraction of shards that failed.
    pub fn fraction_failed(&self) -> f64 {
        self.shards_failed as f64 / (self.epochs * self.shards) as f64
    }

    /// `(measured − model) / σ`, with `σ² = p(1−p)/(epochs·shards)` (shards of one epoch
    /// are slightly negatively correlated, so this σ is a little conservative).
    pub fn z(&self) -> f64 {
        let p = self.model_p_shard;
        let trials = (self.epochs * self.shards) as f64;
        let sigma = (p * (1.0 - p) / trials).sqrt();
        if sigma == 0.0 {
            return if self.fraction_failed() == p {
                0.0
            } else {
                f64::INFINITY
            };
        }
        (self.fraction_failed() - p) / sigma
    }
}

/// Validated flags.
#[derive(Clone, Copy, Debug)]
struct Question {
    input: PlanInput,
    target: Option<f64>,
    simulate_epochs: Option<u64>,
}

fn threshold(name: &str) -> anyhow::Result<Threshold> {
    match name {
        "third" => Ok(Threshold::Third),
        "half" => Ok(Threshold::Half),
        other => bail!("--threshold {other} is not allowed: third or half"),
    }
}

/// Checks the flags (everything but `--target`'s search).
fn validate(args: &PlanArgs) -> anyhow::Result<(Question, Option<u64>)> {
    let n = args.validators;
    if !(1..=MAX_VALIDATORS).contains(&n) {
        bail!("--validators {n} is not allowed: 1 to {MAX_VALIDATORS}");
    }
    let f = args.adversary;
    if !(0.0..1.0).contains(&f) {
        bail!("--adversary {f} is not allowed: a fraction in [0, 1), e.g. 0.25");
    }
    if !(args.epochs_per_year.is_finite() && args.epochs_per_year > 0.0) {
        bail!(
            "--epochs-per-year {} is not allowed: a positive number (365 for one-day epochs)",
            args.epochs_per_year
        );
    }
    match (args.shard_size, args.target) {
        (Some(_), Some(_)) => {
            bail!("--shard-size and --target are not allowed together: give exactly one")
        }
        (None, None) => bail!("give --shard-size S (1 to {n}) or --target P (in (0, 1))"),
        (Some(s), None) if !(1..=n).contains(&s) => {
            bail!("--shard-size {s} is not allowed: 1 to --validators ({n})")
        }
        (None, Some(p)) if !(p > 0.0 && p < 1.0) => {
            bail!("--target {p} is not allowed: a probability in (0, 1), e.g. 1e-6")
        }
        _ => {}
    }
    match args.simulate_epochs {
        Some(_) if args.shard_size.is_none() => {
            bail!("--simulate-epochs needs --shard-size (not --target)")
        }
        Some(k) if !(1..=SIMULATE_EPOCHS_MAX).contains(&k) => {
            bail!("--simulate-epochs {k} is not allowed: 1 to {SIMULATE_EPOCHS_MAX}")
        }
        _ => {}
    }
    match args.transepoch {
        Some(_) if args.shard_size.is_none() => {
            bail!("--transepoch needs --shard-size (not --target)")
        }
        Some(t) if !(1..=TRANSEPOCH_MAX).contains(&t) => {
            bail!("--transepoch {t} is not allowed: 1 to {TRANSEPOCH_MAX} epoch changes")
        }
        _ => {}
    }
    match args.swap_secs {
        Some(_) if args.transepoch.is_none() => bail!("--swap-secs needs --transepoch"),
        Some(d) if !(d.is_finite() && d > 0.0) => {
            bail!("--swap-secs {d} is not allowed: a positive number of seconds")
        }
        _ => {}
    }
    let question = Question {
        input: PlanInput {
            validators: n,
            adversary: f,
            shard_size: args.shard_size.unwrap_or(0),
            threshold: threshold(&args.threshold)?,
            epochs_per_year: args.epochs_per_year,
        },
        target: args.target,
        simulate_epochs: args.simulate_epochs,
    };
    Ok((question, args.shard_size))
}

/// `ioschain plan`: prints the answer (and the simulation); errors are bad input.
pub fn plan(args: &PlanArgs) -> anyhow::Result<()> {
    let (mut question, shard_size) = validate(args)?;
    let input = &mut question.input;
    let table = LnFactorials::up_to(input.validators);
    input.shard_size = match shard_size {
        Some(s) => s,
        None => {
            let target = question.target.expect("validated: one of the two");
            let (n, f, threshold) = (input.validators, input.adversary, input.threshold);
            let Some(s) = smallest_shard_size(&table, n, f, threshold, target) else {
                bail!(
                    "--target {target:e} is not met by any shard size 1 to {n} at \
                     --adversary {f} with --threshold {}: lower the adversary or raise the target",
                    threshold.name()
                );
            };
            s
        }
    };
    let answer = Plan::evaluate(&table, question.input);
    let simulation = question
        .simulate_epochs
        .map(|epochs| simulate(&table, &question.input, epochs, args.seed));
    let transepoch = match args.transepoch {
        Some(changes) => Some(plan_transepoch(
            &question.input,
            changes,
            args.swap_secs,
            args.seed,
        )?),
        None => None,
    };
    if args.json {
        let mut json = render_json(&answer, question.target, simulation.as_ref(), args.seed);
        if let Some(t) = &transepoch {
            json["transepoch"] = t.json();
        }
        println!("{json}");
    } else {
        print!(
            "{}",
            render_table(&answer, question.target, simulation.as_ref(), args.seed)
        );
        if let Some(t) = &transepoch {
            print!("{}", t.table());
        }
    }
    Ok(())
}

/// Forms `epochs` shard maps for `input` and counts failed shards (see the module doc).
pub fn simulate(table: &LnFactorials, input: &PlanInput, epochs: u64, seed: u64) -> Simulation {
    let start = Instant::now();
    let n = input.validators as usize;
    let m = (input.validators / input.shard_size) as usize;
    let bad_total = bad_count(input.validators, input.adversary);
    let seed_bytes = seed.to_le_bytes();
    let mut everyone: Vec<u32> = (0..n as u32).collect();
    Prg::new(&[b"plan/adversary", &seed_bytes]).shuffle(&mut everyone);
    let mut is_bad = vec![false; n];
    for &v in &everyone[..bad_total as usize] {
        is_bad[v as usize] = true;
    }
    // Per bucket: its start and the bad members that break it.
    let buckets: Vec<(usize, usize, usize)> = (0..m)
        .map(|j| {
            let (lo, hi) = (bucket_start(n, m, j), bucket_start(n, m, j + 1));
            (lo, hi, input.threshold.bad_min((hi - lo) as u64) as usize)
        })
        .collect();
    let (shards_failed, epochs_failed) = (0..epochs)
        .into_par_iter()
        .fold(
            || (Vec::with_capacity(n), 0u64, 0u64),
            |(mut order, shards_failed, epochs_failed), epoch| {
                let rnd =
                    Hash(Prg::new(&[b"plan/rnd", &seed_bytes, &epoch.to_le_bytes()]).bytes32());
                permutation_into(&rnd, n, &mut order);
                let failed = buckets
                    .iter()
                    .filter(|&&(lo, hi, breaks)| {
                        order[lo..hi]
                            .iter()
                            .filter(|&&v| is_bad[v as usize])
                            .count()
                            >= breaks
                    })
                    .count() as u64;
                (
                    order,
                    shards_failed + failed,
                    epochs_failed + u64::from(failed > 0),
                )
            },
        )
        .map(|(_, s, e)| (s, e))
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let model_p_shard = buckets
        .iter()
        .map(|&(lo, hi, _)| {
            let size = (hi - lo) as u64;
            let threshold = input.threshold;
            ln_p_shard_hypergeometric(table, input.validators, bad_total, size, threshold).exp()
        })
        .sum::<f64>()
        / m as f64;
    Simulation {
        epochs,
        shards: m as u64,
        shards_failed,
        epochs_failed,
        model_p_shard,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// What `--transepoch` planned.
#[derive(Clone, Debug, PartialEq)]
pub struct Transitions {
    /// Epoch changes planned.
    pub changes: u64,
    /// Shard size and shards.
    pub shard_size: u64,
    /// The smallest roster of the shard maps (`⌊N/m⌋`; `--shard-size` when it divides N).
    pub roster_min: u64,
    /// (See `shard_size`.)
    pub shards: u64,
    /// Members changed per shard per batch, at most.
    pub k: usize,
    /// Validators that changed shard, per change, mean.
    pub moved_mean: f64,
    /// Of all validators.
    pub moved_share: f64,
    /// Batches the slowest shard needs, mean over the changes and most.
    pub batches_mean: f64,
    /// (See `batches_mean`.)
    pub batches_max: usize,
    /// `Δ_swap`, s.
    pub swap_secs: Option<f64>,
    /// Wall time of the planning, s.
    pub seconds: f64,
}

impl Transitions {
    /// Fewest members the smallest roster keeps while a batch runs (`s − k`).
    pub fn synced_min(&self) -> u64 {
        self.roster_min - self.k as u64
    }

    /// The quorum of the smallest roster.
    pub fn quorum(&self) -> u64 {
        quorum(self.roster_min as usize) as u64
    }

    /// How long the slowest shard's transition takes at `Δ_swap`, most, s.
    pub fn transition_secs(&self) -> Option<f64> {
        self.swap_secs.map(|d| d * self.batches_max as f64)
    }

    /// The `transepoch` object of `--json`.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "changes": self.changes,
            "k": self.k,
            "roster_min": self.roster_min,
            "moved_mean": self.moved_mean,
            "moved_share": self.moved_share,
            "batches_mean": self.batches_mean,
            "batches_max": self.batches_max,
            "synced_min": self.synced_min(),
            "quorum": self.quorum(),
            "swap_secs": self.swap_secs,
            "transition_secs": self.transition_secs(),
            "seconds": self.seconds,
        })
    }

    /// The human lines.
    pub fn table(&self) -> String {
        let time = self.transition_secs().map_or(String::new(), |t| {
            format!(
                " · at Δ_swap {} s, {} s for the slowest shard",
                number(self.swap_secs.unwrap_or(0.0)),
                number(t)
            )
        });
        format!(
            "transepoch · {} epoch change(s) of {} shards of {} · {:.2} s\n  \
             k {} per batch · {} validators move per change ({:.1}%) · batches: {:.1} mean, {} most{time}\n  \
             the smallest roster ({}) keeps at least {} members while a batch runs (quorum {})\n",
            self.changes,
            self.shards,
            self.shard_size,
            self.seconds,
            self.k,
            number(self.moved_mean),
            100.0 * self.moved_share,
            self.batches_mean,
            self.batches_max,
            self.roster_min,
            self.synced_min(),
            self.quorum(),
        )
    }
}

/// Plans `changes` consecutive epoch changes for `input` (see the module doc).
pub fn plan_transepoch(
    input: &PlanInput,
    changes: u64,
    swap_secs: Option<f64>,
    seed: u64,
) -> anyhow::Result<Transitions> {
    let start = Instant::now();
    let n = input.validators as usize;
    let m = (input.validators / input.shard_size).max(1) as usize;
    let seed_bytes = seed.to_le_bytes();
    let rnd = |e: u64| Hash(Prg::new(&[b"plan/rnd", &seed_bytes, &e.to_le_bytes()]).bytes32());
    let rosters = |map: &ShardMap| -> Vec<Vec<u32>> {
        (0..m)
            .map(|j| map.roster(ShardId(j as u32)).to_vec())
            .collect()
    };
    let (mut moved, mut batches_sum, mut batches_max, mut k) = (0usize, 0usize, 0usize, 0usize);
    let mut old = rosters(&ShardMap::new(&rnd(0), n, m));
    for e in 1..=changes {
        let new = rosters(&ShardMap::new(&rnd(e), n, m));
        let plan = transepoch::Plan::new(&rnd(e), Epoch(e), &old, &new, 0).map_err(|error| {
            anyhow::anyhow!(
                "--transepoch: shards of {} cannot change members: {error}",
                input.shard_size
            )
        })?;
        k = plan.k;
        moved += plan.moved();
        batches_sum += plan.batches();
        batches_max = batches_max.max(plan.batches());
        old = new;
    }
    let moved_mean = moved as f64 / changes as f64;
    Ok(Transitions {
        changes,
        shard_size: input.shard_size,
        roster_min: (n / m) as u64,
        shards: m as u64,
        k,
        moved_mean,
        moved_share: moved_mean / n as f64,
        batches_mean: batches_sum as f64 / changes as f64,
        batches_max,
        swap_secs,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The `--json` object.
pub fn render_json(
    plan: &Plan,
    target: Option<f64>,
    simulation: Option<&Simulation>,
    seed: u64,
) -> serde_json::Value {
    let input = &plan.input;
    let mut out = json!({
        "schema": "ioschain.plan/1",
        "validators": input.validators,
        "adversary": input.adversary,
        "bad": plan.bad,
        "shard_size": input.shard_size,
        "target": target,
        "threshold": input.threshold.name(),
        "bad_min": input.threshold.bad_min(input.shard_size),
        "epochs_per_year": input.epochs_per_year,
        "p_shard_binomial": plan.p_shard_binomial(),
        "p_shard_hypergeometric": plan.p_shard_hypergeometric(),
        "shards": plan.shards,
        "p_epoch": plan.p_epoch(),
        "log10_p_epoch": plan.ln_p_epoch_of(plan.ln_p_shard_hypergeometric) / std::f64::consts::LN_10,
        "years_to_failure": plan.years_to_failure(),
        "p_epoch_binomial": plan.p_epoch_binomial(),
        "years_to_failure_binomial": plan.years_to_failure_binomial(),
    });
    if let Some(sim) = simulation {
        out["simulation"] = json!({
            "epochs": sim.epochs,
            "seed": seed,
            "shards_per_epoch": sim.shards,
            "shards_failed": sim.shards_failed,
            "fraction_shards_failed": sim.fraction_failed(),
            "model_p_shard_hypergeometric": sim.model_p_shard,
            "z": sim.z(),
            "epochs_failed": sim.epochs_failed,
            "fraction_epochs_failed": sim.epochs_failed as f64 / sim.epochs as f64,
            "seconds": sim.seconds,
        });
    }
    out
}

/// A probability or a lifetime to three significant figures: `2.11e-6`, `0.0812`, `79.6`,
/// `inf`.
fn number(x: f64) -> String {
    if !x.is_finite() {
        "inf".to_owned()
    } else if x == 0.0 {
        "0".to_owned()
    } else if (1e-3..1e6).contains(&x.abs()) {
        let decimals = (2 - x.abs().log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.2e}")
    }
}

/// The human table.
pub fn render_table(
    plan: &Plan,
    target: Option<f64>,
    simulation: Option<&Simulation>,
    seed: u64,
) -> String {
    use std::fmt::Write as _;
    let input = &plan.input;
    let mut out = String::new();
    let s = input.shard_size;
    let found = target.map_or(String::new(), |p| {
        format!(" (smallest with hypergeometric p_shard <= {p:e})")
    });
    let _ = writeln!(
        out,
        "ioschain plan · N {} · f {} ({} bad) · s {}{found} · threshold {} ({} bad break a shard) · {} epochs/year",
        input.validators,
        input.adversary,
        plan.bad,
        s,
        input.threshold.name(),
        input.threshold.bad_min(s),
        input.epochs_per_year
    );
    let _ = writeln!(out, "  shards           {:>12}", plan.shards);
    let _ = writeln!(
        out,
        "  {:<16} {:>12} {:>15}",
        "", "binomial", "hypergeometric"
    );
    let rows = [
        (
            "p_shard",
            plan.p_shard_binomial(),
            plan.p_shard_hypergeometric(),
        ),
        ("p_epoch", plan.p_epoch_binomial(), plan.p_epoch()),
        (
            "years_to_failure",
            plan.years_to_failure_binomial(),
            plan.years_to_failure(),
        ),
    ];
    for (name, binomial, hypergeometric) in rows {
        let _ = writeln!(
            out,
            "  {name:<16} {:>12} {:>15}",
            number(binomial),
            number(hypergeometric)
        );
    }
    if let Some(sim) = simulation {
        let _ = writeln!(
            out,
            "simulated · {} epochs × {} shards · seed {seed} · {:.2} s",
            sim.epochs, sim.shards, sim.seconds
        );
        let _ = writeln!(out, "  {:<22} {:>12} {:>12}", "", "measured", "model");
        let _ = writeln!(
            out,
            "  {:<22} {:>12} {:>12}   ({} of {}; z = {:.2})",
            "shards failed",
            number(sim.fraction_failed()),
            number(sim.model_p_shard),
            sim.shards_failed,
            sim.epochs * sim.shards,
            sim.z()
        );
        let _ = writeln!(
            out,
            "  {:<22} {:>12} {:>12}   (union bound)",
            "epochs with a failure",
            number(sim.epochs_failed as f64 / sim.epochs as f64),
            number((sim.model_p_shard * sim.shards as f64).min(1.0))
        );
    }
    out
}
