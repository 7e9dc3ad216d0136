//! `ioschain ab --base REF --new REF [--repeat N] [--bands FILE] [--out DIR] [run flags]`:
//! two builds of ioschain compared on one machine, interleaved (issue 17, item 2;
//! BENCHMARKING.md: compare builds A/B, interleaved, on one machine).
//!
//! **Builds.** Each git ref is resolved to its commit in the repository the command runs
//! in, checked out once into a detached worktree `DIR/builds/<sha12>/src` and built once
//! (`cargo build --release --locked -p ioschain-harness`) with one target directory
//! shared by every build of the A/B (`DIR/builds/target`, so the dependencies compile
//! once); the binary is kept as `DIR/builds/<sha12>/ioschain`, and a commit already
//! built is not built again. `DIR` defaults to `target/ioschain/ab`. Only committed code
//! is compared: a working tree's changes are not part of any ref.
//!
//! **Runs.** `--repeat N` (default 3) rounds; round k runs the base binary then the new
//! one (`A B A B …`, so drift of the machine falls on both sides alike), each with the
//! same run flags and the same workload cache (the `--cache-dir` given, or the
//! repository's `target/ioschain/workloads`), into
//! `DIR/runs/<UTC time>/{base,new}-<k>`. A run that reports bad input (exit 2) stops the
//! A/B with exit 2; an invalid run (exit 1) is kept, and fails the comparison.
//!
//! **Verdict.** The medians of the two sides are compared by [`compare`] in the bands of
//! `--bands` (default: `ioschain compare`'s), metric by metric — throughput, latency, the
//! cost per transaction in model transactions in total and per large role — the table
//! printed and written to `comparison.txt`, the metrics to `comparison.jsonl` (dashboard
//! lines), and a report of the first run of each side, side by side with their charts
//! (`report/report.html`). Exit codes as `compare`: 0 pass or warn, 1 fail, 2 bad input
//! (a ref that does not resolve, a build that fails, rejected run flags).

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{Context, bail};
use clap::{Args, Parser};
use ioschain_reports::compare::{Bands, compare};
use ioschain_reports::summary::RunSummary;

use crate::cli::{Cli, Command};
use crate::run::Exit;

/// `ioschain ab`.
#[derive(Debug, Args)]
#[command(
    after_help = "Builds each ref once (cached under DIR/builds), runs the two binaries \
interleaved (base then new, --repeat times) with the run flags that follow, on one workload \
cache, and compares the medians like `ioschain compare`. Example: ioschain ab --base HEAD~1 \
--new HEAD --repeat 3 --rate 50000 --duration 5\n\n\
Exit codes: 0 pass or warn, 1 a metric outside its failure band or an invalid run, 2 bad input \
(an unknown ref, a failed build, rejected run flags)."
)]
pub struct AbArgs {
    /// The baseline: a git ref (commit, branch, tag, HEAD~1).
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// The build to judge: a git ref.
    #[arg(long, value_name = "REF")]
    pub new: String,
    /// Rounds of one base run and one new run.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// TOML bands file (as `ioschain compare --bands`).
    #[arg(long, value_name = "FILE")]
    pub bands: Option<PathBuf>,
    /// Directory of the builds and runs.
    #[arg(long, value_name = "DIR", default_value = "target/ioschain/ab")]
    pub out: PathBuf,
    /// The `ioschain run` flags of every run (not --out, which the A/B sets).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "RUN FLAGS"
    )]
    pub run: Vec<String>,
}

