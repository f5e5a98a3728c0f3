#![allow(clippy::unwrap_used, clippy::expect_used)]
//! GeoIP enrichment against the shared oracle (MaxMind test databases and the CSV derived from
//! their JSON sources), and the flat DB-IP / ip-location-db layout through a database written
//! here with `mmdb-writer`.

use std::net::IpAddr;
use std::path::PathBuf;

use gatehouse_core::enrich::{AsnDb, CityDb, DeviceClass, Enricher, NetClass, PlaceSource};
use gatehouse_core::ingest::Event;

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip")).join(name)
}

struct Row {
    ip: IpAddr,
    country: String,
    city: String,
    lat: Option<f64>,
    lon: Option<f64>,
    radius: Option<f32>,
    asn: Option<u32>,
}

fn oracle() -> Vec<Row> {
    let text = std::fs::read_to_string(data("test-ips.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Row {
                ip: c[0].parse().unwrap(),
                country: c[2].into(),
                city: c[3].into(),
                lat: c[4].parse().ok(),
                lon: c[5].parse().ok(),
                radius: c[6].parse().ok(),
                asn: c[8].parse().ok(),
            }
        })
        .collect()
}

#[test]
fn maxmind_city_layout_matches_the_oracle() {
    let db = CityDb::open(&data("GeoIP2-City-Test.mmdb")).unwrap();
    let rows = oracle();
    assert!(rows.len() >= 15);
    for r in &rows {
        let (place, _) = db.lookup(r.ip);
        match (&place, r.lat) {
            (None, None) => assert!(r.country.is_empty(), "{}", r.ip),
            (Some(p), Some(lat)) => {
                let (la, lo) = p.coords.unwrap();
                assert!(
                    (la - lat).abs() < 1e-3 && (lo - r.lon.unwrap()).abs() < 1e-3,
                    "{}",
                    r.ip
                );
                assert_eq!(p.country.as_deref().unwrap_or(""), r.country, "{}", r.ip);
                assert_eq!(p.city.as_deref().unwrap_or(""), r.city, "{}", r.ip);
                assert_eq!(p.accuracy_km, r.radius, "{}", r.ip);
                assert_eq!(p.source, PlaceSource::GeoIp);
            }
            (p, lat) => panic!("{}: got {p:?}, oracle lat {lat:?}", r.ip),
        }
    }
}

#[test]
fn asn_layout_matches_the_oracle() {
    let db = AsnDb::open(&data("GeoLite2-ASN-Test.mmdb")).unwrap();
    for r in oracle() {
        assert_eq!(db.lookup(r.ip).and_then(|n| n.asn), r.asn, "{}", r.ip);
    }
    let n = db.lookup("149.101.100.0".parse().unwrap()).unwrap();
    assert_eq!(n.class, NetClass::Mobile, "CELLCO-PART is Verizon Wireless");
}

#[test]
fn enricher_fills_and_caches_and_keeps_source_places() {
    let mut en = Enricher::open(&gatehouse_core::enrich::EnrichConfig {
        city_db: Some(data("GeoLite2-City-Test.mmdb")),
        asn_db: Some(data("GeoLite2-ASN-Test.mmdb")),
    })
    .unwrap();
    let mut e = Event {
        user: "u".into(),
        ip: Some("89.160.20.112".parse().unwrap()),
        ua: Some("okhttp/4.12.0".into()),
        ..Event::default()
    };
    en.enrich(&mut e);
    let p = e.place.clone().unwrap();
    assert_eq!(
        (p.country.as_deref(), p.city.as_deref()),
        (Some("SE"), Some("Linköping"))
    );
    assert_eq!(e.network.as_ref().unwrap().asn, Some(29518));
    assert_eq!(e.device.as_ref().unwrap().class, DeviceClass::Tool);
    let mut again = Event {
        user: "u".into(),
        ip: e.ip,
        ..Event::default()
    };
    en.enrich(&mut again);
    assert_eq!(en.stats.ip_lookups, 1);
    assert_eq!(en.stats.ip_cache_hits, 1);
}

