//! The comparison of several runs: a side-by-side table, overlaid throughput timelines,
//! overlaid latency spectra per stage, and the costs by role side by side.

use std::collections::BTreeMap;
use std::path::Path;

use super::charts::{self, stage_name};
use super::document::{Block, Document, Inline, add_chart, cell};
use super::inputs::{Run, stage_percentiles};
use super::plot::{Axes, Line, PALETTE, line_chart, spectrum_chart, tps_tick};
use super::sections::{
    MARKED, capitalized, config_str, opt_tps, rejected_total, valid_word, value_text,
};
use super::{ReportError, ms};
use crate::numbers::thousands;
use crate::summary::{Percentiles, RoleCost};

pub(super) fn comparison_section(
    doc: &mut Document,
    runs: &[Run],
    out_dir: &Path,
) -> Result<(), ReportError> {
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
        .filter_map(|(i, r)| r.timeline.as_ref().map(|t| (i, r, &t.rows)))
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
        let x_max = lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0 + 0.5))
            .fold(1.0f64, f64::max);
        let axes = Axes::seconds("transactions per second", tps_tick);
        let svg = line_chart("Throughput per second, all runs", &axes, x_max, &lines, &[]);
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

    // Costs by role, one bar per run.
    let bars: Vec<(String, &BTreeMap<String, RoleCost>)> = runs
        .iter()
        .map(|r| (r.label.clone(), &r.summary.roles))
        .collect();
    if let Some(svg) = charts::role_costs("Cost by role, all runs", &bars) {
        let caption = "µs of worker time per submitted transaction by role, one bar per run \
                       (runs whose summary has no roles are left out)"
            .to_string();
        add_chart(doc, out_dir, "compare-roles.svg".into(), caption, svg)?;
    }
    Ok(())
}
