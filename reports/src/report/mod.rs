//! `ioschain report RUN_DIR... [--html] [--out DIR]`: a Markdown (and optionally one
//! self-contained HTML) report of one or more run directories written by
//! `ioschain run --out DIR` (DESIGN.md §5, schema `ioschain.run/1`).
//!
//! Per run: a summary (configuration, throughput, latency per stage, efficiency, counts,
//! costs by role, validity with each check) and its charts, each drawn only when its
//! inputs exist, so that older run directories still render (with fewer charts):
//!
//! | chart (file) | from | when |
//! |---|---|---|
//! | latency percentile spectrum per stage (`latency-N.svg`) | `latency.hlog`, measured window; else the percentiles of `summary.json` | always |
//! | latency p50 and p99 per second and stage (`latency-seconds-N.svg`) | the interval histograms of `latency.hlog` | the log is readable |
//! | µs per transaction by role, stacked (`roles-N.svg`) | `summary.json` `roles.<role>.us_per_tx` | the summary has `roles` |
//! | offered, submitted, final per second (`timeline-N.svg`) | `timeline.csv` | the file has rows |
//! | memory and disk per second, under it (`memory-N.svg`) | `timeline.csv` `rss_bytes`, `disk_bytes` | either column exists |
//! | final throughput per shard (`shards-N.svg`) | `timeline.csv` `final_s0`, `final_s1`, … | the columns exist |
//!
//! A sweep directory (written by `ioschain sweep`) gets its own report: the points of
//! `sweep.csv` with medians over repeats, latency against achieved throughput and final
//! throughput per core, one line per shard count (see `report/sweep.rs`).
//!
//! Per-second charts shade the seconds outside the measured window. With several runs,
//! a side-by-side table and overlaid charts come first (`compare-timeline.svg`,
//! `compare-latency-<stage>.svg`, `compare-roles.svg`). `timeline.csv` is read by column
//! name ([`crate::timeline`]): unknown columns are ignored.
//!
//! Charts are SVG files drawn with plotters' SVG backend, which writes text as `<text>`
//! elements and so needs no font files; the HTML report inlines them. Data is drawn as
//! lines (`<polyline>`) or opaque bars (`<rect>`), which is what `scripts/check-report.sh`
//! looks for in every chart.
//!
//! The pipeline, one file per stage (under `reports/src/report/`):
//! - `inputs.rs`: a run directory loaded (`summary.json`, `timeline.csv` through
//!   [`crate::timeline`], `latency.hlog` merged per stage and per second);
//! - `sections.rs` and `comparison.rs`: the document's content, per run and across runs;
//! - `charts.rs`: which charts a run's inputs make (`None` when an input is missing);
//! - `plot.rs`: drawing them with plotters (line, spectrum and stacked bar charts);
//! - `sweep.rs`: the report of a sweep directory (its inputs, content and charts);
//! - `document.rs`: the document model and its Markdown and HTML renderings.

mod charts;
mod comparison;
mod document;
mod inputs;
mod plot;
mod sections;
mod sweep;

use std::path::{Path, PathBuf};

use document::Document;
use document::{render_html, render_markdown};
use inputs::{label_runs, load_run};
use sections::build_document;
pub use sweep::{SWEEP_CSV, SweepCsvError, is_sweep_dir};

/// The schema tag `summary.json` must carry.
pub const RUN_SCHEMA: &str = crate::summary::SCHEMA;
/// The Markdown report's file name inside the output directory.
pub const REPORT_MD: &str = "report.md";
/// The HTML report's file name inside the output directory (written with `html`).
pub const REPORT_HTML: &str = "report.html";

