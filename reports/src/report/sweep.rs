//! The report of a sweep directory (`ioschain report SWEEP_DIR [--html]`), written by
//! `ioschain sweep --out DIR` (`harness/src/sweep.rs`): one run directory per point,
//! `shards{S}-rate{R}-rep{k}`, and the sweep's summary `sweep.csv`, one row per run.
//!
//! `sweep.csv` is read by column name, like `timeline.csv`: required `shards`, `cores`,
//! `offered_tps`, `tps_final`, `final_p50_ms`, `final_p99_ms`; optional `repeat` and
//! `valid`; other columns ignored. Points are grouped by (shards, offered rate), with
//! medians over the repeats, and drawn as:
//!
//! - **latency against achieved throughput** (`sweep-latency.svg`): median final p99
//!   (solid) and p50 (dashed) against median final tx/s, one colour per shard count, a dot
//!   per offered rate, in order of offered rate — the latency-throughput curve of the
//!   consensus literature (HotStuff, Narwhal, Bullshark);
//! - **final throughput per core** (`sweep-per-core.svg`): median final tx/s over the
//!   worker cores the run used, against the offered rate, one line per shard count.
//!
//! A sweep directory is one that holds `sweep.csv` and no `summary.json`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::ReportError;
use super::charts::Built;
use super::document::{Block, Document, Inline, add_chart, cell, text};
use super::num;
use super::plot::{Axes, Line, PALETTE, line_chart, tps_tick, y_top};
use crate::compare::median;
use crate::numbers::thousands;

/// The sweep's table of runs inside a sweep directory.
pub const SWEEP_CSV: &str = "sweep.csv";

/// Whether `dir` is a sweep directory: it holds [`SWEEP_CSV`] and is not a run itself.
pub fn is_sweep_dir(dir: &Path) -> bool {
    dir.join(SWEEP_CSV).is_file() && !dir.join("summary.json").exists()
}

/// Why `sweep.csv` could not be read; each variant names its 1-based line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SweepCsvError {
    /// The file has no header line.
    #[error("empty file: expected a header line")]
    Empty,
    /// A required column is missing from the header.
    #[error("header has no `{column}` column (header: {header:?})")]
    MissingColumn {
        /// The column.
        column: &'static str,
        /// The header line.
        header: String,
    },
    /// A row has another number of fields than the header.
    #[error("{found} fields where the header has {expected}")]
    FieldCount {
        /// 1-based line.
        line: usize,
        /// Fields in the row.
        found: usize,
        /// Columns in the header.
        expected: usize,
    },
    /// A field does not hold what its column needs.
    #[error("`{column}` is {value:?}, expected {expected}")]
    BadValue {
        /// 1-based line.
        line: usize,
        /// The column.
        column: &'static str,
        /// The field.
        value: String,
        /// What the column holds.
        expected: &'static str,
    },
}

impl SweepCsvError {
    /// The 1-based line of the problem (1 for the header).
    pub fn line(&self) -> usize {
        match self {
            SweepCsvError::Empty | SweepCsvError::MissingColumn { .. } => 1,
            SweepCsvError::FieldCount { line, .. } | SweepCsvError::BadValue { line, .. } => *line,
        }
    }
}

/// One run of the sweep (a row of `sweep.csv`).
#[derive(Clone, Debug, PartialEq)]
struct Point {
    shards: u32,
    cores: u32,
    offered: f64,
    tps_final: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// `None`: no `valid` column, or an empty field.
    valid: Option<bool>,
}

/// The medians over the repeats of one (shards, offered rate).
#[derive(Clone, Debug, PartialEq)]
struct Cell {
    shards: u32,
    cores: u32,
    offered: f64,
    repeats: usize,
    tps_final: f64,
    p50_ms: f64,
    p99_ms: f64,
    tps_per_core: f64,
    /// Every repeat valid (`None`: not recorded).
    valid: Option<bool>,
}

