//! One place that turns a core error into a message on stderr and a documented exit code.

use gatehouse_core::ErrorKind;

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
    let kind = e
        .downcast_ref::<gatehouse_core::Error>()
        .map(|e| e.kind())
        .unwrap_or(ErrorKind::Internal);
    eprintln!("error: {e:#}");
    std::process::ExitCode::from(code(kind))
}
