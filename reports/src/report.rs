//! `ioschain report RUN_DIR... [--html] [--out DIR]`: a Markdown (and optionally one
//! self-contained HTML) report of one or more run directories written by
//! `ioschain run --out DIR` (DESIGN.md §5, schema `ioschain.run/1`).
//!
//! Why one file of about 1,800 lines: it was written as one pipeline (inputs → document
//! model → Markdown/HTML → SVG charts) and has not been split yet; those four stages are
//! its seams, and the split belongs with the report rework of the results issue (14).
//!
//! Per run: a summary (configuration, throughput, latency per stage, efficiency, counts,
//! validity with each check), a throughput timeline chart from `timeline.csv` and a latency
//! percentile spectrum per stage from `latency.hlog` (falling back to the percentiles of
//! `summary.json` when the log is missing or unreadable). With several runs, a side-by-side
//! table and overlaid charts. Charts are SVG files drawn with plotters' SVG backend, which
//! writes text as `<text>` elements and so needs no font files.

use crate::numbers::thousands;
use crate::summary::{Percentiles, RunSummary, SummaryError};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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
        "{}: not found; is {} a directory written by `ioschain run --out DIR`?",
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
    #[error("{}:{line}: {problem}", path.display())]
    Timeline {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
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
/// `latency-<n>.svg`, and with several runs `compare-*.svg`) into `out_dir`, creating it
/// if needed. Runs are numbered from 1 in the order given.
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
    let mut runs = Vec::with_capacity(run_dirs.len());
    for dir in run_dirs {
        runs.push(load_run(dir)?);
    }
    label_runs(&mut runs);

    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;

    let doc = build_document(&runs, out_dir)?;
    for chart in &doc.charts {
        write_file(&out_dir.join(&chart.file), &chart.svg)?;
    }
    let md_path = out_dir.join(REPORT_MD);
    write_file(&md_path, &render_markdown(&doc))?;
    if html {
        write_file(&out_dir.join(REPORT_HTML), &render_html(&doc))?;
    }
    Ok(md_path)
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

// ---------------------------------------------------------------------------------------
// Inputs: summary.json (tolerant of extra and missing fields), timeline.csv, latency.hlog.
// ---------------------------------------------------------------------------------------

/// The run summary: the schema's one definition ([`crate::summary`]).
type Summary = RunSummary;

/// The percentiles of `stage` (`provisional`, `final`, `cross_shard`), if any were
/// recorded.
fn stage_percentiles<'a>(s: &'a Summary, stage: &str) -> Option<&'a Percentiles> {
    let latency = &s.latency_us;
    match stage {
        "provisional" => Some(&latency.provisional),
        "final" => Some(&latency.final_),
        "cross_shard" => latency.cross_shard.as_ref(),
        _ => None,
    }
    .filter(|p| p.count > 0 || p.max > 0)
}

/// One row of `timeline.csv`.
#[derive(Clone, Debug)]
struct TimelineRow {
    second: u64,
    phase: String,
    offered: u64,
    submitted: u64,
    final_: u64,
    rejected: Option<u64>,
}

/// The stages in display order; other tags found in a log follow alphabetically.
const STAGES: [&str; 3] = ["provisional", "final", "cross_shard"];

/// A latency percentile spectrum of one stage.
#[derive(Clone, Debug)]
struct Spectrum {
    stage: String,
    /// `(1/(1-q), ms)`, increasing in x.
    points: Vec<(f64, f64)>,
    /// Named percentiles `(label, 1/(1-q), ms)`.
    marks: Vec<(&'static str, f64, f64)>,
    /// Values the spectrum is made of.
    count: u64,
    /// The 99.99th percentile in µs (only known from the log).
    p9999_us: Option<u64>,
}

#[derive(Debug)]
struct Run {
    dir: PathBuf,
    label: String,
    summary: Summary,
    timeline: Option<Vec<TimelineRow>>,
    spectra: Vec<Spectrum>,
    /// Where the spectra come from, for the report.
    latency_source: String,
    notes: Vec<String>,
}

fn load_run(dir: &Path) -> Result<Run, ReportError> {
    let summary_path = dir.join("summary.json");
    let text = match std::fs::read_to_string(&summary_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReportError::MissingSummary {
                dir: dir.to_path_buf(),
                path: summary_path,
            });
        }
        Err(source) => {
            return Err(ReportError::Read {
                path: summary_path,
                source,
            });
        }
    };
    // The schema is checked before the fields, so another file names its schema.
    let summary = RunSummary::from_json(&text, summary_path.clone()).map_err(|e| match e {
        SummaryError::Schema { path, found } => ReportError::Schema {
            path,
            found: found.unwrap_or_default(),
        },
        SummaryError::Parse { path, error } => ReportError::ParseSummary {
            path,
            source: error,
        },
        other => ReportError::ParseSummary {
            path: summary_path.clone(),
            source: serde_json::Error::io(std::io::Error::other(other.to_string())),
        },
    })?;

    let mut notes = Vec::new();
    let timeline_path = dir.join("timeline.csv");
    let timeline = match std::fs::read_to_string(&timeline_path) {
        Ok(text) => Some(parse_timeline(&timeline_path, &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            notes.push("timeline.csv is missing: no throughput timeline.".to_string());
            None
        }
        Err(source) => {
            return Err(ReportError::Read {
                path: timeline_path,
                source,
            });
        }
    };

    let measured: Option<BTreeSet<u64>> = timeline.as_ref().map(|rows| {
        rows.iter()
            .filter(|r| r.phase == "measure")
            .map(|r| r.second)
            .collect()
    });
    let hlog_path = dir.join("latency.hlog");
    let (spectra, latency_source) = match read_hlog(&hlog_path, measured.as_ref()) {
        Ok(log) => {
            let spectra = log
                .histograms
                .iter()
                .map(|(stage, h)| spectrum_of_histogram(stage, h))
                .collect();
            (spectra, log.describe())
        }
        Err(problem) => {
            let spectra = STAGES
                .iter()
                .filter_map(|stage| {
                    stage_percentiles(&summary, stage)
                        .filter(|p| p.count > 0)
                        .map(|p| spectrum_of_summary(stage, p))
                })
                .collect();
            (
                spectra,
                format!(
                    "latency.hlog {problem}: the spectrum falls back to the percentiles of \
                     summary.json (p50, p90, p99, p99.9, max; no p99.99)."
                ),
            )
        }
    };

    Ok(Run {
        dir: dir.to_path_buf(),
        label: String::new(),
        summary,
        timeline,
        spectra,
        latency_source,
        notes,
    })
}

