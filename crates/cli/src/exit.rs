//! One place that turns an error into a message on stderr and a documented exit code.

use gatehouse_core::ErrorKind;

/// An action ran but its verification failed (exit code 7).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotVerified(pub String);

/// An error of a known kind raised by the CLI itself (bad arguments, a missing input file).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failed {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failed {
    pub fn new(kind: ErrorKind, message: impl std::fmt::Display) -> Self {
        Failed {
            kind,
            message: message.to_string(),
        }
    }
}

pub fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Internal => 1,
        ErrorKind::Validation => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Unauthorized => 4,
        ErrorKind::Upstream => 5,
        ErrorKind::RateLimited => 6,
    }
}

pub fn report(e: &anyhow::Error) -> std::process::ExitCode {
    if e.downcast_ref::<NotVerified>().is_some() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::from(7);
    }
    let kind = e
        .downcast_ref::<gatehouse_core::Error>()
        .map(|e| e.kind())
        .or_else(|| e.downcast_ref::<Failed>().map(|f| f.kind))
        .unwrap_or(ErrorKind::Internal);
    eprintln!("error: {e:#}");
    std::process::ExitCode::from(code(kind))
}
