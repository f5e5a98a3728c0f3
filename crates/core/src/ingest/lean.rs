//! Events of the batch pipeline that keep their text in the chunk they were read from.
//!
//! A million-line file means a million users, session ids, methods and paths. Copying each into
//! its own `String` on a parsing thread and freeing it on the detection thread cost more than the
//! detectors themselves (allocator work on two threads, and freed memory travelling back between
//! their arenas). Here a chunk's text moves as one buffer with its events, and each event names
//! its strings as byte ranges of that buffer; the few strings that JSON escapes change are
//! unescaped into a second buffer of the chunk. The detectors read them as an [`EventRef`].
//!
//! Places, networks and devices looked up in GeoIP and the UA parser are shared by many events.
//! Handing each event a counted reference made both threads write the same reference counts
//! millions of times (each write taking the cache line from the other core). Instead a parsing
//! thread numbers what it looked up ([`Interner`]), sends each new lookup once ([`Fresh`]), and
//! events carry the numbers; the detection thread keeps the lookups of each parsing thread
//! ([`Lookups`]) and reads the numbers there.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Action, EventRef};
use crate::enrich::{CACHE_LIMIT, Device, Enricher, Network, Place, complete, needs_lookup};

/// Set on [`Span::start`] when the range is in the chunk's `extra` buffer.
const IN_EXTRA: u32 = 1 << 31;

/// A byte range of the chunk's text (or, with [`IN_EXTRA`], of its unescaped strings), or
/// [`Span::NONE`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// No string (an end no chunk reaches: chunks are far below 4 GiB).
    const NONE: Span = Span {
        start: 0,
        end: u32::MAX,
    };

    fn some(self) -> Option<Span> {
        (self.end != u32::MAX).then_some(self)
    }
}

/// One event of a chunk. Kept small (96 bytes): a million of them are written by the parsing
/// threads and read by the detection, and each byte more costs time (48 bytes more: ×1.04 on
/// the benchmark). So absent strings are [`Span::NONE`] rather than `Option`s, and places,
/// networks and devices are numbers.
#[derive(Debug)]
pub(crate) struct LeanEvent {
    ts_ms: i64,
    user: Span,
    session: Span,
    jti: Span,
    method: Span,
    path: Span,
    denial: Span,
    ip: Option<IpAddr>,
    status: Option<u16>,
    action: Action,
    sensitive: bool,
    place: Ref,
    network: Ref,
    /// A number in the parsing thread's [`Lookups`], or [`NO_DEVICE`].
    device: u32,
}

const NO_DEVICE: u32 = u32::MAX;

/// A place or network of a lean event: 0 for none; with [`OWN`], the event's own (given by
/// the source), a number in the chunk's list; otherwise one the parsing thread looked up, its
/// number in its [`Lookups`] plus one.
#[derive(Debug, Clone, Copy)]
struct Ref(u32);

const OWN: u32 = 1 << 31;

impl Ref {
    const NONE: Ref = Ref(0);

    /// The event's own (kept in `list`, the chunk's), else the looked-up one numbered `shared`.
    fn of<T>(own: Option<Arc<T>>, shared: Option<u32>, list: &mut Vec<Arc<T>>) -> Ref {
        match (own, shared) {
            (Some(a), _) => match u32::try_from(list.len()) {
                Ok(i) if i < OWN => {
                    list.push(a);
                    Ref(i | OWN)
                }
                _ => Ref::NONE,
            },
            (None, Some(i)) if i.saturating_add(1) < OWN => Ref(i + 1),
            _ => Ref::NONE,
        }
    }

    fn get<'a, T>(self, own: &'a [Arc<T>], shared: &'a [Arc<T>]) -> Option<&'a Arc<T>> {
        match self.0 {
            0 => None,
            i if i & OWN != 0 => own.get((i & !OWN) as usize),
            i => shared.get((i - 1) as usize),
        }
    }
}

/// What a parsing thread looked up since it last sent its news: new entries in order, after
/// clearing everything when `reset` is set.
#[derive(Debug, Default)]
pub struct Fresh {
    reset: bool,
    places: Vec<Arc<Place>>,
    networks: Vec<Arc<Network>>,
    devices: Vec<Arc<Device>>,
}

/// The detection thread's copy of one parsing thread's lookups.
#[derive(Debug, Default)]
pub struct Lookups {
    places: Vec<Arc<Place>>,
    networks: Vec<Arc<Network>>,
    devices: Vec<Arc<Device>>,
}

impl Lookups {
    /// Applies a parsing thread's news (sent with a chunk, applied before its events are
    /// read). The entries are copied, so that each reader counts references to its own.
    pub fn apply(&mut self, fresh: &Fresh) {
        if fresh.reset {
            *self = Lookups::default();
        }
        let own = |a: &Arc<Place>| Arc::new(Place::clone(a));
        self.places.extend(fresh.places.iter().map(own));
        self.networks
            .extend(fresh.networks.iter().map(|a| Arc::new(Network::clone(a))));
        self.devices
            .extend(fresh.devices.iter().map(|a| Arc::new(Device::clone(a))));
    }
}

