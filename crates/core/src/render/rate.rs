//! Requests over time: the rate chart of a user or session, and the sparkline in table rows.
//!
//! Counts are drawn as a stepped area (one polygon whose outline follows the buckets) rather than
//! one bar per bucket: it reads like a bar chart, but a day of minute buckets costs a few
//! kilobytes instead of thousands of `<rect>`s. Refused requests are part of the counts and are
//! drawn as a second area from the axis up, so the stack's top is always the total. Series longer
//! than [`MAX_BUCKETS`] are summed into wider buckets first: a screen cannot show more anyway.

use std::iter;

use chrono::{DateTime, Datelike, Utc};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::text::{self, MAX_TITLE_CHARS};
use super::theme::{self, Palette};
use super::{
    COMPACT_TITLE_PX, LABEL_PX, MarkerKind, RateSeries, RenderError, Size, TITLE_PX, Theme, bold,
    drawing_error, font, is_compact,
};
use crate::detect::Severity;

/// Most buckets drawn; longer series are summed down to at most this many.
pub const MAX_BUCKETS: usize = 600;
/// The smallest rate chart: room for the axes and the data. Below 400×200 charts are compact
/// (no legend, axis titles or marker labels).
pub const MIN_RATE_SIZE: Size = Size::new(240, 150);
/// Markers are the only lines of this width, which keeps them countable in tests.
const MARKER_STROKE: u32 = 2;

const PAD: i32 = 8;
const LEGEND_ROW: i32 = 16;
const X_LABEL_AREA: i32 = 36;
/// Without the axis title, only the tick labels need room.
const COMPACT_X_LABEL_AREA: i32 = 20;
const Y_LABEL_AREA: i32 = 48;
/// Room for half of the last time label, which is centred on the right edge.
const RIGHT_MARGIN: i32 = 30;
/// Marker labels are staggered over this many rows so neighbours do not overprint each other.
const MARKER_LABEL_ROWS: usize = 3;
const MARKER_LABEL_CHARS: usize = 32;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Point = (f64, f64);

/// Draws `series` as an SVG rate chart: time (UTC) across, requests per bucket up.
///
/// An empty or all-zero series is not an error: it gives a chart that says there was no activity.
/// Markers outside the series' time window are not drawn.
pub fn rate_chart_svg(series: &RateSeries, size: Size, theme: Theme) -> Result<String, RenderError> {
    size.check(MIN_RATE_SIZE)?;
    let buckets = Buckets::new(series)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        draw_rate_chart(&root, series, &buckets, size, theme::palette(theme))?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

/// A tiny chart of `counts` for a table row: no axes, no text, transparent background.
///
/// Never fails: sizes are clamped to what can be drawn, and an empty series is a flat line.
pub fn sparkline_svg(counts: &[u32], size: Size, theme: Theme) -> String {
    let size = Size::new(
        size.width.clamp(16, super::MAX_SIDE),
        size.height.clamp(8, super::MAX_SIDE),
    );
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        draw_sparkline(&root, counts, size, theme::palette(theme))
            .and_then(|()| root.present().map_err(drawing_error))
    };
    match drawn {
        Ok(()) => svg,
        Err(e) => {
            tracing::warn!(error = %e, "sparkline not drawn");
            format!(
                "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\">\n</svg>\n",
                w = size.width,
                h = size.height
            )
        }
    }
}

/// The series validated, clamped and summed down to at most [`MAX_BUCKETS`], in chart units
/// (x in unix ms, y in requests).
struct Buckets {
    /// `counts.len() + 1` bucket boundaries; the last bucket may be shorter after summing.
    edges: Vec<f64>,
    counts: Vec<f64>,
    /// Empty when the series has no refused counts.
    denied: Vec<f64>,
    band: Option<(Vec<f64>, Vec<f64>)>,
    start_ms: i64,
    end_ms: i64,
    /// The width of a drawn bucket: the series' own, times the number summed into one.
    width_ms: i64,
}

impl Buckets {
    fn new(series: &RateSeries) -> Result<Buckets, RenderError> {
        let n = series.counts.len();
        if series.bucket_ms <= 0 {
            return Err(RenderError::BucketWidth(series.bucket_ms));
        }
        if !series.denied.is_empty() && series.denied.len() != n {
            return Err(RenderError::LengthMismatch {
                what: "denied",
                expected: n,
                actual: series.denied.len(),
            });
        }
        if let Some(band) = &series.baseline {
            for (what, values) in [("baseline.low", &band.low), ("baseline.high", &band.high)] {
                if values.len() != n {
                    return Err(RenderError::LengthMismatch {
                        what,
                        expected: n,
                        actual: values.len(),
                    });
                }
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(RenderError::NotFinite { what });
                }
            }
        }
        let start_ms = series.start_ms;
        let end_ms = time_at(series, n.max(1))?;

