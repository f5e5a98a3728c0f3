//! Where a request came from and what sent it: GeoIP place with accuracy radius, network
//! (ASN, organisation, hosting or anonymizer), and the parsed User-Agent.
//!
//! Detectors reason about places and devices, not IPs and header strings, so events are
//! enriched once before detection. Both lookups are cached per distinct IP and per distinct UA:
//! a log of a million requests typically holds a few thousand of each, and the caches make
//! enrichment nearly free after the first sight. An [`Enricher`] is cheap to clone: clones share
//! the databases and the UA parser but keep their own caches, so each parsing thread gets one
//! without locks.
//!
//! GeoIP databases are optional. Without them, places given by the source are used and events
//! without one simply have no place (location detectors then stay silent for them). Where to
//! get databases: MaxMind GeoLite2 City and ASN (free account, EULA), or the CC BY 4.0 DB-IP
//! Lite / CC0 ip-location-db MMDB files, whose flat layout (`country_code`, `city`, `latitude`,
//! `longitude`) is read as well.

pub mod geoip;
pub mod network;
pub mod ua;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

pub use geoip::{AsnDb, CityDb, GeoIpError};
pub use network::NetClass;
pub use ua::{Device, DeviceClass, UaParser};

use crate::ingest::Event;

/// A client's location.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct Place {
    /// Latitude and longitude in degrees.
    pub coords: Option<(f64, f64)>,
    /// Radius in km within which the client is (GeoIP's `accuracy_radius`); `None` when the
    /// source does not say.
    pub accuracy_km: Option<f32>,
    pub city: Option<String>,
    /// ISO 3166 alpha-2 from GeoIP; vendor sources may give a name.
    pub country: Option<String>,
    pub source: PlaceSource,
}

