//! Where requests came from: a world map with places, accuracy circles and the moves between them.
//!
//! The projection is equirectangular (longitude and latitude map linearly to x and y) with its
//! standard parallel at the middle of the view, so shapes near the area of interest keep their
//! proportions and an accuracy circle looks like a circle; a world view uses the equator. The view
//! fits the points, their accuracy circles and the legs between them, centred on the smallest arc
//! of longitude that holds them all, so a move from Tokyo to Honolulu crosses the antimeridian
//! instead of the whole map. The land outlines are Natural Earth's 1:110m, embedded and parsed once.

use std::f64::consts::PI;
use std::sync::LazyLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Deserialize;

use super::text::{self, MAX_LABEL_CHARS, MAX_TITLE_CHARS};
use super::theme::{self, Palette};
use super::{
    COMPACT_TITLE_PX, LABEL_PX, MapLeg, MapPoint, MapSpec, RenderError, Size, TITLE_PX, Theme, bold,
    drawing_error, font, is_compact,
};
use crate::detect::Severity;
use crate::detect::geo::EARTH_RADIUS_KM;

/// The smallest map: room for the title and the credits. Below 400×200 maps are compact (no
/// labels on places and legs, no severity key).
pub const MIN_MAP_SIZE: Size = Size::new(160, 100);
/// Even one point is shown with this much longitude around it, so the reader sees where it is.
const MIN_LON_SPAN: f64 = 20.0;
const MIN_LAT_SPAN: f64 = 10.0;
/// Share of the fitted extent added on each side.
const MARGIN: f64 = 0.15;
/// Accuracy radii beyond this are continent-sized guesses; capping them keeps the zoom useful.
const MAX_ACCURACY_KM: f64 = 5_000.0;
/// Only the busiest points are labelled: more labels than this overprint each other.
const MAX_POINT_LABELS: usize = 12;
const CIRCLE_VERTICES: usize = 48;
const KM_PER_DEGREE: f64 = EARTH_RADIUS_KM * PI / 180.0;
const NATURAL_EARTH_CREDIT: &str = "Map: Natural Earth";

