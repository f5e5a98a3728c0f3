//! Distances between places, with their uncertainty.
//!
//! GeoIP places are circles, not points: MaxMind publishes an accuracy radius per network (often
//! 100 km or more, 1000 km for a country-level guess). Two lookups 600 km apart with 100 km radii
//! may be only 400 km apart in reality, so every distance a detector judges is the great-circle
//! distance minus both radii (the smallest distance consistent with the data). The arithmetic is
//! shown in explanations so an analyst can redo it.

use crate::enrich::{NetClass, Place};

/// Mean Earth radius (IUGG), the same constant the test oracle uses.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km (haversine).
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The radius used for a place: its own, or the default; widened for mobile carriers.
pub fn radius_km(place: &Place, class: Option<NetClass>, default_km: f64, mobile_extra_km: f64) -> f64 {
    let r = place.accuracy_km.map(f64::from).unwrap_or(default_km);
    if class == Some(NetClass::Mobile) {
        r + mobile_extra_km
    } else {
        r
    }
}

/// A coarse grid cell (about 1° of latitude by 1° of longitude scaled by latitude, ~110 km):
/// the unit in which places are learned, so that nearby lookups of one city count as one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell(pub i16, pub i16);

impl Cell {
    pub fn of(coords: (f64, f64)) -> Cell {
        let (lat, lon) = coords;
        let lon_scale = lat.to_radians().cos().max(0.05);
        Cell(lat.round() as i16, (lon * lon_scale).round() as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared oracle: great-circle distances between the MaxMind test IPs' coordinates.
    #[test]
    fn haversine_matches_the_oracle_pairs() {
        let london = (51.5142, -0.0931);
        let boxford = (51.75, -1.25);
        let changchun = (43.88, 125.3228);
        let milton = (47.2513, -122.3149);
        let linkoping = (58.4167, 15.6167);
        assert!((haversine_km(london, boxford) - 84.0).abs() < 0.1);
        assert!((haversine_km(london, changchun) - 8182.1).abs() < 0.1);
        assert!((haversine_km(london, milton) - 7732.3).abs() < 0.1);
        assert!((haversine_km(london, linkoping) - 1257.7).abs() < 0.1);
        assert_eq!(haversine_km(london, london), 0.0);
    }

    #[test]
    fn cells_group_a_city() {
        assert_eq!(Cell::of((51.3, -0.0931)), Cell::of((51.45, -0.2)));
        assert_ne!(Cell::of((51.5142, -0.0931)), Cell::of((50.11, 8.68)));
    }
}
