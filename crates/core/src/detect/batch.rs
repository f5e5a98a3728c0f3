//! Batch analysis of log files: the same [`Engine`] the live sync uses, driven over files.
//!
//! One thread cuts the file into ~1 MB chunks of complete records ([`crate::ingest::split`]); a
//! pool of parsing threads (one per core) parses and enriches chunks in parallel. Generic JSONL
//! events keep their strings in the chunk's text and name their GeoIP/UA lookups by number
//! ([`crate::ingest::lean`]). Detection is sequential per user, so it is split by user: each
//! parsing thread owns the engines of one shard of users (a hash of the name) and, between
//! chunks, feeds them its shard's events of every chunk in file order. Each shard keeps the whole
//! stream's clock (the newest time and the position of every event), so out-of-order counts and
//! the forgetting of idle sessions happen exactly as in one engine reading the whole stream:
//! findings and counts do not depend on the number of threads. Memory stays at a few chunks in
//! flight plus the engines' state: the file is never loaded whole.
//!
//! One JSONL file is streamed in file order (logs are written in time order; stragglers are
//! tolerated and counted). Vendor exports (JSON arrays, often newest first) and several files
//! together are first gathered as events and sorted by time, since only a merged timeline makes
//! sense to the detectors; that holds the events (not the text) in memory and runs one engine.
//!
//! Several configurations can run over one read of the input (one engine each): that is the
//! backtest of `gatehouse analyze --backtest`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use serde::Serialize;

use super::engine::{EngineStats, SWEEP_EVERY, combine, is_late};
use super::{Config, Engine, Finding, Suppression};
use crate::enrich::{EnrichStats, Enricher};
use crate::ingest::lean::{Builder, Fresh, Interner, LeanChunk, Lookups};
use crate::ingest::split::Buffers;
use crate::ingest::split::{Layout, Splitter};
use crate::ingest::{Event, EventRef, Format, Malformed, Parsed, detect_format, parse_record};
use rustc_hash::FxHasher;

/// How many malformed records are listed individually (all are counted).
pub const MALFORMED_LISTED: usize = 100;
const CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "cannot tell the format of {path}: the first records are neither generic JSONL nor Okta, Keycloak or Auth0 (use --format)"
    )]
    UnknownFormat { path: String },
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// What to run.
#[derive(Clone)]
pub struct Options {
    pub format: Format,
    /// One engine per configuration; the first is the main run.
    pub configs: Vec<Config>,
    pub suppressions: Vec<Suppression>,
    /// Parsing threads; 0 means one per core.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Auto,
            configs: vec![Config::default()],
            suppressions: Vec::new(),
            threads: 0,
        }
    }
}

/// Per-file counts.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct FileSummary {
    pub path: String,
    pub format: String,
    pub records: u64,
    pub events: u64,
    pub malformed: u64,
    pub ignored: u64,
}

/// The `summary` object of `gatehouse analyze --json`.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Summary {
    pub files: Vec<FileSummary>,
    /// Events analysed (all files).
    pub events: u64,
    /// Records that could not be read; the first ones are listed in `malformed_records`.
    pub malformed: u64,
    pub malformed_records: Vec<Malformed>,
    /// Well-formed records that are not user activity (system events, no client IP).
    pub ignored: u64,
    pub users: u64,
    pub sessions: u64,
    /// Events more than five minutes older than an event before them.
    pub out_of_order: u64,
    /// Events without any place (no GeoIP match and none in the source).
    pub unlocated: u64,
    pub signals: u64,
    pub suppressed: u64,
    pub findings: u64,
    /// Findings per kind of their strongest signal.
    pub by_kind: BTreeMap<String, u64>,
    pub by_severity: BTreeMap<String, u64>,
    pub enrichment: EnrichStats,
    pub geoip_city: bool,
    pub geoip_asn: bool,
}

/// Findings plus summary: the `--json` document.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

struct Work {
    seq: u64,
    format: Format,
    chunk: crate::ingest::split::Chunk,
    /// The splitter's buffer pool, for the chunk's text once it is read.
    buffers: Buffers,
}

