//! `ioschain`: the engine and benchmarking harness of the IOS sharded blockchain.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ioschain_harness::cli::{Cli, Command, CompareArgs, ReportArgs};
use ioschain_harness::config::{Backend, Fsync};
use ioschain_harness::{ab, capacity, limits, plan, run, sim, soak, sweep};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args).map(|exit| exit as u8),
        Command::Limits(args) => limits_command(&args).map(|()| 0),
        Command::Compare(args) => compare_command(&args),
        Command::Ab(args) => ab::ab(&args),
        Command::Report(args) => report_command(&args).map(|()| 0),
        Command::Sweep(args) => sweep::sweep(&args).map(|exit| exit as u8),
        Command::Capacity(args) => capacity::capacity(&args).map(|exit| exit as u8),
        Command::Soak(args) => soak::soak(&args).map(|exit| exit as u8),
        Command::Sim(args) => sim::sim(&args).map(|exit| exit as u8),
        Command::Plan(args) => plan::plan(&args).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `ioschain compare`: prints the comparison table; 0 pass or warn, 1 fail. Unreadable
/// input is an error (exit 2) naming every bad file.
fn compare_command(args: &CompareArgs) -> anyhow::Result<u8> {
    use ioschain_reports::compare::{Bands, compare};
    use ioschain_reports::summary::RunSummary;

    let bands = match &args.bands {
        Some(path) => Bands::load(path)?,
        None => Bands::default(),
    };
    let mut problems = Vec::new();
    let mut load = |paths: &[std::path::PathBuf]| -> Vec<RunSummary> {
        paths
            .iter()
            .filter_map(|p| {
                RunSummary::load(p)
                    .map_err(|e| problems.push(e.to_string()))
                    .ok()
            })
            .collect()
    };
    let base = load(&args.base);
    let new = load(&args.new);
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("\nerror: "));
    }
    let comparison = compare(&base, &new, &bands);
    print!("{}", comparison.render_table());
    if let Some(path) = &args.json_lines {
        std::fs::write(path, comparison.json_lines())
            .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
    }
    Ok(comparison.exit_code())
}

/// `ioschain report`: writes the report and prints where.
fn report_command(args: &ReportArgs) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        std::path::PathBuf::from("target/ioschain/reports")
            .join(run::utc_stamp(std::time::SystemTime::now()))
    });
    let markdown = ioschain_reports::report::write_report(&args.runs, &out, args.html)?;
    println!("report: {}", markdown.display());
    if args.html {
        println!(
            "report: {}",
            out.join(ioschain_reports::report::REPORT_HTML).display()
        );
    }
    Ok(())
}

fn limits_command(args: &ioschain_harness::cli::LimitsArgs) -> anyhow::Result<()> {
    let available = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cores = args.cores.map(|c| c as usize).unwrap_or(available);
    if cores == 0 || cores > available {
        anyhow::bail!(
            "--cores {cores} is not allowed: 1..={available} (the cores of this machine)"
        );
    }
    if !(args.seconds > 0.0 && args.seconds <= 60.0) {
        anyhow::bail!(
            "--seconds {} is not allowed: above 0, at most 60",
            args.seconds
        );
    }
    let duration = Duration::from_secs_f64(args.seconds);
    let machine = ioschain_harness::machine::describe();
    println!(
        "ioschain limits · {} · {} cores · {}",
        machine.cpu, machine.cores, machine.profile
    );
    let model = limits::Model::limits_default();
    let l = limits::measure(cores, duration, &model);
    println!(
        "  ed25519 ZIP-215 batch verification (batch {}): {:.0} sig/s on 1 core, {:.0} sig/s on {} cores",
        l.batch, l.verify_sigs_per_s_per_core, l.verify_sigs_per_s_cores, l.cores
    );
    if let Some(model_tx_per_s) = l.model_tx_per_s {
        println!(
            "  model ceiling (id of a {}-in {}-out transaction, batched verification, 1 spend + 1 create in a map of {} outputs per core): {:.0} tx/s on {} cores ({:.2}× the {}-core verification ceiling)",
            model.inputs,
            model.outputs,
            model.utxos,
            model_tx_per_s,
            l.cores,
            model_tx_per_s / l.verify_sigs_per_s_cores,
            l.cores
        );
    }
    println!(
        "  blake3, 150-byte input: {:.2} M hashes/s on 1 core",
        limits::measure_blake3(duration) / 1e6
    );
    println!(
        "  channel round trip between two threads: {:.1} µs",
        limits::measure_channel_round_trip(20_000)
    );
    let dir = std::path::PathBuf::from("target/ioschain/limits");
    std::fs::create_dir_all(&dir)?;
    let mut backends = vec![Backend::Write];
    if ioschain_harness::engine::store::io_uring_available() {
        backends.push(Backend::IoUring);
    } else {
        println!("  io_uring: not available here");
    }
    for fsync in [Fsync::Every, Fsync::Group] {
        for &backend in &backends {
            // 1 MiB records (about a 4096-transaction block), up to 64 per group.
            let (records, mb, flushes) =
                limits::measure_store(&dir, backend, fsync, 256, 1 << 20, 64)?;
            println!(
                "  block log {:>8}, fsync {:<5}: {records:>6.0} records/s, {mb:>5.0} MB/s, {flushes} flushes for 256 records",
                backend.name(),
                fsync.name()
            );
        }
    }
    Ok(())
}
