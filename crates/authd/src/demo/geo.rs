//! Real places for simulated clients: a city catalogue and addresses picked by city from a GeoIP
//! database (MMDB).
//!
//! The demo wants its traffic to look right to anyone who geolocates it with a real database,
//! so it never invents addresses: it walks the database's IPv4 networks, keeps those whose
//! record names a city it wants, and later picks hosts inside them. Two record layouts are
//! read: DB-IP / ip-location-db (`city`, `country_code`, `latitude`, `longitude` at the top) and
//! MaxMind GeoIP2 (`city.names.en`, `country.iso_code`, `location.latitude`), so tests can use
//! MaxMind's small test database.
//!
//! The catalogue prefers well-known cities ([`PREFERRED`], matched by country, name and a
//! distance check against homonyms); when a database knows too few of them (test data), it is
//! topped up with the database's other cities by size. Everything is in database order, so the
//! same file and seed give the same addresses.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::rng::Rng;

/// Attribution DB-IP's licence (CC BY 4.0) asks for.
pub const DBIP_ATTRIBUTION: &str = "IP geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0";
/// Attribution for MaxMind data (the test databases used by the tests).
pub const MAXMIND_ATTRIBUTION: &str =
    "This product includes GeoIP2/GeoLite2 data created by MaxMind, available from https://www.maxmind.com";

/// Fewer matched preferred cities than this and the catalogue is topped up from the database.
const MIN_CITIES: usize = 12;
/// Largest catalogue built from a database's own cities.
const MAX_CITIES: usize = 48;
/// Networks kept per city (the first ones in database order).
const MAX_NETWORKS_PER_CITY: usize = 4096;
/// A record named like a preferred city but further than this from it is a homonym.
const HOMONYM_KM: f64 = 75.0;

/// Well-known cities the demo's population lives in and its thieves operate from:
/// (country, name as DB-IP and MaxMind spell it, latitude, longitude).
pub const PREFERRED: &[(&str, &str, f64, f64)] = &[
    ("GB", "London", 51.507, -0.128),
    ("DE", "Berlin", 52.520, 13.405),
    ("FR", "Paris", 48.857, 2.352),
    ("NL", "Amsterdam", 52.368, 4.904),
    ("US", "New York", 40.713, -74.006),
    ("US", "San Francisco", 37.775, -122.419),
    ("ES", "Madrid", 40.417, -3.704),
    ("IT", "Milan", 45.464, 9.190),
    ("SE", "Stockholm", 59.329, 18.069),
    ("PL", "Warsaw", 52.230, 21.012),
    ("IE", "Dublin", 53.350, -6.260),
    ("CA", "Toronto", 43.653, -79.383),
    ("US", "Chicago", 41.878, -87.630),
    ("US", "Seattle", 47.606, -122.332),
    ("GB", "Manchester", 53.480, -2.240),
    ("DE", "Munich", 48.137, 11.575),
    ("FR", "Lyon", 45.764, 4.835),
    ("CH", "Zurich", 47.377, 8.542),
    ("AT", "Vienna", 48.208, 16.374),
    ("BE", "Brussels", 50.850, 4.350),
    ("DK", "Copenhagen", 55.676, 12.568),
    ("CZ", "Prague", 50.075, 14.438),
    ("PT", "Lisbon", 38.722, -9.139),
    ("ES", "Barcelona", 41.385, 2.173),
    ("DE", "Hamburg", 53.551, 9.994),
    ("US", "Los Angeles", 34.052, -118.244),
    ("US", "San Diego", 32.716, -117.161),
    ("US", "Boston", 42.360, -71.058),
    ("CA", "Montreal", 45.502, -73.567),
    ("JP", "Tokyo", 35.676, 139.650),
    ("SG", "Singapore", 1.352, 103.820),
    ("AU", "Sydney", -33.869, 151.209),
    ("AU", "Melbourne", -37.814, 144.963),
    ("BR", "São Paulo", -23.550, -46.633),
    ("AR", "Buenos Aires", -34.604, -58.382),
    ("MX", "Mexico City", 19.433, -99.133),
    ("IN", "Mumbai", 19.076, 72.878),
    ("IN", "Bengaluru", 12.972, 77.595),
    ("AE", "Dubai", 25.205, 55.271),
    ("ZA", "Johannesburg", -26.204, 28.047),
    ("NG", "Lagos", 6.524, 3.379),
    ("KE", "Nairobi", -1.292, 36.822),
    ("TR", "Istanbul", 41.008, 28.978),
    ("HK", "Hong Kong", 22.319, 114.169),
    ("KR", "Seoul", 37.567, 126.978),
    ("ID", "Jakarta", -6.200, 106.816),
    ("RO", "Bucharest", 44.426, 26.102),
    ("UA", "Kyiv", 50.450, 30.523),
    ("VN", "Hanoi", 21.028, 105.834),
    ("TH", "Bangkok", 13.756, 100.502),
];