/// What a parsing thread made of a chunk: events with their own strings (vendor formats), or
/// generic JSONL events that keep theirs in the chunk's text.
enum Batch {
    Owned(Vec<Event>),
    Lean(LeanChunk),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::Owned(v) => v.len(),
            Batch::Lean(c) => c.len(),
        }
    }

    fn user(&self, i: usize) -> &str {
        match self {
            Batch::Owned(v) => v.get(i).map_or("", |e| e.user.as_str()),
            Batch::Lean(c) => c.user(i).unwrap_or(""),
        }
    }

    fn ts(&self, i: usize) -> i64 {
        match self {
            Batch::Owned(v) => v.get(i).map_or(i64::MIN, |e| e.ts_ms),
            Batch::Lean(c) => c.ts(i).unwrap_or(i64::MIN),
        }
    }

    fn view<'a>(&'a self, i: usize, lookups: &'a Lookups) -> Option<EventRef<'a>> {
        match self {
            Batch::Owned(v) => v.get(i).map(Event::view),
            Batch::Lean(c) => c.view(i, lookups),
        }
    }
}

/// A parsed chunk, shared by the shards that read its events.
struct ChunkOut {
    seq: u64,
    /// Which parsing thread, and what it looked up for the first time in this chunk.
    worker: usize,
    fresh: Fresh,
    events: Batch,
    /// `newest[i]`: the latest event time among events `0..=i` of the chunk.
    newest: Vec<i64>,
    malformed: Vec<(u64, String)>,
    ignored: u64,
    records: u64,
    /// Where the chunk's text goes when the last shard is done with it.
    buffers: Buffers,
}

impl Drop for ChunkOut {
    fn drop(&mut self) {
        if let Batch::Lean(c) = &mut self.events {
            self.buffers.give(c.take_text());
        }
    }
}

/// The events of a chunk one shard reads (indices into the chunk, in order).
struct Part {
    chunk: Arc<ChunkOut>,
    events: Vec<u32>,
}

#[derive(Default)]
struct Counts {
    records: u64,
    events: u64,
    malformed: u64,
    ignored: u64,
}

/// A file's counts and first malformed records.
struct FileTally {
    display: String,
    counts: Counts,
    malformed: Vec<Malformed>,
}

impl FileTally {
    fn add(&mut self, c: &ChunkOut) {
        self.counts.records += c.records;
        self.counts.events += c.events.len() as u64;
        self.counts.ignored += c.ignored;
        self.counts.malformed += c.malformed.len() as u64;
        for (line, message) in &c.malformed {
            if self.malformed.len() < MALFORMED_LISTED {
                self.malformed.push(Malformed {
                    file: self.display.clone(),
                    line: *line,
                    message: message.clone(),
                });
            }
        }
    }
}

/// One shard of the detection: the engines for the users whose name hashes to it (or, when
/// events must be sorted first, the events gathered), fed chunk by chunk in file order.
struct ShardState {
    engines: Vec<Engine>,
    gather: Option<Vec<Event>>,
    /// Per parsing thread, this shard's copy of its lookups.
    lookups: Vec<Lookups>,
    /// The next chunk to read, and those that arrived before their turn.
    next: u64,
    pending: BTreeMap<u64, Part>,
    /// The stream's clock (see [`Engine::observe_clocked`]): events in the chunks read so far
    /// (all shards), the newest time among them, and the position of the next sweep.
    before: u64,
    newest: i64,
    next_sweep: u64,
    /// Kept by the first shard, which reads a part of every chunk.
    tally: Option<FileTally>,
}

impl ShardState {
    fn drain(&mut self) {
        while let Some(p) = self.pending.remove(&self.next) {
            self.next += 1;
            self.read(&p);
        }
    }

    fn read(&mut self, p: &Part) {
        let c = &*p.chunk;
        if let Some(t) = &mut self.tally {
            t.add(c);
        }
        let ShardState {
            engines,
            gather,
            lookups,
            before,
            newest,
            next_sweep,
            ..
        } = self;
        let Some(lk) = lookups.get_mut(c.worker) else {
            return;
        };
        lk.apply(&c.fresh);
        let lk = &*lk;
        if let Some(g) = gather {
            g.extend(
                p.events
                    .iter()
                    .filter_map(|&i| c.events.view(i as usize, lk))
                    .map(|e| e.to_event()),
            );
        } else {
            // Every engine forgets idle sessions at the same points of the whole stream as one
            // engine reading all of it would, with the same clock.
            let mut sweep_through = |pos: u64, engines: &mut Vec<Engine>| {
                while *next_sweep <= pos {
                    let at = c.newest.get((*next_sweep - *before) as usize).copied();
                    let now = (*newest).max(at.unwrap_or(i64::MIN));
                    for eng in engines.iter_mut() {
                        eng.sweep_to(now);
                    }
                    *next_sweep += u64::from(SWEEP_EVERY);
                }
            };
            for &i in &p.events {
                let i = i as usize;
                sweep_through(*before + i as u64, engines);
                let Some(e) = c.events.view(i, lk) else { continue };
                let prev = match i.checked_sub(1).and_then(|j| c.newest.get(j)) {
                    Some(&n) => n.max(*newest),
                    None => *newest,
                };
                let late = is_late(e.ts_ms, prev);
                for eng in engines.iter_mut() {
                    eng.observe_clocked(&e, late);
                }
            }
            let n = c.events.len() as u64;
            if n > 0 {
                sweep_through(*before + n - 1, engines);
            }
        }
        *before += c.events.len() as u64;
        if let Some(&last) = c.newest.last() {
            *newest = (*newest).max(last);
        }
    }
}