        let factor = summing_factor(n, series.bucket_ms);
        let groups = n.div_ceil(factor);
        let edges = (0..=groups.max(1))
            .map(|g| time_at(series, (g * factor).min(n.max(1))).map(|t| t as f64))
            .collect::<Result<Vec<_>, _>>()?;
        // Refused requests are part of the total; more refused than total is bad input, clamped.
        let denied: Vec<u32> = series
            .denied
            .iter()
            .zip(&series.counts)
            .map(|(d, c)| *d.min(c))
            .collect();
        let band = series.baseline.as_ref().map(|b| {
            // A band given upside down is still a band.
            let low: Vec<f64> = b
                .low
                .iter()
                .zip(&b.high)
                .map(|(l, h)| l.min(*h).max(0.0))
                .collect();
            let high: Vec<f64> = b
                .low
                .iter()
                .zip(&b.high)
                .map(|(l, h)| l.max(*h).max(0.0))
                .collect();
            // Summing the per-bucket bounds keeps the band as wide as its parts: conservative.
            (sum_groups(&low, factor), sum_groups(&high, factor))
        });
        Ok(Buckets {
            edges,
            counts: sum_groups(&series.counts, factor),
            denied: sum_groups(&denied, factor),
            band,
            start_ms,
            end_ms,
            width_ms: series.bucket_ms.saturating_mul(factor as i64),
        })
    }

    fn total(&self) -> f64 {
        self.counts.iter().sum()
    }

    /// The highest value drawn, so nothing is cut off at the top.
    fn max_value(&self) -> f64 {
        let band_high = self
            .band
            .as_ref()
            .map(|(_, high)| high.as_slice())
            .unwrap_or_default();
        self.counts.iter().chain(band_high).copied().fold(0.0, f64::max)
    }
}

/// How many buckets to sum into one so at most [`MAX_BUCKETS`] are drawn. The summed width is a
/// round duration when one is near (2 h rather than 72 min), so the axis reads naturally.
fn summing_factor(buckets: usize, bucket_ms: i64) -> usize {
    let least = buckets.div_ceil(MAX_BUCKETS).max(1);
    if least == 1 {
        return 1;
    }
    let round = TIME_STEPS.iter().filter_map(|width| {
        let factor = usize::try_from(width / bucket_ms).ok()?;
        (width % bucket_ms == 0 && factor >= least).then_some(factor)
    });
    // Up to twice the buckets strictly needed; beyond that, fewer but odd buckets are better.
    round.min().filter(|f| *f <= 2 * least).unwrap_or(least)
}

/// The y axis title: summing buckets changes what one bar means, so the axis says it.
fn per_bucket(width_ms: i64) -> String {
    let units = [
        (DAY, "day", "days"),
        (HOUR, "hour", "h"),
        (MINUTE, "minute", "min"),
        (SECOND, "second", "s"),
    ];
    for (unit, one, many) in units {
        if width_ms % unit == 0 {
            let n = width_ms / unit;
            return if n == 1 {
                format!("requests per {one}")
            } else {
                format!("requests per {n} {many}")
            };
        }
    }
    format!("requests per {width_ms} ms")
}

/// The time `buckets` buckets after the start, if it exists on the calendar chrono knows.
fn time_at(series: &RateSeries, buckets: usize) -> Result<i64, RenderError> {
    let out_of_range = || RenderError::TimeRange {
        start_ms: series.start_ms,
        bucket_ms: series.bucket_ms,
        buckets: series.counts.len(),
    };
    let offset = i64::try_from(buckets)
        .ok()
        .and_then(|b| b.checked_mul(series.bucket_ms))
        .ok_or_else(out_of_range)?;
    let t = series.start_ms.checked_add(offset).ok_or_else(out_of_range)?;
    DateTime::<Utc>::from_timestamp_millis(t).ok_or_else(out_of_range)?;
    DateTime::<Utc>::from_timestamp_millis(series.start_ms).ok_or_else(out_of_range)?;
    Ok(t)
}