/// Runs `ioschain ab` and returns its exit code.
pub fn ab(args: &AbArgs) -> anyhow::Result<u8> {
    let bad = |message: String| {
        eprintln!("error: {message}");
        eprintln!("(see `ioschain ab --help`)");
        Ok(Exit::BadInput as u8)
    };
    if args.repeat == 0 {
        return bad("--repeat: 0 is not allowed (at least 1)".into());
    }
    // The run flags must parse as `ioschain run`'s, and leave --out to the A/B.
    let mut argv = vec!["ioschain".to_string(), "run".to_string()];
    argv.extend(args.run.iter().cloned());
    let run_args = match Cli::try_parse_from(&argv) {
        Ok(Cli {
            command: Command::Run(run),
        }) => run,
        Ok(_) => unreachable!("parsed as `run`"),
        Err(e) => {
            let first = e.to_string();
            let first = first
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            return bad(format!("the run flags: {first}"));
        }
    };
    if run_args.out.is_some() {
        return bad(
            "--out among the run flags: the A/B sets each run's directory (give the A/B's \
             own --out before the run flags)"
                .into(),
        );
    }
    let bands = match &args.bands {
        Some(path) => match Bands::load(path) {
            Ok(bands) => bands,
            Err(e) => return bad(e.to_string()),
        },
        None => Bands::default(),
    };
    let repo = git(Path::new("."), &["rev-parse", "--show-toplevel"])
        .context("ioschain ab runs inside the ioschain git repository")?;
    let repo = PathBuf::from(repo);
    let mut shas = Vec::new();
    for reference in [&args.base, &args.new] {
        match git(
            &repo,
            &["rev-parse", "--verify", &format!("{reference}^{{commit}}")],
        ) {
            Ok(sha) => shas.push(sha),
            Err(_) => return bad(format!("{reference}: not a commit of {}", repo.display())),
        }
    }
    let out = std::path::absolute(&args.out)?;
    let mut binaries = Vec::new();
    for (side, sha) in ["base", "new"].iter().zip(&shas) {
        match build(&repo, &out.join("builds"), sha) {
            Ok(binary) => binaries.push(binary),
            Err(e) => return bad(format!("building the {side} ({sha}): {e:#}")),
        }
    }
    // Both builds share one workload cache: the user's, or the repository's default.
    let cache = run_args
        .cache_dir
        .is_none()
        .then(|| repo.join("target/ioschain/workloads"));
    let runs_dir = out
        .join("runs")
        .join(crate::run::utc_stamp(std::time::SystemTime::now()));
    let mut dirs: [Vec<PathBuf>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=args.repeat {
        for (side, (name, binary)) in ["base", "new"].iter().zip(&binaries).enumerate() {
            let dir = runs_dir.join(format!("{name}-{round}"));
            eprintln!(
                "[ab] round {round}/{}: {name} ({})",
                args.repeat,
                &shas[side][..12]
            );
            let mut command = Process::new(binary);
            command.arg("run").args(&args.run).arg("--out").arg(&dir);
            if let Some(cache) = &cache {
                command.arg("--cache-dir").arg(cache);
            }
            let status = command
                .status()
                .with_context(|| format!("cannot start {}", binary.display()))?;
            match status.code() {
                Some(0) | Some(1) => dirs[side].push(dir),
                _ => {
                    return bad(format!(
                        "the {name} run into {} reported bad input",
                        dir.display()
                    ));
                }
            }
        }
    }
    let load = |dirs: &[PathBuf]| -> anyhow::Result<Vec<RunSummary>> {
        dirs.iter()
            .map(|d| RunSummary::load(d).map_err(Into::into))
            .collect()
    };
    let (base, new) = (load(&dirs[0])?, load(&dirs[1])?);
    let comparison = compare(&base, &new, &bands);
    let table = format!(
        "base {} ({})\nnew  {} ({})\n\n{}",
        args.base,
        shas[0],
        args.new,
        shas[1],
        comparison.render_table()
    );
    print!("{table}");
    std::fs::write(runs_dir.join("comparison.txt"), &table)?;
    std::fs::write(runs_dir.join("comparison.jsonl"), comparison.json_lines())?;
    let report = ioschain_reports::report::write_report(
        &[dirs[0][0].clone(), dirs[1][0].clone()],
        &runs_dir.join("report"),
        true,
    )?;
    println!("ab: {} (report {})", runs_dir.display(), report.display());
    Ok(comparison.exit_code())
}

/// The trimmed output of `git args…` in `dir`.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Process::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The release binary of commit `sha`, built once into `builds/<sha12>/ioschain`.
fn build(repo: &Path, builds: &Path, sha: &str) -> anyhow::Result<PathBuf> {
    let home = builds.join(&sha[..12]);
    let binary = home.join("ioschain");
    if binary.is_file() {
        eprintln!("[ab] {}: built before ({})", &sha[..12], binary.display());
        return Ok(binary);
    }
    let src = home.join("src");
    if !src.join("Cargo.toml").is_file() {
        std::fs::create_dir_all(&home)?;
        // A stale registration (a worktree directory deleted by hand) would refuse the add.
        git(repo, &["worktree", "prune"])?;
        git(
            repo,
            &[
                "worktree",
                "add",
                "--detach",
                src.to_str().context("a UTF-8 path")?,
                sha,
            ],
        )?;
    }
    eprintln!("[ab] building {} (cargo build --release)", &sha[..12]);
    let status = Process::new("cargo")
        .args(["build", "--release", "--locked", "-p", "ioschain-harness"])
        .env("CARGO_TARGET_DIR", builds.join("target"))
        .current_dir(&src)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    std::fs::copy(builds.join("target/release/ioschain"), &binary)?;
    Ok(binary)
}

/// Parses `ioschain ab …` (for tests).
pub fn parse(argv: &[&str]) -> Result<AbArgs, clap::Error> {
    let mut full = vec!["ioschain", "ab"];
    full.extend_from_slice(argv);
    match Cli::try_parse_from(full)?.command {
        Command::Ab(args) => Ok(*args),
        _ => unreachable!("parsed as `ab`"),
    }
}