/// Where parts for a shard wait until the thread that owns the shard reads them.
struct Shard {
    inbox: Mutex<Vec<Part>>,
    arrived: Condvar,
}

const POISONED: BatchError = BatchError::Internal("a parsing thread panicked");

fn deliver(shard: &Shard, part: Part) -> Result<(), BatchError> {
    shard.inbox.lock().map_err(|_| POISONED)?.push(part);
    shard.arrived.notify_one();
    Ok(())
}

/// Reads the parts waiting in the inbox whose turn has come.
fn take_in(shard: &Shard, st: &mut ShardState) -> Result<(), BatchError> {
    let parts = std::mem::take(&mut *shard.inbox.lock().map_err(|_| POISONED)?);
    for p in parts {
        st.pending.insert(p.chunk.seq, p);
    }
    st.drain();
    Ok(())
}

/// What reading one file produced.
struct FileRead {
    format: Format,
    tally: FileTally,
    enrich: EnrichStats,
    /// One set of engines per shard (streamed), or the events to sort (gathered).
    out: Out,
}

enum Out {
    Streamed(Vec<Vec<Engine>>),
    Gathered(Vec<Event>),
}

/// Reads, parses and enriches one file on a thread pool. A single JSONL-layout file (`stream`)
/// is fed to engines made by `engines`, one set per shard of users; otherwise the events are
/// returned in file order.
fn read_file(
    path: &Path,
    format: Format,
    enricher: &Enricher,
    threads: usize,
    stream: bool,
    engines: &dyn Fn() -> Vec<Engine>,
) -> Result<FileRead, BatchError> {
    let display = path.display().to_string();
    let io_err = |source| BatchError::Io {
        path: display.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut splitter = Splitter::new(file, CHUNK_BYTES);
    let buffers = splitter.buffers();
    let first = splitter.next_chunk().map_err(io_err)?;
    let tally = FileTally {
        display: display.clone(),
        counts: Counts::default(),
        malformed: Vec::new(),
    };
    let Some(first) = first else {
        return Ok(FileRead {
            format,
            tally,
            enrich: EnrichStats::default(),
            out: Out::Gathered(Vec::new()),
        });
    };
    let stream = stream && splitter.layout().unwrap_or(Layout::Lines) == Layout::Lines;
    let format = match format {
        Format::Auto => first
            .records
            .iter()
            .take(50)
            .find_map(|r| detect_format(first.bytes(r)))
            .ok_or(BatchError::UnknownFormat {
                path: display.clone(),
            })?,
        f => f,
    };

    let threads = threads.max(1);
    // One shard per parsing thread, which owns it: each engine stays in one core's caches.
    let shard_count = if stream { threads } else { 1 };
    let shards: Vec<Shard> = (0..shard_count)
        .map(|_| Shard {
            inbox: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
        })
        .collect();
    let mut states: Vec<Option<ShardState>> = (0..threads)
        .map(|i| {
            (i < shard_count).then(|| ShardState {
                engines: if stream { engines() } else { Vec::new() },
                gather: (!stream).then(Vec::new),
                lookups: (0..threads).map(|_| Lookups::default()).collect(),
                next: 0,
                pending: BTreeMap::new(),
                before: 0,
                newest: i64::MIN,
                next_sweep: u64::from(SWEEP_EVERY) - 1,
                tally: None,
            })
        })
        .collect();
    if let Some(Some(st)) = states.first_mut() {
        st.tally = Some(tally);
    }
    let finished = AtomicUsize::new(0);
    let mut owned: Vec<ShardState> = Vec::new();
    let (work_tx, work_rx) = mpsc::sync_channel::<Work>(threads * 2);
    let mut enrich = EnrichStats::default();

    thread::scope(|scope| {
        // Owned by this closure, so that leaving it early (an error) closes the channel and
        // every thread stops instead of waiting on a full one.
        let work_rx = Arc::new(Mutex::new(work_rx));
        let reader = thread::Builder::new()
            .name("gh-split".into())
            .spawn_scoped(scope, move || -> Result<(), std::io::Error> {
                let mut next = Some(first);
                let mut seq = 0;
                while let Some(chunk) = next {
                    let buffers = buffers.clone();
                    if work_tx
                        .send(Work {
                            seq,
                            format,
                            chunk,
                            buffers,
                        })
                        .is_err()
                    {
                        break;
                    }
                    seq += 1;
                    next = splitter.next_chunk()?;
                }
                Ok(())
            })
            .map_err(|_| BatchError::Internal("cannot start the reading thread"))?;
        let mut workers = Vec::new();
        for (id, mut state) in states.drain(..).enumerate() {
            let rx = Arc::clone(&work_rx);
            let mut enricher = enricher.clone();
            let shards = &shards;
            let finished = &finished;
            let spawned = thread::Builder::new()
                .name("gh-parse".into())
                .spawn_scoped(scope, move || {
                    let r = worker(id, &rx, shards, state.as_mut(), finished, threads, &mut enricher);
                    (r, enricher.stats, state)
                });
            match spawned {
                Ok(w) => workers.push(w),
                Err(_) => return Err(BatchError::Internal("cannot start a parsing thread")),
            }
        }
        drop(work_rx);
        let mut failed = None;
        for w in workers {
            match w.join() {
                Ok((r, s, state)) => {
                    enrich.add(&s);
                    if let Err(e) = r {
                        failed.get_or_insert(e);
                    }
                    owned.extend(state);
                }
                Err(_) => {
                    failed.get_or_insert(BatchError::Internal("a parsing thread panicked"));
                }
            }
        }
        match reader.join() {
            Ok(r) => r.map_err(io_err)?,
            Err(_) => return Err(BatchError::Internal("the reading thread panicked")),
        }
        failed.map_or(Ok(()), Err)
    })?;

    let mut tally = None;
    let mut streamed = Vec::new();
    let mut gathered = Vec::new();
    for s in shards {
        if !s.inbox.into_inner().map_err(|_| POISONED)?.is_empty() {
            return Err(BatchError::Internal("chunks left unread"));
        }
    }
    for mut st in owned {
        if !st.pending.is_empty() {
            return Err(BatchError::Internal("chunks left unread"));
        }
        tally = tally.or(st.tally.take());
        streamed.push(st.engines);
        gathered.extend(st.gather.unwrap_or_default());
    }
    Ok(FileRead {
        format,
        tally: tally.ok_or(BatchError::Internal("no shard"))?,
        enrich,
        out: if stream {
            Out::Streamed(streamed)
        } else {
            Out::Gathered(gathered)
        },
    })
}

/// A parsing thread: parses chunks, hands each shard its part, and reads the parts of the shard
/// it owns (if any) between chunks, then until every thread has finished parsing.
fn worker(
    id: usize,
    rx: &Mutex<Receiver<Work>>,
    shards: &[Shard],
    mut own: Option<&mut ShardState>,
    finished: &AtomicUsize,
    threads: usize,
    enricher: &mut Enricher,
) -> Result<(), BatchError> {
    let mine = shards.get(id);
    let result = parse_chunks(id, rx, shards, &mut own, enricher);
    finished.fetch_add(1, Ordering::SeqCst);
    for s in shards {
        s.arrived.notify_all();
    }
    result?;
    let (Some(shard), Some(st)) = (mine, own) else {
        return Ok(());
    };
    loop {
        take_in(shard, st)?;
        let inbox = shard.inbox.lock().map_err(|_| POISONED)?;
        if inbox.is_empty() {
            if finished.load(Ordering::SeqCst) == threads {
                // Every part has been delivered (a thread counts itself finished after its
                // last delivery) and read.
                return Ok(());
            }
            let _ = shard
                .arrived
                .wait_timeout(inbox, std::time::Duration::from_millis(5))
                .map_err(|_| POISONED)?;
        }
    }
}

fn parse_chunks(
    id: usize,
    rx: &Mutex<Receiver<Work>>,
    shards: &[Shard],
    own: &mut Option<&mut ShardState>,
    enricher: &mut Enricher,
) -> Result<(), BatchError> {
    let mut interner = Interner::default();
    loop {
        let work = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return Err(BatchError::Internal("the work queue failed")),
        };
        let Ok(Work {
            seq,
            format,
            chunk,
            buffers,
        }) = work
        else {
            return Ok(());
        };
        let mut out = ChunkOut {
            seq,
            worker: id,
            fresh: Fresh::default(),
            events: Batch::Owned(Vec::new()),
            newest: Vec::new(),
            malformed: chunk.errors.clone(),
            ignored: 0,
            records: chunk.records.len() as u64,
            buffers,
        };
        if matches!(format, Format::Jsonl | Format::Auto) {
            interner.begin_chunk();
            out.events = Batch::Lean(parse_lean(chunk, &mut interner, enricher, &mut out.malformed));
            out.fresh = interner.take();
        } else {
            let mut events = Vec::with_capacity(chunk.records.len());
            for r in &chunk.records {
                match parse_record(format, chunk.bytes(r)) {
                    Ok(Parsed::Event(mut e)) => {
                        enricher.enrich(&mut e);
                        // The engine reads the parsed device, not the header, and the session,
                        // not the token id, when there is one: free them here, on the thread
                        // that allocated them.
                        if e.device.is_some() {
                            e.ua = None;
                        }
                        if e.session.is_some() {
                            e.jti = None;
                        }
                        events.push(*e);
                    }
                    Ok(Parsed::Ignored(_)) => out.ignored += 1,
                    Err(msg) => out.malformed.push((r.line, msg)),
                }
            }
            out.events = Batch::Owned(events);
        }
        let n = out.events.len();
        let mut run = i64::MIN;
        out.newest = (0..n)
            .map(|i| {
                run = run.max(out.events.ts(i));
                run
            })
            .collect();
        // Each user's events go to one shard (by a hash of the name), in file order.
        let mut parts: Vec<Vec<u32>> = vec![Vec::new(); shards.len()];
        if let [only] = parts.as_mut_slice() {
            only.extend(0..n as u32);
        } else {
            let hasher = BuildHasherDefault::<FxHasher>::default();
            for i in 0..n {
                let h = hasher.hash_one(out.events.user(i)) >> 32;
                parts[(h % shards.len() as u64) as usize].push(i as u32);
            }
        }
        let chunk = Arc::new(out);
        for (shard, events) in shards.iter().zip(parts) {
            deliver(
                shard,
                Part {
                    chunk: Arc::clone(&chunk),
                    events,
                },
            )?;
        }
        if let (Some(shard), Some(st)) = (shards.get(id), own.as_deref_mut()) {
            take_in(shard, st)?;
        }
    }
}