/// Sums consecutive groups of `factor` values.
fn sum_groups<T: Copy + Into<f64>>(values: &[T], factor: usize) -> Vec<f64> {
    values
        .chunks(factor.max(1))
        .map(|chunk| chunk.iter().map(|v| (*v).into()).sum())
        .collect()
}

/// The outline of a step function: a horizontal segment per run of equal values, joined by
/// vertical ones. Runs are merged, so flat stretches cost two points.
fn step_outline(edges: &[f64], values: &[f64]) -> Vec<Point> {
    let mut points = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        let (Some(&left), Some(&right)) = (edges.get(i), edges.get(i + 1)) else {
            break;
        };
        let starts_run = i == 0 || values[i - 1] != v;
        let ends_run = values.get(i + 1).is_none_or(|next| *next != v);
        if starts_run {
            points.push((left, v));
        }
        if ends_run {
            points.push((right, v));
        }
    }
    points
}

/// The area between the axis and a step function.
fn step_area(edges: &[f64], values: &[f64]) -> Vec<Point> {
    let (Some(&first), Some(&last)) = (edges.first(), edges.get(values.len())) else {
        return Vec::new();
    };
    let mut points = vec![(first, 0.0)];
    points.extend(step_outline(edges, values));
    points.push((last, 0.0));
    points
}

/// The area between two step functions, `low` below `high`.
fn step_band(edges: &[f64], low: &[f64], high: &[f64]) -> Vec<Point> {
    let mut points = step_outline(edges, high);
    points.extend(step_outline(edges, low).into_iter().rev());
    points
}

fn draw_rate_chart(
    root: &Area<'_>,
    series: &RateSeries,
    buckets: &Buckets,
    size: Size,
    palette: &Palette,
) -> Result<(), RenderError> {
    root.fill(&palette.background).map_err(drawing_error)?;
    let compact = is_compact(size);

    let title_px = if compact { COMPACT_TITLE_PX } else { TITLE_PX };
    let title_room = text::fitting_chars(size.width as i32 - 2 * PAD, title_px);
    let title = text::clean(&series.title, MAX_TITLE_CHARS.min(title_room));
    let title_height = if title.is_empty() { 0 } else { title_px as i32 + 6 };
    if !title.is_empty() {
        let style = bold(title_px)
            .color(&palette.text)
            .pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(title, (PAD, PAD), style))
            .map_err(drawing_error)?;
    }
    let plot_width = size.width as i32 - PAD - Y_LABEL_AREA - RIGHT_MARGIN;
    let markers = visible_markers(series, buckets, plot_width);
    let legend_top = PAD + title_height;
    let legend_rows = if compact {
        0
    } else {
        let legend = legend_entries(series, &markers, palette);
        draw_legend(root, &legend, legend_top, size.width as i32 - PAD, palette)?
    };
    let header = legend_top + legend_rows * LEGEND_ROW + 4;

    let (top, y_ticks) = y_ticks(buckets.max_value());
    let axis = TimeAxis::new(buckets.start_ms, buckets.end_ms, plot_width);
    let x_range = Ticked {
        start: buckets.start_ms as f64,
        end: buckets.end_ms as f64,
        ticks: axis.ticks.clone(),
    };
    let y_range = Ticked {
        start: 0.0,
        end: top,
        ticks: y_ticks,
    };
    let mut chart = ChartBuilder::on(root)
        .margin_top(header)
        .margin_left(PAD)
        .margin_right(RIGHT_MARGIN)
        .margin_bottom(PAD / 2)
        .x_label_area_size(if compact {
            COMPACT_X_LABEL_AREA
        } else {
            X_LABEL_AREA
        })
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x_range, y_range)
        .map_err(drawing_error)?;

    let label_font = font(LABEL_PX).color(&palette.muted);
    let x_label = |t: &f64| axis.label(*t);
    let y_label = |v: &f64| text::compact_count(*v);
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .bold_line_style(palette.grid)
        .axis_style(palette.axis)
        .label_style(label_font.clone())
        .axis_desc_style(label_font)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label);
    if !compact {
        mesh.x_desc(axis.description())
            .y_desc(per_bucket(buckets.width_ms));
    }
    mesh.draw().map_err(drawing_error)?;

    if let Some((low, high)) = &buckets.band {
        let band = Polygon::new(
            step_band(&buckets.edges, low, high),
            palette.band.mix(0.22).filled(),
        );
        chart.draw_series(iter::once(band)).map_err(drawing_error)?;
    }
    if buckets.total() > 0.0 {
        draw_counts(&mut chart, buckets, palette)?;
    } else {
        draw_empty_notice(chart.plotting_area(), palette)?;
    }
    // All lines first, then all labels, so no line strikes through a neighbour's label.
    for marker in &markers {
        let x = marker.at_ms as f64;
        let style = marker_color(marker, palette).mix(0.9).stroke_width(MARKER_STROKE);
        chart
            .draw_series(iter::once(PathElement::new(vec![(x, 0.0), (x, top)], style)))
            .map_err(drawing_error)?;
    }
    if compact {
        return Ok(());
    }
    draw_marker_labels(root, &chart, &markers, top, palette)
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// A linear axis with ticks chosen here (round clock times, whole request counts) instead of by
/// plotters, whose own f64 ticks can land on fractions of a request or on 10:17.
#[derive(Clone)]
struct Ticked {
    start: f64,
    end: f64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.end - self.start;
        if span <= 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let fraction = (value - self.start) / span;
        limit.0 + (f64::from(limit.1 - limit.0) * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.start..self.end
    }
}

