//! The one error that crosses IPC: `{kind, message}` with the core's closed set of kinds. An
//! internal failure's details go to the log; the webview gets a generic sentence.

use gatehouse_core::ErrorKind;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct IpcError {
    pub kind: ErrorKind,
    pub message: String,
}

impl From<gatehouse_core::Error> for IpcError {
    fn from(e: gatehouse_core::Error) -> Self {
        let kind = e.kind();
        let message = match kind {
            ErrorKind::Internal => {
                tracing::error!(error = %e, "internal error in a command");
                "Internal error; the details are in the log.".to_string()
            }
            _ => e.to_string(),
        };
        Self { kind, message }
    }
}

impl IpcError {
    /// A background task panicked or was cancelled.
    pub fn join(e: tauri::Error) -> Self {
        tracing::error!(error = %e, "a command's background task failed");
        Self {
            kind: ErrorKind::Internal,
            message: "Internal error; the details are in the log.".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_kind_and_message() {
        let e = IpcError {
            kind: ErrorKind::RateLimited,
            message: "slow down".into(),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"kind": "RateLimited", "message": "slow down"})
        );
    }

    #[test]
    fn every_kind_serializes_to_its_name() {
        use ErrorKind::*;
        let names: Vec<_> = [
            Unauthorized,
            NotFound,
            Validation,
            Upstream,
            RateLimited,
            Internal,
        ]
        .iter()
        .map(|k| serde_json::to_value(k).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "Unauthorized",
                "NotFound",
                "Validation",
                "Upstream",
                "RateLimited",
                "Internal"
            ]
        );
    }

    #[test]
    fn core_errors_keep_their_kind_and_internal_details_stay_out() {
        let core = gatehouse_core::Error::Paths(gatehouse_core::paths::Error::NoHome);
        let ipc = IpcError::from(core);
        assert_eq!(ipc.kind, ErrorKind::Internal);
        assert!(!ipc.message.contains("GATEHOUSE_HOME"));

        let core = gatehouse_core::Error::Secrets(gatehouse_core::secrets::Error::InvalidName);
        let ipc = IpcError::from(core);
        assert_eq!(ipc.kind, ErrorKind::Validation);
        assert!(ipc.message.contains("secret names"));
    }
}