/// Generic JSONL lines of a chunk, parsed into events that keep their strings in the chunk's
/// text (one buffer moved to the detection thread instead of a string per field).
fn parse_lean(
    chunk: crate::ingest::split::Chunk,
    interner: &mut Interner,
    enricher: &mut Enricher,
    malformed: &mut Vec<(u64, String)>,
) -> LeanChunk {
    let crate::ingest::split::Chunk { data, records, .. } = chunk;
    match String::from_utf8(data) {
        Ok(text) => {
            let mut b = Builder::new(&text, records.len());
            for r in &records {
                let line = text.get(r.start..r.end).unwrap_or("");
                if let Err(msg) =
                    crate::ingest::parse_jsonl_into(line.as_bytes(), Some(line), &mut b, interner, enricher)
                {
                    malformed.push((r.line, msg));
                }
            }
            let parts = b.finish();
            LeanChunk::new(text, parts)
        }
        Err(e) => {
            // Some line is not UTF-8: each line is checked on its own (that one is reported)
            // and the strings of the others are copied.
            let data = e.into_bytes();
            let mut b = Builder::new("", records.len());
            for r in &records {
                let line = data.get(r.start..r.end).unwrap_or(&[]);
                if let Err(msg) = crate::ingest::parse_jsonl_into(line, None, &mut b, interner, enricher) {
                    malformed.push((r.line, msg));
                }
            }
            LeanChunk::new(String::new(), b.finish())
        }
    }
}