/// Labels runs by their directory name, made unique with a suffix.
fn label_runs(runs: &mut [Run]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for run in runs.iter_mut() {
        let base = run
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                std::fs::canonicalize(&run.dir)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            })
            .unwrap_or_else(|| run.dir.display().to_string());
        let n = seen.entry(base.clone()).or_insert(0);
        *n += 1;
        run.label = if *n == 1 {
            base
        } else {
            format!("{base} ({n})")
        };
    }
}

fn parse_timeline(path: &Path, text: &str) -> Result<Vec<TimelineRow>, ReportError> {
    let err = |line: usize, problem: String| ReportError::Timeline {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(err(1, "empty file: expected a header line".into()));
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| columns.iter().position(|c| *c == name);
    let required = |name: &str| {
        find(name).ok_or_else(|| {
            err(
                1,
                format!("header has no `{name}` column (header: {header:?})"),
            )
        })
    };
    let (c_second, c_phase, c_offered, c_submitted, c_final) = (
        required("second")?,
        required("phase")?,
        required("offered")?,
        required("submitted")?,
        required("final")?,
    );
    let c_rejected = find("rejected");

    let mut rows = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err(err(
                n,
                format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    columns.len()
                ),
            ));
        }
        let num = |c: usize| {
            fields[c].parse::<u64>().map_err(|_| {
                err(
                    n,
                    format!(
                        "`{}` is {:?}, expected a non-negative integer",
                        columns[c], fields[c]
                    ),
                )
            })
        };
        rows.push(TimelineRow {
            second: num(c_second)?,
            phase: fields[c_phase].to_string(),
            offered: num(c_offered)?,
            submitted: num(c_submitted)?,
            final_: num(c_final)?,
            rejected: c_rejected.map(num).transpose()?,
        });
    }
    rows.sort_by_key(|r| r.second);
    Ok(rows)
}

/// Histograms merged per tag from `latency.hlog`.
#[derive(Debug)]
struct HlogData {
    /// Tag → merged histogram, in display order.
    histograms: Vec<(String, Histogram<u64>)>,
    /// Interval histograms merged.
    merged: usize,
    /// Distinct seconds merged.
    seconds: usize,
    /// Only the measured seconds (true) or every interval (false).
    measured_only: bool,
}

impl HlogData {
    fn describe(&self) -> String {
        let counts: Vec<String> = self
            .histograms
            .iter()
            .map(|(stage, h)| format!("{} {}", stage_name(stage), thousands(h.len() as f64)))
            .collect();
        let window = if self.measured_only {
            format!("the {} measured seconds", self.seconds)
        } else {
            format!(
                "all {} seconds logged (no measured window known)",
                self.seconds
            )
        };
        format!(
            "Spectrum from latency.hlog: {} interval histograms merged over {window}; values: {}.",
            self.merged,
            counts.join(", ")
        )
    }
}

/// Reads and merges the interval log; the error says what is wrong, for the fallback note.
fn read_hlog(path: &Path, measured: Option<&BTreeSet<u64>>) -> Result<HlogData, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("is missing".into()),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    let mut base_time_seen = false;
    let mut start_time: Option<f64> = None;
    // (tag, second, histogram)
    let mut intervals: Vec<(String, u64, Histogram<u64>)> = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry {
            Ok(LogEntry::BaseTime(_)) => base_time_seen = true,
            Ok(LogEntry::StartTime(t)) => start_time = Some(t.as_secs_f64()),
            Ok(LogEntry::Interval(ilh)) => {
                let mut ts = ilh.start_timestamp().as_secs_f64();
                // Without a BaseTime, timestamps may be absolute; make them relative.
                if !base_time_seen && let Some(start) = start_time.filter(|s| ts >= *s) {
                    ts -= start;
                }
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(ilh.encoded_histogram())
                    .map_err(|e| format!("is unreadable (bad base64 at {ts:.3} s: {e})"))?;
                let h: Histogram<u64> = deserializer
                    .deserialize(&mut raw.as_slice())
                    .map_err(|e| format!("is unreadable (bad histogram at {ts:.3} s: {e:?})"))?;
                let tag = ilh
                    .tag()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "untagged".to_string());
                intervals.push((tag, (ts + 1e-6).floor() as u64, h));
            }
            Err(e) => return Err(format!("is unreadable ({e:?})")),
        }
    }
    if intervals.is_empty() {
        return Err("holds no histograms".into());
    }

    let measured = measured.filter(|m| !m.is_empty());
    let in_window = |s: u64| measured.is_none_or(|m| m.contains(&s));
    let mut measured_only = measured.is_some();
    if measured_only && !intervals.iter().any(|(_, s, _)| in_window(*s)) {
        // The log's seconds do not line up with the timeline's: use everything.
        measured_only = false;
    }
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    let mut seconds = BTreeSet::new();
    let mut count = 0;
    for (tag, second, h) in intervals {
        if measured_only && !in_window(second) {
            continue;
        }
        count += 1;
        seconds.insert(second);
        match merged.get_mut(&tag) {
            Some(acc) => acc
                .add(&h)
                .map_err(|e| format!("is unreadable (cannot merge `{tag}`: {e:?})"))?,
            None => {
                let mut acc = h;
                acc.auto(true);
                merged.insert(tag, acc);
            }
        }
    }
    let mut histograms: Vec<(String, Histogram<u64>)> = Vec::new();
    for stage in STAGES {
        if let Some(h) = merged.remove(stage) {
            histograms.push((stage.to_string(), h));
        }
    }
    histograms.extend(merged);
    histograms.retain(|(_, h)| !h.is_empty());
    if histograms.is_empty() {
        return Err("holds only empty histograms".into());
    }
    Ok(HlogData {
        histograms,
        merged: count,
        seconds: seconds.len(),
        measured_only,
    })
}

