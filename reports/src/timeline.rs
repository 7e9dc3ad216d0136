//! `timeline.csv`: one row per second of a run (DESIGN.md §5), its column names and its
//! reader. The writer is `harness/src/output.rs` (`write_timeline`), which names its
//! columns with the constants here; `ioschain report` reads the file with [`parse`].
//!
//! Columns are found **by name**, so that columns can be added at the end of the header
//! without breaking older readers, and older files without breaking this one:
//!
//! - required: `second`, `phase` (`warmup`, `measure` or `drain`), `offered`,
//!   `submitted`, `final` (intra-shard final plus cross-shard commits, like `tps.final`);
//! - optional: `rejected`; `overloaded` (arrivals refused at a full intake that second)
//!   and `shed` (transactions given up that second); `final_s0`, `final_s1`, … (one per shard, numbered from 0
//!   without gaps: what that shard finalized in the second; they sum to `final`);
//!   `rss_bytes` and `disk_bytes` (the process's resident memory and the block log's
//!   bytes on disk at the end of the second; empty for a second that was not sampled). An optional column that is absent is `None` or empty below, and so is an
//!   optional field left empty in a row;
//! - every other column (the per-second latency percentiles, which the report takes
//!   from `latency.hlog`, and columns added later) is ignored.

/// The column of the second since the run's start.
pub const SECOND: &str = "second";
/// The column of the run's phase in that second.
pub const PHASE: &str = "phase";
/// Transactions due by the schedule.
pub const OFFERED: &str = "offered";
/// Transactions submitted.
pub const SUBMITTED: &str = "submitted";
/// Transactions final (intra-shard final plus cross-shard commits).
pub const FINAL: &str = "final";
/// Transactions rejected.
pub const REJECTED: &str = "rejected";
/// Arrivals refused at a full intake.
pub const OVERLOADED: &str = "overloaded";
/// Transactions shed (given up).
pub const SHED: &str = "shed";
/// The prefix of the per-shard final columns: `final_s0`, `final_s1`, …
pub const FINAL_SHARD_PREFIX: &str = "final_s";
/// Resident memory of the process at the end of the second, bytes.
pub const RSS_BYTES: &str = "rss_bytes";
/// Bytes of the run's block log on disk at the end of the second.
pub const DISK_BYTES: &str = "disk_bytes";

/// The column of what `shard` finalized per second: `final_s{shard}`.
pub fn final_shard_column(shard: usize) -> String {
    format!("{FINAL_SHARD_PREFIX}{shard}")
}

/// One second of the timeline: the columns the report reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Seconds since the run's start.
    pub second: u64,
    /// `warmup`, `measure` or `drain`.
    pub phase: String,
    /// Due by the schedule.
    pub offered: u64,
    /// Submitted.
    pub submitted: u64,
    /// Final (intra-shard and cross-shard).
    pub final_: u64,
    /// Rejected (`None`: no `rejected` column, or an empty field).
    pub rejected: Option<u64>,
    /// Refused at a full intake (`None`: no such column).
    pub overloaded: Option<u64>,
    /// Shed (`None`: no such column).
    pub shed: Option<u64>,
    /// Final per shard, indexed by shard (empty without `final_s*` columns).
    pub final_by_shard: Vec<Option<u64>>,
    /// Resident memory, bytes.
    pub rss_bytes: Option<u64>,
    /// Bytes on disk.
    pub disk_bytes: Option<u64>,
}

/// The rows of a `timeline.csv`, sorted by second, and which optional columns it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// One row per second.
    pub rows: Vec<Row>,
    /// The number of `final_s*` columns (0: the file predates them).
    pub shards: usize,
    /// Whether the header has `rss_bytes`.
    pub has_rss: bool,
    /// Whether the header has `disk_bytes`.
    pub has_disk: bool,
}

/// Why a `timeline.csv` could not be read; each variant names its 1-based line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimelineError {
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
    /// The per-shard columns are not `final_s0` … `final_s{n-1}`.
    #[error("per-shard columns are not final_s0 … final_s{{n-1}}: found {found:?}")]
    ShardColumns {
        /// The per-shard columns found, in header order.
        found: Vec<String>,
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
    /// A field is not a non-negative integer.
    #[error("`{column}` is {value:?}, expected a non-negative integer")]
    NotANumber {
        /// 1-based line.
        line: usize,
        /// The column.
        column: String,
        /// The field.
        value: String,
    },
}

impl TimelineError {
    /// The 1-based line of the problem (1 for the header).
    pub fn line(&self) -> usize {
        match self {
            TimelineError::Empty
            | TimelineError::MissingColumn { .. }
            | TimelineError::ShardColumns { .. } => 1,
            TimelineError::FieldCount { line, .. } | TimelineError::NotANumber { line, .. } => {
                *line
            }
        }
    }
}