/// A parsing thread's numbering of its GeoIP and User-Agent lookups (its caches).
#[derive(Default)]
pub(crate) struct Interner {
    ips: FxHashMap<IpAddr, (Option<u32>, Option<u32>)>,
    uas: FxHashMap<Box<str>, u32>,
    counts: [u32; 3],
    fresh: Fresh,
}

impl Interner {
    /// Called before each chunk: past the cache bound everything is forgotten (numbering starts
    /// again; the detection thread is told with the chunk).
    pub(crate) fn begin_chunk(&mut self) {
        if self.ips.len() + self.uas.len() >= CACHE_LIMIT {
            self.ips.clear();
            self.uas.clear();
            self.counts = [0; 3];
            self.fresh = Fresh {
                reset: true,
                ..Fresh::default()
            };
        }
    }

    /// The news to send with the chunk just parsed.
    pub(crate) fn take(&mut self) -> Fresh {
        std::mem::take(&mut self.fresh)
    }

    fn ip(&mut self, en: &mut Enricher, ip: IpAddr) -> (Option<u32>, Option<u32>) {
        if let Some(&hit) = self.ips.get(&ip) {
            en.stats.ip_cache_hits += 1;
            return hit;
        }
        en.stats.ip_lookups += 1;
        let (place, net) = en.resolve_ip(ip);
        let ids = (
            place.map(|p| {
                self.fresh.places.push(p);
                next(&mut self.counts[0])
            }),
            net.map(|n| {
                self.fresh.networks.push(n);
                next(&mut self.counts[1])
            }),
        );
        self.ips.insert(ip, ids);
        ids
    }

    fn ua(&mut self, en: &mut Enricher, ua: &str) -> u32 {
        if let Some(&hit) = self.uas.get(ua) {
            en.stats.ua_cache_hits += 1;
            return hit;
        }
        en.stats.ua_parses += 1;
        self.fresh.devices.push(Arc::new(en.resolve_ua(ua)));
        let id = next(&mut self.counts[2]);
        self.uas.insert(ua.into(), id);
        id
    }
}

fn next(n: &mut u32) -> u32 {
    let id = *n;
    *n += 1;
    id
}

/// The events read from one chunk, with the text they borrow.
#[derive(Debug, Default)]
pub struct LeanChunk {
    text: String,
    built: Built,
}

/// One event's fields as a parser produced them (checked, not yet enriched): borrowed from the
/// chunk's text where possible.
pub(crate) struct Fields<'a> {
    pub ts_ms: i64,
    pub user: Cow<'a, str>,
    pub session: Option<Cow<'a, str>>,
    pub jti: Option<Cow<'a, str>>,
    pub ip: Option<IpAddr>,
    pub method: Option<Cow<'a, str>>,
    pub path: Option<Cow<'a, str>>,
    pub status: Option<u16>,
    pub action: Action,
    pub denial: Option<Cow<'a, str>>,
    pub sensitive: bool,
    /// Given by the source.
    pub place: Option<Arc<Place>>,
    /// Given by the source.
    pub network: Option<Arc<Network>>,
    pub ua: Option<Cow<'a, str>>,
}

/// Collects the events of one chunk whose text is `base`.
pub(crate) struct Builder<'t> {
    base: &'t str,
    built: Built,
}

/// What a [`Builder`] made, to be joined with the text it borrowed ([`LeanChunk::new`]).
#[derive(Debug, Default)]
pub(crate) struct Built {
    /// Unescaped strings (see [`IN_EXTRA`]).
    extra: String,
    events: Vec<LeanEvent>,
    /// Places and networks given by the source (rare), named by the events' [`Ref`]s.
    own_places: Vec<Arc<Place>>,
    own_networks: Vec<Arc<Network>>,
}

impl<'t> Builder<'t> {
    /// `base` is the chunk's text (lines are parsed from slices of it), or `""` when the chunk
    /// is not valid UTF-8 as a whole: then every string is copied.
    pub(crate) fn new(base: &'t str, capacity: usize) -> Self {
        Builder {
            base,
            built: Built {
                events: Vec::with_capacity(capacity),
                ..Built::default()
            },
        }
    }