/// The right end of the spectrum's x axis: the decade just past the value count.
fn x_max_for(count: u64) -> f64 {
    let decades = (count.max(1) as f64).log10().ceil().clamp(2.0, 6.0);
    10f64.powf(decades)
}

const MARKS: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

fn spectrum_of_histogram(stage: &str, h: &Histogram<u64>) -> Spectrum {
    let count = h.len();
    let x_max = x_max_for(count);
    let ms = |us: u64| us as f64 / 1000.0;
    const STEPS: u32 = 240;
    let mut points = Vec::with_capacity(STEPS as usize + 1);
    for i in 0..=STEPS {
        let x = x_max.powf(f64::from(i) / f64::from(STEPS));
        let q = (1.0 - 1.0 / x).clamp(0.0, 1.0);
        let v = if i == STEPS {
            h.max()
        } else {
            h.value_at_quantile(q)
        };
        points.push((x, ms(v)));
    }
    let mut marks: Vec<(&'static str, f64, f64)> = MARKS
        .iter()
        .map(|(label, q)| (*label, 1.0 / (1.0 - q), ms(h.value_at_quantile(*q))))
        .filter(|(_, x, _)| *x <= x_max)
        .collect();
    marks.push(("max", x_max, ms(h.max())));
    Spectrum {
        stage: stage.to_string(),
        points,
        marks,
        count,
        p9999_us: Some(h.value_at_quantile(0.9999)),
    }
}

fn spectrum_of_summary(stage: &str, p: &Percentiles) -> Spectrum {
    let ms = |us: u64| us as f64 / 1000.0;
    let x_max = x_max_for(p.count).max(1e4);
    let marks = vec![
        ("p50", 2.0, ms(p.p50)),
        ("p90", 10.0, ms(p.p90)),
        ("p99", 100.0, ms(p.p99)),
        ("p99.9", 1000.0, ms(p.p999)),
        ("max", x_max, ms(p.max)),
    ];
    Spectrum {
        stage: stage.to_string(),
        points: marks.iter().map(|(_, x, y)| (*x, *y)).collect(),
        marks,
        count: p.count,
        p9999_us: None,
    }
}

// ---------------------------------------------------------------------------------------
// The document: built once, rendered to Markdown and to HTML.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Inline {
    Text(String),
    Bold(String),
    Code(String),
}

type Cell = Vec<Inline>;

#[derive(Debug)]
enum Block {
    Heading(u8, String),
    Para(Vec<Inline>),
    List(Vec<Vec<Inline>>),
    Table {
        head: Vec<Cell>,
        rows: Vec<Vec<Cell>>,
    },
    /// Index into `Document::charts`.
    Figure(usize),
}

#[derive(Debug)]
struct Chart {
    file: String,
    caption: String,
    svg: String,
}

#[derive(Debug)]
struct Document {
    title: String,
    blocks: Vec<Block>,
    charts: Vec<Chart>,
}

/// The named percentiles drawn as dots on a spectrum.
const MARKED: &str = "p50, p90, p99, p99.9, p99.99 (when logged) and max";

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

fn cell(s: impl Into<String>) -> Cell {
    vec![text(s)]
}

fn build_document(runs: &[Run], out_dir: &Path) -> Result<Document, ReportError> {
    let mut doc = Document {
        title: "ioschain run report".to_string(),
        blocks: Vec::new(),
        charts: Vec::new(),
    };
    let listed: Vec<String> = runs
        .iter()
        .map(|r| format!("{} ({})", r.label, r.dir.display()))
        .collect();
    doc.blocks.push(Block::Para(vec![text(format!(
        "{} run{}: {}. Latencies are from each transaction's intended send time; \
         throughput and latency figures cover the measured window (warm-up and drain excluded).",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        listed.join("; ")
    ))]));

    if runs.len() > 1 {
        comparison_section(&mut doc, runs, out_dir)?;
    }
    for (i, run) in runs.iter().enumerate() {
        run_section(&mut doc, i + 1, run, out_dir)?;
    }
    Ok(doc)
}

fn add_chart(
    doc: &mut Document,
    out_dir: &Path,
    file: String,
    caption: String,
    svg: Result<String, String>,
) -> Result<(), ReportError> {
    let svg = svg.map_err(|problem| ReportError::Chart {
        path: out_dir.join(&file),
        problem,
    })?;
    doc.charts.push(Chart { file, caption, svg });
    doc.blocks.push(Block::Figure(doc.charts.len() - 1));
    Ok(())
}

fn config_str<'a>(v: &'a serde_json::Value, path: &[&str]) -> Option<&'a serde_json::Value> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

