//! Errors at the crate boundary. Each module has its own `thiserror` enum; this one gathers them
//! and classifies every failure into a small, closed set of kinds that the UI and the CLI's exit
//! codes can branch on. The message of an `Internal` error is for the log, not for the user.

use serde::Serialize;

/// The closed set of error kinds that cross the IPC boundary and map to CLI exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
pub enum ErrorKind {
    /// The credential was refused or lacks a permission.
    Unauthorized,
    /// The thing asked for does not exist.
    NotFound,
    /// The input was malformed or out of range; the message says which part.
    Validation,
    /// A backend or a local service (the OS keyring) failed or answered nonsense.
    Upstream,
    /// A backend asked us to slow down and retries ran out.
    RateLimited,
    /// A bug or an unexpected local failure; details are in the log.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Secrets(#[from] crate::secrets::Error),
    #[error(transparent)]
    Paths(#[from] crate::paths::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Audit(#[from] crate::audit::Error),
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error(transparent)]
    Http(#[from] crate::http::Error),
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    #[error(transparent)]
    Sync(#[from] crate::sync::Error),
    #[error(transparent)]
    Actions(#[from] crate::actions::Error),
    #[error(transparent)]
    Inspect(#[from] crate::inspect::Error),
    #[error(transparent)]
    Triage(#[from] crate::triage::Error),
    #[error(transparent)]
    Views(#[from] crate::views::Error),
    #[error(transparent)]
    Demo(#[from] crate::demo::Error),
    #[error(transparent)]
    Ssf(#[from] crate::ssf::Error),
    #[error(transparent)]
    Incident(#[from] crate::incident::Error),
    #[error(transparent)]
    Report(#[from] crate::report::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Secrets(e) => e.kind(),
            Error::Paths(_) | Error::Store(_) | Error::Audit(_) => ErrorKind::Internal,
            Error::Config(e) => e.kind(),
            Error::Http(e) => e.kind(),
            Error::Backend(e) => e.kind(),
            Error::Sync(e) => e.kind(),
            Error::Actions(e) => e.kind(),
            Error::Inspect(e) => e.kind(),
            Error::Triage(e) => e.kind(),
            Error::Views(e) => e.kind(),
            Error::Demo(e) => e.kind(),
            Error::Ssf(e) => e.kind(),
            Error::Incident(e) => e.kind(),
            Error::Report(e) => e.kind(),
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}