fn draw_counts(chart: &mut Chart<'_, '_>, buckets: &Buckets, palette: &Palette) -> Result<(), RenderError> {
    let total = Polygon::new(
        step_area(&buckets.edges, &buckets.counts),
        palette.requests.mix(0.55).filled(),
    );
    chart.draw_series(iter::once(total)).map_err(drawing_error)?;
    if buckets.denied.iter().any(|d| *d > 0.0) {
        let denied = Polygon::new(
            step_area(&buckets.edges, &buckets.denied),
            palette.denied.mix(0.85).filled(),
        );
        chart.draw_series(iter::once(denied)).map_err(drawing_error)?;
    }
    let outline = PathElement::new(
        step_outline(&buckets.edges, &buckets.counts),
        palette.requests.stroke_width(1),
    );
    chart.draw_series(iter::once(outline)).map_err(drawing_error)?;
    Ok(())
}

fn draw_empty_notice<C: CoordTranslate>(
    plot: &DrawingArea<SVGBackend<'_>, C>,
    palette: &Palette,
) -> Result<(), RenderError> {
    let (x, y) = plot.get_pixel_range();
    let centre = ((x.start + x.end) / 2, (y.start + y.end) / 2);
    let style = font(14.0)
        .color(&palette.muted)
        .pos(Pos::new(HPos::Center, VPos::Center));
    plot.strip_coord_spec()
        .draw(&Text::new(
            "No activity in this window",
            (centre.0 - x.start, centre.1 - y.start),
            style,
        ))
        .map_err(drawing_error)
}

/// A marker ready to draw: its label cleaned and its colour chosen.
struct VisibleMarker {
    at_ms: i64,
    kind: MarkerKind,
    severity: Option<Severity>,
    label: String,
}

/// The markers inside the time window, in time order, their labels short enough for the plot.
fn visible_markers(series: &RateSeries, buckets: &Buckets, plot_width: i32) -> Vec<VisibleMarker> {
    let label_chars = MARKER_LABEL_CHARS.min(text::fitting_chars(plot_width - 8, LABEL_PX));
    let mut markers: Vec<VisibleMarker> = series
        .markers
        .iter()
        .filter(|m| (buckets.start_ms..=buckets.end_ms).contains(&m.at_ms))
        .map(|m| VisibleMarker {
            at_ms: m.at_ms,
            kind: m.kind,
            severity: m.severity,
            label: text::clean(&m.label, label_chars),
        })
        .collect();
    markers.sort_by_key(|m| m.at_ms);
    markers
}

fn marker_color(marker: &VisibleMarker, palette: &Palette) -> RGBColor {
    match marker.kind {
        MarkerKind::Finding => theme::severity_or(marker.severity, palette.neutral),
        MarkerKind::Action => palette.action,
    }
}

