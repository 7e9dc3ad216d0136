//! Drawing, with plotters' SVG backend (text is emitted as `<text>`, no font files
//! needed). Three kinds of chart, whatever they show:
//!
//! - [`line_chart`]: lines on linear axes with the legend in a column on the right, and
//!   optionally shaded spans (the unmeasured phases of a run, see [`phase_spans`]);
//! - [`spectrum_chart`]: latency against percentile, on a log-scaled `1/(1-q)` axis;
//! - [`stacked_bar_chart`]: horizontal bars, one per category, stacked by segment.
//!
//! What goes into them is chosen in [`super::charts`] and [`super::sweep`]. Data is
//! drawn as `<polyline>` (lines) and opaque `<rect>` (bars); everything else that is a
//! `<rect>` (the background, shaded spans, legend samples) is white or translucent, and
//! legend samples of lines have two points, so `scripts/check-report.sh` can tell a
//! chart with data from a blank one.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::num;
use crate::timeline::Row as TimelineRow;

/// Tableau 10.
pub(super) const PALETTE: [RGBColor; 10] = [
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
pub(super) struct Line {
    pub(super) label: String,
    pub(super) color: RGBColor,
    pub(super) dashed: bool,
    pub(super) points: Vec<(f64, f64)>,
    pub(super) marks: Vec<(f64, f64)>,
}

/// The axes of a [`line_chart`]: descriptions and tick texts.
#[derive(Clone, Copy, Debug)]
pub(super) struct Axes<'a> {
    pub(super) x_desc: &'a str,
    pub(super) x_tick: fn(f64) -> String,
    pub(super) y_desc: &'a str,
    pub(super) y_tick: fn(f64) -> String,
}

impl Axes<'_> {
    /// Seconds since the run's start on x.
    pub(super) fn seconds<'a>(y_desc: &'a str, y_tick: fn(f64) -> String) -> Axes<'a> {
        Axes {
            x_desc: "seconds since start",
            x_tick: num,
            y_desc,
            y_tick,
        }
    }
}

/// A shaded span of x: `(phase, from, to)`.
pub(super) type Span = (String, f64, f64);

/// A bar of a [`stacked_bar_chart`]: its label and `(segment, value)` from the axis out.
#[derive(Clone, Debug)]
pub(super) struct Bar {
    pub(super) label: String,
    pub(super) segments: Vec<(usize, f64)>,
}

pub(super) const CHART_SIZE: (u32, u32) = (960, 480);
/// Timelines keep their legend in a column on the right, clear of the data.
pub(super) const TIMELINE_SIZE: (u32, u32) = (1040, 480);
pub(super) const LEGEND_WIDTH: u32 = 260;
/// A row of the side legend, px.
const LEGEND_ROW: u32 = 22;
/// A bar of a stacked bar chart, px (its row is this plus a gap).
const BAR_HEIGHT: u32 = 36;
/// The gap between bars, px.
const BAR_GAP: u32 = 20;

/// A legend entry's sample.
#[derive(Clone, Copy, Debug)]
pub(super) enum LegendMark {
    Solid(RGBColor),
    Dashed(RGBColor),
    Shade(RGBColor),
    /// A bar segment: a thick two-point line, so that it is not counted as data.
    Bar(RGBColor),
}

/// Draws a legend as a column of entries at the top of `area`.
pub(super) fn draw_side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    entries: &[(String, LegendMark)],
) -> Result<(), String> {
    let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, mark)) in entries.iter().enumerate() {
        let y = 40 + LEGEND_ROW as i32 * i as i32;
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
            LegendMark::Bar(c) => area
                .draw(&PathElement::new(vec![(8, y), (32, y)], c.stroke_width(12)))
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

pub(super) const FONT: &str = "sans-serif";

pub(super) fn plot_err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Axis tick text for transactions per second.
pub(super) fn tps_tick(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{}M", num(v / 1e6))
    } else if v.abs() >= 1e3 {
        format!("{}k", num(v / 1e3))
    } else {
        num(v)
    }
}

