//! Batch analysis of log files: the same [`Engine`] the live sync uses, driven over files.
//!
//! Parsing is the expensive part (a million JSON lines), detection is cheap but sequential per
//! user, so the work is split that way: one thread cuts the file into ~1 MB chunks of complete
//! records ([`crate::ingest::split`]), a pool of workers (one per core) parses and enriches
//! chunks in parallel, and the calling thread puts chunks back in file order and feeds the
//! engine. Memory stays at a few chunks in flight plus the engine's state: the file is never
//! loaded whole.
//!
//! One JSONL file is streamed in file order (logs are written in time order; stragglers are
//! tolerated and counted). Vendor exports (JSON arrays, often newest first) and several files
//! together are first gathered as events and sorted by time, since only a merged timeline makes
//! sense to the detectors; that holds the events (not the text) in memory.
//!
//! Several configurations can run over one read of the input (one engine each): that is the
//! backtest of `gatehouse analyze --backtest`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use serde::Serialize;

use super::engine::EngineStats;
use super::{Config, Engine, Finding, Suppression};
use crate::enrich::{EnrichStats, Enricher};
use crate::ingest::lean::{Builder, Fresh, Interner, LeanChunk, Lookups};
use crate::ingest::split::{Layout, Splitter};
use crate::ingest::{Event, Format, Malformed, Parsed, detect_format, parse_record};

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
}

struct Done {
    seq: u64,
    /// Which parsing thread, and what it looked up for the first time in this chunk.
    worker: usize,
    fresh: Fresh,
    events: Batch,
    malformed: Vec<(u64, String)>,
    ignored: u64,
    records: u64,
}

struct Counts {
    records: u64,
    events: u64,
    malformed: u64,
    ignored: u64,
}

/// What reading one file accumulates.
struct Tally<'a> {
    malformed: &'a mut Vec<Malformed>,
    counts: Counts,
    enrich: &'a mut EnrichStats,
}

