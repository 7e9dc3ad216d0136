//! The charts of one run, each built from the inputs it needs: `None` when those inputs
//! are missing (an older run directory, an optional column the harness did not write),
//! so the chart is left out without an error; otherwise the SVG (or why plotters could
//! not draw it).
//!
//! - [`throughput`]: offered, submitted, final (and rejected) per second;
//! - [`memory_and_disk`]: resident memory and bytes on disk per second, when
//!   `timeline.csv` has `rss_bytes` and/or `disk_bytes`;
//! - [`final_by_shard`]: each shard's final transactions per second, when `timeline.csv`
//!   has `final_s0`, `final_s1`, …;
//! - [`spectrum`]: the latency percentile spectrum of each stage (measured window);
//! - [`latency_by_second`]: p50 and p99 per second and stage, from `latency.hlog`;
//! - [`role_costs`]: µs per transaction by role, one stacked bar per run, from
//!   `summary.json` `roles`.
//!
//! Per-second charts shade the seconds outside the measured window (warm-up, drain).

use std::collections::BTreeMap;

use plotters::style::RGBColor;

use super::inputs::{Spectrum, StageSeconds};
use super::num;
use super::plot::{
    Axes, Bar, Line, PALETTE, bytes_tick, line_chart, phase_spans, spectrum_chart,
    stacked_bar_chart, tps_tick,
};
use crate::summary::RoleCost;
use crate::timeline::{Row, Timeline};

/// What a builder returns: `None` when there is nothing to draw.
pub(super) type Built = Option<Result<String, String>>;

/// A display name of a stage tag (`cross_shard` → `cross-shard`).
pub(super) fn stage_name(stage: &str) -> String {
    match stage {
        "cross_shard" => "cross-shard".into(),
        other => other.into(),
    }
}

/// The x of a second's value: the middle of the second.
fn at(second: u64) -> f64 {
    second as f64 + 0.5
}

/// The right end of a per-second chart: the end of the last second.
fn seconds_end(rows: &[Row]) -> f64 {
    rows.last().map_or(1.0, |r| r.second as f64 + 1.0)
}

fn line(label: impl Into<String>, color: RGBColor, dashed: bool, points: Vec<(f64, f64)>) -> Line {
    Line {
        label: label.into(),
        color,
        dashed,
        points,
        marks: Vec::new(),
    }
}

/// An optional column of a timeline row.
type OptionalColumn = fn(&Row) -> Option<u64>;

/// Offered, submitted and final per second (and rejected, refused and shed when any),
/// phases shaded.
pub(super) fn throughput(title: &str, timeline: &Timeline) -> Built {
    let rows = &timeline.rows;
    if rows.is_empty() {
        return None;
    }
    let series = |f: fn(&Row) -> u64| rows.iter().map(|r| (at(r.second), f(r) as f64)).collect();
    let mut lines = vec![
        line("submitted", PALETTE[0], false, series(|r| r.submitted)),
        line("final", PALETTE[2], false, series(|r| r.final_)),
    ];
    // Rejected, and under overload the arrivals a full intake refused and what was
    // given up: each only when there are any.
    let optional: [(&str, usize, OptionalColumn); 3] = [
        ("rejected", 3, |r| r.rejected),
        ("refused (overloaded)", 4, |r| r.overloaded),
        ("shed", 5, |r| r.shed),
    ];
    for (name, color, column) in optional {
        if rows.iter().any(|r| column(r).unwrap_or(0) > 0) {
            let points = rows
                .iter()
                .map(|r| (at(r.second), column(r).unwrap_or(0) as f64))
                .collect();
            lines.push(line(name, PALETTE[color], false, points));
        }
    }
    // Last, so that its dashes show over a submitted line that matches it.
    lines.push(line(
        "offered",
        RGBColor(60, 60, 60),
        true,
        series(|r| r.offered),
    ));
    let axes = Axes::seconds("transactions per second", tps_tick);
    Some(line_chart(
        title,
        &axes,
        seconds_end(rows),
        &lines,
        &phase_spans(rows),
    ))
}