/// Why a report could not be written. Each variant names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No run directory was given.
    #[error(
        "no run directory given: pass one or more directories written by `ioschain run --out DIR`"
    )]
    NoRuns,
    /// A run directory has no `summary.json`.
    #[error(
        "{}: not found; is {} a directory written by `ioschain run --out DIR` (or by \
         `ioschain sweep --out DIR`)?",
        path.display(),
        dir.display()
    )]
    MissingSummary {
        /// The run directory.
        dir: PathBuf,
        /// The `summary.json` that is missing.
        path: PathBuf,
    },
    /// A file exists but could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `summary.json` is not valid JSON of the expected shape.
    #[error("{}: not a valid run summary: {source}", path.display())]
    ParseSummary {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        source: serde_json::Error,
    },
    /// `summary.json` has another schema.
    #[error("{}: schema is {found:?}, this report reads {RUN_SCHEMA:?}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// The schema found (empty when absent).
        found: String,
    },
    /// `timeline.csv` is malformed.
    #[error("{}:{}: {source}", path.display(), source.line())]
    Timeline {
        /// The file.
        path: PathBuf,
        /// What is wrong, and on which line.
        source: crate::timeline::TimelineError,
    },
    /// A sweep's `sweep.csv` is malformed.
    #[error("{}:{}: {source}", path.display(), source.line())]
    SweepCsv {
        /// The file.
        path: PathBuf,
        /// What is wrong, and on which line.
        source: SweepCsvError,
    },
    /// A sweep directory was given with other directories.
    #[error(
        "{} is a sweep directory: report it alone (its runs are its subdirectories, which \
         can be reported together)",
        dir.display()
    )]
    SweepWithOthers {
        /// The sweep directory.
        dir: PathBuf,
    },
    /// A chart could not be drawn.
    #[error("{}: cannot draw the chart: {problem}", path.display())]
    Chart {
        /// The SVG file it was meant for.
        path: PathBuf,
        /// The plotting error.
        problem: String,
    },
    /// An output file or directory could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Writes `report.md` (and with `html` also `report.html`, one self-contained file with
/// the charts inlined) plus the SVG charts it links (`timeline-<n>.svg`,
/// `latency-<n>.svg`, … and with several runs `compare-*.svg`; see the module doc) into
/// `out_dir`, creating it if needed. Runs are numbered from 1 in the order given.
///
/// A sweep directory ([`is_sweep_dir`]) given alone gets the sweep report instead
/// (`sweep-latency.svg`, `sweep-per-core.svg`); given with other directories it is an
/// error.
///
/// Returns the path of `report.md`; `report.html` (see [`REPORT_HTML`]) sits next to it.
pub fn write_report(
    run_dirs: &[PathBuf],
    out_dir: &Path,
    html: bool,
) -> Result<PathBuf, ReportError> {
    if run_dirs.is_empty() {
        return Err(ReportError::NoRuns);
    }
    if let Some(sweep) = run_dirs.iter().find(|d| is_sweep_dir(d)) {
        if run_dirs.len() > 1 {
            return Err(ReportError::SweepWithOthers { dir: sweep.clone() });
        }
        let doc = sweep::build_document(sweep, out_dir)?;
        return write_document(&doc, out_dir, html);
    }
    let mut runs = Vec::with_capacity(run_dirs.len());
    for dir in run_dirs {
        runs.push(load_run(dir)?);
    }
    label_runs(&mut runs);
    let doc = build_document(&runs, out_dir)?;
    write_document(&doc, out_dir, html)
}

/// Writes the charts, `report.md` and (with `html`) `report.html` into `out_dir`.
fn write_document(doc: &Document, out_dir: &Path, html: bool) -> Result<PathBuf, ReportError> {
    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    for chart in &doc.charts {
        write_file(&out_dir.join(&chart.file), &chart.svg)?;
    }
    let md_path = out_dir.join(REPORT_MD);
    write_file(&md_path, &render_markdown(doc))?;
    if html {
        write_file(&out_dir.join(REPORT_HTML), &render_html(doc))?;
    }
    Ok(md_path)
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A number with at most 2 decimals and no trailing zeros.
pub(super) fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Microseconds as milliseconds, 3 significant digits or more.
pub(super) fn ms(us: u64) -> String {
    let v = us as f64 / 1000.0;
    if v < 1.0 {
        format!("{v:.3}")
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numbers::thousands;
    use plot::{percentile_tick, tps_tick};

    #[test]
    fn percentile_ticks_read_as_percentiles() {
        assert_eq!(percentile_tick(1.0), "0%");
        assert_eq!(percentile_tick(10.0), "90%");
        assert_eq!(percentile_tick(100.0), "99%");
        assert_eq!(percentile_tick(1000.0), "99.9%");
        assert_eq!(percentile_tick(1e4 * (1.0 + 1e-12)), "99.99%");
        assert_eq!(percentile_tick(1e5), "99.999%");
    }

    #[test]
    fn numbers_format() {
        assert_eq!(thousands(100001.3), "100,001");
        assert_eq!(thousands(-1234.0), "-1,234");
        assert_eq!(num(5.0), "5");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(ms(46879), "46.9");
        assert_eq!(ms(4687), "4.69");
        assert_eq!(tps_tick(120000.0), "120k");
    }
}
