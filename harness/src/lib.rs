//! `ioschain-harness`: the engine, the load driver, metrics, the block log, run output
//! and the `ioschain` command line. The only crate that owns threads, clocks and files.

pub mod ab;
pub mod adversary;
pub mod blocklog;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod costs;
pub mod engine;
pub mod limits;
pub mod machine;
pub mod metrics;
pub mod output;
pub mod plan;
pub mod presets;
pub mod run;
pub mod sim;
pub mod soak;
pub mod sweep;
pub mod validity;
