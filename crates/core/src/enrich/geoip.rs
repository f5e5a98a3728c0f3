//! MMDB lookups for two database layouts.
//!
//! MaxMind's GeoIP2/GeoLite2 City nests its fields (`city.names.en`, `country.iso_code`,
//! `location.{latitude,longitude,accuracy_radius}`, `traits.is_anonymous_proxy`...), while the
//! openly licensed DB-IP / ip-location-db city files are flat (`country_code`, `city`,
//! `latitude`, `longitude`). Analysts use whichever they have, so one record type accepts both:
//! each field is read from whichever spelling is present. ASN databases share one layout
//! (`autonomous_system_number`, `autonomous_system_organization`).
//!
//! Flat layouts give no accuracy radius; their places carry `accuracy_km: None` and the travel
//! detector applies its configured default radius.
//!
//! Database files are mapped, not read into the heap ([`gatehouse_mapped::Mapped`]): a city
//! database is 60–130 MB, and a process only needs the pages its lookups touch.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use maxminddb::Reader;
use serde::Deserialize;

use super::{Network, Place, PlaceSource};

#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot open GeoIP database {path}: {source}")]
    Open {
        path: String,
        source: maxminddb::MaxMindDbError,
    },
}

/// A number stored as any MMDB numeric type (uint16, uint32, float, double...): databases built
/// by different tools disagree on widths, and a strict decoder rejects a whole record over it.
#[derive(Clone, Copy)]
struct Num(f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_f32<E>(self, v: f32) -> Result<Num, E> {
                Ok(Num(f64::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Num {
    fn u32(self) -> Option<u32> {
        (self.0 >= 0.0 && self.0 <= f64::from(u32::MAX) && self.0.fract() == 0.0).then_some(self.0 as u32)
    }
    /// Floats stored as single precision read back with noise (38.7223 -> 38.722301483): keep 6 decimals.
    fn coord(self) -> f64 {
        (self.0 * 1e6).round() / 1e6
    }
}

/// `city` is `{"names": {"en": …}}` in MaxMind's layout and a plain string in the flat one.
#[derive(Deserialize)]
#[serde(untagged)]
enum NameField<'a> {
    Plain(&'a str),
    Named {
        #[serde(borrow, default)]
        names: BTreeMap<&'a str, &'a str>,
        #[serde(borrow, default)]
        iso_code: Option<&'a str>,
    },
}

impl<'a> NameField<'a> {
    fn name(&self) -> Option<&'a str> {
        match self {
            NameField::Plain(s) => Some(s),
            NameField::Named { names, .. } => names.get("en").or_else(|| names.values().next()).copied(),
        }
    }
    fn code(&self) -> Option<&'a str> {
        match self {
            NameField::Plain(s) => Some(s),
            NameField::Named { iso_code, .. } => *iso_code,
        }
    }
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<Num>,
    longitude: Option<Num>,
    accuracy_radius: Option<Num>,
}

#[derive(Deserialize, Default)]
struct Traits<'a> {
    is_anonymous_proxy: Option<bool>,
    is_anonymous: Option<bool>,
    is_anonymous_vpn: Option<bool>,
    is_tor_exit_node: Option<bool>,
    is_public_proxy: Option<bool>,
    is_residential_proxy: Option<bool>,
    is_hosting_provider: Option<bool>,
    autonomous_system_number: Option<Num>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow)]
    city: Option<NameField<'a>>,
    #[serde(borrow)]
    country: Option<NameField<'a>>,
    #[serde(borrow)]
    country_code: Option<&'a str>,
    location: Option<Location>,
    latitude: Option<Num>,
    longitude: Option<Num>,
    #[serde(borrow)]
    traits: Option<Traits<'a>>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<Num>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

/// A database's bytes: a mapped file, or bytes given by the caller.
enum Bytes {
    Mapped(gatehouse_mapped::Mapped),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m.as_ref(),
            Bytes::Owned(v) => v,
        }
    }
}

/// A city database in either layout.
pub struct CityDb {
    reader: Reader<Bytes>,
}

/// An ASN database.
pub struct AsnDb {
    reader: Reader<Bytes>,
}