const CREDIT_PX: f64 = 10.0;
const PAD: i32 = 8;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws the places in `spec` on a world map zoomed to fit them (the whole world when there are
/// none).
pub fn map_svg(spec: &MapSpec, size: Size, theme: Theme) -> Result<String, RenderError> {
    size.check(MIN_MAP_SIZE)?;
    validate(spec)?;
    let world = WORLD.as_ref().map_err(|e| RenderError::WorldAsset(e.clone()))?;
    let view = View::fit(
        &extents(spec),
        size,
        (title_band(&spec.title, size), credits_band(spec, size)),
    );
    let palette = theme::palette(theme);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        root.fill(&palette.ocean).map_err(drawing_error)?;
        draw_graticule(&root, &view, palette)?;
        draw_land(&root, &view, world, palette)?;
        let compact = is_compact(size);
        draw_places(&root, &view, spec, palette)?;
        if !compact {
            draw_labels(&root, &view, spec, palette)?;
            draw_legend(&root, spec, size, palette)?;
        }
        draw_title(&root, &spec.title, size, palette)?;
        draw_credits(&root, spec.attribution.as_deref(), size, palette)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

fn validate(spec: &MapSpec) -> Result<(), RenderError> {
    for (index, p) in spec.points.iter().enumerate() {
        if !(p.lat.is_finite()
            && p.lon.is_finite()
            && (-90.0..=90.0).contains(&p.lat)
            && (-180.0..=180.0).contains(&p.lon))
        {
            return Err(RenderError::Position {
                index,
                lat: p.lat,
                lon: p.lon,
            });
        }
        if let Some(km) = p.accuracy_km.filter(|km| !(km.is_finite() && *km >= 0.0)) {
            return Err(RenderError::Accuracy { index, km });
        }
    }
    let points = spec.points.len();
    for (index, leg) in spec.legs.iter().enumerate() {
        if leg.from >= points || leg.to >= points {
            return Err(RenderError::LegEndpoint {
                index,
                from: leg.from,
                to: leg.to,
                points,
            });
        }
        if !leg.km.is_finite() {
            return Err(RenderError::NotFinite {
                what: "a leg's distance",
            });
        }
        if leg.kmh.is_some_and(|v| !v.is_finite()) {
            return Err(RenderError::NotFinite {
                what: "a leg's speed",
            });
        }
    }
    Ok(())
}

/// One closed ring of the land outline, in (longitude, latitude) degrees, with its bounding box.
struct Ring {
    points: Vec<(f64, f64)>,
    bounds: Bounds,
    /// A lake inside a land polygon, drawn in the ocean's colour over the land.
    hole: bool,
}

#[derive(Clone, Copy)]
struct Bounds {
    west: f64,
    east: f64,
    south: f64,
    north: f64,
}

impl Bounds {
    fn of(points: &[(f64, f64)]) -> Bounds {
        let init = Bounds {
            west: f64::MAX,
            east: f64::MIN,
            south: f64::MAX,
            north: f64::MIN,
        };
        points.iter().fold(init, |b, &(lon, lat)| Bounds {
            west: b.west.min(lon),
            east: b.east.max(lon),
            south: b.south.min(lat),
            north: b.north.max(lat),
        })
    }
}

static WORLD: LazyLock<Result<Vec<Ring>, String>> =
    LazyLock::new(|| parse_world(include_str!("../../assets/world/land-110m.geojson")));

/// Reads the GeoJSON `FeatureCollection` of (multi)polygons the asset is.
fn parse_world(geojson: &str) -> Result<Vec<Ring>, String> {
    #[derive(Deserialize)]
    struct Collection {
        features: Vec<Feature>,
    }
    #[derive(Deserialize)]
    struct Feature {
        geometry: Geometry,
    }
    #[derive(Deserialize)]
    #[serde(tag = "type", content = "coordinates")]
    enum Geometry {
        Polygon(Vec<Vec<(f64, f64)>>),
        MultiPolygon(Vec<Vec<Vec<(f64, f64)>>>),
    }

    let collection: Collection = serde_json::from_str(geojson).map_err(|e| e.to_string())?;
    let polygons = collection.features.into_iter().flat_map(|f| match f.geometry {
        Geometry::Polygon(rings) => vec![rings],
        Geometry::MultiPolygon(polygons) => polygons,
    });
    let rings: Vec<Ring> = polygons
        .flat_map(|rings| {
            rings.into_iter().enumerate().map(|(i, points)| {
                let points = unwrap_ring(points);
                Ring {
                    bounds: Bounds::of(&points),
                    points,
                    hole: i > 0,
                }
            })
        })
        .filter(|ring| ring.points.len() >= 3)
        .collect();
    if rings.is_empty() {
        Err("no land polygons".to_owned())
    } else {
        Ok(rings)
    }
}

/// Makes a ring's longitudes continuous. The outline has rings that cross the antimeridian
/// (Chukotka, Fiji) with a jump from 180 to -180, which drawn as is would be a line across the
/// world; unwrapped they run past 180 and [`View::copies`] draws them where they are visible.
/// A ring that goes once around the globe (Antarctica) is closed along its pole.
fn unwrap_ring(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len() + 2);
    let mut shift = 0.0;
    for (lon, lat) in points {
        if let Some(&(previous, _)) = out.last() {
            let step = lon + shift - previous;
            if step > 180.0 {
                shift -= 360.0;
            } else if step < -180.0 {
                shift += 360.0;
            }
        }
        out.push((lon + shift, lat));
    }
    if let (Some(&(first_lon, _)), Some(&(last_lon, _))) = (out.first(), out.last())
        && (last_lon - first_lon).abs() > 180.0
    {
        let mean_lat = out.iter().map(|p| p.1).sum::<f64>() / out.len() as f64;
        let pole = if mean_lat < 0.0 { -90.0 } else { 90.0 };
        out.extend([(last_lon, pole), (first_lon, pole)]);
    }
    out
}

/// Something the view must show: an arc of longitude (which may cross the antimeridian) and a
/// latitude range.
struct Extent {
    /// Western end, in degrees; the arc runs east from here for `lon_width` degrees.
    lon_start: f64,
    lon_width: f64,
    south: f64,
    north: f64,
}

/// The accuracy radius drawn for a point, in degrees of latitude and of longitude at its latitude.
fn accuracy_degrees(p: &MapPoint) -> (f64, f64) {
    let km = p.accuracy_km.unwrap_or(0.0).min(MAX_ACCURACY_KM);
    let dlat = km / KM_PER_DEGREE;
    // Near the poles a degree of longitude is short; the floor keeps the width finite.
    let dlon = (dlat / p.lat.to_radians().cos().max(0.02)).min(180.0);
    (dlat, dlon)
}

/// The longitude difference from `from` to `to` the short way round, in -180..=180.
fn shortest_dlon(from: f64, to: f64) -> f64 {
    let d = (to - from).rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

fn extents(spec: &MapSpec) -> Vec<Extent> {
    let points = spec.points.iter().map(|p| {
        let (dlat, dlon) = accuracy_degrees(p);
        Extent {
            lon_start: p.lon - dlon,
            lon_width: 2.0 * dlon,
            south: p.lat - dlat,
            north: p.lat + dlat,
        }
    });
    let legs = spec.legs.iter().filter_map(|leg| {
        let (a, b) = (spec.points.get(leg.from)?, spec.points.get(leg.to)?);
        let dlon = shortest_dlon(a.lon, b.lon);
        Some(Extent {
            lon_start: if dlon >= 0.0 { a.lon } else { a.lon + dlon },
            lon_width: dlon.abs(),
            south: a.lat.min(b.lat),
            north: a.lat.max(b.lat),
        })
    });
    points.chain(legs).collect()
}

/// The smallest arc of longitude covering all extents, as (western end, width): the circle minus
/// the largest gap between them.
fn covering_arc(extents: &[Extent]) -> Option<(f64, f64)> {
    if extents.iter().any(|e| e.lon_width >= 360.0) {
        return Some((-180.0, 360.0));
    }
    // Intervals on 0..360, those crossing 360 split in two.
    let mut intervals: Vec<(f64, f64)> = Vec::with_capacity(extents.len() * 2);
    for e in extents {
        let start = e.lon_start.rem_euclid(360.0);
        let end = start + e.lon_width;
        if end > 360.0 {
            intervals.push((start, 360.0));
            intervals.push((0.0, end - 360.0));
        } else {
            intervals.push((start, end));
        }
    }
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let (first, last) = (*merged.first()?, *merged.last()?);
    // The gap that wraps past 360 first, then the gaps between neighbours; the largest wins.
    let mut best_gap = (first.0 + 360.0 - last.1, last.1);
    for pair in merged.windows(2) {
        let gap = pair[1].0 - pair[0].1;
        if gap > best_gap.0 {
            best_gap = (gap, pair[0].1);
        }
    }
    let (gap, gap_start) = best_gap;
    let west = (gap_start + gap + 180.0).rem_euclid(360.0) - 180.0;
    Some((west, 360.0 - gap.max(0.0)))
}

/// The visible window of the map in degrees, and its scale.
struct View {
    west: f64,
    north: f64,
    /// Pixels per degree of latitude; a degree of longitude is `scale * cos(standard parallel)`.
    scale: f64,
    lon_scale: f64,
    lon_span: f64,
    lat_span: f64,
    /// Small maps get small dots, or a busy place would cover its neighbours.
    max_dot_radius: f64,
}

impl View {
    /// Fits the extents into the image between `bands` (pixels kept free at the top and the
    /// bottom for the title and the credits); the map still fills the whole image.
    fn fit(extents: &[Extent], size: Size, bands: (f64, f64)) -> View {
        let Some((west, arc)) = covering_arc(extents) else {
            // No places: the whole world, bands or not.
            return View::frame(0.0, 360.0, 0.0, 180.0, size, (0.0, 0.0));
        };
        let south = extents
            .iter()
            .map(|e| e.south)
            .fold(f64::MAX, f64::min)
            .max(-90.0);
        let north = extents.iter().map(|e| e.north).fold(f64::MIN, f64::max).min(90.0);
        let pad = |span: f64, min: f64| (span * (1.0 + 2.0 * MARGIN)).max(min);
        let lon_span = pad(arc, MIN_LON_SPAN).min(360.0);
        let lat_span = pad(north - south, MIN_LAT_SPAN).min(180.0);
        View::frame(
            west + arc / 2.0,
            lon_span,
            (south + north) / 2.0,
            lat_span,
            size,
            bands,
        )
    }

    /// The view centred on (`lon_centre`, `lat_centre`) showing at least the given spans in the
    /// image minus its bands, grown in one direction to the image's shape.
    fn frame(
        lon_centre: f64,
        lon_span: f64,
        lat_centre: f64,
        lat_span: f64,
        size: Size,
        bands: (f64, f64),
    ) -> View {
        let (top, bottom) = bands;
        let width = f64::from(size.width);
        let inner_height = (f64::from(size.height) - top - bottom).max(f64::from(size.height) / 3.0);
        let parallel = if lon_span >= 360.0 {
            0.0
        } else {
            lat_centre.clamp(-60.0, 60.0)
        };
        let k = parallel.to_radians().cos();
        // Grow whichever span is short so the projection is not stretched to the image's shape.
        let (lon_span, lat_span) = if lon_span * k / lat_span < width / inner_height {
            (lat_span * (width / inner_height) / k, lat_span)
        } else {
            (lon_span, lon_span * k / (width / inner_height))
        };
        // Keep the view on the globe vertically when it fits; beyond the poles is empty ocean.
        let lat_centre = if lat_span >= 180.0 {
            0.0
        } else {
            lat_centre.clamp(-90.0 + lat_span / 2.0, 90.0 - lat_span / 2.0)
        };
        let scale = inner_height / lat_span;
        View {
            west: lon_centre - lon_span / 2.0,
            north: lat_centre + lat_span / 2.0 + top / scale,
            scale,
            lon_scale: scale * k,
            lon_span,
            lat_span: f64::from(size.height) / scale,
            max_dot_radius: (f64::from(size.height) / 32.0).clamp(5.0, 14.0),
        }
    }

    fn east(&self) -> f64 {
        self.west + self.lon_span
    }

    fn south(&self) -> f64 {
        self.north - self.lat_span
    }

    /// The same longitude, moved by whole turns into the view's range (west..west+360).
    fn unwrap(&self, lon: f64) -> f64 {
        self.west + (lon - self.west).rem_euclid(360.0)
    }

    /// Pixel position of an unwrapped longitude and a latitude.
    fn project(&self, lon: f64, lat: f64) -> (f64, f64) {
        (
            (lon - self.west) * self.lon_scale,
            (self.north - lat) * self.scale,
        )
    }

    fn pixel(&self, lon: f64, lat: f64) -> (i32, i32) {
        let (x, y) = self.project(lon, lat);
        (x.round() as i32, y.round() as i32)
    }

    /// The whole-turn shifts (in degrees) at which something spanning `west..east` is visible;
    /// a wide view can show the same coastline twice.
    fn copies(&self, west: f64, east: f64) -> impl Iterator<Item = f64> + use<> {
        let (view_west, view_east) = (self.west, self.east());
        let first = ((view_west - east) / 360.0).floor() as i32 - 1;
        let last = ((view_east - west) / 360.0).ceil() as i32 + 1;
        (first..=last).map(|k| f64::from(k) * 360.0).filter(move |shift| {
            let (w, e) = (west + shift, east + shift);
            // Touching the edge is not showing: a ring ending at 180° is not drawn again at -180°.
            if e > w {
                w < view_east && e > view_west
            } else {
                (view_west..view_east).contains(&w)
            }
        })
    }
}

fn draw_graticule(root: &Area<'_>, view: &View, palette: &Palette) -> Result<(), RenderError> {
    let step = [5.0, 10.0, 15.0, 30.0, 60.0]
        .into_iter()
        .find(|s| view.lon_span / s <= 12.0)
        .unwrap_or(90.0);
    let (south, north) = (view.south().max(-90.0), view.north.min(90.0));
    let style = palette.graticule.stroke_width(1);
    let mut lon = (view.west / step).ceil() * step;
    while lon <= view.east() {
        root.draw(&PathElement::new(
            vec![view.pixel(lon, south), view.pixel(lon, north)],
            style,
        ))
        .map_err(drawing_error)?;
        lon += step;
    }
    let mut lat = (south / step).ceil() * step;
    while lat <= north {
        root.draw(&PathElement::new(
            vec![view.pixel(view.west, lat), view.pixel(view.east(), lat)],
            style,
        ))
        .map_err(drawing_error)?;
        lat += step;
    }
    Ok(())
}

fn draw_land(root: &Area<'_>, view: &View, world: &[Ring], palette: &Palette) -> Result<(), RenderError> {
    for ring in world {
        let b = ring.bounds;
        if b.north < view.south() || b.south > view.north {
            continue;
        }
        let color = if ring.hole { palette.ocean } else { palette.land };
        for shift in view.copies(b.west, b.east) {
            let pixels: Vec<(i32, i32)> = ring
                .points
                .iter()
                .map(|&(lon, lat)| view.pixel(lon + shift, lat))
                .collect();
            root.draw(&Polygon::new(pixels, color.filled()))
                .map_err(drawing_error)?;
        }
    }
    Ok(())
}

fn draw_places(root: &Area<'_>, view: &View, spec: &MapSpec, palette: &Palette) -> Result<(), RenderError> {
    for p in &spec.points {
        draw_accuracy(root, view, p, palette)?;
    }
    for leg in &spec.legs {
        draw_leg(root, view, spec, leg, palette)?;
    }
    // Busiest first, so the smaller dots drawn later stay visible on top.
    for i in busiest_first(spec) {
        draw_dot(root, view, &spec.points[i], palette)?;
    }
    Ok(())
}

/// Point indices by descending count (ties in input order, so the output is stable).
fn busiest_first(spec: &MapSpec) -> Vec<usize> {
    let mut order: Vec<usize> = (0..spec.points.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(spec.points[i].count), i));
    order
}

/// Leg distances and the names of the busiest places, above everything drawn so far.
fn draw_labels(root: &Area<'_>, view: &View, spec: &MapSpec, palette: &Palette) -> Result<(), RenderError> {
    for leg in &spec.legs {
        draw_leg_label(root, view, spec, leg, palette)?;
    }
    for i in busiest_first(spec).into_iter().take(MAX_POINT_LABELS) {
        draw_point_label(root, view, &spec.points[i], palette)?;
    }
    Ok(())
}

fn point_color(severity: Option<Severity>, palette: &Palette) -> RGBColor {
    theme::severity_or(severity, palette.neutral)
}

/// The accuracy circle as a polygon in degrees (a circle on the ground, so wider in longitude
/// away from the equator), its latitudes kept on the globe.
fn draw_accuracy(root: &Area<'_>, view: &View, p: &MapPoint, palette: &Palette) -> Result<(), RenderError> {
    let (dlat, dlon) = accuracy_degrees(p);
    // Below two pixels the circle hides under the dot anyway.
    if dlat * view.scale < 2.0 {
        return Ok(());
    }
    let lon = view.unwrap(p.lon);
    let ring: Vec<(f64, f64)> = (0..CIRCLE_VERTICES)
        .map(|i| {
            let angle = 2.0 * PI * i as f64 / CIRCLE_VERTICES as f64;
            (
                lon + dlon * angle.cos(),
                (p.lat + dlat * angle.sin()).clamp(-90.0, 90.0),
            )
        })
        .collect();
    let color = point_color(p.severity, palette);
    for shift in view.copies(lon - dlon, lon + dlon) {
        let pixels: Vec<(i32, i32)> = ring.iter().map(|&(x, y)| view.pixel(x + shift, y)).collect();
        root.draw(&Polygon::new(pixels.clone(), color.mix(0.14).filled()))
            .map_err(drawing_error)?;
        let mut outline = pixels;
        outline.extend(outline.first().copied());
        root.draw(&PathElement::new(outline, color.mix(0.45).stroke_width(1)))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// A leg's end points in unwrapped degrees, going the short way round from `from`.
fn leg_ends(view: &View, spec: &MapSpec, leg: &MapLeg) -> Option<((f64, f64), (f64, f64))> {
    let (a, b) = (spec.points.get(leg.from)?, spec.points.get(leg.to)?);
    let start = view.unwrap(a.lon);
    Some(((start, a.lat), (start + shortest_dlon(a.lon, b.lon), b.lat)))
}

fn draw_leg(
    root: &Area<'_>,
    view: &View,
    spec: &MapSpec,
    leg: &MapLeg,
    palette: &Palette,
) -> Result<(), RenderError> {
    let Some(((lon_a, lat_a), (lon_b, lat_b))) = leg_ends(view, spec, leg) else {
        return Ok(());
    };
    let color = point_color(leg.severity, palette);
    for shift in view.copies(lon_a.min(lon_b), lon_a.max(lon_b)) {
        let (a, b) = (
            view.project(lon_a + shift, lat_a),
            view.project(lon_b + shift, lat_b),
        );
        let line = PathElement::new(vec![round(a), round(b)], color.mix(0.9).stroke_width(2));
        root.draw(&line).map_err(drawing_error)?;
        // An arrowhead halfway shows the direction of travel.
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length = dx.hypot(dy);
        if length >= 24.0 {
            let (ux, uy) = (dx / length, dy / length);
            let tip = ((a.0 + b.0) / 2.0 + ux * 5.0, (a.1 + b.1) / 2.0 + uy * 5.0);
            let back = (tip.0 - ux * 10.0, tip.1 - uy * 10.0);
            let head = vec![
                round(tip),
                round((back.0 - uy * 5.0, back.1 + ux * 5.0)),
                round((back.0 + uy * 5.0, back.1 - ux * 5.0)),
            ];
            root.draw(&Polygon::new(head, color.filled()))
                .map_err(drawing_error)?;
        }
    }
    Ok(())
}

fn round((x, y): (f64, f64)) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}

/// "8 950 km · 2 140 km/h": how far, and how fast that would have been.
fn leg_label(leg: &MapLeg) -> String {
    match leg.kmh {
        Some(kmh) => format!("{} · {} km/h", text::km(leg.km), text::thousands(kmh)),
        None => text::km(leg.km),
    }
}

fn draw_leg_label(
    root: &Area<'_>,
    view: &View,
    spec: &MapSpec,
    leg: &MapLeg,
    palette: &Palette,
) -> Result<(), RenderError> {
    let Some(((lon_a, lat_a), (lon_b, lat_b))) = leg_ends(view, spec, leg) else {
        return Ok(());
    };
    let (a, b) = (view.project(lon_a, lat_a), view.project(lon_b, lat_b));
    let (x, y) = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    // Beside the line and clear of the arrowhead: to the right of a steep line, above a flat one
    // (a flat line's label is pushed up further the more it slopes).
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (at, anchor) = if dy.abs() > dx.abs() {
        ((x + 10.0, y), HPos::Left)
    } else {
        let slope = if dx.abs() > 0.0 { (dy / dx).abs() } else { 0.0 };
        ((x, y - 12.0 - 60.0 * slope), HPos::Center)
    };
    let color = point_color(leg.severity, palette);
    draw_label(root, &leg_label(leg), round(at), anchor, color, palette)
}

/// Dots grow with the logarithm of the count (a thousand requests is not a thousand times the
/// ink), up to the view's largest dot.
fn dot_radius(count: u32, view: &View) -> i32 {
    (3.0 + 1.5 * f64::from(count.max(1)).log2())
        .min(view.max_dot_radius)
        .round() as i32
}

fn draw_dot(root: &Area<'_>, view: &View, p: &MapPoint, palette: &Palette) -> Result<(), RenderError> {
    let centre = view.pixel(view.unwrap(p.lon), p.lat);
    let radius = dot_radius(p.count, view);
    let color = point_color(p.severity, palette);
    root.draw(&Circle::new(centre, radius, color.filled()))
        .map_err(drawing_error)?;
    root.draw(&Circle::new(centre, radius, palette.background.stroke_width(1)))
        .map_err(drawing_error)
}

fn draw_point_label(
    root: &Area<'_>,
    view: &View,
    p: &MapPoint,
    palette: &Palette,
) -> Result<(), RenderError> {
    let mut label = text::clean(&p.label, MAX_LABEL_CHARS);
    if p.count > 1 {
        label = format!("{label} ({})", text::thousands(f64::from(p.count)))
            .trim_start()
            .to_owned();
    }
    if label.is_empty() {
        return Ok(());
    }
    let (x, y) = view.pixel(view.unwrap(p.lon), p.lat);
    let gap = dot_radius(p.count, view) + 4;
    let width = text::estimated_width(&label, LABEL_PX) as i32;
    let right_edge = (view.lon_span * view.lon_scale) as i32;
    let (at, anchor) = if x + gap + width <= right_edge - PAD {
        ((x + gap, y), HPos::Left)
    } else {
        ((x - gap, y), HPos::Right)
    };
    draw_label(root, &label, at, anchor, palette.text, palette)
}

/// Text on a translucent patch of background so it stays readable over land, lines and circles.
/// `text` must already be clean.
fn draw_label(
    root: &Area<'_>,
    text: &str,
    (x, y): (i32, i32),
    anchor: HPos,
    color: RGBColor,
    palette: &Palette,
) -> Result<(), RenderError> {
    let width = text::estimated_width(text, LABEL_PX).ceil() as i32;
    let left = match anchor {
        HPos::Left => x,
        HPos::Center => x - width / 2,
        HPos::Right => x - width,
    };
    let half = LABEL_PX as i32 / 2 + 2;
    let patch = Rectangle::new(
        [(left - 3, y - half), (left + width + 3, y + half)],
        palette.background.mix(0.75).filled(),
    );
    root.draw(&patch).map_err(drawing_error)?;
    let style = font(LABEL_PX).color(&color).pos(Pos::new(anchor, VPos::Center));
    root.draw(&Text::new(text, (x, y), style)).map_err(drawing_error)
}

/// The title as drawn: cleaned, cut to the width, smaller on small maps.
fn title_line(title: &str, size: Size) -> (String, f64) {
    let title_px = if is_compact(size) {
        COMPACT_TITLE_PX
    } else {
        TITLE_PX
    };
    let room = text::fitting_chars(size.width as i32 - 2 * PAD, title_px);
    (text::clean(title, MAX_TITLE_CHARS.min(room)), title_px)
}

/// Height of the title's patch at the top, kept free of places when fitting the view.
fn title_band(title: &str, size: Size) -> f64 {
    let (title, title_px) = title_line(title, size);
    if title.is_empty() {
        0.0
    } else {
        f64::from(title_band_px(title_px))
    }
}

fn draw_title(root: &Area<'_>, title: &str, size: Size, palette: &Palette) -> Result<(), RenderError> {
    let (title, title_px) = title_line(title, size);
    if title.is_empty() {
        return Ok(());
    }
    let width = text::estimated_width(&title, title_px).ceil() as i32;
    let patch = Rectangle::new(
        [(0, 0), (PAD * 2 + width, title_band_px(title_px))],
        palette.background.mix(0.8).filled(),
    );
    root.draw(&patch).map_err(drawing_error)?;
    let style = bold(title_px)
        .color(&palette.text)
        .pos(Pos::new(HPos::Left, VPos::Top));
    root.draw(&Text::new(title, (PAD, PAD), style))
        .map_err(drawing_error)
}

/// The title's patch: the text and a margin around it.
fn title_band_px(title_px: f64) -> i32 {
    PAD * 2 + title_px as i32
}

/// A key for the severities on the map, bottom left; nothing when no point or leg has one.
fn draw_legend(root: &Area<'_>, spec: &MapSpec, size: Size, palette: &Palette) -> Result<(), RenderError> {
    let present = |s: Severity| {
        spec.points.iter().any(|p| p.severity == Some(s)) || spec.legs.iter().any(|l| l.severity == Some(s))
    };
    let shown: Vec<Severity> = Severity::ALL.into_iter().filter(|s| present(*s)).collect();
    if shown.is_empty() {
        return Ok(());
    }
    let widths: Vec<i32> = shown
        .iter()
        .map(|s| 14 + text::estimated_width(theme::severity_name(*s), LABEL_PX).ceil() as i32 + 8)
        .collect();
    let y = size.height as i32 - PAD - LABEL_PX as i32 / 2 - 2;
    let total: i32 = widths.iter().sum();
    let patch = Rectangle::new(
        [(0, y - 10), (PAD + total + 2, size.height as i32)],
        palette.background.mix(0.8).filled(),
    );
    root.draw(&patch).map_err(drawing_error)?;
    let style = font(LABEL_PX)
        .color(&palette.text)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let mut x = PAD;
    for (severity, width) in shown.iter().zip(widths) {
        root.draw(&Circle::new((x + 4, y), 4, theme::severity(*severity).filled()))
            .map_err(drawing_error)?;
        root.draw(&Text::new(
            theme::severity_name(*severity),
            (x + 12, y),
            style.clone(),
        ))
        .map_err(drawing_error)?;
        x += width;
    }
    Ok(())
}

const CREDIT_LINE: i32 = CREDIT_PX as i32 + 3;

/// The credits as drawn: the geolocation source when given (its licence may require the credit,
/// so it is shortened to fit, never dropped), and always Natural Earth. On one line when they
/// fit, else the source above the map credit.
fn credit_lines(attribution: Option<&str>, size: Size) -> Vec<String> {
    let room = size.width as i32 - 2 * PAD;
    let attribution = attribution
        .map(|a| text::clean(a, MAX_TITLE_CHARS))
        .filter(|a| !a.is_empty());
    let Some(attribution) = attribution else {
        return vec![NATURAL_EARTH_CREDIT.to_owned()];
    };
    let one_line = format!("{attribution} · {NATURAL_EARTH_CREDIT}");
    if text::estimated_width(&one_line, CREDIT_PX) <= f64::from(room) {
        return vec![one_line];
    }
    let shortened = text::clean(&attribution, text::fitting_chars(room, CREDIT_PX));
    vec![shortened, NATURAL_EARTH_CREDIT.to_owned()]
}

/// Height of the credits' patch at the bottom, kept free of places when fitting the view.
fn credits_band(spec: &MapSpec, size: Size) -> f64 {
    f64::from(credits_height(
        credit_lines(spec.attribution.as_deref(), size).len(),
    ))
}

fn credits_height(lines: usize) -> i32 {
    CREDIT_LINE * lines as i32 + 5
}

fn draw_credits(
    root: &Area<'_>,
    attribution: Option<&str>,
    size: Size,
    palette: &Palette,
) -> Result<(), RenderError> {
    let lines = credit_lines(attribution, size);
    let (right, bottom) = (size.width as i32, size.height as i32);
    let width = lines
        .iter()
        .map(|l| text::estimated_width(l, CREDIT_PX).ceil() as i32)
        .max()
        .unwrap_or(0);
    let patch = Rectangle::new(
        [
            (right - width - 2 * PAD, bottom - credits_height(lines.len())),
            (right, bottom),
        ],
        palette.background.mix(0.75).filled(),
    );
    root.draw(&patch).map_err(drawing_error)?;
    let style = font(CREDIT_PX)
        .color(&palette.muted)
        .pos(Pos::new(HPos::Right, VPos::Bottom));
    for (i, line) in lines.iter().rev().enumerate() {
        let y = bottom - 4 - i as i32 * CREDIT_LINE;
        root.draw(&Text::new(line.as_str(), (right - PAD, y), style.clone()))
            .map_err(drawing_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(lon: f64) -> Extent {
        Extent {
            lon_start: lon,
            lon_width: 0.0,
            south: 0.0,
            north: 0.0,
        }
    }

    #[test]
    fn the_world_asset_parses() {
        let world = WORLD.as_ref().unwrap();
        assert_eq!(world.len(), 126);
        assert_eq!(world.iter().filter(|r| r.hole).count(), 1);
        // 5 123 points, and two along the South Pole to close Antarctica.
        assert_eq!(world.iter().map(|r| r.points.len()).sum::<usize>(), 5125);
    }

    #[test]
    fn rings_across_the_antimeridian_are_unwrapped() {
        // Wrangel-island-like: crosses 180 and comes back.
        let ring = unwrap_ring(vec![(-180.0, 71.5), (180.0, 70.8), (178.7, 71.1), (-180.0, 71.5)]);
        assert_eq!(
            ring,
            vec![(-180.0, 71.5), (-180.0, 70.8), (-181.3, 71.1), (-180.0, 71.5)]
        );
        // Around the pole: closed along it.
        let ring = unwrap_ring(vec![
            (-60.0, -70.0),
            (60.0, -70.0),
            (179.0, -70.0),
            (-60.0, -70.0),
        ]);
        assert_eq!(ring.len(), 6);
        assert_eq!(ring[3], (300.0, -70.0));
        assert_eq!(&ring[4..], &[(300.0, -90.0), (-60.0, -90.0)]);
        // Every ring of the asset is continuous now, except along a pole.
        for ring in WORLD.as_ref().unwrap() {
            let along_pole = |w: &[(f64, f64)]| w[0].1.abs() == 90.0 && w[1].1.abs() == 90.0;
            assert!(
                ring.points
                    .windows(2)
                    .all(|w| (w[1].0 - w[0].0).abs() <= 180.0 || along_pole(w))
            );
        }
    }

    #[test]
    fn covering_arc_takes_the_short_way_round() {
        // Tokyo and Honolulu: across the antimeridian, about 62° wide.
        let (west, width) = covering_arc(&[extent(139.7), extent(-157.8)]).unwrap();
        assert!((west - 139.7).abs() < 1e-9, "{west}");
        assert!((width - 62.5).abs() < 1e-9, "{width}");
        // Berlin and New York: the Atlantic.
        let (west, width) = covering_arc(&[extent(13.4), extent(-74.0)]).unwrap();
        assert!(
            (west + 74.0).abs() < 1e-9 && (width - 87.4).abs() < 1e-9,
            "{west} {width}"
        );
        assert!(covering_arc(&[]).is_none());
        assert_eq!(
            covering_arc(&[Extent {
                lon_start: 0.0,
                lon_width: 400.0,
                south: 0.0,
                north: 0.0
            }]),
            Some((-180.0, 360.0))
        );
    }

    #[test]
    fn shortest_dlon_wraps() {
        assert_eq!(shortest_dlon(170.0, -170.0), 20.0);
        assert_eq!(shortest_dlon(-170.0, 170.0), -20.0);
        assert_eq!(shortest_dlon(10.0, 20.0), 10.0);
    }

    #[test]
    fn views_keep_their_shape_and_minimum_span() {
        let size = Size::new(800, 400);
        let world = View::fit(&[], size, (30.0, 20.0));
        assert_eq!(
            (world.west, world.north, world.lon_span, world.lat_span),
            (-180.0, 90.0, 360.0, 180.0)
        );

        let berlin = [Extent {
            lon_start: 13.4,
            lon_width: 0.0,
            south: 52.5,
            north: 52.5,
        }];
        let one = View::fit(&berlin, size, (0.0, 0.0));
        assert!(one.lon_span >= MIN_LON_SPAN);
        // Pixels per degree on screen match the image: no stretching.
        let (w, h) = (one.lon_span * one.lon_scale, one.lat_span * one.scale);
        assert!((w - 800.0).abs() < 1e-6 && (h - 400.0).abs() < 1e-6, "{w} {h}");
        let (x, y) = one.project(13.4, 52.5);
        assert!(
            (x - 400.0).abs() < 1.0 && (y - 200.0).abs() < 1.0,
            "centred: {x} {y}"
        );

        // Bands keep the title and the credits off the places, and the map still fills the image.
        let banded = View::fit(&berlin, size, (40.0, 60.0));
        let (_, y) = banded.project(13.4, 52.5);
        assert!(
            (y - 190.0).abs() < 1.0,
            "centred between the bands (40..340): {y}"
        );
        assert!((banded.lat_span * banded.scale - 400.0).abs() < 1e-6);
    }
}
