//! Helpers shared by the harness's integration tests.

use clap::Parser;
use ioschain_harness::cli::{Cli, Command};

/// Flags that make a run tiny enough for a test (a few thousand transactions, a small
/// roster of 7 with 2 believable validators, no ceiling measurement).
pub const TINY_RUN: &[&str] = &[
    "--accounts",
    "400",
    "--no-limits",
    "--validators-per-shard",
    "7",
    "--believable",
    "2",
    "--warmup",
    "0.5",
    "--duration",
    "1",
];

/// Parses `ioschain <subcommand> <args…>`.
pub fn parse(subcommand: &str, args: &[&str]) -> Command {
    let mut argv = vec!["ioschain", subcommand];
    argv.extend_from_slice(args);
    Cli::parse_from(argv).command
}