/// Axis tick text for `x = 1/(1-q)`: the percentile q.
pub(super) fn percentile_tick(x: f64) -> String {
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

/// Axis tick text for bytes (decimal units: 1 GB = 10⁹ bytes).
pub(super) fn bytes_tick(v: f64) -> String {
    match v.abs() {
        a if a >= 1e12 => format!("{} TB", num(v / 1e12)),
        a if a >= 1e9 => format!("{} GB", num(v / 1e9)),
        a if a >= 1e6 => format!("{} MB", num(v / 1e6)),
        a if a >= 1e3 => format!("{} kB", num(v / 1e3)),
        _ => format!("{} B", num(v)),
    }
}

/// The top of an axis that starts at 0 and must show `max` with some room.
pub(super) fn y_top(max: f64) -> f64 {
    if max > 0.0 { max * 1.15 } else { 1.0 }
}

pub(super) fn draw_lines<DB, X>(
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
pub(super) fn spectrum_chart(caption: &str, lines: &[Line]) -> Result<String, String> {
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

/// The contiguous spans of each phase outside the measured window, one second a row.
pub(super) fn phase_spans(rows: &[TimelineRow]) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for r in rows {
        let (x0, x1) = (r.second as f64, r.second as f64 + 1.0);
        match spans.last_mut() {
            Some((phase, _, end)) if *phase == r.phase && (*end - x0).abs() < 1e-9 => *end = x1,
            _ => spans.push((r.phase.clone(), x0, x1)),
        }
    }
    spans.retain(|(phase, _, _)| phase != "measure");
    spans
}

/// Lines on linear axes from 0 (x up to `x_max`), `spans` shaded, the legend in a
/// column on the right.
pub(super) fn line_chart(
    caption: &str,
    axes: &Axes,
    x_max: f64,
    lines: &[Line],
    spans: &[Span],
) -> Result<String, String> {
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
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
            .x_label_formatter(&|x| (axes.x_tick)(*x))
            .y_label_formatter(&|y| (axes.y_tick)(*y))
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
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

/// Horizontal bars, one per entry of `bars` (top to bottom), each stacked from the axis
/// out by its segments, coloured by segment index; its total is written at its end.
/// `names` labels the segments in the legend on the right.
pub(super) fn stacked_bar_chart(
    caption: &str,
    x_desc: &str,
    names: &[String],
    bars: &[Bar],
) -> Result<String, String> {
    let total = |b: &Bar| b.segments.iter().map(|(_, v)| v.max(0.0)).sum::<f64>();
    let x_max = y_top(bars.iter().map(total).fold(0.0f64, f64::max));
    let n = bars.len().max(1) as u32;
    // Room for the bars, and for the legend column.
    let height = (130 + n * (BAR_HEIGHT + BAR_GAP)).max(60 + LEGEND_ROW * names.len() as u32);
    let size = (TIMELINE_SIZE.0, height);
    // Rows of BAR_HEIGHT + BAR_GAP px (more than the bars when the legend is taller);
    // bar i spans y in [top - 1 + inset, top - inset] with top = rows - i: first on top.
    let rows = n.max((height - 130) / (BAR_HEIGHT + BAR_GAP));
    let inset = f64::from(BAR_GAP) / 2.0 / f64::from(BAR_HEIGHT + BAR_GAP);
    let label_style =
        TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    let value_style =
        TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(caption, (FONT, 20)).map_err(plot_err)?;
        let (plot, side) = root.split_horizontally(size.0 - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0f64..x_max, 0.0f64..f64::from(rows))
            .map_err(plot_err)?;
        // The bars are labelled at their middles below; y has no ticks of its own.
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_label_formatter(&|x| num(*x))
            .x_desc(x_desc)
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        for (i, bar) in bars.iter().enumerate() {
            let top = f64::from(rows) - i as f64;
            let (y0, y1, middle) = (top - 1.0 + inset, top - inset, top - 0.5);
            let mut x0 = 0.0;
            for &(segment, value) in &bar.segments {
                if value <= 0.0 {
                    continue;
                }
                let color = PALETTE[segment % PALETTE.len()];
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, y0), (x0 + value, y1)],
                        color.filled(),
                    )))
                    .map_err(plot_err)?;
                x0 += value;
            }
            let label: String = if bar.label.chars().count() > 18 {
                bar.label
                    .chars()
                    .take(17)
                    .chain(std::iter::once('…'))
                    .collect()
            } else {
                bar.label.clone()
            };
            chart
                .draw_series([
                    EmptyElement::at((0.0, middle))
                        + Text::new(label, (-8, 0), label_style.clone()),
                    EmptyElement::at((x0, middle))
                        + Text::new(num(x0), (6, 0), value_style.clone()),
                ])
                .map_err(plot_err)?;
        }
        let legend: Vec<(String, LegendMark)> = names
            .iter()
            .enumerate()
            .map(|(k, name)| (name.clone(), LegendMark::Bar(PALETTE[k % PALETTE.len()])))
            .collect();
        draw_side_legend(&side, &legend)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
