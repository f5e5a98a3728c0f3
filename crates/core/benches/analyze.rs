//! End-to-end throughput of `gatehouse analyze`: generates a 1M-event JSONL file (~330 MB) in a
//! temporary folder, then runs the whole pipeline (read, split, parse, GeoIP, UA, every detector)
//! and prints events/s, wall time and peak RSS (VmHWM).
//!
//! ```text
//! cargo bench -p gatehouse-core --bench analyze              # 1,000,000 events
//! cargo bench -p gatehouse-core --bench analyze -- 200000     # fewer
//! GATEHOUSE_BENCH_UAS=20000 cargo bench -p gatehouse-core --bench analyze   # many User-Agents
//! GATEHOUSE_BENCH_UA_COMPILED=1 cargo bench -p gatehouse-core --bench analyze  # regexes compiled first
//! ```
//! By default the file has a handful of User-Agents (as most logs of one application do);
//! `GATEHOUSE_BENCH_UAS=N` gives it about N distinct ones (each user's browser with an app build
//! number), where User-Agent parsing becomes the largest cost.
//! Peak RSS is read after generation (which streams to disk in a few MB), so it is the
//! pipeline's.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use gatehouse_core::detect::batch::{self, Options};
use gatehouse_core::enrich::{EnrichConfig, Enricher};

const UAS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
];
/// Addresses inside the MaxMind test databases' networks (see shared/data/geoip/test-ips.csv).
const KNOWN_IPS: &[&str] = &[
    "81.2.69.142",
    "81.2.69.160",
    "2.125.160.216",
    "89.160.20.112",
    "89.160.20.128",
    "216.160.83.56",
    "175.16.199.0",
    "67.43.156.0",
    "202.196.224.0",
    "214.78.120.1",
    "149.101.100.0",
    "1.0.0.1",
    "12.81.92.1",
];
const PATHS: &[&str] = &[
    "/api/v1/items?page=2",
    "/api/v1/me",
    "/api/v1/projects/1042",
    "/api/v1/notifications",
    "/api/v1/search?q=report",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn geoip(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/geoip")).join(name)
}

fn generate(path: &std::path::Path, n: u64, distinct_uas: Option<u64>) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let users = 2000u64;
    let start = 1_780_272_000_000i64; // 2026-06-01
    let span_ms = 14 * 86_400_000i64;
    let mut bytes = 0u64;
    for i in 0..n {
        let ts = start + (i as i64) * span_ms / n as i64;
        let u = rng.below(users);
        let day = (ts - start) / 86_400_000;
        let session_n = day * 2 + (rng.below(100) < 3) as i64;
        let ip = if rng.below(1000) < 2 {
            KNOWN_IPS[rng.below(KNOWN_IPS.len() as u64) as usize].to_string()
        } else if u.is_multiple_of(3) {
            KNOWN_IPS[(u % KNOWN_IPS.len() as u64) as usize].to_string()
        } else {
            format!(
                "{}.{}.{}.{}",
                11 + u % 200,
                (u / 200) % 250,
                10 + u % 13,
                1 + (u % 250)
            )
        };
        let ua = if rng.below(10_000) < 3 {
            "python-requests/2.31.0".to_string()
        } else {
            let browser = UAS[(u % UAS.len() as u64) as usize];
            match distinct_uas {
                // Each user on a few builds of the app over the fortnight.
                Some(k) => format!(
                    "{browser} App/{}",
                    (u * 7 + day as u64) % (k / UAS.len() as u64).max(1)
                ),
                None => browser.to_string(),
            }
        };
        let secs = ts.div_euclid(1000);
        let (d, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let line = format!(
            "{{\"ts\":\"2026-06-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"user\":\"user{:05}@example.com\",\"ip\":\"{ip}\",\
\"session\":\"sess-{:05}-{:04}-7f3a9c2e\",\"jti\":\"{:011x}{:011x}\",\"ua\":\"{ua}\",\"method\":\"GET\",\
\"path\":\"{}\",\"status\":200}}\n",
            1 + d - 20_605,
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60,
            ts.rem_euclid(1000),
            u,
            u,
            session_n,
            u.wrapping_mul(0x1234_5678_9abc_def1) >> 20,
            session_n as u64,
            PATHS[rng.below(PATHS.len() as u64) as usize],
        );
        bytes += line.len() as u64;
        w.write_all(line.as_bytes())?;
    }
    w.flush()?;
    Ok(bytes)
}

/// User + system CPU seconds of this process so far (clock ticks of 10 ms).
fn cpu_s() -> f64 {
    stat_cpu("/proc/self/stat")
}

fn stat_cpu(path: &str) -> f64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    // GATEHOUSE_BENCH_FILE reuses (or creates) a file, for profiling the analysis alone.
    let path = std::env::var_os("GATEHOUSE_BENCH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("events.jsonl"));
    let t = Instant::now();
    let bytes = if path.exists() {
        std::fs::metadata(&path)?.len()
    } else {
        let distinct_uas = std::env::var("GATEHOUSE_BENCH_UAS")
            .ok()
            .and_then(|v| v.parse().ok());
        generate(&path, n, distinct_uas)?
    };
    println!(
        "generated {n} events, {:.1} MB in {:.2} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // `GATEHOUSE_BENCH_UA_COMPILED=1` compiles the User-Agent regexes before the clock starts,
    // to see what their one-time compile costs the run.
    if std::env::var_os("GATEHOUSE_BENCH_UA_COMPILED").is_some_and(|v| v == "1") {
        gatehouse_core::enrich::UaParser::new().parse(UAS[0]);
        println!("User-Agent regexes compiled before the clock starts");
    }
    // Timed from opening the GeoIP databases, as `gatehouse analyze` does (the User-Agent
    // regexes compile on their own thread from the start of the analysis).
    let t = Instant::now();
    let cpu0 = cpu_s();
    let enricher = Enricher::open(&EnrichConfig {
        city_db: Some(geoip("GeoIP2-City-Test.mmdb")),
        asn_db: Some(geoip("GeoLite2-ASN-Test.mmdb")),
    })?;
    let reports = batch::analyze(std::slice::from_ref(&path), &Options::default(), &enricher)?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_s() - cpu0;
    let r = reports.first().ok_or("no report")?;
    println!(
        "analyzed {} events ({} malformed) in {:.3} s: {:.0} events/s, {:.0} MB/s; {} findings {:?}",
        r.summary.events,
        r.summary.malformed,
        wall,
        r.summary.events as f64 / wall,
        bytes as f64 / 1e6 / wall,
        r.summary.findings,
        r.summary.by_severity
    );
    println!(
        "CPU {cpu:.2} s over {wall:.2} s wall ({:.0}% of one core; reading, parsing and detection all run on the pool)",
        cpu / wall * 100.0,
    );
    println!(
        "threads {}; enrichment {:?}; peak RSS {} MB",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        r.summary.enrichment,
        peak_rss_kb().unwrap_or(0) / 1024
    );
    Ok(())
}
