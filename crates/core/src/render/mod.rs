//! The one rendering path for every chart: the desktop UI shows these SVGs and exported reports
//! inline the same bytes, so an analyst sees in a report exactly what they saw on screen.
//!
//! Everything here is a pure function from plain data to an SVG string drawn with plotters' SVG
//! backend (no fonts, no I/O; the only asset is the embedded world outline). Three properties
//! matter more than looks:
//!
//! - **Safe to inline.** Labels and titles come from untrusted backends (user names, cities, user
//!   agents). plotters escapes `< > & " '` in text and attribute values; [`text::clean`] removes
//!   what escaping cannot fix (control characters that make XML ill-formed, bidi overrides that
//!   disguise text) and bounds the length. The output only contains plain drawing elements
//!   (`svg rect line polyline polygon circle text`): no scripts, links, styles or event handlers.
//! - **Deterministic.** The same input gives the same bytes, so reports hash stably.
//! - **Small.** Long series are summed down to a few hundred buckets and drawn as outlines, not one
//!   rectangle per bucket.

mod map;
mod rate;
mod text;
mod theme;

use serde::{Deserialize, Serialize};

use crate::detect::Severity;

pub use map::{MIN_MAP_SIZE, map_svg};
pub use rate::{MAX_BUCKETS, MIN_RATE_SIZE, rate_chart_svg, sparkline_svg};

/// The colour scheme of the host: the desktop follows the system, reports are usually light.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

/// Output size in CSS pixels; it is also the SVG `viewBox`, so the image scales cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const fn new(width: u32, height: u32) -> Self {
        Size { width, height }
    }

    /// Refuses sizes the layout cannot fit in, and absurd ones (a UI bug should not produce a
    /// chart with a million tick labels).
    fn check(self, min: Size) -> Result<(), RenderError> {
        if self.width < min.width || self.height < min.height {
            return Err(RenderError::SizeTooSmall { size: self, min });
        }
        if self.width > MAX_SIDE || self.height > MAX_SIDE {
            return Err(RenderError::SizeTooLarge {
                size: self,
                max: MAX_SIDE,
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}", self.width, self.height)
    }
}

/// The largest width or height accepted, in pixels.
pub const MAX_SIDE: u32 = 8192;

/// What a vertical marker on a rate chart stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum MarkerKind {
    /// A detection fired here; coloured by its severity.
    Finding,
    /// An analyst acted here (revoke, reset, contain).
    Action,
}

/// A point in time worth pointing at on a rate chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub at_ms: i64,
    pub kind: MarkerKind,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub label: String,
}

/// A user's normal per-bucket request band: `low[i]..=high[i]` for bucket `i`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Band {
    pub low: Vec<f64>,
    pub high: Vec<f64>,
}

/// Requests over time in fixed-width buckets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RateSeries {
    /// Start of the first bucket (unix ms, UTC).
    pub start_ms: i64,
    /// Bucket width in ms, e.g. 60 000.
    pub bucket_ms: i64,
    /// Requests per bucket.
    pub counts: Vec<u32>,
    /// Requests refused (401/403) per bucket, part of `counts`: same length as `counts`, or empty.
    #[serde(default)]
    pub denied: Vec<u32>,
    /// The user's normal band, drawn behind the counts.
    #[serde(default)]
    pub baseline: Option<Band>,
    /// Findings (coloured by severity) and actions, drawn as vertical lines.
    #[serde(default)]
    pub markers: Vec<Marker>,
    #[serde(default)]
    pub title: String,
}

/// A place on the map: where requests came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MapPoint {
    /// Degrees (WGS84), -90..=90.
    pub lat: f64,
    /// Degrees (WGS84), -180..=180.
    pub lon: f64,
    /// Geolocation accuracy radius; drawn as a translucent circle.
    #[serde(default)]
    pub accuracy_km: Option<f64>,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Requests from here; the dot grows with it.
    #[serde(default)]
    pub count: u32,
}

/// A move between two points, labelled with its distance and implied speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MapLeg {
    /// Index into [`MapSpec::points`].
    pub from: usize,
    /// Index into [`MapSpec::points`].
    pub to: usize,
    pub km: f64,
    #[serde(default)]
    pub kmh: Option<f64>,
    #[serde(default)]
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MapSpec {
    pub points: Vec<MapPoint>,
    #[serde(default)]
    pub legs: Vec<MapLeg>,
    #[serde(default)]
    pub title: String,
    /// Credit for the geolocation data, e.g. "IP geolocation by DB-IP". The Natural Earth credit
    /// for the outlines is always drawn as well.
    #[serde(default)]
    pub attribution: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("a {size} image is too small for this chart; it needs at least {min}")]
    SizeTooSmall { size: Size, min: Size },
    #[error("a {size} image is too large; width and height may be at most {max} pixels")]
    SizeTooLarge { size: Size, max: u32 },
    #[error("the bucket width must be a positive number of milliseconds, got {0}")]
    BucketWidth(i64),
    #[error(
        "the time window starting at {start_ms} with {buckets} buckets of {bucket_ms} ms is outside the supported dates"
    )]
    TimeRange {
        start_ms: i64,
        bucket_ms: i64,
        buckets: usize,
    },
    #[error("{what} has {actual} buckets but counts has {expected}")]
    LengthMismatch {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{what} contains a value that is not a finite number")]
    NotFinite { what: &'static str },
    #[error("point {index} has an invalid position (latitude {lat}, longitude {lon})")]
    Position { index: usize, lat: f64, lon: f64 },
    #[error("point {index} has an invalid accuracy radius ({km} km)")]
    Accuracy { index: usize, km: f64 },
    #[error("leg {index} goes from point {from} to point {to}, but there are {points} points")]
    LegEndpoint {
        index: usize,
        from: usize,
        to: usize,
        points: usize,
    },
    #[error("the embedded world map could not be read: {0}")]
    WorldAsset(String),
    #[error("drawing failed: {0}")]
    Drawing(String),
}

impl RenderError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            RenderError::WorldAsset(_) | RenderError::Drawing(_) => crate::ErrorKind::Internal,
            _ => crate::ErrorKind::Validation,
        }
    }
}

/// Point sizes that survive plotters' font scaling exactly (see [`font`]), so the SVG says
/// `font-size="11"` rather than `11.000000000000002`.
const TITLE_PX: f64 = 16.0;
const COMPACT_TITLE_PX: f64 = 12.0;
const LABEL_PX: f64 = 11.0;
const FONT_FAMILY: &str = "sans-serif";

/// Small images (thumbnails, narrow panels) keep the data and the title and drop the rest
/// (legends, axis titles, labels on markers and places), which would cover the data there.
fn is_compact(size: Size) -> bool {
    size.width < 400 || size.height < 200
}

/// A font of `px` CSS pixels. plotters' SVG backend writes `font-size` as the requested size
/// divided by 1.24 (an em-box correction meant for its bitmap fonts), so the request is scaled up
/// by the same factor here.
fn font(px: f64) -> plotters::style::FontDesc<'static> {
    plotters::style::IntoFont::into_font((FONT_FAMILY, px * 1.24))
}

fn bold(px: f64) -> plotters::style::FontDesc<'static> {
    plotters::style::IntoFont::into_font((FONT_FAMILY, px * 1.24, plotters::style::FontStyle::Bold))
}

/// plotters reports failures of its backend (for a `String` target, none happen in practice).
fn drawing_error<E: std::error::Error + Send + Sync>(
    e: plotters::drawing::DrawingAreaErrorKind<E>,
) -> RenderError {
    RenderError::Drawing(e.to_string())
}