/// Reads, parses and enriches one file on a thread pool, calling `sink` with events in file
/// order, chunk by chunk. Returns the format used.
fn read_file(
    path: &Path,
    format: Format,
    enricher: &Enricher,
    threads: usize,
    tally: &mut Tally<'_>,
    sink: &mut dyn FnMut(Batch, &Lookups, Layout),
) -> Result<Format, BatchError> {
    let display = path.display().to_string();
    let io_err = |source| BatchError::Io {
        path: display.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut splitter = Splitter::new(file, CHUNK_BYTES);
    let first = splitter.next_chunk().map_err(io_err)?;
    let Some(first) = first else { return Ok(format) };
    let layout = splitter.layout().unwrap_or(Layout::Lines);
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
    let (work_tx, work_rx) = mpsc::sync_channel::<Work>(threads * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::sync_channel::<Done>(threads * 4);

    let result = thread::scope(|scope| {
        // Owned by this closure, so that leaving it early (an error) closes both channels and
        // every thread stops instead of waiting on a full one.
        let (work_rx, done_rx) = (work_rx, done_rx);
        let reader = thread::Builder::new().name("gh-split".into()).spawn_scoped(
            scope,
            move || -> Result<(), std::io::Error> {
                let mut next = Some(first);
                let mut seq = 0;
                while let Some(chunk) = next {
                    if work_tx.send(Work { seq, format, chunk }).is_err() {
                        break;
                    }
                    seq += 1;
                    next = splitter.next_chunk()?;
                }
                Ok(())
            },
        );
        let reader = match reader {
            Ok(r) => r,
            Err(_) => return Err(BatchError::Internal("cannot start the reading thread")),
        };
        let mut workers = Vec::new();
        for id in 0..threads {
            let rx = Arc::clone(&work_rx);
            let tx = done_tx.clone();
            let mut enricher = enricher.clone();
            let spawned = thread::Builder::new()
                .name("gh-parse".into())
                .spawn_scoped(scope, move || {
                    worker(id, &rx, &tx, &mut enricher);
                    enricher.stats
                });
            match spawned {
                Ok(w) => workers.push(w),
                Err(_) => return Err(BatchError::Internal("cannot start a parsing thread")),
            }
        }
        drop(done_tx);
        drop(work_rx);
        let mut lookups: Vec<Lookups> = (0..threads).map(|_| Lookups::default()).collect();
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next_seq = 0;
        for done in done_rx.iter() {
            pending.insert(done.seq, done);
            while let Some(d) = pending.remove(&next_seq) {
                next_seq += 1;
                tally.counts.records += d.records;
                tally.counts.events += d.events.len() as u64;
                tally.counts.ignored += d.ignored;
                tally.counts.malformed += d.malformed.len() as u64;
                for (line, message) in d.malformed {
                    if tally.malformed.len() < MALFORMED_LISTED {
                        tally.malformed.push(Malformed {
                            file: display.clone(),
                            line,
                            message,
                        });
                    }
                }
                let Some(lk) = lookups.get_mut(d.worker) else {
                    return Err(BatchError::Internal("a chunk from an unknown parsing thread"));
                };
                lk.apply(d.fresh);
                sink(d.events, lk, layout);
            }
        }
        for w in workers {
            match w.join() {
                Ok(s) => tally.enrich.add(&s),
                Err(_) => return Err(BatchError::Internal("a parsing thread panicked")),
            }
        }
        match reader.join() {
            Ok(r) => r.map_err(io_err),
            Err(_) => Err(BatchError::Internal("the reading thread panicked")),
        }
    });
    result.map(|()| format)
}

fn worker(id: usize, rx: &Mutex<Receiver<Work>>, tx: &SyncSender<Done>, enricher: &mut Enricher) {
    let mut interner = Interner::default();
    loop {
        let work = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(Work { seq, format, chunk }) = work else {
            return;
        };
        let mut done = Done {
            seq,
            worker: id,
            fresh: Fresh::default(),
            events: Batch::Owned(Vec::new()),
            malformed: chunk.errors.clone(),
            ignored: 0,
            records: chunk.records.len() as u64,
        };
        if matches!(format, Format::Jsonl | Format::Auto) {
            interner.begin_chunk();
            done.events = Batch::Lean(parse_lean(chunk, &mut interner, enricher, &mut done.malformed));
            done.fresh = interner.take();
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
                    Ok(Parsed::Ignored(_)) => done.ignored += 1,
                    Err(msg) => done.malformed.push((r.line, msg)),
                }
            }
            done.events = Batch::Owned(events);
        }
        if tx.send(done).is_err() {
            return;
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
    let mut engines: Vec<Engine> = configs
        .into_iter()
        .map(|c| Engine::with_suppressions(c, options.suppressions.clone()))
        .collect();
    let mut malformed = Vec::new();
    let mut files = Vec::new();
    let mut enrich_stats = EnrichStats::default();
    let mut gathered: Vec<Event> = Vec::new();
    let single = paths.len() == 1;
    for path in paths {
        let mut tally = Tally {
            malformed: &mut malformed,
            counts: Counts {
                records: 0,
                events: 0,
                malformed: 0,
                ignored: 0,
            },
            enrich: &mut enrich_stats,
        };
        let mut sink = |events: Batch, lookups: &Lookups, layout: Layout| match events {
            Batch::Lean(c) if single && layout == Layout::Lines => {
                for e in c.views(lookups) {
                    for eng in engines.iter_mut() {
                        eng.observe_ref(&e);
                    }
                }
            }
            Batch::Owned(v) if single && layout == Layout::Lines => {
                for e in &v {
                    for eng in engines.iter_mut() {
                        eng.observe_index(e);
                    }
                }
            }
            Batch::Lean(c) => gathered.extend(c.views(lookups).map(|e| e.to_event())),
            Batch::Owned(v) => gathered.extend(v),
        };
        let format = read_file(path, options.format, enricher, threads, &mut tally, &mut sink)?;
        let counts = tally.counts;
        tracing::debug!(path = %path.display(), format = format.name(), events = counts.events, "file read");
        files.push(FileSummary {
            path: path.display().to_string(),
            format: format.name().to_string(),
            records: counts.records,
            events: counts.events,
            malformed: counts.malformed,
            ignored: counts.ignored,
        });
    }
    if !gathered.is_empty() {
        gathered.sort_by_key(|e| e.ts_ms);
        for e in &gathered {
            for eng in engines.iter_mut() {
                eng.observe_index(e);
            }
        }
    }
    let totals = Counts {
        records: files.iter().map(|f| f.records).sum(),
        events: files.iter().map(|f| f.events).sum(),
        malformed: files.iter().map(|f| f.malformed).sum(),
        ignored: files.iter().map(|f| f.ignored).sum(),
    };
    let _ = totals.records;
    Ok(engines
        .into_iter()
        .map(|eng| {
            let stats = eng.stats();
            let findings = eng.into_findings();
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