fn config_line(s: &Summary) -> String {
    let c = &s.config;
    let get = |p: &[&str]| config_str(c, p).map(value_text);
    let mut parts = Vec::new();
    if let Some(v) = get(&["run", "shards"]) {
        parts.push(format!("{v} shards"));
    }
    if let Some(v) = get(&["run", "cores"]) {
        parts.push(format!("{v} cores"));
    }
    let offered = Some(s.offered_tps)
        .filter(|v| *v > 0.0)
        .or_else(|| config_str(c, &["run", "rate"]).and_then(serde_json::Value::as_f64));
    if let Some(v) = offered {
        parts.push(format!("offered {} tx/s", thousands(v)));
    }
    match (get(&["run", "warmup_s"]), get(&["run", "duration_s"])) {
        (Some(w), Some(d)) => parts.push(format!("warm-up {w} s, measured {d} s")),
        (None, Some(d)) => parts.push(format!("measured {d} s")),
        _ => {}
    }
    let used = s.store.backend.map(|b| b.name().to_string());
    let asked = get(&["store", "backend"]);
    let fsync = s
        .store
        .fsync
        .map(|f| f.name().to_string())
        .or_else(|| get(&["store", "fsync"]));
    let store = match (used, asked) {
        (Some(u), Some(a)) if u != a => format!("store {u} (asked: {a})"),
        (Some(u), _) => format!("store {u}"),
        (None, Some(a)) => format!("store {a}"),
        (None, None) => String::new(),
    };
    if !store.is_empty() {
        parts.push(match fsync {
            Some(f) => format!("{store}, fsync {f}"),
            None => store,
        });
    }
    if let Some(mode) = Some(&s.load.mode).filter(|m| !m.is_empty()) {
        parts.push(format!("{mode} loop"));
    }
    if let Some(v) = get(&["workload", "sender"]) {
        parts.push(format!("sender {v}"));
    }
    if let Some(v) = config_str(c, &["workload", "invalid_fraction"]).and_then(|v| v.as_f64())
        && v > 0.0
    {
        parts.push(format!("{} % invalid", num(v * 100.0)));
    }
    if parts.is_empty() {
        "configuration not recorded".to_string()
    } else {
        parts.join(" · ")
    }
}