impl Place {
    /// `London, GB` / `GB` / `51.51,-0.09`.
    pub fn label(&self) -> String {
        match (&self.city, &self.country, self.coords) {
            (Some(c), Some(k), _) => format!("{c}, {k}"),
            (None, Some(k), _) => k.clone(),
            (Some(c), None, _) => c.clone(),
            (None, None, Some((la, lo))) => format!("{la:.2},{lo:.2}"),
            (None, None, None) => "unknown place".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum PlaceSource {
    /// Given in the imported record.
    Input,
    #[serde(rename = "geoip")]
    GeoIp,
}

/// The network a client was on.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct Network {
    pub asn: Option<u32>,
    pub org: Option<String>,
    pub class: NetClass,
}

impl Network {
    /// Classifies from the AS number, the organisation's name and the source's proxy flag.
    pub fn new(asn: Option<u32>, org: Option<String>, proxy: bool) -> Self {
        let class = network::classify(asn, org.as_deref(), proxy);
        Network { asn, org, class }
    }

    /// `AS16509 (Amazon.com, Inc.)`.
    pub fn label(&self) -> String {
        match (self.asn, &self.org) {
            (Some(a), Some(o)) => format!("AS{a} ({o})"),
            (Some(a), None) => format!("AS{a}"),
            (None, Some(o)) => o.clone(),
            (None, None) => "unknown network".into(),
        }
    }
}

/// Paths of the optional databases.
#[derive(Debug, Clone, Default)]
pub struct EnrichConfig {
    /// A city MMDB (GeoIP2/GeoLite2 City or DB-IP / ip-location-db city).
    pub city_db: Option<std::path::PathBuf>,
    /// An ASN MMDB (GeoLite2 ASN or ip-location-db ASN).
    pub asn_db: Option<std::path::PathBuf>,
}

struct Shared {
    city: Option<CityDb>,
    asn: Option<AsnDb>,
    ua: UaParser,
}

pub(crate) type IpEntry = (Option<Arc<Place>>, Option<Arc<Network>>);

/// Fills `place`, `network` and `device` on events. Clone one per thread.
#[derive(Clone)]
pub struct Enricher {
    shared: Arc<Shared>,
    ips: FxHashMap<IpAddr, IpEntry>,
    uas: FxHashMap<Box<str>, Arc<Device>>,
    pub stats: EnrichStats,
}

/// How many lookups hit the databases versus the caches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, specta::Type)]
pub struct EnrichStats {
    pub ip_lookups: u64,
    pub ip_cache_hits: u64,
    pub ua_parses: u64,
    pub ua_cache_hits: u64,
}

impl EnrichStats {
    pub fn add(&mut self, o: &EnrichStats) {
        self.ip_lookups += o.ip_lookups;
        self.ip_cache_hits += o.ip_cache_hits;
        self.ua_parses += o.ua_parses;
        self.ua_cache_hits += o.ua_cache_hits;
    }
}

/// Whether GeoIP has anything to add to what a source gave: a place without coordinates, or no
/// network.
pub(crate) fn needs_lookup(place: Option<&Arc<Place>>, network: Option<&Arc<Network>>) -> bool {
    place.is_none_or(|p| p.coords.is_none()) || network.is_none()
}

/// A source's place that named a city or country, completed with GeoIP's coordinates.
pub(crate) fn complete(src: &Place, geo: &Place) -> Arc<Place> {
    Arc::new(Place {
        coords: geo.coords,
        accuracy_km: geo.accuracy_km,
        city: src.city.clone().or_else(|| geo.city.clone()),
        country: src.country.clone().or_else(|| geo.country.clone()),
        source: PlaceSource::GeoIp,
    })
}

/// Bounds each cache; past it the cache is cleared (cheap, and keeps memory flat on huge inputs).
pub(crate) const CACHE_LIMIT: usize = 200_000;

impl Enricher {
    /// Opens (maps) the configured databases. The User-Agent regexes are compiled on the first
    /// parse, or earlier by [`UaParser::warm_up`] (batch analysis starts them at once; the
    /// console, which often opens the databases only for their attribution, does not pay the
    /// compile time and memory until it parses a User-Agent).
    pub fn open(config: &EnrichConfig) -> Result<Self, GeoIpError> {
        let city = config.city_db.as_deref().map(CityDb::open).transpose()?;
        let asn = config.asn_db.as_deref().map(AsnDb::open).transpose()?;
        Ok(Self::with(city, asn))
    }

    /// Without GeoIP: only places and networks given by sources, plus UA parsing.
    pub fn without_geoip() -> Self {
        Self::with(None, None)
    }

    pub fn with(city: Option<CityDb>, asn: Option<AsnDb>) -> Self {
        Enricher {
            shared: Arc::new(Shared {
                city,
                asn,
                ua: UaParser::new(),
            }),
            ips: FxHashMap::default(),
            uas: FxHashMap::default(),
            stats: EnrichStats::default(),
        }
    }

    /// Opens a city database from a path; convenience for callers that only have one.
    pub fn with_city_path(path: &Path) -> Result<Self, GeoIpError> {
        Ok(Self::with(Some(CityDb::open(path)?), None))
    }

    pub fn has_city_db(&self) -> bool {
        self.shared.city.is_some()
    }

    /// The city database's `database_type` metadata, when one is open.
    pub fn city_database_type(&self) -> Option<String> {
        self.shared.city.as_ref().map(|c| c.database_type().to_string())
    }

    pub fn has_asn_db(&self) -> bool {
        self.shared.asn.is_some()
    }

    /// Fills what the source left empty. A source's place wins over GeoIP, except that GeoIP
    /// coordinates complete a source place that only named a city or country.
    pub fn enrich(&mut self, e: &mut Event) {
        self.fill(e.ip, &mut e.place, &mut e.network);
        if e.device.is_none()
            && let Some(ua) = e.ua.as_deref()
        {
            e.device = Some(self.device(ua));
        }
    }

    /// The place and network part of [`Self::enrich`].
    pub fn fill(
        &mut self,
        ip: Option<IpAddr>,
        place: &mut Option<Arc<Place>>,
        network: &mut Option<Arc<Network>>,
    ) {
        if let Some(ip) = ip
            && needs_lookup(place.as_ref(), network.as_ref())
        {
            let (geo_place, net) = self.lookup_ip(ip);
            if place.as_ref().is_none_or(|p| p.coords.is_none())
                && let Some(geo) = geo_place
            {
                *place = Some(match place.take() {
                    Some(src) => complete(&src, &geo),
                    None => geo,
                });
            }
            if network.is_none() {
                *network = net;
            }
        }
    }

    /// The place and network of an IP, cached.
    pub fn lookup_ip(&mut self, ip: IpAddr) -> IpEntry {
        if let Some(hit) = self.ips.get(&ip) {
            self.stats.ip_cache_hits += 1;
            return hit.clone();
        }
        self.stats.ip_lookups += 1;
        let (place, net) = self.resolve_ip(ip);
        if self.ips.len() >= CACHE_LIMIT {
            self.ips.clear();
        }
        self.ips.insert(ip, (place.clone(), net.clone()));
        (place, net)
    }

    /// The place and network of an IP from the databases (no cache, no counting).
    pub(crate) fn resolve_ip(&self, ip: IpAddr) -> IpEntry {
        let (place, city_net) = match self.shared.city.as_ref() {
            Some(db) => db.lookup(ip),
            None => (None, None),
        };
        let asn_net = self.shared.asn.as_ref().and_then(|db| db.lookup(ip));
        let net = match (asn_net, city_net) {
            (Some(mut a), Some(c)) => {
                // The ASN database names the network; the city database may know it is an anonymizer.
                if c.class.is_anonymizer() || (c.class == NetClass::Hosting && !a.class.is_anonymizer()) {
                    a.class = c.class;
                }
                Some(a)
            }
            (a, c) => a.or(c),
        };
        (place.map(Arc::new), net.map(Arc::new))
    }

    /// The parsed User-Agent (no cache, no counting).
    pub(crate) fn resolve_ua(&self, ua: &str) -> Device {
        self.shared.ua.parse(ua)
    }

    /// The parsed User-Agent, cached.
    pub fn device(&mut self, ua: &str) -> Arc<Device> {
        if let Some(d) = self.uas.get(ua) {
            self.stats.ua_cache_hits += 1;
            return d.clone();
        }
        self.stats.ua_parses += 1;
        let d = Arc::new(self.resolve_ua(ua));
        if self.uas.len() >= CACHE_LIMIT {
            self.uas.clear();
        }
        self.uas.insert(ua.into(), d.clone());
        d
    }
}