fn open(path: &Path) -> Result<Reader<Bytes>, GeoIpError> {
    let failed = |source| GeoIpError::Open {
        path: path.display().to_string(),
        source,
    };
    let mapped =
        gatehouse_mapped::Mapped::open(path).map_err(|e| failed(maxminddb::MaxMindDbError::Io(e)))?;
    Reader::from_source(Bytes::Mapped(mapped)).map_err(failed)
}

fn from_bytes(bytes: Vec<u8>) -> Result<Reader<Bytes>, GeoIpError> {
    Reader::from_source(Bytes::Owned(bytes)).map_err(|source| GeoIpError::Open {
        path: "<memory>".into(),
        source,
    })
}

impl CityDb {
    pub fn open(path: &Path) -> Result<Self, GeoIpError> {
        Ok(CityDb { reader: open(path)? })
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoIpError> {
        Ok(CityDb {
            reader: from_bytes(bytes)?,
        })
    }

    /// The database's type as its metadata names it (`GeoIP2-City`, `DBIP-City-Lite`...).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The place of an IP, and the network when the city database also carries ASN or
    /// anonymizer traits (GeoIP2 Enterprise/City). Lookup errors are logged and read as "no data".
    pub fn lookup(&self, ip: IpAddr) -> (Option<Place>, Option<Network>) {
        let rec = match self.reader.lookup(ip).and_then(|r| r.decode::<CityRecord<'_>>()) {
            Ok(Some(r)) => r,
            Ok(None) => return (None, None),
            Err(e) => {
                tracing::debug!(%ip, error = %e, "GeoIP city lookup failed");
                return (None, None);
            }
        };
        let (lat, lon, radius) = match &rec.location {
            Some(l) => (l.latitude, l.longitude, l.accuracy_radius),
            None => (rec.latitude, rec.longitude, None),
        };
        let coords = match (lat.or(rec.latitude), lon.or(rec.longitude)) {
            (Some(la), Some(lo)) if la.0.is_finite() && lo.0.is_finite() => Some((la.coord(), lo.coord())),
            _ => None,
        };
        let city = rec
            .city
            .as_ref()
            .and_then(NameField::name)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let country = rec
            .country
            .as_ref()
            .and_then(NameField::code)
            .or(rec.country_code)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let place = (coords.is_some() || city.is_some() || country.is_some()).then(|| Place {
            coords,
            accuracy_km: radius.map(|r| r.0 as f32),
            city,
            country,
            source: PlaceSource::GeoIp,
        });
        let t = rec.traits.unwrap_or_default();
        let anonymizer = [
            t.is_anonymous_proxy,
            t.is_anonymous,
            t.is_anonymous_vpn,
            t.is_tor_exit_node,
            t.is_public_proxy,
            t.is_residential_proxy,
        ]
        .contains(&Some(true));
        let hosting = t.is_hosting_provider == Some(true);
        let asn = t.autonomous_system_number.and_then(Num::u32);
        let network = (anonymizer || hosting || asn.is_some()).then(|| {
            let mut n = Network::new(
                asn,
                t.autonomous_system_organization.map(str::to_owned),
                anonymizer,
            );
            if hosting && !n.class.is_anonymizer() {
                n.class = super::NetClass::Hosting;
            }
            n
        });
        (place, network)
    }
}

impl AsnDb {
    pub fn open(path: &Path) -> Result<Self, GeoIpError> {
        Ok(AsnDb { reader: open(path)? })
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoIpError> {
        Ok(AsnDb {
            reader: from_bytes(bytes)?,
        })
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<Network> {
        match self.reader.lookup(ip).and_then(|r| r.decode::<AsnRecord<'_>>()) {
            Ok(Some(r))
                if r.autonomous_system_number.is_some() || r.autonomous_system_organization.is_some() =>
            {
                Some(Network::new(
                    r.autonomous_system_number.and_then(Num::u32),
                    r.autonomous_system_organization.map(str::to_owned),
                    false,
                ))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(%ip, error = %e, "GeoIP ASN lookup failed");
                None
            }
        }
    }
}