/// Reads the text of a `timeline.csv` (blank lines are skipped).
pub fn parse(text: &str) -> Result<Timeline, TimelineError> {
    let table = crate::csv::Table::parse(text).ok_or(TimelineError::Empty)?;
    let find = |name: &str| table.find(name);
    let required = |column: &'static str| {
        find(column).ok_or_else(|| TimelineError::MissingColumn {
            column,
            header: table.header.to_string(),
        })
    };
    let (c_second, c_phase, c_offered, c_submitted, c_final) = (
        required(SECOND)?,
        required(PHASE)?,
        required(OFFERED)?,
        required(SUBMITTED)?,
        required(FINAL)?,
    );
    let (c_rejected, c_rss, c_disk) = (find(REJECTED), find(RSS_BYTES), find(DISK_BYTES));
    let (c_overloaded, c_shed) = (find(OVERLOADED), find(SHED));
    let c_shards = shard_columns(&table.columns)?;

    let mut rows = Vec::new();
    for row in table.rows() {
        let (line_no, fields) =
            row.map_err(|(line, found, expected)| TimelineError::FieldCount {
                line,
                found,
                expected,
            })?;
        let number = |c: usize| {
            fields[c]
                .parse::<u64>()
                .map_err(|_| TimelineError::NotANumber {
                    line: line_no,
                    column: table.columns[c].to_string(),
                    value: fields[c].to_string(),
                })
        };
        let optional = |c: Option<usize>| match c {
            Some(c) if !fields[c].is_empty() => number(c).map(Some),
            _ => Ok(None),
        };
        rows.push(Row {
            second: number(c_second)?,
            phase: fields[c_phase].to_string(),
            offered: number(c_offered)?,
            submitted: number(c_submitted)?,
            final_: number(c_final)?,
            rejected: optional(c_rejected)?,
            overloaded: optional(c_overloaded)?,
            shed: optional(c_shed)?,
            final_by_shard: c_shards
                .iter()
                .map(|&c| optional(Some(c)))
                .collect::<Result<_, _>>()?,
            rss_bytes: optional(c_rss)?,
            disk_bytes: optional(c_disk)?,
        });
    }
    rows.sort_by_key(|r| r.second);
    Ok(Timeline {
        rows,
        shards: c_shards.len(),
        has_rss: c_rss.is_some(),
        has_disk: c_disk.is_some(),
    })
}

/// The shard of a per-shard column name: `final_s12` → 12. A name that is `final_s`
/// followed by anything but digits is not a per-shard column.
fn shard_of(column: &str) -> Option<usize> {
    let digits = column.strip_prefix(FINAL_SHARD_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The indices of `final_s0` … `final_s{n-1}` in `columns`, in shard order.
fn shard_columns(columns: &[&str]) -> Result<Vec<usize>, TimelineError> {
    let mut found: Vec<(usize, usize)> = columns
        .iter()
        .enumerate()
        .filter_map(|(c, name)| shard_of(name).map(|shard| (shard, c)))
        .collect();
    found.sort_unstable();
    if found.iter().enumerate().any(|(i, (shard, _))| i != *shard) {
        return Err(TimelineError::ShardColumns {
            found: columns
                .iter()
                .filter(|c| shard_of(c).is_some())
                .map(|c| c.to_string())
                .collect(),
        });
    }
    Ok(found.into_iter().map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header `ioschain run` wrote before the per-shard columns.
    const OLD: &str = "\
second,phase,offered,submitted,provisional,final,rejected,backpressure,provisional_p50_us,provisional_p99_us,final_p50_us,final_p99_us,final_max_us,cross_shard,cross_shard_p99_us
1,measure,1000,1000,990,980,0,0,3000,9000,4000,11000,15000,10,20000
0,warmup,1000,1000,950,900,0,0,3000,9000,4000,11000,15000,5,20000
";

    #[test]
    fn an_old_timeline_reads_without_the_optional_columns() {
        let t = parse(OLD).unwrap();
        assert_eq!((t.shards, t.has_rss, t.has_disk), (0, false, false));
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].second, 0, "sorted by second");
        assert_eq!(t.rows[1].final_, 980);
        assert_eq!(t.rows[1].rejected, Some(0));
        assert!(t.rows[1].final_by_shard.is_empty());
        assert_eq!(t.rows[1].rss_bytes, None);
    }

    #[test]
    fn columns_are_read_by_name_and_unknown_ones_ignored() {
        let text = "\
final_s1,queue_s0,phase,second,final,disk_bytes,offered,submitted,final_s0,rss_bytes,something_new
30,7,measure,4,100,5000,100,100,70,,x
";
        let t = parse(text).unwrap();
        assert_eq!((t.shards, t.has_rss, t.has_disk), (2, true, true));
        let row = &t.rows[0];
        assert_eq!((row.second, row.final_, row.offered), (4, 100, 100));
        assert_eq!(row.final_by_shard, vec![Some(70), Some(30)]);
        assert_eq!(row.rss_bytes, None, "an empty optional field is unknown");
        assert_eq!(row.disk_bytes, Some(5000));
        assert_eq!(row.rejected, None);
    }

    #[test]
    fn malformed_timelines_name_the_line_and_the_problem() {
        assert_eq!(parse("\n\n"), Err(TimelineError::Empty));
        let err = parse("second,phase,offered,submitted\n").unwrap_err();
        assert!(
            matches!(
                err,
                TimelineError::MissingColumn {
                    column: "final",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = parse("second,phase,offered,submitted,final\n0,warmup,1,1\n").unwrap_err();
        assert_eq!(err.line(), 2);
        assert_eq!(err.to_string(), "4 fields where the header has 5");
        let err = parse("second,phase,offered,submitted,final\n\n0,warmup,1,1,-3\n").unwrap_err();
        assert_eq!(err.line(), 3);
        assert!(err.to_string().contains("`final` is \"-3\""), "{err}");
        let err = parse("second,phase,offered,submitted,final,final_s0,final_s2\n").unwrap_err();
        assert!(matches!(err, TimelineError::ShardColumns { .. }), "{err:?}");
        // `final_sum` is not a per-shard column: ignored like any unknown column.
        let t =
            parse("second,phase,offered,submitted,final,final_sum\n0,warmup,1,1,1,1\n").unwrap();
        assert_eq!(t.shards, 0);
    }
}
