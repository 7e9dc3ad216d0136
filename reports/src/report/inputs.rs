//! A run directory loaded for the report: `summary.json` (the schema's one definition,
//! [`crate::summary`]), `timeline.csv` (read by name through [`crate::timeline`]) and
//! `latency.hlog` (the interval histograms merged per stage into spectra over the measured
//! window, and per stage and second into p50 and p99).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use super::ReportError;
use super::charts::stage_name;
use crate::numbers::thousands;
use crate::summary::{Percentiles, RunSummary, SummaryError};
use crate::timeline::{self, Timeline};

/// The run summary: the schema's one definition ([`crate::summary`]).
pub(super) type Summary = RunSummary;

/// The percentiles of `stage` (`provisional`, `final`, `cross_shard`), if any were
/// recorded.
pub(super) fn stage_percentiles<'a>(s: &'a Summary, stage: &str) -> Option<&'a Percentiles> {
    let latency = &s.latency_us;
    match stage {
        "provisional" => Some(&latency.provisional),
        "final" => Some(&latency.final_),
        "cross_shard" => latency.cross_shard.as_ref(),
        _ => None,
    }
    .filter(|p| p.count > 0 || p.max > 0)
}

/// The stages in display order; other tags found in a log follow alphabetically.
pub(super) const STAGES: [&str; 3] = ["provisional", "final", "cross_shard"];

/// A latency percentile spectrum of one stage.
#[derive(Clone, Debug)]
pub(super) struct Spectrum {
    pub(super) stage: String,
    /// `(1/(1-q), ms)`, increasing in x.
    pub(super) points: Vec<(f64, f64)>,
    /// Named percentiles `(label, 1/(1-q), ms)`.
    pub(super) marks: Vec<(&'static str, f64, f64)>,
    /// Values the spectrum is made of.
    pub(super) count: u64,
    /// The 99.99th percentile in µs (only known from the log).
    pub(super) p9999_us: Option<u64>,
}

/// One stage's latency in one second of the run (from that second's interval
/// histograms in `latency.hlog`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct SecondLatency {
    pub(super) second: u64,
    pub(super) p50_us: u64,
    pub(super) p99_us: u64,
}

/// The per-second latencies of one stage, in order of seconds.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StageSeconds {
    pub(super) stage: String,
    pub(super) seconds: Vec<SecondLatency>,
}

#[derive(Debug)]
pub(super) struct Run {
    pub(super) dir: PathBuf,
    pub(super) label: String,
    pub(super) summary: Summary,
    pub(super) timeline: Option<Timeline>,
    pub(super) spectra: Vec<Spectrum>,
    /// Per second and stage, every second logged (empty without a readable log).
    pub(super) latency_by_second: Vec<StageSeconds>,
    /// Where the spectra come from, for the report.
    pub(super) latency_source: String,
    pub(super) notes: Vec<String>,
}

pub(super) fn load_run(dir: &Path) -> Result<Run, ReportError> {
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
        Ok(text) => Some(
            timeline::parse(&text).map_err(|source| ReportError::Timeline {
                path: timeline_path.clone(),
                source,
            })?,
        ),
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

    let measured: Option<BTreeSet<u64>> = timeline.as_ref().map(|t| {
        t.rows
            .iter()
            .filter(|r| r.phase == "measure")
            .map(|r| r.second)
            .collect()
    });
    let hlog_path = dir.join("latency.hlog");
    let (spectra, latency_by_second, latency_source) =
        match read_hlog(&hlog_path, measured.as_ref()) {
            Ok(log) => {
                let spectra = log
                    .histograms
                    .iter()
                    .map(|(stage, h)| spectrum_of_histogram(stage, h))
                    .collect();
                let description = log.describe();
                (spectra, log.by_second, description)
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
                    Vec::new(),
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
        latency_by_second,
        latency_source,
        notes,
    })
}

/// Labels runs by their directory name, made unique with a suffix.
pub(super) fn label_runs(runs: &mut [Run]) {
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

/// Histograms merged per tag from `latency.hlog`.
#[derive(Debug)]
pub(super) struct HlogData {
    /// Tag → merged histogram, in display order.
    pub(super) histograms: Vec<(String, Histogram<u64>)>,
    /// Interval histograms merged.
    pub(super) merged: usize,
    /// Distinct seconds merged.
    pub(super) seconds: usize,
    /// Only the measured seconds (true) or every interval (false).
    pub(super) measured_only: bool,
    /// Per second and stage, every second logged, in display order of stages.
    pub(super) by_second: Vec<StageSeconds>,
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
pub(super) fn read_hlog(path: &Path, measured: Option<&BTreeSet<u64>>) -> Result<HlogData, String> {
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

    let by_second = latency_by_second(&intervals)?;
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
        by_second,
    })
}

/// p50 and p99 of each (stage, second) of the log: the second's interval histograms
/// merged (a log holds one per stage and second; several are merged, never averaged).
fn latency_by_second(
    intervals: &[(String, u64, Histogram<u64>)],
) -> Result<Vec<StageSeconds>, String> {
    let mut merged: BTreeMap<(&str, u64), Histogram<u64>> = BTreeMap::new();
    for (tag, second, h) in intervals {
        match merged.get_mut(&(tag.as_str(), *second)) {
            Some(acc) => acc.add(h).map_err(|e| {
                format!("is unreadable (cannot merge `{tag}` at {second} s: {e:?})")
            })?,
            None => {
                let mut acc = h.clone();
                acc.auto(true);
                merged.insert((tag.as_str(), *second), acc);
            }
        }
    }
    let mut by_stage: BTreeMap<&str, Vec<SecondLatency>> = BTreeMap::new();
    for ((tag, second), h) in merged {
        if h.is_empty() {
            continue;
        }
        by_stage.entry(tag).or_default().push(SecondLatency {
            second,
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
        });
    }
    let mut out: Vec<StageSeconds> = Vec::new();
    for stage in STAGES {
        if let Some(seconds) = by_stage.remove(stage) {
            out.push(StageSeconds {
                stage: stage.to_string(),
                seconds,
            });
        }
    }
    out.extend(by_stage.into_iter().map(|(stage, seconds)| StageSeconds {
        stage: stage.to_string(),
        seconds,
    }));
    Ok(out)
}

/// The right end of the spectrum's x axis: the decade just past the value count.
pub(super) fn x_max_for(count: u64) -> f64 {
    let decades = (count.max(1) as f64).log10().ceil().clamp(2.0, 6.0);
    10f64.powf(decades)
}

pub(super) const MARKS: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

pub(super) fn spectrum_of_histogram(stage: &str, h: &Histogram<u64>) -> Spectrum {
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

pub(super) fn spectrum_of_summary(stage: &str, p: &Percentiles) -> Spectrum {
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