fn parse_points(text: &str) -> Result<Vec<Point>, SweepCsvError> {
    let table = crate::csv::Table::parse(text).ok_or(SweepCsvError::Empty)?;
    let find = |name: &str| table.find(name);
    let required = |column: &'static str| {
        find(column)
            .map(|c| (column, c))
            .ok_or_else(|| SweepCsvError::MissingColumn {
                column,
                header: table.header.to_string(),
            })
    };
    let shards = required("shards")?;
    let cores = required("cores")?;
    let offered = required("offered_tps")?;
    let tps_final = required("tps_final")?;
    let p50 = required("final_p50_ms")?;
    let p99 = required("final_p99_ms")?;
    let valid = find("valid").map(|c| ("valid", c));

    let mut points = Vec::new();
    for row in table.rows() {
        let (line_no, fields) =
            row.map_err(|(line, found, expected)| SweepCsvError::FieldCount {
                line,
                found,
                expected,
            })?;
        let bad = |(column, c): (&'static str, usize), expected| SweepCsvError::BadValue {
            line: line_no,
            column,
            value: fields[c].to_string(),
            expected,
        };
        let count = |col: (&'static str, usize)| {
            fields[col.1]
                .parse::<u32>()
                .map_err(|_| bad(col, "a whole number"))
        };
        let number = |col: (&'static str, usize)| {
            fields[col.1]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad(col, "a non-negative number"))
        };
        points.push(Point {
            shards: count(shards)?,
            cores: count(cores)?,
            offered: number(offered)?,
            tps_final: number(tps_final)?,
            p50_ms: number(p50)?,
            p99_ms: number(p99)?,
            valid: match valid {
                None => None,
                Some((_, c)) if fields[c].is_empty() => None,
                Some(col) => Some(
                    fields[col.1]
                        .parse::<bool>()
                        .map_err(|_| bad(col, "true or false"))?,
                ),
            },
        });
    }
    Ok(points)
}

/// Groups `points` by (shards, offered rate), in that order, with medians over repeats.
fn cells(points: &[Point]) -> Vec<Cell> {
    let mut keys: Vec<(u32, f64)> = points.iter().map(|p| (p.shards, p.offered)).collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    keys.dedup();
    keys.into_iter()
        .map(|(shards, offered)| {
            let group: Vec<&Point> = points
                .iter()
                .filter(|p| p.shards == shards && p.offered == offered)
                .collect();
            let of = |f: fn(&Point) -> f64| {
                median(&group.iter().map(|p| f(p)).collect::<Vec<_>>()).unwrap_or(f64::NAN)
            };
            Cell {
                shards,
                cores: group[0].cores,
                offered,
                repeats: group.len(),
                tps_final: of(|p| p.tps_final),
                p50_ms: of(|p| p.p50_ms),
                p99_ms: of(|p| p.p99_ms),
                tps_per_core: of(|p| p.tps_final / f64::from(p.cores.max(1))),
                valid: group
                    .iter()
                    .map(|p| p.valid)
                    .collect::<Option<Vec<bool>>>()
                    .map(|v| v.iter().all(|ok| *ok)),
            }
        })
        .collect()
}

/// The shard counts of `cells`, ascending, each with its colour.
fn shard_colours(cells: &[Cell]) -> Vec<(u32, plotters::style::RGBColor)> {
    let counts: BTreeSet<u32> = cells.iter().map(|c| c.shards).collect();
    counts
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s, PALETTE[i % PALETTE.len()]))
        .collect()
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Median final p99 (solid) and p50 (dashed) against median final tx/s, one colour per
/// shard count, a dot per offered rate; `None` without points.
fn latency_curve(title: &str, cells: &[Cell]) -> Built {
    if cells.is_empty() {
        return None;
    }
    let mut lines = Vec::new();
    for (shards, color) in shard_colours(cells) {
        let mine: Vec<&Cell> = cells.iter().filter(|c| c.shards == shards).collect();
        for (stat, dashed, f) in [
            ("p99", false, (|c: &Cell| c.p99_ms) as fn(&Cell) -> f64),
            ("p50", true, |c: &Cell| c.p50_ms),
        ] {
            let points: Vec<(f64, f64)> = mine.iter().map(|c| (c.tps_final, f(c))).collect();
            lines.push(Line {
                label: format!("{shards} shard{} final {stat}", plural(shards)),
                color,
                dashed,
                marks: points.clone(),
                points,
            });
        }
    }
    let x_max = y_top(cells.iter().map(|c| c.tps_final).fold(0.0, f64::max));
    let axes = Axes {
        x_desc: "achieved final throughput (tx/s, median over repeats)",
        x_tick: tps_tick,
        y_desc: "final latency (ms)",
        y_tick: num,
    };
    Some(line_chart(title, &axes, x_max, &lines, &[]))
}