/// A city of the catalogue, with coordinates as the database gives them.
#[derive(Debug, Clone)]
pub struct City {
    pub name: String,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Whether it came from [`PREFERRED`] (false: topped up from the database).
    pub preferred: bool,
    networks: Vec<(u32, u8)>,
}

/// What the database says about one address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located {
    pub city: Option<String>,
    pub country: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// The database plus the catalogue built from it.
pub struct Atlas {
    reader: maxminddb::Reader<Vec<u8>>,
    cities: Vec<City>,
    attribution: String,
    source: String,
}

/// Great-circle distance (haversine, mean Earth radius).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    const R: f64 = 6371.0088;
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

impl City {
    pub fn coords(&self) -> (f64, f64) {
        (self.latitude, self.longitude)
    }

    pub fn label(&self) -> String {
        format!("{}, {}", self.name, self.country)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CityField {
    Name(String),
    Names { names: BTreeMap<String, String> },
}

#[derive(Deserialize)]
struct CountryField {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct LocationField {
    latitude: Option<Coord>,
    longitude: Option<Coord>,
}

/// A coordinate stored as MMDB `double` (MaxMind) or `float` (DB-IP).
#[derive(Debug, Clone, Copy)]
struct Coord(f64);

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Coord, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Coord;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Coord, E> {
                Ok(Coord(v))
            }
            fn visit_f32<E>(self, v: f32) -> Result<Coord, E> {
                // Through the shortest decimal form: 51.5143 stays 51.5143, not 51.51430130004883.
                Ok(Coord(v.to_string().parse().unwrap_or(f64::from(v))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Coord, E> {
                Ok(Coord(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Coord, E> {
                Ok(Coord(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields the demo reads, in either layout.
#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    city: Option<CityField>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    country: Option<CountryField>,
    #[serde(default)]
    latitude: Option<Coord>,
    #[serde(default)]
    longitude: Option<Coord>,
    #[serde(default)]
    location: Option<LocationField>,
}

impl Record {
    fn located(self) -> Located {
        let city = match self.city {
            Some(CityField::Name(n)) => Some(n),
            Some(CityField::Names { names }) => names.get("en").cloned(),
            None => None,
        }
        .filter(|n| !n.is_empty());
        let country = self
            .country_code
            .or_else(|| self.country.and_then(|c| c.iso_code))
            .filter(|c| !c.is_empty());
        let (lat, lon) = match self.location {
            Some(l) => (l.latitude, l.longitude),
            None => (self.latitude, self.longitude),
        };
        Located {
            city,
            country,
            latitude: lat.map(|c| c.0),
            longitude: lon.map(|c| c.0),
        }
    }
}

/// Per distinct record: which city key it belongs to and how many addresses point at it.
struct RecordInfo {
    key: Option<usize>,
    preferred: Option<usize>,
    coords: Option<(f64, f64)>,
    addresses: u64,
}

#[derive(Default)]
struct KeyStats {
    country: String,
    name: String,
    addresses: u64,
}

impl Atlas {
    /// Reads the database and builds the catalogue. `attribution` overrides the detected one.
    pub fn open(path: &Path, attribution: Option<String>) -> anyhow::Result<Atlas> {
        let reader = maxminddb::Reader::open_readfile(path)
            .with_context(|| format!("cannot read GeoIP database {}", path.display()))?;
        let source = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let attribution = attribution
            .unwrap_or_else(|| detect_attribution(&path.to_string_lossy(), &reader.metadata().database_type));
        let cities = build_catalogue(&reader)?;
        if cities.len() < 3 {
            anyhow::bail!(
                "GeoIP database {} names only {} usable cities; the demo needs at least 3",
                path.display(),
                cities.len()
            );
        }
        Ok(Atlas {
            reader,
            cities,
            attribution,
            source,
        })
    }

    pub fn cities(&self) -> &[City] {
        &self.cities
    }

    pub fn attribution(&self) -> &str {
        &self.attribution
    }

    /// File name of the database.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    pub fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }

    /// A host address in one of the city's networks.
    pub fn pick_ip(&self, city: usize, rng: &mut Rng) -> IpAddr {
        let Some(c) = self.cities.get(city) else {
            return IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        };
        let Some(&(base, prefix)) = rng.pick(&c.networks) else {
            return IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        };
        let size = 1u64 << (32 - u32::from(prefix.min(32)));
        let host = if size >= 4 {
            rng.range(1, (size - 2) as i64) as u64
        } else {
            rng.below(size as usize) as u64
        };
        IpAddr::V4(Ipv4Addr::from(base.wrapping_add(host as u32)))
    }

    /// What the database says about `ip`.
    pub fn locate(&self, ip: IpAddr) -> Option<Located> {
        let found = self.reader.lookup(ip).ok()?;
        let record: Record = found.decode().ok()??;
        Some(record.located())
    }
}

fn detect_attribution(path: &str, database_type: &str) -> String {
    let p = path.to_ascii_lowercase();
    let t = database_type.to_ascii_lowercase();
    if p.contains("dbip") || p.contains("db-ip") || t.contains("dbip") || t.contains("db-ip") {
        DBIP_ATTRIBUTION.to_owned()
    } else if t.starts_with("geoip2") || t.starts_with("geolite2") || p.contains("geolite2") {
        MAXMIND_ATTRIBUTION.to_owned()
    } else {
        format!("IP geolocation from {path} (database type {database_type:?}); attribution unknown")
    }
}

fn ipv4_network(n: &ipnetwork::IpNetwork) -> Option<(u32, u8)> {
    match n {
        ipnetwork::IpNetwork::V4(v4) => Some((u32::from(v4.network()), v4.prefix())),
        ipnetwork::IpNetwork::V6(_) => None,
    }
}

fn build_catalogue(reader: &maxminddb::Reader<Vec<u8>>) -> anyhow::Result<Vec<City>> {
    let all_v4: ipnetwork::IpNetwork = "0.0.0.0/0".parse()?;
    let mut records: HashMap<usize, RecordInfo> = HashMap::new();
    let mut keys: Vec<KeyStats> = Vec::new();
    let mut key_index: HashMap<(String, String), usize> = HashMap::new();
    let mut preferred_networks: Vec<Vec<(u32, u8)>> = vec![Vec::new(); PREFERRED.len()];
    let preferred_index: HashMap<(&str, &str), usize> = PREFERRED
        .iter()
        .enumerate()
        .map(|(i, (cc, name, _, _))| ((*cc, *name), i))
        .collect();

    for item in reader.within(all_v4, Default::default())? {
        let found = item?;
        let Some(offset) = found.offset() else {
            continue;
        };
        let Some((base, prefix)) = found.network().ok().as_ref().and_then(ipv4_network) else {
            continue;
        };
        let size = 1u64 << (32 - u32::from(prefix.min(32)));
        let info = match records.entry(offset) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let located = found.decode::<Record>()?.map(Record::located);
                let (key, preferred, coords) = match located {
                    Some(Located {
                        city: Some(name),
                        country: Some(cc),
                        latitude,
                        longitude,
                    }) => {
                        let coords = latitude.zip(longitude);
                        let preferred = preferred_index
                            .get(&(cc.as_str(), name.as_str()))
                            .copied()
                            .filter(|&i| {
                                let (_, _, lat, lon) = PREFERRED[i];
                                coords.is_none_or(|c| distance_km(c, (lat, lon)) <= HOMONYM_KM)
                            });
                        let next = keys.len();
                        let key = *key_index.entry((cc.clone(), name.clone())).or_insert(next);
                        if key == next {
                            keys.push(KeyStats {
                                country: cc,
                                name,
                                addresses: 0,
                            });
                        }
                        (Some(key), preferred, coords)
                    }
                    _ => (None, None, None),
                };
                e.insert(RecordInfo {
                    key,
                    preferred,
                    coords,
                    addresses: 0,
                })
            }
        };
        info.addresses += size;
        if let Some(k) = info.key
            && let Some(stats) = keys.get_mut(k)
        {
            stats.addresses += size;
        }
        if let Some(p) = info.preferred
            && let Some(list) = preferred_networks.get_mut(p)
            && list.len() < MAX_NETWORKS_PER_CITY
        {
            list.push((base, prefix));
        }
    }

    // Coordinates of a city: those of its record covering the most addresses (ties: lowest
    // offset), i.e. what most of its addresses geolocate to.
    let representative = |matches: &dyn Fn(&RecordInfo) -> bool| -> Option<(f64, f64)> {
        let mut best: Option<(u64, usize, (f64, f64))> = None;
        for (offset, r) in &records {
            if let (true, Some(c)) = (matches(r), r.coords) {
                let better = match best {
                    None => true,
                    Some((a, o, _)) => r.addresses > a || (r.addresses == a && *offset < o),
                };
                if better {
                    best = Some((r.addresses, *offset, c));
                }
            }
        }
        best.map(|b| b.2)
    };

    let mut cities = Vec::new();
    for (i, networks) in preferred_networks.into_iter().enumerate() {
        if networks.is_empty() {
            continue;
        }
        let (cc, name, lat, lon) = PREFERRED[i];
        let (latitude, longitude) = representative(&|r| r.preferred == Some(i)).unwrap_or((lat, lon));
        cities.push(City {
            name: name.to_owned(),
            country: cc.to_owned(),
            latitude,
            longitude,
            preferred: true,
            networks,
        });
    }
    if cities.len() >= MIN_CITIES {
        return Ok(cities);
    }

    // Top up with the database's biggest other cities (a second, cheap pass: no decoding).
    let taken: Vec<(String, String)> = cities
        .iter()
        .map(|c| (c.country.clone(), c.name.clone()))
        .collect();
    let mut extra: Vec<usize> = (0..keys.len())
        .filter(|&k| {
            keys.get(k)
                .is_some_and(|s| !taken.contains(&(s.country.clone(), s.name.clone())))
        })
        .collect();
    extra.sort_by(|&a, &b| {
        let (sa, sb) = (&keys[a], &keys[b]);
        sb.addresses
            .cmp(&sa.addresses)
            .then_with(|| (&sa.country, &sa.name).cmp(&(&sb.country, &sb.name)))
    });
    extra.truncate(MAX_CITIES.saturating_sub(cities.len()));
    let slot: HashMap<usize, usize> = extra.iter().enumerate().map(|(i, &k)| (k, i)).collect();
    let mut extra_networks: Vec<Vec<(u32, u8)>> = vec![Vec::new(); extra.len()];
    for item in reader.within(all_v4, Default::default())? {
        let found = item?;
        let Some(info) = found.offset().and_then(|o| records.get(&o)) else {
            continue;
        };
        let Some(s) = info.key.and_then(|k| slot.get(&k)) else {
            continue;
        };
        if let (Some(list), Some(net)) = (
            extra_networks.get_mut(*s),
            found.network().ok().as_ref().and_then(ipv4_network),
        ) && list.len() < MAX_NETWORKS_PER_CITY
        {
            list.push(net);
        }
    }
    for (i, k) in extra.iter().enumerate() {
        let Some(coords) = representative(&|r| r.key == Some(*k)) else {
            continue;
        };
        let networks = std::mem::take(&mut extra_networks[i]);
        if networks.is_empty() {
            continue;
        }
        cities.push(City {
            name: keys[*k].name.clone(),
            country: keys[*k].country.clone(),
            latitude: coords.0,
            longitude: coords.1,
            preferred: false,
            networks,
        });
    }
    Ok(cities)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_DB: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/geoip/GeoIP2-City-Test.mmdb"
    );

    #[test]
    fn haversine_matches_the_shared_oracle() {
        // impossible-travel-pairs.csv: London 81.2.69.142 -> Changchun 175.16.199.0 = 8182 km.
        let d = distance_km((51.5142, -0.0931), (43.88, 125.3228));
        assert!((d - 8182.0).abs() < 1.0, "{d}");
    }

    #[test]
    fn maxmind_test_database_gives_a_catalogue_and_addresses_that_geolocate_back() {
        let atlas = Atlas::open(Path::new(TEST_DB), None).unwrap();
        assert_eq!(atlas.attribution(), MAXMIND_ATTRIBUTION);
        let names: Vec<String> = atlas.cities().iter().map(City::label).collect();
        assert!(names.contains(&"London, GB".to_owned()), "{names:?}");
        assert!(names.contains(&"Linköping, SE".to_owned()), "{names:?}");
        let london = atlas.cities().iter().position(|c| c.name == "London").unwrap();
        let mut rng = Rng::derive(1, "t");
        for i in 0..atlas.cities().len() {
            for _ in 0..5 {
                let ip = atlas.pick_ip(i, &mut rng);
                let at = atlas.locate(ip).unwrap();
                assert_eq!(at.city.as_deref(), Some(atlas.cities()[i].name.as_str()), "{ip}");
            }
        }
        let l = &atlas.cities()[london];
        assert!((l.latitude - 51.5142).abs() < 0.01 && (l.longitude + 0.0931).abs() < 0.01);
    }
}