/// The flat layout of DB-IP Lite / ip-location-db city files, written here.
#[test]
fn dbip_flat_layout_is_read() {
    #[derive(serde::Serialize)]
    struct Flat {
        country_code: &'static str,
        city: &'static str,
        state1: &'static str,
        latitude: f32,
        longitude: f32,
        postcode: &'static str,
        timezone: &'static str,
    }
    let mut w = mmdb_writer::Writer::new("DBIP-City-Lite");
    w.insert(
        "198.51.100.0/24".parse::<ipnet::IpNet>().unwrap(),
        &Flat {
            country_code: "PT",
            city: "Lisbon",
            state1: "Lisbon",
            latitude: 38.7223,
            longitude: -9.1393,
            postcode: "1000",
            timezone: "Europe/Lisbon",
        },
    )
    .unwrap();
    w.insert(
        "2001:db8::/32".parse::<ipnet::IpNet>().unwrap(),
        &Flat {
            country_code: "JP",
            city: "Tokyo",
            state1: "Tokyo",
            latitude: 35.6895,
            longitude: 139.6917,
            postcode: "",
            timezone: "Asia/Tokyo",
        },
    )
    .unwrap();
    let db = CityDb::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(db.database_type(), "DBIP-City-Lite");
    let (p, _) = db.lookup("198.51.100.7".parse().unwrap());
    let p = p.unwrap();
    assert_eq!(
        (p.country.as_deref(), p.city.as_deref()),
        (Some("PT"), Some("Lisbon"))
    );
    let (la, lo) = p.coords.unwrap();
    assert!((la - 38.7223).abs() < 1e-4 && (lo + 9.1393).abs() < 1e-4);
    assert_eq!(p.accuracy_km, None, "flat layouts have no radius");
    let (p, _) = db.lookup("2001:db8::1".parse().unwrap());
    assert_eq!(p.unwrap().city.as_deref(), Some("Tokyo"));
    assert_eq!(db.lookup("203.0.113.1".parse().unwrap()).0, None);

    // The ASN layout of ip-location-db is GeoLite2's.
    #[derive(serde::Serialize)]
    struct Asn {
        autonomous_system_number: u32,
        autonomous_system_organization: &'static str,
    }
    let mut w = mmdb_writer::Writer::new("ip-location-db-asn");
    w.insert(
        "198.51.100.0/24".parse::<ipnet::IpNet>().unwrap(),
        &Asn {
            autonomous_system_number: 14061,
            autonomous_system_organization: "DigitalOcean, LLC",
        },
    )
    .unwrap();
    let asn = AsnDb::from_bytes(w.to_bytes().unwrap()).unwrap();
    let n = asn.lookup("198.51.100.9".parse().unwrap()).unwrap();
    assert_eq!((n.asn, n.class), (Some(14061), NetClass::Hosting));
}

#[test]
fn unusable_database_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.mmdb");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.mmdb");
    std::fs::write(&text, "this is not a MaxMind database\n".repeat(1000)).unwrap();
    for path in [
        dir.path().join("missing.mmdb"),
        dir.path().to_path_buf(),
        empty,
        text,
    ] {
        let err = CityDb::open(&path)
            .err()
            .unwrap_or_else(|| panic!("{} opened", path.display()));
        let msg = err.to_string();
        assert!(
            msg.starts_with("cannot open GeoIP database") && msg.contains(&*path.display().to_string()),
            "{msg}"
        );
        assert!(AsnDb::open(&path).is_err(), "{}", path.display());
    }
}

/// The update path the mapped databases rely on (`gatehouse_mapped::Mapped::open`): a file
/// replaced by rename (what geoipupdate and npm do) leaves an open database answering from the
/// old file, and the next open sees the new one.
#[test]
fn a_database_replaced_by_rename_keeps_answering_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.mmdb");
    std::fs::copy(data("GeoIP2-City-Test.mmdb"), &path).unwrap();
    let db = CityDb::open(&path).unwrap();
    let row = oracle().into_iter().find(|r| r.lat.is_some()).unwrap();
    let before = db.lookup(row.ip).0.unwrap();

    let next = dir.path().join("city.mmdb.tmp");
    std::fs::copy(data("GeoLite2-ASN-Test.mmdb"), &next).unwrap();
    std::fs::rename(&next, &path).unwrap();
    assert_eq!(db.lookup(row.ip).0.unwrap(), before);
    assert_eq!(before.city.as_deref().unwrap_or(""), row.city);

    let reopened = CityDb::open(&path).unwrap();
    assert_eq!(reopened.database_type(), "GeoLite2-ASN");
    assert!(
        reopened.lookup(row.ip).0.is_none(),
        "an ASN database has no places"
    );
}