/// Marker labels at the top of their lines, on patches of background. Each label takes the
/// first of a few rows where it does not run into the previous label, or the least crowded one.
fn draw_marker_labels(
    root: &Area<'_>,
    chart: &Chart<'_, '_>,
    markers: &[VisibleMarker],
    top: f64,
    palette: &Palette,
) -> Result<(), RenderError> {
    let plot = chart.plotting_area().get_pixel_range().0;
    let mut row_ends = [i32::MIN; MARKER_LABEL_ROWS];
    for marker in markers.iter().filter(|m| !m.label.is_empty()) {
        let (px, py) = chart.backend_coord(&(marker.at_ms as f64, top));
        let width = text::estimated_width(&marker.label, LABEL_PX).ceil() as i32;
        // Labels read to the right of their line, unless that runs off the plot; then they end
        // at the line, or start at the plot's left edge if even that does not fit.
        let left = if px + 4 + width <= plot.end {
            px + 4
        } else {
            (px - 4 - width).max(plot.start)
        };
        let free = row_ends.iter().position(|end| end.saturating_add(6) <= left);
        let row = free.unwrap_or_else(|| (0..MARKER_LABEL_ROWS).min_by_key(|r| row_ends[*r]).unwrap_or(0));
        row_ends[row] = left + width;

        let y = py + 2 + row as i32 * (LABEL_PX as i32 + 4);
        let patch = Rectangle::new(
            [(left - 2, y - 1), (left + width + 2, y + LABEL_PX as i32 + 2)],
            palette.background.mix(0.8).filled(),
        );
        root.draw(&patch).map_err(drawing_error)?;
        let style = font(LABEL_PX)
            .color(&marker_color(marker, palette))
            .pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(marker.label.as_str(), (left, y), style))
            .map_err(drawing_error)?;
    }
    Ok(())
}

enum Swatch {
    Block,
    Line,
}

struct LegendEntry {
    swatch: Swatch,
    color: RGBAColor,
    label: &'static str,
}

/// One entry per thing drawn: the series that are present and the kinds of markers shown.
fn legend_entries(series: &RateSeries, markers: &[VisibleMarker], palette: &Palette) -> Vec<LegendEntry> {
    let block = |color: RGBAColor, label| LegendEntry {
        swatch: Swatch::Block,
        color,
        label,
    };
    let line = |color: RGBColor, label| LegendEntry {
        swatch: Swatch::Line,
        color: color.to_rgba(),
        label,
    };
    let mut entries = vec![block(palette.requests.mix(0.55), "requests")];
    if !series.denied.is_empty() {
        entries.push(block(palette.denied.mix(0.85), "refused (401/403)"));
    }
    if series.baseline.is_some() {
        entries.push(block(palette.band.mix(0.35), "usual range"));
    }
    let findings = || markers.iter().filter(|m| m.kind == MarkerKind::Finding);
    for severity in Severity::ALL.iter().rev() {
        if findings().any(|m| m.severity == Some(*severity)) {
            entries.push(line(theme::severity(*severity), finding_label(*severity)));
        }
    }
    if findings().any(|m| m.severity.is_none()) {
        entries.push(line(palette.neutral, "finding"));
    }
    if markers.iter().any(|m| m.kind == MarkerKind::Action) {
        entries.push(line(palette.action, "action"));
    }
    entries
}

fn finding_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "low finding",
        Severity::Medium => "medium finding",
        Severity::High => "high finding",
        Severity::Critical => "critical finding",
    }
}

/// Lays the legend out left to right, wrapping at `right`; returns the number of rows used.
fn draw_legend(
    root: &Area<'_>,
    entries: &[LegendEntry],
    top: i32,
    right: i32,
    palette: &Palette,
) -> Result<i32, RenderError> {
    let style = font(LABEL_PX)
        .color(&palette.muted)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (mut x, mut row) = (PAD, 0);
    for entry in entries {
        let width = 14 + text::estimated_width(entry.label, LABEL_PX).ceil() as i32 + 14;
        if x > PAD && x + width > right {
            (x, row) = (PAD, row + 1);
        }
        let mid = top + row * LEGEND_ROW + LEGEND_ROW / 2;
        let swatch = match entry.swatch {
            Swatch::Block => Rectangle::new([(x, mid - 5), (x + 10, mid + 5)], entry.color.filled()),
            Swatch::Line => Rectangle::new([(x + 4, mid - 6), (x + 6, mid + 6)], entry.color.filled()),
        };
        root.draw(&swatch).map_err(drawing_error)?;
        root.draw(&Text::new(entry.label, (x + 14, mid), style.clone()))
            .map_err(drawing_error)?;
        x += width;
    }
    Ok(if entries.is_empty() { 0 } else { row + 1 })
}

