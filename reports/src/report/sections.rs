//! The report's content: the document of one or more runs, and each run's section
//! (configuration, throughput, latency, counts, cost by role, timeline, validity), with
//! the charts of `charts.rs` placed in it.

use std::fmt::Write as _;
use std::path::Path;

use super::charts::{self, stage_name};
use super::comparison::comparison_section;
use super::document::{Block, Cell, Document, Inline, add_chart, cell, text};
use super::inputs::{Run, STAGES, Summary, stage_percentiles};
use super::{ReportError, ms, num};
use crate::numbers::thousands;
use crate::timeline::Timeline;

/// The named percentiles drawn as dots on a spectrum.
pub(super) const MARKED: &str = "p50, p90, p99, p99.9, p99.99 (when logged) and max";

pub(super) fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) fn build_document(runs: &[Run], out_dir: &Path) -> Result<Document, ReportError> {
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

pub(super) fn config_str<'a>(
    v: &'a serde_json::Value,
    path: &[&str],
) -> Option<&'a serde_json::Value> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

pub(super) fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

pub(super) fn config_line(s: &Summary) -> String {
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

pub(super) fn machine_line(s: &Summary) -> Option<String> {
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

pub(super) fn validity_inline(s: &Summary) -> Vec<Inline> {
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

pub(super) fn valid_word(s: &Summary) -> &'static str {
    match Some(&s.validity).filter(|v| !v.checks.is_empty()) {
        Some(v) if v.valid => "VALID",
        Some(_) => "INVALID",
        None => "unknown",
    }
}

pub(super) fn opt_tps(v: impl Into<Option<f64>>) -> String {
    v.into().map(thousands).unwrap_or_else(|| "—".into())
}

pub(super) fn opt_count(v: impl Into<Option<u64>>) -> String {
    v.into()
        .map(|n| thousands(n as f64))
        .unwrap_or_else(|| "—".into())
}

pub(super) fn efficiency_text(s: &Summary) -> String {
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

pub(super) fn rejected_total(s: &Summary) -> u64 {
    s.counts.rejected.values().sum()
}

pub(super) fn run_section(
    doc: &mut Document,
    n: usize,
    run: &Run,
    out_dir: &Path,
) -> Result<(), ReportError> {
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
    let title = format!("Latency percentile spectrum, run {n} ({})", run.label);
    if let Some(svg) = charts::spectrum(&title, &run.spectra) {
        let caption = format!("{title}, one line per stage; dots mark {MARKED}");
        add_chart(doc, out_dir, format!("latency-{n}.svg"), caption, svg)?;
    }
    let title = format!("Latency per second, run {n} ({})", run.label);
    if let Some(svg) =
        charts::latency_by_second(&title, &run.latency_by_second, run.timeline.as_ref())
    {
        let caption = format!(
            "{title}: p99 (solid) and p50 (dashed) of each second's transactions, one \
             colour per stage, from the interval histograms of latency.hlog; shaded \
             seconds are outside the measured window"
        );
        add_chart(
            doc,
            out_dir,
            format!("latency-seconds-{n}.svg"),
            caption,
            svg,
        )?;
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

    role_costs_section(doc, n, run, out_dir)?;

    // Timeline.
    doc.blocks.push(Block::Heading(3, "Timeline".into()));
    match &run.timeline {
        Some(timeline) if !timeline.rows.is_empty() => {
            timeline_charts(doc, n, run, timeline, out_dir)?;
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

/// The throughput chart, memory and disk under it (when recorded), then final
/// throughput per shard (when recorded).
fn timeline_charts(
    doc: &mut Document,
    n: usize,
    run: &Run,
    timeline: &Timeline,
    out_dir: &Path,
) -> Result<(), ReportError> {
    let label = &run.label;
    let title = format!("Throughput per second, run {n} ({label})");
    if let Some(svg) = charts::throughput(&title, timeline) {
        let caption = format!(
            "Transactions per second, run {n} ({label}): offered vs submitted vs final; \
             shaded seconds are outside the measured window"
        );
        add_chart(doc, out_dir, format!("timeline-{n}.svg"), caption, svg)?;
    }
    let title = format!("Memory and disk per second, run {n} ({label})");
    if let Some(svg) = charts::memory_and_disk(&title, timeline) {
        let caption = format!(
            "{title}: resident memory of the process and the block log's bytes on disk at \
             the end of each second (timeline.csv rss_bytes, disk_bytes)"
        );
        add_chart(doc, out_dir, format!("memory-{n}.svg"), caption, svg)?;
    }
    let title = format!("Final throughput per shard, run {n} ({label})");
    match charts::final_by_shard(&title, timeline) {
        Some(svg) => {
            let caption = format!(
                "{title}: transactions each shard finalized per second (timeline.csv \
                 final_s0, final_s1, …; cross-shard commits count at the shard that \
                 committed them)"
            );
            add_chart(doc, out_dir, format!("shards-{n}.svg"), caption, svg)?;
        }
        None => doc.blocks.push(Block::Para(vec![text(
            "timeline.csv has no per-shard columns (final_s0, final_s1, …; written before \
             they existed): no per-shard chart.",
        )])),
    }
    Ok(())
}

/// Worker time per submitted transaction by role (`summary.json` `roles`), as a table
/// and a stacked bar; nothing for summaries without roles.
fn role_costs_section(
    doc: &mut Document,
    n: usize,
    run: &Run,
    out_dir: &Path,
) -> Result<(), ReportError> {
    let roles = &run.summary.roles;
    let title = format!("Cost by role, run {n} ({})", run.label);
    let Some(svg) = charts::role_costs(&title, &[(run.label.clone(), roles)]) else {
        return Ok(());
    };
    doc.blocks.push(Block::Heading(3, "Cost by role".into()));
    let mut by_cost: Vec<(&String, &crate::summary::RoleCost)> = roles.iter().collect();
    by_cost.sort_by(|a, b| b.1.us_per_tx.total_cmp(&a.1.us_per_tx));
    let total: f64 = by_cost.iter().map(|(_, c)| c.us_per_tx).sum();
    let mut rows: Vec<Vec<Cell>> = by_cost
        .iter()
        .map(|(role, c)| {
            vec![
                cell(role.as_str()),
                cell(num(c.us_per_tx)),
                cell(format!("{:.1} %", c.share * 100.0)),
            ]
        })
        .collect();
    rows.push(vec![
        vec![Inline::Bold("total".into())],
        vec![Inline::Bold(num(total))],
        cell("100 %"),
    ]);
    doc.blocks.push(Block::Table {
        head: vec![cell("role"), cell("µs per tx"), cell("share of busy time")],
        rows,
    });
    let caption = format!(
        "{title}: µs of worker time per submitted transaction, summed over shards, \
         stacked by role, largest first (summary.json roles)"
    );
    add_chart(doc, out_dir, format!("roles-{n}.svg"), caption, svg)
}