fn machine_line(s: &Summary) -> Option<String> {
    let m = serde_json::to_value(&s.machine).unwrap_or_default();
    let get = |k: &str| config_str(&m, &[k]).map(value_text);
    let mut parts = Vec::new();
    if let Some(v) = get("cpu") {
        parts.push(v);
    }
    if let Some(v) = get("cores") {
        parts.push(format!("{v} cores"));
    }
    if let Some(v) = get("kernel") {
        parts.push(format!("kernel {v}"));
    }
    if let Some(v) = get("rustc") {
        parts.push(v);
    }
    if let Some(v) = get("profile") {
        parts.push(format!("{v} build"));
    }
    if let Some(sha) = get("git_sha") {
        let short: String = sha.chars().take(10).collect();
        let dirty = m.get("git_dirty").and_then(serde_json::Value::as_bool);
        parts.push(match dirty {
            Some(true) => format!("git {short} (dirty)"),
            Some(false) => format!("git {short} (clean)"),
            None => format!("git {short}"),
        });
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

fn validity_inline(s: &Summary) -> Vec<Inline> {
    match Some(&s.validity).filter(|v| !v.checks.is_empty()) {
        None => vec![
            text("Validity: "),
            Inline::Bold("UNKNOWN".into()),
            text(" (not recorded)"),
        ],
        Some(v) => {
            let failed = v.checks.iter().filter(|c| !c.ok).count();
            let detail = if failed == 0 {
                format!(" ({} of {} checks passed)", v.checks.len(), v.checks.len())
            } else {
                format!(" ({failed} of {} checks failed)", v.checks.len())
            };
            vec![
                text("Validity: "),
                Inline::Bold(if v.valid { "VALID" } else { "INVALID" }.into()),
                text(detail),
            ]
        }
    }
}

fn valid_word(s: &Summary) -> &'static str {
    match Some(&s.validity).filter(|v| !v.checks.is_empty()) {
        Some(v) if v.valid => "VALID",
        Some(_) => "INVALID",
        None => "unknown",
    }
}

fn opt_tps(v: impl Into<Option<f64>>) -> String {
    v.into().map(thousands).unwrap_or_else(|| "—".into())
}

fn opt_count(v: impl Into<Option<u64>>) -> String {
    v.into()
        .map(|n| thousands(n as f64))
        .unwrap_or_else(|| "—".into())
}

fn stage_name(stage: &str) -> String {
    match stage {
        "cross_shard" => "cross-shard".into(),
        other => other.into(),
    }
}

fn efficiency_text(s: &Summary) -> String {
    match s.efficiency {
        Some(e) => {
            let mut t = format!(
                "{:.1} % (final tx/s × signature verifications per transaction over the \
                 measured verification ceiling",
                e * 100.0
            );
            if let Some(l) = &s.limits
                && let limit = l.verify_sigs_per_s_cores
                && limit > 0.0
            {
                let cores = Some(l.cores)
                    .filter(|c| *c > 0)
                    .map(|c| format!(" on {c} cores"))
                    .unwrap_or_default();
                let _ = write!(t, " of {} per second{cores}", thousands(limit));
            }
            t.push(')');
            if let Some(model) = s.efficiency_model {
                let _ = write!(
                    t,
                    "; {:.1} % of the model ceiling (final tx/s over the least work a \
                     validating ledger does per transaction",
                    model * 100.0
                );
                if let Some(ceiling) = s.limits.as_ref().and_then(|l| l.model_tx_per_s) {
                    let _ = write!(t, ", {} per second", thousands(ceiling));
                }
                t.push(')');
            }
            t
        }
        None => "not measured (limits disabled)".into(),
    }
}

fn rejected_total(s: &Summary) -> u64 {
    s.counts.rejected.values().sum()
}

fn run_section(doc: &mut Document, n: usize, run: &Run, out_dir: &Path) -> Result<(), ReportError> {
    let s = &run.summary;
    doc.blocks
        .push(Block::Heading(2, format!("Run {n}: {}", run.label)));
    doc.blocks.push(Block::Para(vec![
        text("Directory "),
        Inline::Code(run.dir.display().to_string()),
        text(format!(": {}.", config_line(s))),
    ]));
    if let Some(m) = machine_line(s) {
        doc.blocks
            .push(Block::Para(vec![text(format!("Machine: {m}."))]));
    }
    doc.blocks.push(Block::Para(validity_inline(s)));
    if !s.warnings.is_empty() {
        doc.blocks
            .push(Block::Para(vec![Inline::Bold("Warnings".into())]));
        doc.blocks.push(Block::List(
            s.warnings.iter().map(|w| vec![text(w.clone())]).collect(),
        ));
    }

    // Throughput.
    doc.blocks.push(Block::Heading(3, "Throughput".into()));
    let achieved = Some(s.load.achieved_tps).filter(|v| *v > 0.0);
    doc.blocks.push(Block::Table {
        head: vec![
            cell("final tx/s"),
            cell("provisional tx/s"),
            cell("intra-shard tx/s"),
            cell("cross-shard tx/s"),
            cell("offered tx/s"),
            cell("submitted tx/s"),
        ],
        rows: vec![vec![
            vec![Inline::Bold(opt_tps(Some(s.tps.final_)))],
            cell(opt_tps(Some(s.tps.provisional))),
            cell(opt_tps(Some(s.tps.intra_shard))),
            cell(opt_tps(Some(s.tps.cross_shard))),
            cell(opt_tps(Some(s.offered_tps))),
            cell(opt_tps(achieved)),
        ]],
    });
    doc.blocks.push(Block::Para(vec![text(format!(
        "Efficiency: {}.",
        efficiency_text(s)
    ))]));

    // Latency.
    doc.blocks.push(Block::Heading(3, "Latency (ms)".into()));
    let mut rows = Vec::new();
    for stage in STAGES {
        let spectrum_p9999 = run
            .spectra
            .iter()
            .find(|sp| sp.stage == stage)
            .and_then(|sp| sp.p9999_us);
        match stage_percentiles(s, stage) {
            Some(p) => rows.push(vec![
                cell(stage_name(stage)),
                cell(ms(p.p50)),
                cell(ms(p.p90)),
                cell(ms(p.p99)),
                cell(ms(p.p999)),
                cell(spectrum_p9999.map(ms).unwrap_or_else(|| "—".into())),
                cell(ms(p.max)),
                cell(thousands(p.count as f64)),
            ]),
            None => {
                let mut row = vec![cell(stage_name(stage))];
                row.extend((0..7).map(|_| cell("—")));
                rows.push(row);
            }
        }
    }
    doc.blocks.push(Block::Table {
        head: [
            "stage", "p50", "p90", "p99", "p99.9", "p99.99", "max", "count",
        ]
        .into_iter()
        .map(cell)
        .collect(),
        rows,
    });
    doc.blocks.push(Block::Para(vec![text(format!(
        "Percentiles from summary.json; p99.99 from latency.hlog (— when not available). {}",
        run.latency_source
    ))]));
    if !run.spectra.is_empty() {
        let file = format!("latency-{n}.svg");
        let lines: Vec<Line> = run
            .spectra
            .iter()
            .enumerate()
            .map(|(i, sp)| Line {
                label: format!(
                    "{} ({} values)",
                    stage_name(&sp.stage),
                    thousands(sp.count as f64)
                ),
                color: PALETTE[(i + 1) % PALETTE.len()],
                dashed: false,
                points: sp.points.clone(),
                marks: sp.marks.iter().map(|(_, x, y)| (*x, *y)).collect(),
            })
            .collect();
        let title = format!("Latency percentile spectrum, run {n} ({})", run.label);
        let caption = format!("{title}, one line per stage; dots mark {MARKED}");
        let svg = spectrum_chart(&title, &lines);
        add_chart(doc, out_dir, file, caption, svg)?;
    }

    // Counts.
    doc.blocks.push(Block::Heading(3, "Counts".into()));
    let c = &s.counts;
    let backpressure = Some(s.load.inbox_backpressure + s.load.store_backpressure);
    doc.blocks.push(Block::Table {
        head: [
            "submitted",
            "provisional",
            "final",
            "aborted",
            "rejected",
            "blocks",
            "backpressure",
        ]
        .into_iter()
        .map(cell)
        .collect(),
        rows: vec![vec![
            cell(opt_count(c.submitted)),
            cell(opt_count(c.provisional)),
            cell(opt_count(c.final_)),
            cell(opt_count(c.aborted)),
            cell(thousands(rejected_total(s) as f64)),
            cell(opt_count(c.blocks)),
            cell(opt_count(backpressure)),
        ]],
    });
    let reasons: Vec<String> = c
        .rejected
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r} {}", thousands(*n as f64)))
        .collect();
    if !reasons.is_empty() {
        doc.blocks.push(Block::Para(vec![text(format!(
            "Rejected by reason: {}.",
            reasons.join(", ")
        ))]));
    }

    // Timeline.
    doc.blocks.push(Block::Heading(3, "Timeline".into()));
    match &run.timeline {
        Some(rows) if !rows.is_empty() => {
            let file = format!("timeline-{n}.svg");
            let caption = format!(
                "Transactions per second, run {n} ({}): offered vs submitted vs final; \
                 shaded seconds are outside the measured window",
                run.label
            );
            let svg = timeline_chart(
                &format!("Throughput per second, run {n} ({})", run.label),
                rows,
            );
            add_chart(doc, out_dir, file, caption, svg)?;
        }
        Some(_) => doc
            .blocks
            .push(Block::Para(vec![text("timeline.csv holds no rows.")])),
        None => {}
    }
    for note in &run.notes {
        doc.blocks.push(Block::Para(vec![text(note.clone())]));
    }

    // Validity.
    doc.blocks.push(Block::Heading(3, "Validity checks".into()));
    match Some(&s.validity) {
        Some(v) if !v.checks.is_empty() => doc.blocks.push(Block::Table {
            head: vec![cell("check"), cell("result"), cell("detail")],
            rows: v
                .checks
                .iter()
                .map(|ch| {
                    vec![
                        vec![Inline::Code(ch.name.clone())],
                        if ch.ok {
                            cell("ok")
                        } else {
                            vec![Inline::Bold("FAILED".into())]
                        },
                        cell(ch.detail.clone()),
                    ]
                })
                .collect(),
        }),
        _ => doc
            .blocks
            .push(Block::Para(vec![text("No validity checks recorded.")])),
    }
    Ok(())
}