/// The top of the y axis and its ticks: whole numbers of requests at a 1-2-5 step.
fn y_ticks(max_value: f64) -> (f64, Vec<f64>) {
    let max_value = (max_value * 1.05).max(4.0);
    let step = nice_step(max_value / 5.0);
    let top = (max_value / step).ceil() * step;
    let count = (top / step).round() as usize;
    (top, (0..=count).map(|i| i as f64 * step).collect())
}

/// The smallest 1, 2 or 5 × 10ⁿ (at least 1) that is `raw` or more.
fn nice_step(raw: f64) -> f64 {
    // Also catches NaN, which the max_value fold cannot produce but costs nothing to handle.
    if raw.is_nan() || raw <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Tick steps that fall on round clock times.
const TIME_STEPS: [i64; 22] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    28 * DAY,
];

/// Whether the window's first and last instants fall in different UTC years.
fn spans_years(start_ms: i64, end_ms: i64) -> bool {
    let year = |t: i64| DateTime::<Utc>::from_timestamp_millis(t).map(|d| d.year());
    year(start_ms) != year(end_ms - 1)
}

/// Where the time ticks go and how they are labelled (all in UTC).
struct TimeAxis {
    ticks: Vec<f64>,
    step: i64,
    start_ms: i64,
    end_ms: i64,
}

impl TimeAxis {
    fn new(start_ms: i64, end_ms: i64, plot_width: i32) -> TimeAxis {
        let span = (end_ms - start_ms).max(1);
        let with_year = spans_years(start_ms, end_ms);
        // Widest label at this step ("00:00:00", "Mar 05" or "2024-03-05") plus a gap.
        let label_px = |step: i64| {
            let chars = if step < MINUTE {
                8
            } else if step >= DAY && with_year {
                10
            } else {
                6
            };
            text::estimated_width(&"0".repeat(chars), LABEL_PX) + 24.0
        };
        let fits = |step: i64| ((span / step + 1) as f64) * label_px(step) <= f64::from(plot_width.max(1));
        let step = TIME_STEPS.into_iter().find(|s| fits(*s)).unwrap_or_else(|| {
            let most_ticks = (f64::from(plot_width.max(1)) / label_px(DAY)).max(1.0) as i64;
            ((span / most_ticks) / DAY + 1) * DAY
        });
        let first = start_ms + (step - start_ms.rem_euclid(step)) % step;
        let ticks = iter::successors(Some(first), |t| t.checked_add(step))
            .take_while(|t| *t <= end_ms)
            .map(|t| t as f64)
            .collect();
        TimeAxis {
            ticks,
            step,
            start_ms,
            end_ms,
        }
    }

    /// Whether the window touches more than one date, counting a closing midnight tick.
    fn spans_days(&self) -> bool {
        self.start_ms.div_euclid(DAY) != self.end_ms.div_euclid(DAY)
    }

    fn spans_years(&self) -> bool {
        spans_years(self.start_ms, self.end_ms)
    }

    /// `HH:MM` within a day; days are named at midnight when the window spans several.
    fn label(&self, t: f64) -> String {
        let t = t as i64;
        let Some(time) = DateTime::<Utc>::from_timestamp_millis(t) else {
            return String::new();
        };
        let format = if self.step >= DAY {
            if self.spans_years() { "%Y-%m-%d" } else { "%b %d" }
        } else if self.spans_days() && t.rem_euclid(DAY) == 0 {
            "%b %d"
        } else if self.step < MINUTE {
            "%H:%M:%S"
        } else {
            "%H:%M"
        };
        time.format(format).to_string()
    }

    /// The axis title names the time zone and the date(s) shown.
    fn description(&self) -> String {
        let date = |t: i64| {
            DateTime::<Utc>::from_timestamp_millis(t)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        };
        let (first, last) = (date(self.start_ms), date(self.end_ms - 1));
        if first == last {
            format!("UTC · {first}")
        } else {
            format!("UTC · {first} – {last}")
        }
    }
}