    fn span(&mut self, s: &str) -> Span {
        // Borrowed from the chunk's text: name the range. Otherwise (unescaped, or from a
        // chunk that is not one text), keep a copy.
        let base = self.base.as_ptr() as usize;
        let at = (s.as_ptr() as usize).wrapping_sub(base);
        if at <= self.base.len() && self.base.len() - at >= s.len() && at + s.len() < IN_EXTRA as usize {
            return Span {
                start: at as u32,
                end: (at + s.len()) as u32,
            };
        }
        let start = self.built.extra.len();
        self.built.extra.push_str(s);
        let end = self.built.extra.len();
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(start), Ok(end)) if end < IN_EXTRA => Span {
                start: start | IN_EXTRA,
                end,
            },
            // Over 2 GiB of escaped text in one chunk cannot happen (chunks are a few MB):
            // the string reads as empty rather than wrong.
            _ => Span {
                start: IN_EXTRA,
                end: 0,
            },
        }
    }

    fn opt(&mut self, s: &Option<Cow<'_, str>>) -> Span {
        s.as_deref().map_or(Span::NONE, |s| self.span(s))
    }

    /// Adds an event, completing its place and network from GeoIP and its device from the
    /// User-Agent as [`Enricher::enrich`] does, through the thread's numbered lookups.
    pub(crate) fn push(&mut self, f: &Fields<'_>, lookups: &mut Interner, en: &mut Enricher) {
        // The source's place and network, unless GeoIP completes or gives them.
        let mut own_place = f.place.clone();
        let (mut shared_place, mut shared_network) = (None, None);
        if let Some(ip) = f.ip
            && needs_lookup(f.place.as_ref(), f.network.as_ref())
        {
            let (geo_place, geo_net) = lookups.ip(en, ip);
            if f.place.as_ref().is_none_or(|p| p.coords.is_none())
                && let Some(id) = geo_place
            {
                match &f.place {
                    // Rare (a source naming a city without coordinates): look it up again.
                    Some(src) => {
                        if let Some(geo) = en.resolve_ip(ip).0 {
                            own_place = Some(complete(src, &geo));
                        }
                    }
                    None => shared_place = Some(id),
                }
            }
            if f.network.is_none() {
                shared_network = geo_net;
            }
        }
        let place = Ref::of(own_place, shared_place, &mut self.built.own_places);
        let network = Ref::of(f.network.clone(), shared_network, &mut self.built.own_networks);
        let device = f.ua.as_deref().map_or(NO_DEVICE, |u| lookups.ua(en, u));
        let e = LeanEvent {
            ts_ms: f.ts_ms,
            user: self.span(&f.user),
            session: self.opt(&f.session),
            jti: self.opt(&f.jti),
            method: self.opt(&f.method),
            path: self.opt(&f.path),
            denial: self.opt(&f.denial),
            ip: f.ip,
            status: f.status,
            action: f.action,
            sensitive: f.sensitive,
            place,
            network,
            device,
        };
        self.built.events.push(e);
    }

    /// The events and unescaped strings, to be joined with the text `base` borrows from (see
    /// [`LeanChunk::new`]).
    pub(crate) fn finish(self) -> Built {
        self.built
    }
}

impl LeanChunk {
    /// Joins a [`Builder`]'s output with the text it borrowed (`""` for a builder over `""`).
    pub(crate) fn new(text: String, built: Built) -> Self {
        LeanChunk { text, built }
    }

    /// The chunk's text as bytes, leaving it empty (for the buffer pool, once nothing reads it).
    pub(crate) fn take_text(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.text).into_bytes()
    }

    pub fn len(&self) -> usize {
        self.built.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.built.events.is_empty()
    }

    fn str(&self, s: Span) -> &str {
        let (buf, start) = if s.start & IN_EXTRA != 0 {
            (&self.built.extra, s.start & !IN_EXTRA)
        } else {
            (&self.text, s.start)
        };
        buf.get(start as usize..s.end as usize).unwrap_or("")
    }

    /// User of the `i`th event.
    pub fn user(&self, i: usize) -> Option<&str> {
        self.built.events.get(i).map(|e| self.str(e.user))
    }

    /// Time of the `i`th event.
    pub fn ts(&self, i: usize) -> Option<i64> {
        self.built.events.get(i).map(|e| e.ts_ms)
    }

    /// The `i`th event as the detectors read it; `lookups` is the copy of the lookups of the
    /// thread that parsed the chunk, with this chunk's news applied.
    pub fn view<'a>(&'a self, i: usize, lookups: &'a Lookups) -> Option<EventRef<'a>> {
        let e = self.built.events.get(i)?;
        Some(EventRef {
            ts_ms: e.ts_ms,
            user: self.str(e.user),
            session: e.session.some().map(|s| self.str(s)),
            jti: e.jti.some().map(|s| self.str(s)),
            ip: e.ip,
            method: e.method.some().map(|s| self.str(s)),
            path: e.path.some().map(|s| self.str(s)),
            status: e.status,
            action: e.action,
            denial: e.denial.some().map(|s| self.str(s)),
            sensitive: e.sensitive,
            place: e.place.get(&self.built.own_places, &lookups.places),
            network: e.network.get(&self.built.own_networks, &lookups.networks),
            device: (e.device != NO_DEVICE)
                .then(|| lookups.devices.get(e.device as usize))
                .flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stays_small() {
        // Written and read once per event of a batch run: see `LeanEvent`.
        assert!(
            std::mem::size_of::<LeanEvent>() <= 96,
            "{}",
            std::mem::size_of::<LeanEvent>()
        );
    }
}