fn comparison_section(doc: &mut Document, runs: &[Run], out_dir: &Path) -> Result<(), ReportError> {
    doc.blocks.push(Block::Heading(2, "Comparison".into()));
    let mut head = vec![cell("")];
    head.extend(runs.iter().map(|r| vec![Inline::Bold(r.label.clone())]));
    let cfg = |r: &Run, p: &[&str]| {
        config_str(&r.summary.config, p)
            .map(value_text)
            .unwrap_or_else(|| "—".into())
    };
    let lat = |r: &Run, stage: &str, f: fn(&Percentiles) -> u64| {
        stage_percentiles(&r.summary, stage)
            .map(|p| ms(f(p)))
            .unwrap_or_else(|| "—".into())
    };
    type RowFn<'a> = Box<dyn Fn(&Run) -> String + 'a>;
    let metrics: Vec<(&str, RowFn)> = vec![
        ("shards", Box::new(move |r| cfg(r, &["run", "shards"]))),
        ("cores", Box::new(move |r| cfg(r, &["run", "cores"]))),
        ("offered tx/s", Box::new(|r| opt_tps(r.summary.offered_tps))),
        ("final tx/s", Box::new(|r| opt_tps(r.summary.tps.final_))),
        (
            "provisional tx/s",
            Box::new(|r| opt_tps(r.summary.tps.provisional)),
        ),
        (
            "final p50 ms",
            Box::new(move |r| lat(r, "final", |p| p.p50)),
        ),
        (
            "final p90 ms",
            Box::new(move |r| lat(r, "final", |p| p.p90)),
        ),
        (
            "final p99 ms",
            Box::new(move |r| lat(r, "final", |p| p.p99)),
        ),
        (
            "final p99.9 ms",
            Box::new(move |r| lat(r, "final", |p| p.p999)),
        ),
        (
            "final max ms",
            Box::new(move |r| lat(r, "final", |p| p.max)),
        ),
        (
            "provisional p50 ms",
            Box::new(move |r| lat(r, "provisional", |p| p.p50)),
        ),
        (
            "provisional p99 ms",
            Box::new(move |r| lat(r, "provisional", |p| p.p99)),
        ),
        (
            "efficiency",
            Box::new(|r| {
                r.summary
                    .efficiency
                    .map(|e| format!("{:.1} %", e * 100.0))
                    .unwrap_or_else(|| "—".into())
            }),
        ),
        (
            "efficiency (model)",
            Box::new(|r| {
                r.summary
                    .efficiency_model
                    .map(|e| format!("{:.1} %", e * 100.0))
                    .unwrap_or_else(|| "—".into())
            }),
        ),
        (
            "rejected",
            Box::new(|r| thousands(rejected_total(&r.summary) as f64)),
        ),
        ("validity", Box::new(|r| valid_word(&r.summary).to_string())),
    ];
    let rows = metrics
        .iter()
        .map(|(name, f)| {
            let mut row = vec![cell(*name)];
            row.extend(runs.iter().map(|r| cell(f(r))));
            row
        })
        .collect();
    doc.blocks.push(Block::Table { head, rows });

    // Overlaid throughput timelines.
    let lines: Vec<Line> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.timeline.as_ref().map(|rows| (i, r, rows)))
        .flat_map(|(i, r, rows)| {
            let color = PALETTE[i % PALETTE.len()];
            [
                Line {
                    label: format!("{} final", r.label),
                    color,
                    dashed: false,
                    points: rows
                        .iter()
                        .map(|row| (row.second as f64 + 0.5, row.final_ as f64))
                        .collect(),
                    marks: Vec::new(),
                },
                Line {
                    label: format!("{} offered", r.label),
                    color,
                    dashed: true,
                    points: rows
                        .iter()
                        .map(|row| (row.second as f64 + 0.5, row.offered as f64))
                        .collect(),
                    marks: Vec::new(),
                },
            ]
        })
        .collect();
    if !lines.is_empty() {
        let caption =
            "Final (solid) and offered (dashed) transactions per second, one colour per run"
                .to_string();
        let svg = overlay_timeline_chart("Throughput per second, all runs", &lines);
        add_chart(doc, out_dir, "compare-timeline.svg".into(), caption, svg)?;
    }

    // Overlaid latency spectra, one chart per stage.
    let mut stages: Vec<String> = Vec::new();
    for r in runs {
        for sp in &r.spectra {
            if !stages.contains(&sp.stage) {
                stages.push(sp.stage.clone());
            }
        }
    }
    for stage in stages {
        let lines: Vec<Line> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.spectra
                    .iter()
                    .find(|sp| sp.stage == stage)
                    .map(|sp| Line {
                        label: r.label.clone(),
                        color: PALETTE[i % PALETTE.len()],
                        dashed: false,
                        points: sp.points.clone(),
                        marks: sp.marks.iter().map(|(_, x, y)| (*x, *y)).collect(),
                    })
            })
            .collect();
        let name = stage_name(&stage);
        let caption = format!(
            "{} latency percentile spectrum, one line per run; dots mark {MARKED}",
            capitalized(&name)
        );
        let svg = spectrum_chart(&format!("{} latency, all runs", capitalized(&name)), &lines);
        add_chart(
            doc,
            out_dir,
            format!("compare-latency-{stage}.svg"),
            caption,
            svg,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Charts (plotters, SVG backend: text is emitted as <text>, no font files needed).
// ---------------------------------------------------------------------------------------

/// Tableau 10.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

#[derive(Debug)]
struct Line {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
    marks: Vec<(f64, f64)>,
}

const CHART_SIZE: (u32, u32) = (960, 480);
/// Timelines keep their legend in a column on the right, clear of the data.
const TIMELINE_SIZE: (u32, u32) = (1040, 480);
const LEGEND_WIDTH: u32 = 260;

/// A legend entry's sample.
#[derive(Clone, Copy, Debug)]
enum LegendMark {
    Solid(RGBColor),
    Dashed(RGBColor),
    Shade(RGBColor),
}

/// Draws a legend as a column of entries at the top of `area`.
fn draw_side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(String, LegendMark)],
) -> Result<(), String> {
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, mark)) in entries.iter().enumerate() {
        let y = 40 + 22 * i as i32;
        match *mark {
            LegendMark::Solid(c) => area
                .draw(&PathElement::new(vec![(8, y), (32, y)], c.stroke_width(2)))
                .map_err(plot_err)?,
            LegendMark::Dashed(c) => {
                for x in [8, 17, 26] {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 6, y)],
                        c.stroke_width(2),
                    ))
                    .map_err(plot_err)?;
                }
            }
            LegendMark::Shade(c) => area
                .draw(&Rectangle::new(
                    [(8, y - 6), (32, y + 6)],
                    c.mix(0.6).filled(),
                ))
                .map_err(plot_err)?,
        }
        let text: String = if label.chars().count() > 34 {
            label.chars().take(33).chain(std::iter::once('…')).collect()
        } else {
            label.clone()
        };
        area.draw(&Text::new(text, (40, y), style.clone()))
            .map_err(plot_err)?;
    }
    Ok(())
}
const FONT: &str = "sans-serif";

