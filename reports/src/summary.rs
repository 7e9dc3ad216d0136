//! Reading `summary.json`, the run summary that `ioschain run --out DIR` writes (schema
//! `ioschain.run/1`, DESIGN.md §5).
//!
//! [`RunSummary`] holds only the fields the reports use: the schema tag, the resolved
//! configuration and machine (kept as JSON, to check that two runs are comparable), the
//! offered rate, throughputs, latency percentiles, `efficiency` and validity. Every other
//! field is ignored, so the reader keeps working as the producer
//! (`harness/src/output.rs`) grows. Errors are typed ([`SummaryError`]) and always name
//! the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

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

/// Throughputs in the measured window, transactions per second.
#[derive(Clone, Debug, Deserialize)]
pub struct Tps {
    /// Finalized (certified, persisted) transactions per second.
    #[serde(rename = "final")]
    pub final_: f64,
    /// Transactions per second included in built blocks.
    pub provisional: f64,
}

/// Latency percentiles of one stage, µs from the intended send time.
#[derive(Clone, Debug, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

/// Latency per stage.
#[derive(Clone, Debug, Deserialize)]
pub struct Latency {
    /// To a certified, persisted block.
    #[serde(rename = "final")]
    pub final_: Percentiles,
    /// To inclusion in a built block.
    pub provisional: Percentiles,
}

/// One validity check of the run.
#[derive(Clone, Debug, Deserialize)]
pub struct Check {
    /// Its name.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was checked and found.
    #[serde(default)]
    pub detail: String,
}

/// Validity of the run.
#[derive(Clone, Debug, Deserialize)]
pub struct Validity {
    /// True only if every check passed.
    pub valid: bool,
    /// The checks.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// The fields of `summary.json` the reports use.
#[derive(Clone, Debug, Deserialize)]
pub struct RunSummary {
    /// Always [`SCHEMA`] once loaded.
    pub schema: String,
    /// The fully resolved configuration of the run.
    #[serde(default)]
    pub config: serde_json::Value,
    /// Where it ran (cpu, cores, profile, git sha...).
    #[serde(default)]
    pub machine: serde_json::Value,
    /// The schedule's rate, tx/s.
    pub offered_tps: f64,
    /// Throughputs.
    pub tps: Tps,
    /// Latencies.
    pub latency_us: Latency,
    /// Final throughput against the verification ceiling of the cores used (`None` when
    /// the run skipped the ceiling measurement).
    #[serde(default)]
    pub efficiency: Option<f64>,
    /// Validity.
    pub validity: Validity,
    /// The file it was read from (empty when parsed from a string without one).
    #[serde(skip)]
    pub path: PathBuf,
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