/// Analyses files with one engine per configuration in `options.configs`; returns one report
/// per configuration, in the same order.
pub fn analyze(paths: &[PathBuf], options: &Options, enricher: &Enricher) -> Result<Vec<Report>, BatchError> {
    let threads = match options.threads {
        0 => thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    crate::enrich::UaParser::warm_up();
    let configs = if options.configs.is_empty() {
        vec![Config::default()]
    } else {
        options.configs.clone()
    };
    let make = || -> Vec<Engine> {
        configs
            .iter()
            .map(|c| Engine::with_suppressions(c.clone(), options.suppressions.clone()))
            .collect()
    };
    let mut malformed = Vec::new();
    let mut files = Vec::new();
    let mut enrich_stats = EnrichStats::default();
    let mut gathered: Vec<Event> = Vec::new();
    let mut streamed = None;
    let single = paths.len() == 1;
    for path in paths {
        let read = read_file(path, options.format, enricher, threads, single, &make)?;
        let counts = &read.tally.counts;
        tracing::debug!(path = %path.display(), format = read.format.name(), events = counts.events, "file read");
        files.push(FileSummary {
            path: path.display().to_string(),
            format: read.format.name().to_string(),
            records: counts.records,
            events: counts.events,
            malformed: counts.malformed,
            ignored: counts.ignored,
        });
        let room = MALFORMED_LISTED.saturating_sub(malformed.len());
        malformed.extend(read.tally.malformed.into_iter().take(room));
        enrich_stats.add(&read.enrich);
        match read.out {
            Out::Streamed(shards) => streamed = Some(shards),
            Out::Gathered(events) => gathered.extend(events),
        }
    }
    // One (stats, findings) per configuration.
    let results: Vec<(EngineStats, Vec<Finding>)> = match streamed {
        Some(shards) => {
            // Shard by shard, configuration by configuration → configuration by configuration.
            let mut per_config: Vec<Vec<Engine>> = configs.iter().map(|_| Vec::new()).collect();
            for set in shards {
                for (k, eng) in set.into_iter().enumerate() {
                    if let Some(v) = per_config.get_mut(k) {
                        v.push(eng);
                    }
                }
            }
            per_config.into_iter().map(combine).collect()
        }
        None => {
            let mut engines = make();
            // Stable: events at the same time stay in file order.
            gathered.sort_by_key(|e| e.ts_ms);
            for e in &gathered {
                for eng in engines.iter_mut() {
                    eng.observe_index(e);
                }
            }
            engines
                .into_iter()
                .map(|eng| (eng.stats(), eng.into_findings()))
                .collect()
        }
    };
    let totals = Counts {
        records: files.iter().map(|f| f.records).sum(),
        events: files.iter().map(|f| f.events).sum(),
        malformed: files.iter().map(|f| f.malformed).sum(),
        ignored: files.iter().map(|f| f.ignored).sum(),
    };
    Ok(results
        .into_iter()
        .map(|(stats, findings)| {
            let summary = summarize(
                &files,
                &malformed,
                &totals,
                stats,
                &findings,
                enrich_stats,
                enricher,
            );
            Report { findings, summary }
        })
        .collect())
}

fn summarize(
    files: &[FileSummary],
    malformed: &[Malformed],
    totals: &Counts,
    stats: EngineStats,
    findings: &[Finding],
    enrichment: EnrichStats,
    enricher: &Enricher,
) -> Summary {
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    for f in findings {
        *by_kind.entry(f.kind.as_str().to_string()).or_default() += 1;
        *by_severity.entry(f.severity.as_str().to_string()).or_default() += 1;
    }
    Summary {
        files: files.to_vec(),
        events: totals.events,
        malformed: totals.malformed,
        malformed_records: malformed.to_vec(),
        ignored: totals.ignored,
        users: stats.users,
        sessions: stats.sessions,
        out_of_order: stats.out_of_order,
        unlocated: stats.unlocated,
        signals: stats.signals,
        suppressed: stats.suppressed,
        findings: findings.len() as u64,
        by_kind,
        by_severity,
        enrichment,
        geoip_city: enricher.has_city_db(),
        geoip_asn: enricher.has_asn_db(),
    }
}

/// Counts per (kind, severity) of two runs, for the backtest table: (kind, severity, before, after).
pub fn backtest_diff(before: &[Finding], after: &[Finding]) -> Vec<(String, String, u64, u64)> {
    let mut m: HashMap<(String, String), (u64, u64)> = HashMap::new();
    for f in before {
        m.entry((f.kind.as_str().into(), f.severity.as_str().into()))
            .or_default()
            .0 += 1;
    }
    for f in after {
        m.entry((f.kind.as_str().into(), f.severity.as_str().into()))
            .or_default()
            .1 += 1;
    }
    let mut v: Vec<_> = m.into_iter().map(|((k, s), (a, b))| (k, s, a, b)).collect();
    v.sort();
    v
}