fn plot_err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Axis tick text for transactions per second.
fn tps_tick(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{}M", num(v / 1e6))
    } else if v.abs() >= 1e3 {
        format!("{}k", num(v / 1e3))
    } else {
        num(v)
    }
}

/// Axis tick text for `x = 1/(1-q)`: the percentile q.
fn percentile_tick(x: f64) -> String {
    if x <= 1.0 + 1e-9 {
        return "0%".into();
    }
    let pct = 100.0 * (1.0 - 1.0 / x);
    let decimals = (x.log10().round() as i64 - 2).clamp(0, 6) as usize;
    let s = format!("{pct:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}%")
}

fn y_top(max: f64) -> f64 {
    if max > 0.0 { max * 1.15 } else { 1.0 }
}

fn draw_lines<DB, X>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    lines: &[Line],
) -> Result<(), String>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
{
    for line in lines {
        let style = line.color.stroke_width(2);
        let color = line.color;
        let anno = if line.dashed {
            chart
                .draw_series(DashedLineSeries::new(
                    line.points.iter().copied(),
                    6,
                    4,
                    style,
                ))
                .map_err(plot_err)?
        } else {
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(plot_err)?
        };
        let dashed = line.dashed;
        anno.label(line.label.clone()).legend(move |(x, y)| {
            if dashed {
                PathElement::new(vec![(x, y), (x + 7, y)], color.stroke_width(2))
            } else {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            }
        });
        chart
            .draw_series(
                line.marks
                    .iter()
                    .map(|p| Circle::new(*p, 3, line.color.filled())),
            )
            .map_err(plot_err)?;
    }
    Ok(())
}

/// The latency spectrum: x is `1/(1-q)` on a log scale, labelled as percentiles.
fn spectrum_chart(caption: &str, lines: &[Line]) -> Result<String, String> {
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(100.0f64, f64::max);
    let y_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let decades = x_max.log10().round() as usize;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, 20))
            .margin(16)
            .margin_right(44)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((1.0f64..x_max).log_scale(), 0.0f64..y_top(y_max))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_labels(decades + 1)
            .x_label_formatter(&|x| percentile_tick(*x))
            .y_label_formatter(&|y| num(*y))
            .x_desc("percentile (axis: 1/(1-q), log scale)")
            .y_desc("latency (ms)")
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        draw_lines(&mut chart, lines)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// One run's timeline: offered, submitted and final per second, phases shaded.
fn timeline_chart(caption: &str, rows: &[TimelineRow]) -> Result<String, String> {
    let at = |r: &TimelineRow| r.second as f64 + 0.5;
    let mut lines = vec![
        Line {
            label: "submitted".into(),
            color: PALETTE[0],
            dashed: false,
            points: rows.iter().map(|r| (at(r), r.submitted as f64)).collect(),
            marks: Vec::new(),
        },
        Line {
            label: "final".into(),
            color: PALETTE[2],
            dashed: false,
            points: rows.iter().map(|r| (at(r), r.final_ as f64)).collect(),
            marks: Vec::new(),
        },
    ];
    if rows.iter().any(|r| r.rejected.unwrap_or(0) > 0) {
        lines.push(Line {
            label: "rejected".into(),
            color: PALETTE[3],
            dashed: false,
            points: rows
                .iter()
                .map(|r| (at(r), r.rejected.unwrap_or(0) as f64))
                .collect(),
            marks: Vec::new(),
        });
    }
    // Last, so that its dashes show over a submitted line that matches it.
    lines.push(Line {
        label: "offered".into(),
        color: RGBColor(60, 60, 60),
        dashed: true,
        points: rows.iter().map(|r| (at(r), r.offered as f64)).collect(),
        marks: Vec::new(),
    });
    // Contiguous spans of each phase outside the measured window.
    let mut spans: Vec<(String, f64, f64)> = Vec::new();
    for r in rows {
        let (x0, x1) = (r.second as f64, r.second as f64 + 1.0);
        match spans.last_mut() {
            Some((phase, _, end)) if *phase == r.phase && (*end - x0).abs() < 1e-9 => *end = x1,
            _ => spans.push((r.phase.clone(), x0, x1)),
        }
    }
    spans.retain(|(phase, _, _)| phase != "measure");
    line_chart_linear(caption, rows, &lines, &spans)
}

fn overlay_timeline_chart(caption: &str, lines: &[Line]) -> Result<String, String> {
    line_chart_linear(caption, &[], lines, &[])
}