/// Median final tx/s per worker core against the offered rate, one line per shard
/// count; `None` without points.
fn per_core(title: &str, cells: &[Cell]) -> Built {
    if cells.is_empty() {
        return None;
    }
    let lines: Vec<Line> = shard_colours(cells)
        .into_iter()
        .map(|(shards, color)| {
            let points: Vec<(f64, f64)> = cells
                .iter()
                .filter(|c| c.shards == shards)
                .map(|c| (c.offered, c.tps_per_core))
                .collect();
            Line {
                label: format!("{shards} shard{}", plural(shards)),
                color,
                dashed: false,
                marks: points.clone(),
                points,
            }
        })
        .collect();
    let x_max = y_top(cells.iter().map(|c| c.offered).fold(0.0, f64::max));
    let axes = Axes {
        x_desc: "offered rate (tx/s)",
        x_tick: tps_tick,
        y_desc: "final tx/s per core",
        y_tick: tps_tick,
    };
    Some(line_chart(title, &axes, x_max, &lines, &[]))
}

/// The run directories of the sweep (its subdirectories holding `summary.json`).
fn run_dirs(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReportError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("summary.json").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The document of the sweep in `dir`; its charts are named for `out_dir`.
pub(super) fn build_document(dir: &Path, out_dir: &Path) -> Result<Document, ReportError> {
    let csv_path = dir.join(SWEEP_CSV);
    let csv = std::fs::read_to_string(&csv_path).map_err(|source| ReportError::Read {
        path: csv_path.clone(),
        source,
    })?;
    let points = parse_points(&csv).map_err(|source| ReportError::SweepCsv {
        path: csv_path.clone(),
        source,
    })?;
    let cells = cells(&points);
    let mut doc = Document {
        title: "ioschain sweep report".to_string(),
        blocks: Vec::new(),
        charts: Vec::new(),
    };
    let shard_counts: Vec<String> = shard_colours(&cells)
        .iter()
        .map(|(s, _)| s.to_string())
        .collect();
    let rates: BTreeSet<u64> = cells.iter().map(|c| c.offered.round() as u64).collect();
    let rates: Vec<String> = rates.iter().map(|r| thousands(*r as f64)).collect();
    doc.blocks.push(Block::Para(vec![
        text("Sweep directory "),
        Inline::Code(dir.display().to_string()),
        text(format!(
            ": {} run{} over shard counts {} × offered rates {} tx/s. Per (shards, offered \
             rate) the medians over its repeats; latencies are final latencies from each \
             transaction's intended send time, over each run's measured window.",
            points.len(),
            if points.len() == 1 { "" } else { "s" },
            shard_counts.join(", "),
            rates.join(", ")
        )),
    ]));
    if cells.is_empty() {
        doc.blocks.push(Block::Para(vec![text(
            "sweep.csv holds no runs: nothing to chart.",
        )]));
        return Ok(doc);
    }

    doc.blocks.push(Block::Heading(2, "Points".into()));
    doc.blocks.push(Block::Table {
        head: [
            "shards",
            "cores",
            "offered tx/s",
            "runs",
            "final tx/s",
            "final p50 ms",
            "final p99 ms",
            "final tx/s per core",
            "valid",
        ]
        .into_iter()
        .map(cell)
        .collect(),
        rows: cells
            .iter()
            .map(|c| {
                vec![
                    cell(c.shards.to_string()),
                    cell(c.cores.to_string()),
                    cell(thousands(c.offered)),
                    cell(c.repeats.to_string()),
                    vec![Inline::Bold(thousands(c.tps_final))],
                    cell(num(c.p50_ms)),
                    cell(num(c.p99_ms)),
                    cell(thousands(c.tps_per_core)),
                    match c.valid {
                        Some(true) => cell("yes"),
                        Some(false) => vec![Inline::Bold("NO".into())],
                        None => cell("—"),
                    },
                ]
            })
            .collect(),
    });

    doc.blocks.push(Block::Heading(2, "Curves".into()));
    let title = "Final latency against achieved throughput";
    if let Some(svg) = latency_curve(title, &cells) {
        let caption = format!(
            "{title}: median final p99 (solid) and p50 (dashed) against median final tx/s, \
             one colour per shard count, a dot per offered rate, in order of offered rate"
        );
        add_chart(&mut doc, out_dir, "sweep-latency.svg".into(), caption, svg)?;
    }
    let title = "Final throughput per core";
    if let Some(svg) = per_core(title, &cells) {
        let caption = format!(
            "{title}: median final tx/s over the worker cores the run used (at most one per \
             shard), against the offered rate, one line per shard count"
        );
        add_chart(&mut doc, out_dir, "sweep-per-core.svg".into(), caption, svg)?;
    }

    let runs = run_dirs(dir)?;
    doc.blocks.push(Block::Heading(2, "Runs".into()));
    doc.blocks.push(Block::Para(vec![
        text(
            "The sweep's tables (the max sustainable rate under the SLO, the scaling at \
             saturation) are in sweep.md. Each point is a run directory; ",
        ),
        Inline::Code("ioschain report DIR --html".into()),
        text(" reports one, and several side by side:"),
    ]));
    if !runs.is_empty() {
        doc.blocks.push(Block::List(
            runs.iter()
                .map(|r| vec![Inline::Code(r.display().to_string())])
                .collect(),
        ));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `ioschain sweep` writes it (harness/src/sweep.rs `CSV_HEADER`), two repeats of
    /// one point.
    const CSV: &str = "\
shards,cores,offered_tps,repeat,tps_final,final_p50_ms,final_p99_ms,provisional_p99_ms,efficiency,valid
1,1,10000,1,9990.5,40.000,60.000,10.000,,true
1,1,20000,1,19980.0,45.000,70.000,11.000,,true
1,1,40000,1,30000.0,900.000,2500.000,300.000,,true
2,2,10000,1,9991.0,38.000,55.000,9.000,0.1,true
2,2,20000,1,19990.0,41.000,62.000,9.500,0.1,true
2,2,20000,2,19970.0,43.000,66.000,9.700,0.1,false
2,2,40000,1,39900.0,50.000,90.000,12.000,0.1,true
";

    fn data_polylines(svg: &str) -> usize {
        svg.split("<polyline")
            .skip(1)
            .filter(|el| {
                let start = el.find("points=\"").map_or(0, |s| s + 8);
                let points = &el[start..start + el[start..].find('"').unwrap_or(0)];
                let mut distinct: Vec<&str> = points.split_whitespace().collect();
                distinct.sort_unstable();
                distinct.dedup();
                distinct.len() >= 3
            })
            .count()
    }

    #[test]
    fn points_are_grouped_with_medians_over_repeats() {
        let cells = cells(&parse_points(CSV).unwrap());
        assert_eq!(cells.len(), 6);
        let two = cells
            .iter()
            .find(|c| c.shards == 2 && c.offered == 20000.0)
            .unwrap();
        assert_eq!(two.repeats, 2);
        assert_eq!(two.tps_final, 19980.0);
        assert_eq!(two.p99_ms, 64.0);
        assert_eq!(two.tps_per_core, 9990.0);
        assert_eq!(two.valid, Some(false), "one invalid repeat");
        assert_eq!(cells[0].shards, 1, "ordered by shards, then rate");
        assert_eq!(cells[2].offered, 40000.0);
    }

    #[test]
    fn sweep_charts_have_one_curve_per_shard_count() {
        let cells = cells(&parse_points(CSV).unwrap());
        let svg = latency_curve("t", &cells).unwrap().unwrap();
        // The solid p99 lines (the dashed p50 lines are drawn as dashes).
        assert_eq!(data_polylines(&svg), 2, "{svg}");
        assert!(svg.contains("1 shard final p99") && svg.contains("2 shards final p50"));
        assert!(svg.contains("achieved final throughput"));
        let svg = per_core("t", &cells).unwrap().unwrap();
        assert_eq!(data_polylines(&svg), 2, "{svg}");
        assert!(svg.contains("final tx/s per core"));
        assert!(latency_curve("t", &[]).is_none() && per_core("t", &[]).is_none());
    }

    #[test]
    fn sweep_csv_is_read_by_name_and_errors_name_the_line() {
        let reordered = "valid,tps_final,shards,something,cores,final_p99_ms,final_p50_ms,offered_tps\n\
                         ,100.5,4,x,2,9.5,3,200\n";
        let points = parse_points(reordered).unwrap();
        assert_eq!(
            points,
            vec![Point {
                shards: 4,
                cores: 2,
                offered: 200.0,
                tps_final: 100.5,
                p50_ms: 3.0,
                p99_ms: 9.5,
                valid: None,
            }]
        );
        let err = parse_points("shards,cores\n").unwrap_err();
        assert!(
            matches!(
                err,
                SweepCsvError::MissingColumn {
                    column: "offered_tps",
                    ..
                }
            ),
            "{err:?}"
        );
        let bad = CSV.replace("9990.5", "fast");
        let err = parse_points(&bad).unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(err.to_string().contains("`tps_final` is \"fast\""), "{err}");
        assert_eq!(parse_points(""), Err(SweepCsvError::Empty));
    }
}