/// Resident memory and bytes on disk per second; `None` unless the timeline has
/// `rss_bytes` or `disk_bytes` with at least one value.
pub(super) fn memory_and_disk(title: &str, timeline: &Timeline) -> Built {
    let rows = &timeline.rows;
    let series = |f: fn(&Row) -> Option<u64>| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| f(r).map(|v| (at(r.second), v as f64)))
            .collect()
    };
    let mut lines = Vec::new();
    if timeline.has_rss {
        lines.push(line(
            "resident memory",
            PALETTE[4],
            false,
            series(|r| r.rss_bytes),
        ));
    }
    if timeline.has_disk {
        lines.push(line(
            "block log on disk",
            PALETTE[5],
            false,
            series(|r| r.disk_bytes),
        ));
    }
    lines.retain(|l| !l.points.is_empty());
    if lines.is_empty() {
        return None;
    }
    let axes = Axes::seconds("bytes (1 GB = 10⁹ bytes)", bytes_tick);
    Some(line_chart(
        title,
        &axes,
        seconds_end(rows),
        &lines,
        &phase_spans(rows),
    ))
}

/// Each shard's final transactions per second; `None` without `final_s*` columns.
pub(super) fn final_by_shard(title: &str, timeline: &Timeline) -> Built {
    let rows = &timeline.rows;
    if timeline.shards == 0 || rows.is_empty() {
        return None;
    }
    let lines: Vec<Line> = (0..timeline.shards)
        .map(|shard| {
            let points = rows
                .iter()
                .filter_map(|r| {
                    let n = r.final_by_shard.get(shard).copied().flatten()?;
                    Some((at(r.second), n as f64))
                })
                .collect();
            line(
                format!("shard {shard}"),
                PALETTE[shard % PALETTE.len()],
                false,
                points,
            )
        })
        .collect();
    let axes = Axes::seconds("final transactions per second", tps_tick);
    Some(line_chart(
        title,
        &axes,
        seconds_end(rows),
        &lines,
        &phase_spans(rows),
    ))
}

/// The latency percentile spectra, one line per stage; `None` without spectra.
pub(super) fn spectrum(title: &str, spectra: &[Spectrum]) -> Built {
    if spectra.is_empty() {
        return None;
    }
    let lines: Vec<Line> = spectra
        .iter()
        .enumerate()
        .map(|(i, sp)| Line {
            label: format!(
                "{} ({} values)",
                stage_name(&sp.stage),
                crate::numbers::thousands(sp.count as f64)
            ),
            color: PALETTE[(i + 1) % PALETTE.len()],
            dashed: false,
            points: sp.points.clone(),
            marks: sp.marks.iter().map(|(_, x, y)| (*x, *y)).collect(),
        })
        .collect();
    Some(spectrum_chart(title, &lines))
}

/// p99 (solid) and p50 (dashed) per second, one colour per stage; phases shaded when
/// the timeline is known. `None` without per-second latencies (no readable log).
pub(super) fn latency_by_second(
    title: &str,
    stages: &[StageSeconds],
    timeline: Option<&Timeline>,
) -> Built {
    let stages: Vec<&StageSeconds> = stages.iter().filter(|s| !s.seconds.is_empty()).collect();
    if stages.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let mut lines = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        // The spectrum's colours: stage i is PALETTE[i + 1] there too.
        let color = PALETTE[(i + 1) % PALETTE.len()];
        let name = stage_name(&stage.stage);
        let points = |f: fn(&super::inputs::SecondLatency) -> u64| {
            stage
                .seconds
                .iter()
                .map(|s| (at(s.second), ms(f(s))))
                .collect()
        };
        lines.push(line(
            format!("{name} p99"),
            color,
            false,
            points(|s| s.p99_us),
        ));
        lines.push(line(
            format!("{name} p50"),
            color,
            true,
            points(|s| s.p50_us),
        ));
    }
    let last = stages
        .iter()
        .flat_map(|s| s.seconds.last().map(|l| l.second as f64 + 1.0))
        .fold(1.0f64, f64::max);
    let (x_max, spans) = match timeline {
        Some(t) => (last.max(seconds_end(&t.rows)), phase_spans(&t.rows)),
        None => (last, Vec::new()),
    };
    let axes = Axes::seconds("latency (ms)", num);
    Some(line_chart(title, &axes, x_max, &lines, &spans))
}

