//! The population: who the simulated users are, where they live and which networks and devices
//! they use. A pure function of the seed and the GeoIP catalogue.

use std::net::IpAddr;

use serde::Serialize;

use super::geo::{Atlas, distance_km};
use super::rng::Rng;

/// Fewest users the demo plans (each attack wave needs six distinct ordinary victims).
pub const MIN_USERS: usize = 10;
/// Most users the demo plans (keeps request loops bounded).
pub const MAX_USERS: usize = 200;

/// How a user works; decides their networks, hours and request rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Persona {
    /// Works from home.
    Home,
    /// Office network in working hours, home network in the evening.
    Office,
    /// Flies between cities at airliner speed, working from hotels.
    Traveller,
    /// Home network, but a commercial VPN (exit in another country) every morning.
    Vpn,
    /// Automation-heavy: a request every 15-45 s all working day.
    Power,
}

/// An address and what the GeoIP database says it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Place {
    pub ip: IpAddr,
    pub city: String,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(skip)]
    pub city_index: usize,
}

impl Place {
    pub fn coords(&self) -> (f64, f64) {
        (self.latitude, self.longitude)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserPlan {
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub persona: Persona,
    /// Enrolls TOTP at first login and uses it afterwards.
    pub totp: bool,
    /// Ends the day with `POST /auth/logout` (others just close the laptop).
    pub logs_out: bool,
    /// Local time offset, from the home city's longitude (no DST: a demo).
    pub utc_offset_min: i32,
    pub home: Place,
    pub office: Option<Place>,
    pub vpn_exit: Option<Place>,
    /// Hotel networks of a traveller's destinations.
    pub destinations: Vec<Place>,
    /// Mobile-carrier addresses in the home city (CGNAT changes them); empty without a phone.
    pub mobile: Vec<Place>,
    pub laptop_ua: String,
    pub phone_ua: Option<String>,
}

impl UserPlan {
    /// Ordinary users (home or office) are the ones thieves target: their traffic is otherwise
    /// boring, so the attack is the only anomaly in their sessions.
    pub fn is_ordinary(&self) -> bool {
        matches!(self.persona, Persona::Home | Persona::Office)
    }
}

/// Everything the seed decides before any request is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub seed: u64,
    pub users: Vec<UserPlan>,
}

pub const LAPTOP_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.92",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
];

pub const PHONE_UAS: &[&str] = &[
    "GatehouseMobile/3.4.1 (iPhone15,2; iOS 17.5.1) CFNetwork/1496.0.7 Darwin/23.5.0",
    "GatehouseMobile/3.4.1 (Android 14; Pixel 8) okhttp/4.12.0",
    "GatehouseMobile/3.3.9 (iPhone14,5; iOS 16.7.8) CFNetwork/1410.1 Darwin/22.6.0",
    "GatehouseMobile/3.4.0 (Android 13; SM-S911B) okhttp/4.12.0",
];

/// User agents of token thieves that do not copy their victim's.
pub const THIEF_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "curl/8.4.0",
    "Go-http-client/2.0",
];

const FIRST: &[&str] = &[
    "amara", "bruno", "chen", "dana", "elif", "farid", "greta", "hiro", "ines", "jonas", "kofi", "lena",
    "mateo", "nadia", "oskar", "priya", "quinn", "rosa", "sven", "tariq", "ula", "vera", "wei", "ximena",
    "yusuf", "zoe", "aiko", "bilal", "clara", "diego", "emeka", "fatima", "gustav", "hana", "ivan", "julia",
];

const LAST: &[&str] = &[
    "okafor",
    "silva",
    "wang",
    "kowalski",
    "yilmaz",
    "haddad",
    "lindqvist",
    "tanaka",
    "moreau",
    "becker",
    "mensah",
    "novak",
    "garcia",
    "rahman",
    "nilsen",
    "sharma",
    "oconnor",
    "rossi",
    "berg",
    "aziz",
    "kim",
    "petrova",
    "li",
    "lopez",
    "demir",
    "muller",
    "sato",
    "khan",
    "fischer",
    "herrera",
    "eze",
    "hassan",
];

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A place in the catalogue city `city`.
pub fn place(atlas: &Atlas, city: usize, rng: &mut Rng) -> Place {
    let ip = atlas.pick_ip(city, rng);
    let c = &atlas.cities()[city.min(atlas.cities().len().saturating_sub(1))];
    Place {
        ip,
        city: c.name.clone(),
        country: c.country.clone(),
        latitude: c.latitude,
        longitude: c.longitude,
        city_index: city,
    }
}

/// Catalogue cities sorted by distance from `from` (excluding `from` itself), nearest first.
pub fn by_distance(atlas: &Atlas, from: usize) -> Vec<(usize, f64)> {
    let origin = atlas.cities()[from].coords();
    let mut v: Vec<(usize, f64)> = atlas
        .cities()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != from)
        .map(|(i, c)| (i, distance_km(origin, c.coords())))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    v
}

/// A city at least `min_km` from `from`, at random; the farthest one when none is that far.
pub fn far_city(atlas: &Atlas, from: usize, min_km: f64, rng: &mut Rng) -> usize {
    let cands = by_distance(atlas, from);
    let far: Vec<usize> = cands
        .iter()
        .filter(|(_, d)| *d >= min_km)
        .map(|(i, _)| *i)
        .collect();
    match rng.pick(&far) {
        Some(i) => *i,
        None => cands.last().map_or(from, |c| c.0),
    }
}