fn draw_sparkline(root: &Area<'_>, counts: &[u32], size: Size, palette: &Palette) -> Result<(), RenderError> {
    let (w, h) = (f64::from(size.width), f64::from(size.height));
    // At least two pixels per bucket, so the line stays readable.
    let factor = counts.len().div_ceil((size.width as usize / 2).max(1)).max(1);
    let values = sum_groups(counts, factor);
    let max = values.iter().copied().fold(0.0, f64::max);
    let n = values.len().max(1) as f64;
    let x = |i: usize| 1.0 + (w - 2.0) * i as f64 / n;
    let edges: Vec<f64> = (0..=values.len()).map(x).collect();
    let y = |v: f64| {
        if max > 0.0 {
            h - 1.0 - (h - 2.0) * v / max
        } else {
            h - 1.0
        }
    };
    let to_pixels = |points: Vec<Point>| -> Vec<(i32, i32)> {
        simplify(
            points
                .into_iter()
                .map(|(px, v)| (px.round() as i32, y(v).round() as i32)),
        )
    };
    if values.is_empty() {
        let flat = PathElement::new(
            vec![(1, (h - 1.0) as i32), ((w - 1.0) as i32, (h - 1.0) as i32)],
            palette.muted.stroke_width(1),
        );
        return root.draw(&flat).map_err(drawing_error);
    }
    let area = Polygon::new(
        to_pixels(step_area(&edges, &values)),
        palette.requests.mix(0.3).filled(),
    );
    root.draw(&area).map_err(drawing_error)?;
    let line = PathElement::new(
        to_pixels(step_outline(&edges, &values)),
        palette.requests.stroke_width(1),
    );
    root.draw(&line).map_err(drawing_error)
}

