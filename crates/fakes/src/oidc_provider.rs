//! Not a fake: the real `oidc-provider` npm package (an OpenID-certified authorization server,
//! pinned in `crates/core/tests/fixtures/oidc-provider/package-lock.json`), started as a node
//! process on loopback for the core and CLI tests that need RFC 7662 introspection and RFC 7009
//! revocation from a real server. `./x` installs it (`setup_npm`); [`start`] runs `npm ci`
//! itself when it is missing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The running server; the node process is stopped (stdin closed, killed) when this is dropped,
/// however the test ends.
pub struct OidcProvider {
    child: Child,
    /// The issuer URL the server printed (`http://127.0.0.1:<port>`).
    pub issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixture: `server.mjs` (clients, scopes, signing keys) and the pinned package.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/oidc-provider")
}

/// Starts oidc-provider, or `None` (with a loud message) when node is not installed.
pub fn start() -> Option<OidcProvider> {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!(
            "\n\n*** SKIPPED: node is not installed, so the tests against the real oidc-provider \
             (RFC 7662/7009) cannot start it. Install Node.js 20+ to run them. ***\n\n"
        );
        return None;
    }
    let dir = fixture_dir();
    if !dir.join("node_modules/oidc-provider").is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm ci of the oidc-provider fixture");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().expect("node's stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(issuer.to_string());
            }
        }
    });
    // Owned before waiting, so that the process is stopped if it never says it listens.
    let mut provider = OidcProvider {
        child,
        issuer: String::new(),
    };
    provider.issuer = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("oidc-provider did not start within 30 s");
    Some(provider)
}