/// µs per transaction by role, one stacked bar per `(label, roles)`, roles largest
/// first (by their sum over the bars); `None` when no bar has roles (summaries written
/// before `roles` existed, or a simulation).
pub(super) fn role_costs(title: &str, bars: &[(String, &BTreeMap<String, RoleCost>)]) -> Built {
    let bars: Vec<&(String, &BTreeMap<String, RoleCost>)> =
        bars.iter().filter(|(_, roles)| !roles.is_empty()).collect();
    if bars.is_empty() {
        return None;
    }
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, roles) in &bars {
        for (role, cost) in roles.iter() {
            *totals.entry(role.as_str()).or_default() += cost.us_per_tx;
        }
    }
    let mut order: Vec<(&str, f64)> = totals.into_iter().collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    // With one bar the legend also gives each role's cost and share.
    let names: Vec<String> = order
        .iter()
        .map(|(role, _)| match bars.as_slice() {
            [(_, roles)] => {
                let cost = &roles[*role];
                format!(
                    "{role} {} µs ({:.0} %)",
                    num(cost.us_per_tx),
                    cost.share * 100.0
                )
            }
            _ => role.to_string(),
        })
        .collect();
    let bars: Vec<Bar> = bars
        .iter()
        .map(|(label, roles)| Bar {
            label: label.clone(),
            segments: order
                .iter()
                .enumerate()
                .filter_map(|(k, (role, _))| roles.get(*role).map(|c| (k, c.us_per_tx)))
                .collect(),
        })
        .collect();
    Some(stacked_bar_chart(
        title,
        "µs of worker time per submitted transaction",
        &names,
        &bars,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::inputs::SecondLatency;
    use super::*;
    use crate::timeline::parse;

    /// The header before the per-shard columns, three seconds.
    const OLD: &str = "\
second,phase,offered,submitted,provisional,final,rejected,backpressure,provisional_p50_us,provisional_p99_us,final_p50_us,final_p99_us,final_max_us
0,warmup,1000,1000,950,900,0,0,3000,9000,4000,11000,15000
1,measure,1000,1000,1000,1000,0,0,3000,9000,4000,11000,15000
2,drain,0,0,38,80,0,0,3000,9000,4000,11000,15000
";

    /// Two shards, memory and disk, and a column the report does not read.
    const NEW: &str = "\
second,phase,offered,submitted,final,rejected,queued_clients,rss_bytes,disk_bytes,final_s0,final_s1
0,warmup,1000,1000,900,0,7,100000000,0,450,450
1,measure,1000,1000,1000,0,9,150000000,2000000,480,520
2,measure,1000,1000,1000,0,9,160000000,4000000,520,480
3,drain,0,0,80,0,0,160000000,4100000,40,40
";

    /// The `points` of every `<polyline>` with at least `min` distinct points.
    fn data_lines(svg: &str, min: usize) -> usize {
        svg.split("<polyline")
            .skip(1)
            .filter(|el| {
                let Some(start) = el.find("points=\"") else {
                    return false;
                };
                let rest = &el[start + 8..];
                let points = &rest[..rest.find('"').unwrap_or(0)];
                let mut distinct: Vec<&str> = points.split_whitespace().collect();
                distinct.sort_unstable();
                distinct.dedup();
                distinct.len() >= min
            })
            .count()
    }

    /// Whether one of the SVG's `<text>` elements reads `label` (trimmed).
    fn has_text(svg: &str, label: &str) -> bool {
        svg.split("<text").skip(1).any(|t| {
            let Some(open) = t.find('>') else {
                return false;
            };
            let body = &t[open + 1..];
            body[..body.find("</text>").unwrap_or(0)].trim() == label
        })
    }

    /// Opaque, coloured `<rect>`s with an area: what a bar chart draws as data.
    fn data_rects(svg: &str) -> usize {
        svg.split("<rect")
            .skip(1)
            .filter(|el| {
                let el = &el[..el.find('>').unwrap_or(el.len())];
                let attr = |name: &str| {
                    let start = el.find(&format!(" {name}=\""))? + name.len() + 3;
                    Some(&el[start..start + el[start..].find('"')?])
                };
                let size = |name| {
                    attr(name)
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                let opaque =
                    attr("opacity").is_none_or(|o| o.parse::<f64>().unwrap_or(0.0) >= 0.99);
                opaque
                    && attr("fill").is_some_and(|f| f != "#FFFFFF" && f != "none")
                    && size("width") >= 1.0
                    && size("height") >= 1.0
            })
            .count()
    }

    #[test]
    fn per_shard_chart_has_one_line_per_shard() {
        let svg = final_by_shard("t", &parse(NEW).unwrap()).unwrap().unwrap();
        assert_eq!(data_lines(&svg, 3), 2, "{svg}");
        assert!(has_text(&svg, "shard 0") && has_text(&svg, "shard 1"));
        assert!(svg.contains("final transactions per second"));
    }

    #[test]
    fn an_old_timeline_draws_throughput_but_no_per_shard_or_memory_chart() {
        let old = parse(OLD).unwrap();
        assert!(final_by_shard("t", &old).is_none());
        assert!(memory_and_disk("t", &old).is_none());
        let svg = throughput("t", &old).unwrap().unwrap();
        // Submitted and final; offered is dashed (drawn as dashes), rejected all 0.
        assert_eq!(data_lines(&svg, 3), 2, "{svg}");
        assert!(has_text(&svg, "offered") && !has_text(&svg, "rejected"));
        assert!(throughput("t", &Timeline::default()).is_none());
    }

    #[test]
    fn overload_draws_the_refused_and_the_shed_when_there_are_any() {
        let overloaded = "\
second,phase,offered,submitted,final,rejected,shed,overloaded
0,warmup,4000,4000,1000,0,0,3000
1,measure,4000,4000,1000,0,0,3000
2,drain,0,0,900,0,5000,0
";
        let svg = throughput("t", &parse(overloaded).unwrap())
            .unwrap()
            .unwrap();
        assert!(has_text(&svg, "refused (overloaded)") && has_text(&svg, "shed"));
        // Submitted, final, refused and shed (offered is dashed).
        assert_eq!(data_lines(&svg, 3), 4, "{svg}");
        let svg = throughput("t", &parse(NEW).unwrap()).unwrap().unwrap();
        assert!(!has_text(&svg, "refused") && !has_text(&svg, "shed"));
    }

    #[test]
    fn memory_and_disk_are_drawn_from_their_columns() {
        let svg = memory_and_disk("t", &parse(NEW).unwrap()).unwrap().unwrap();
        assert_eq!(data_lines(&svg, 3), 2, "{svg}");
        assert!(has_text(&svg, "resident memory") && has_text(&svg, "block log on disk"));
        assert!(has_text(&svg, "100 MB"), "bytes ticks: {svg}");

        // Only one of the two columns: one line.
        let rss_only = "second,phase,offered,submitted,final,rss_bytes\n0,warmup,1,1,1,10\n1,measure,1,1,1,20\n2,drain,0,0,0,30\n";
        let svg = memory_and_disk("t", &parse(rss_only).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(data_lines(&svg, 3), 1);
        assert!(!has_text(&svg, "block log on disk"));

        // A column whose fields are all empty: nothing to draw.
        let empty = "second,phase,offered,submitted,final,disk_bytes\n0,warmup,1,1,1,\n";
        assert!(memory_and_disk("t", &parse(empty).unwrap()).is_none());
    }

    #[test]
    fn latency_by_second_draws_p50_and_p99_per_stage() {
        let second = |second, p50_us, p99_us| SecondLatency {
            second,
            p50_us,
            p99_us,
        };
        let stages = vec![
            StageSeconds {
                stage: "provisional".into(),
                seconds: vec![
                    second(0, 1000, 5000),
                    second(1, 1200, 6000),
                    second(2, 900, 4000),
                ],
            },
            StageSeconds {
                stage: "cross_shard".into(),
                seconds: vec![
                    second(0, 9000, 20000),
                    second(1, 9500, 30000),
                    second(2, 8000, 25000),
                ],
            },
        ];
        let timeline = parse(OLD).unwrap();
        let svg = latency_by_second("t", &stages, Some(&timeline))
            .unwrap()
            .unwrap();
        // Solid p99 lines are polylines of every point; dashed p50 lines are drawn as
        // dashes, so count the solid ones.
        assert_eq!(data_lines(&svg, 3), 2, "{svg}");
        for label in [
            "provisional p99",
            "provisional p50",
            "cross-shard p99",
            "cross-shard p50",
        ] {
            assert!(has_text(&svg, label), "{label}: {svg}");
        }
        assert!(has_text(&svg, "warm-up (not measured)"));
        assert!(latency_by_second("t", &[], Some(&timeline)).is_none());
        let empty = [StageSeconds {
            stage: "final".into(),
            seconds: Vec::new(),
        }];
        assert!(latency_by_second("t", &empty, None).is_none());
    }

    #[test]
    fn role_costs_are_stacked_bars_largest_role_first() {
        let cost = |us_per_tx, share| RoleCost { us_per_tx, share };
        let a: BTreeMap<String, RoleCost> = [
            ("ordering".to_string(), cost(15.0, 0.6)),
            ("checking".to_string(), cost(3.0, 0.12)),
            ("atomix".to_string(), cost(7.0, 0.28)),
        ]
        .into();
        let svg = role_costs("t", &[("run-a".into(), &a)]).unwrap().unwrap();
        assert_eq!(data_rects(&svg), 3, "one rect per role: {svg}");
        assert!(has_text(&svg, "ordering 15 µs (60 %)"), "{svg}");
        let ordering = svg.find("ordering 15").unwrap();
        let atomix = svg.find("atomix 7").unwrap();
        let checking = svg.find("checking 3").unwrap();
        assert!(ordering < atomix && atomix < checking, "largest first");
        assert!(has_text(&svg, "25"), "the bar's total: {svg}");

        // Two runs with roles: two bars, plain names in the legend.
        let b: BTreeMap<String, RoleCost> = [("ordering".to_string(), cost(10.0, 1.0))].into();
        let svg = role_costs("t", &[("run-a".into(), &a), ("run-b".into(), &b)])
            .unwrap()
            .unwrap();
        assert_eq!(data_rects(&svg), 4, "{svg}");
        assert!(has_text(&svg, "ordering") && has_text(&svg, "run-b"));

        // A run without roles (an older summary) gets no bar; alone, no chart.
        let none = BTreeMap::new();
        let svg = role_costs("t", &[("run-a".into(), &a), ("old".into(), &none)])
            .unwrap()
            .unwrap();
        assert_eq!(data_rects(&svg), 3);
        assert!(!has_text(&svg, "old"));
        assert!(role_costs("t", &[("old".into(), &none)]).is_none());
    }

    /// The checker's rule on a chart that draws nothing: no data line and no data rect.
    #[test]
    fn a_blank_chart_has_no_data_line_and_no_data_rect() {
        let svg = line_chart(
            "blank",
            &Axes::seconds("transactions per second", tps_tick),
            3.0,
            &[],
            &phase_spans(&parse(OLD).unwrap().rows),
        )
        .unwrap();
        assert_eq!(data_lines(&svg, 3), 0, "{svg}");
        assert_eq!(data_rects(&svg), 0, "shaded spans are not data: {svg}");
        let bars = stacked_bar_chart("blank", "µs", &["a".into(), "b".into()], &[]).unwrap();
        assert_eq!(data_rects(&bars), 0, "legend samples are not data: {bars}");
    }
}