/// Drops points that add nothing once rounded to pixels: repeats, and the middle of three on
/// one horizontal or vertical line. Sparklines are many per page, so every byte counts.
fn simplify(points: impl IntoIterator<Item = (i32, i32)>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for p in points {
        if out.last() == Some(&p) {
            continue;
        }
        if let [.., a, b] = out.as_slice()
            && ((a.0 == b.0 && b.0 == p.0) || (a.1 == b.1 && b.1 == p.1))
        {
            out.pop();
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(counts: Vec<u32>) -> RateSeries {
        RateSeries {
            start_ms: 1_709_600_400_000, // 2024-03-05T01:00:00Z
            bucket_ms: MINUTE,
            counts,
            denied: Vec::new(),
            baseline: None,
            markers: Vec::new(),
            title: String::new(),
        }
    }

    #[test]
    fn step_outline_merges_runs() {
        let edges = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            step_outline(&edges, &[2.0, 2.0, 5.0, 5.0]),
            vec![(0.0, 2.0), (2.0, 2.0), (2.0, 5.0), (4.0, 5.0)]
        );
        assert_eq!(step_outline(&edges[..2], &[3.0]), vec![(0.0, 3.0), (1.0, 3.0)]);
        assert_eq!(
            step_area(&edges[..2], &[3.0]),
            vec![(0.0, 0.0), (0.0, 3.0), (1.0, 3.0), (1.0, 0.0)]
        );
        assert!(step_area(&[], &[]).is_empty());
    }

    #[test]
    fn simplify_keeps_corners_only() {
        let points = [(0, 5), (0, 5), (1, 5), (2, 5), (2, 3), (2, 1), (4, 1)];
        assert_eq!(simplify(points), vec![(0, 5), (2, 5), (2, 1), (4, 1)]);
    }

    #[test]
    fn long_series_are_summed_down() {
        let b = Buckets::new(&series(vec![1; 1440])).unwrap();
        assert_eq!(b.counts.len(), 288);
        assert_eq!(b.edges.len(), 289);
        assert!(b.counts.iter().all(|c| *c == 5.0));
        assert_eq!(b.total(), 1440.0);

        // 601 buckets in groups of 2: the last group holds one bucket and ends where the data does.
        let s = series(vec![1; 601]);
        let b = Buckets::new(&s).unwrap();
        assert_eq!(b.counts.len(), 301);
        assert_eq!(*b.counts.last().unwrap(), 1.0);
        assert_eq!(*b.edges.last().unwrap(), (s.start_ms + 601 * MINUTE) as f64);
    }

    #[test]
    fn the_y_axis_names_the_drawn_bucket_width() {
        assert_eq!(per_bucket(MINUTE), "requests per minute");
        assert_eq!(per_bucket(3 * MINUTE), "requests per 3 min");
        assert_eq!(per_bucket(2 * HOUR), "requests per 2 h");
        assert_eq!(per_bucket(DAY), "requests per day");
        assert_eq!(per_bucket(1500), "requests per 1500 ms");
        assert_eq!(Buckets::new(&series(vec![1; 1440])).unwrap().width_ms, 5 * MINUTE);
    }

    #[test]
    fn buckets_are_summed_into_round_widths() {
        assert_eq!(summing_factor(600, MINUTE), 1);
        // A day of minutes: 5 min (288 buckets), not 3 min.
        assert_eq!(summing_factor(1440, MINUTE), 5);
        // A month of minutes: 2 h, not 72 min.
        assert_eq!(summing_factor(30 * 1440, MINUTE), 120);
        // Odd bucket widths have no round multiple: the least factor.
        assert_eq!(summing_factor(1441, 7_000), 3);
        assert_eq!(summing_factor(10_000_000, MINUTE), 14 * 1440);
        // Beyond the longest round width: the least factor.
        assert_eq!(summing_factor(100_000_000, MINUTE), 166_667);
    }

    #[test]
    fn refused_counts_never_exceed_the_total() {
        let mut s = series(vec![5, 1]);
        s.denied = vec![2, 9];
        assert_eq!(Buckets::new(&s).unwrap().denied, vec![2.0, 1.0]);
    }

    #[test]
    fn invalid_series_are_refused_with_a_reason() {
        let mut s = series(vec![1, 2, 3]);
        s.denied = vec![1];
        let e = Buckets::new(&s).err().unwrap();
        assert_eq!(e.to_string(), "denied has 1 buckets but counts has 3");

        let mut s = series(vec![1, 2, 3]);
        s.baseline = Some(super::super::Band {
            low: vec![0.0; 3],
            high: vec![1.0, f64::NAN, 1.0],
        });
        assert_eq!(
            Buckets::new(&s).err().unwrap().to_string(),
            "baseline.high contains a value that is not a finite number"
        );

        let mut s = series(vec![1]);
        s.bucket_ms = 0;
        assert!(matches!(Buckets::new(&s), Err(RenderError::BucketWidth(0))));

        let mut s = series(vec![1, 2]);
        s.start_ms = i64::MAX - 10;
        assert!(matches!(Buckets::new(&s), Err(RenderError::TimeRange { .. })));
    }

    #[test]
    fn y_axis_uses_whole_round_steps() {
        assert_eq!(y_ticks(0.0), (4.0, vec![0.0, 1.0, 2.0, 3.0, 4.0]));
        let (top, ticks) = y_ticks(950.0);
        assert_eq!(top, 1000.0);
        assert_eq!(ticks.len(), 6);
        let (top, _) = y_ticks(f64::from(u32::MAX) * 600.0);
        assert!(top >= f64::from(u32::MAX) * 600.0);
    }

    #[test]
    fn time_ticks_fall_on_round_utc_times() {
        let start = 1_709_600_400_000 + 7 * MINUTE; // 01:07
        let axis = TimeAxis::new(start, start + 6 * HOUR, 600);
        assert_eq!(axis.step, HOUR);
        assert_eq!(axis.label(axis.ticks[0]), "02:00");
        assert_eq!(axis.description(), "UTC · 2024-03-05");

        // A whole day: both midnights carry their date.
        let midnight = 1_709_596_800_000;
        let axis = TimeAxis::new(midnight, midnight + DAY, 800);
        assert_eq!(axis.label(axis.ticks[0]), "Mar 05");
        assert_eq!(axis.label(*axis.ticks.last().unwrap()), "Mar 06");
        assert_eq!(axis.label(axis.ticks[1]), "03:00");
        assert_eq!(axis.description(), "UTC · 2024-03-05");

        let axis = TimeAxis::new(start, start + 3 * DAY, 600);
        assert!(axis.ticks.iter().all(|t| (*t as i64) % axis.step == 0));
        assert!(axis.ticks.iter().any(|t| axis.label(*t) == "Mar 06"));
        assert_eq!(axis.description(), "UTC · 2024-03-05 – 2024-03-08");

        let axis = TimeAxis::new(start, start + 90 * SECOND, 600);
        assert!(axis.step < MINUTE);
        assert_eq!(axis.label(axis.ticks[0]).len(), 8);

        // Narrow: whole days, both dated.
        let axis = TimeAxis::new(midnight, midnight + DAY, 150);
        assert_eq!(axis.step, DAY);
        assert_eq!(axis.ticks.len(), 2);

        // Far longer than any step in the table: whole days, still few enough to fit.
        let axis = TimeAxis::new(0, 40 * 365 * DAY, 600);
        assert!(axis.ticks.len() <= 10 && axis.step % DAY == 0);
    }
}