fn line_chart_linear(
    caption: &str,
    rows: &[TimelineRow],
    lines: &[Line],
    spans: &[(String, f64, f64)],
) -> Result<String, String> {
    let x_max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0 + 0.5))
        .chain(rows.iter().map(|r| r.second as f64 + 1.0))
        .fold(1.0f64, f64::max);
    let y_max = y_top(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, TIMELINE_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(caption, (FONT, 20)).map_err(plot_err)?;
        let (plot, side) = root.split_horizontally(TIMELINE_SIZE.0 - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0f64..x_max, 0.0f64..y_max)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| num(*x))
            .y_label_formatter(&|y| tps_tick(*y))
            .x_desc("seconds since start")
            .y_desc("transactions per second")
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        let mut legend: Vec<(String, LegendMark)> = Vec::new();
        for (phase, x0, x1) in spans {
            let shade = match phase.as_str() {
                "warmup" => RGBColor(255, 200, 120),
                "drain" => RGBColor(180, 180, 220),
                _ => RGBColor(200, 200, 200),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(*x0, 0.0), (*x1, y_max)],
                    shade.mix(0.35).filled(),
                )))
                .map_err(plot_err)?;
            let name = match phase.as_str() {
                "warmup" => "warm-up (not measured)".to_string(),
                "drain" => "drain (not measured)".to_string(),
                other => format!("{other} (not measured)"),
            };
            if !legend.iter().any(|(l, _)| *l == name) {
                legend.push((name, LegendMark::Shade(shade)));
            }
        }
        draw_lines(&mut chart, lines)?;
        legend.extend(lines.iter().map(|l| {
            let mark = if l.dashed {
                LegendMark::Dashed(l.color)
            } else {
                LegendMark::Solid(l.color)
            };
            (l.label.clone(), mark)
        }));
        draw_side_legend(&side, &legend)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

// ---------------------------------------------------------------------------------------
// Rendering.
// ---------------------------------------------------------------------------------------

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '`' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_inline(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for i in inlines {
        match i {
            Inline::Text(t) => out.push_str(&md_escape(t)),
            Inline::Bold(t) => {
                let _ = write!(out, "**{}**", md_escape(t));
            }
            Inline::Code(t) => {
                let fence = if t.contains('`') { "`` " } else { "`" };
                let close = if t.contains('`') { " ``" } else { "`" };
                let _ = write!(out, "{fence}{t}{close}");
            }
        }
    }
    out.replace('\n', " ")
}

fn render_markdown(doc: &Document) -> String {
    let mut out = format!("# {}\n\n", md_escape(&doc.title));
    for block in &doc.blocks {
        match block {
            Block::Heading(level, t) => {
                let _ = writeln!(
                    out,
                    "{} {}\n",
                    "#".repeat(usize::from(*level)),
                    md_escape(t)
                );
            }
            Block::Para(inl) => {
                let _ = writeln!(out, "{}\n", md_inline(inl));
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", md_inline(item));
                }
                out.push('\n');
            }
            Block::Table { head, rows } => {
                let row_text = |cells: &[Cell]| {
                    let cells: Vec<String> = cells.iter().map(|c| md_inline(c)).collect();
                    format!("| {} |", cells.join(" | "))
                };
                let _ = writeln!(out, "{}", row_text(head));
                let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                for row in rows {
                    let _ = writeln!(out, "{}", row_text(row));
                }
                out.push('\n');
            }
            Block::Figure(i) => {
                let c = &doc.charts[*i];
                let _ = writeln!(out, "![{}]({})\n", md_escape(&c.caption), c.file);
                let _ = writeln!(out, "*{}*\n", md_escape(&c.caption));
            }
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html_inline(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for i in inlines {
        match i {
            Inline::Text(t) => out.push_str(&html_escape(t)),
            Inline::Bold(t) => {
                let _ = write!(out, "<strong>{}</strong>", html_escape(t));
            }
            Inline::Code(t) => {
                let _ = write!(out, "<code>{}</code>", html_escape(t));
            }
        }
    }
    out
}

const CSS: &str = "\
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; \
max-width: 1040px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; vertical-align: top; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
td.t { text-align: left; }
code { background: #f4f4f4; padding: 0 .25em; border-radius: 3px; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
";

fn render_html(doc: &Document) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        html_escape(&doc.title),
        html_escape(&doc.title)
    );
    for block in &doc.blocks {
        match block {
            Block::Heading(level, t) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", html_escape(t));
            }
            Block::Para(inl) => {
                let _ = writeln!(out, "<p>{}</p>", html_inline(inl));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", html_inline(item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { head, rows } => {
                out.push_str("<table>\n<thead><tr>");
                for c in head {
                    let _ = write!(out, "<th>{}</th>", html_inline(c));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for c in row {
                        // Numbers align right, words left.
                        let numeric = c.first().is_none_or(|i| match i {
                            Inline::Text(t) | Inline::Bold(t) | Inline::Code(t) => t
                                .chars()
                                .next()
                                .is_none_or(|ch| ch.is_ascii_digit() || matches!(ch, '—' | '-')),
                        });
                        let class = if numeric { "" } else { " class=\"t\"" };
                        let _ = write!(out, "<td{class}>{}</td>", html_inline(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Figure(i) => {
                let c = &doc.charts[*i];
                let _ = writeln!(
                    out,
                    "<figure>\n{}\n<figcaption>{} ({})</figcaption>\n</figure>",
                    inline_svg(&c.svg),
                    html_escape(&c.caption),
                    html_escape(&c.file)
                );
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The SVG without an XML prolog, ready to inline in HTML.
fn inline_svg(svg: &str) -> &str {
    let svg = svg.trim();
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

// ---------------------------------------------------------------------------------------
// Number formatting.
// ---------------------------------------------------------------------------------------

/// A number with at most 2 decimals and no trailing zeros.
fn num(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// Microseconds as milliseconds, 3 significant digits or more.
fn ms(us: u64) -> String {
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