/// A city between `lo_km` and `hi_km` from `from`, at random; else as [`far_city`] with `lo_km`.
pub fn city_between(atlas: &Atlas, from: usize, lo_km: f64, hi_km: f64, rng: &mut Rng) -> usize {
    let within: Vec<usize> = by_distance(atlas, from)
        .into_iter()
        .filter(|(_, d)| (lo_km..=hi_km).contains(d))
        .map(|(i, _)| i)
        .collect();
    match rng.pick(&within) {
        Some(i) => *i,
        None => far_city(atlas, from, lo_km, rng),
    }
}

/// A city a few hundred km from `from` (150-900 km, at random); otherwise the one closest to
/// 400 km away.
pub fn nearby_city(atlas: &Atlas, from: usize, rng: &mut Rng) -> usize {
    let cands = by_distance(atlas, from);
    let near: Vec<usize> = cands
        .iter()
        .filter(|(_, d)| (150.0..=900.0).contains(d))
        .map(|(i, _)| *i)
        .collect();
    match rng.pick(&near) {
        Some(i) => *i,
        None => cands
            .iter()
            .min_by(|a, b| (a.1 - 400.0).abs().total_cmp(&(b.1 - 400.0).abs()))
            .map_or(from, |c| c.0),
    }
}

impl Plan {
    pub fn new(seed: u64, users: usize, atlas: &Atlas) -> anyhow::Result<Plan> {
        if !(MIN_USERS..=MAX_USERS).contains(&users) {
            anyhow::bail!("--users must be between {MIN_USERS} and {MAX_USERS}");
        }
        let n_cities = atlas.cities().len();
        let mut rng = Rng::derive(seed, "population");

        // Personas: a few power users, travellers and VPN users; the rest split home/office.
        let power = (users / 12).max(1);
        let travellers = (users / 8).max(1);
        let vpn = (users / 8).max(1);
        let mut personas = Vec::with_capacity(users);
        personas.extend(std::iter::repeat_n(Persona::Power, power));
        personas.extend(std::iter::repeat_n(Persona::Traveller, travellers));
        personas.extend(std::iter::repeat_n(Persona::Vpn, vpn));
        while personas.len() < users {
            personas.push(if personas.len() % 2 == 0 {
                Persona::Office
            } else {
                Persona::Home
            });
        }
        rng.shuffle(&mut personas);

        // A company with a few hub cities (offices) and remote staff elsewhere.
        let mut order: Vec<usize> = (0..n_cities).collect();
        rng.shuffle(&mut order);
        let hubs: Vec<usize> = order.iter().take(3.min(n_cities)).copied().collect();

        let mut names: Vec<(usize, usize)> = (0..FIRST.len())
            .flat_map(|f| (0..LAST.len()).map(move |l| (f, l)))
            .collect();
        rng.shuffle(&mut names);

        let mut out = Vec::with_capacity(users);
        for (i, persona) in personas.into_iter().enumerate() {
            let mut r = Rng::derive(seed, &format!("user/{i}"));
            let (f, l) = names[i % names.len()];
            let username = format!("{}.{}", FIRST[f], LAST[l]);
            let home_city = match persona {
                Persona::Office | Persona::Power => *r.pick(&hubs).unwrap_or(&0),
                _ if r.chance(0.5) => *r.pick(&hubs).unwrap_or(&0),
                _ => r.below(n_cities),
            };
            let home = place(atlas, home_city, &mut r);
            let office =
                matches!(persona, Persona::Office | Persona::Power).then(|| place(atlas, home_city, &mut r));
            let vpn_exit = (persona == Persona::Vpn).then(|| {
                let exit = far_city(atlas, home_city, 500.0, &mut r);
                place(atlas, exit, &mut r)
            });
            let destinations = if persona == Persona::Traveller {
                (0..2)
                    .map(|_| {
                        // Long-haul but not antipodal: the trip fits in a day each way.
                        let c = city_between(atlas, home_city, 1000.0, 9500.0, &mut r);
                        place(atlas, c, &mut r)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let has_phone = !matches!(persona, Persona::Power | Persona::Traveller) && r.chance(0.6);
            let mobile = if has_phone {
                (0..3).map(|_| place(atlas, home_city, &mut r)).collect()
            } else {
                Vec::new()
            };
            let lon = home.longitude;
            out.push(UserPlan {
                email: format!("{username}@acme.example"),
                display_name: format!("{} {}", capitalise(FIRST[f]), capitalise(LAST[l])),
                username,
                persona,
                totp: r.chance(0.35),
                logs_out: r.chance(0.3),
                utc_offset_min: ((lon / 15.0).round() as i32).clamp(-12, 14) * 60,
                home,
                office,
                vpn_exit,
                destinations,
                mobile,
                laptop_ua: (*r.pick(LAPTOP_UAS).unwrap_or(&LAPTOP_UAS[0])).to_owned(),
                phone_ua: has_phone.then(|| (*r.pick(PHONE_UAS).unwrap_or(&PHONE_UAS[0])).to_owned()),
            });
        }
        Ok(Plan { seed, users: out })
    }
}
