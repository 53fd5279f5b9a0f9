//! Rust errors and the one place they become Python exceptions.
//!
//! The exception classes are defined in `cdn_manager.errors`; this module only
//! imports them, so Python code can catch exactly what Rust raises.

use std::io;
use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::escape::shown;

pyo3::import_exception!(cdn_manager.errors, UnsafePath);
pyo3::import_exception!(cdn_manager.errors, Cancelled);
pyo3::import_exception!(cdn_manager.errors, DownloadBusy);

/// Everything the core can fail with.
#[derive(Debug)]
pub enum CoreError {
    /// The object key cannot be mapped to a path inside the folder.
    UnsafeKey { key: String, reason: &'static str },
    /// A file to upload is not the regular file it must be (a symbolic
    /// link, another file than the one planned, a device, ...).
    UnsafeFile { path: PathBuf, reason: &'static str },
    /// A local file-system operation failed.
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A caller broke the writer's protocol (e.g. wrote after commit).
    State(&'static str),
    /// The transfer's `Control` was cancelled.
    Cancelled,
    /// Another process holds the journal of this resumable download.
    Busy(PathBuf),
}

impl CoreError {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        CoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Names are escaped: a message reaches terminals and logs.
            CoreError::UnsafeKey { key, reason } => {
                write!(f, "unsafe key '{}': {reason}", shown(key))
            }
            CoreError::UnsafeFile { path, reason } => {
                write!(f, "{}: {reason}", shown(&path.to_string_lossy()))
            }
            CoreError::Io {
                action,
                path,
                source,
            } => write!(
                f,
                "cannot {action} {}: {source}",
                shown(&path.to_string_lossy())
            ),
            CoreError::State(msg) => f.write_str(msg),
            CoreError::Cancelled => f.write_str("the transfer was cancelled"),
            CoreError::Busy(path) => write!(
                f,
                "another process is downloading to the same place (it holds {})",
                shown(&path.to_string_lossy())
            ),
        }
    }
}

impl std::error::Error for CoreError {}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        let message = err.to_string();
        match err {
            CoreError::UnsafeKey { .. } | CoreError::UnsafeFile { .. } => {
                UnsafePath::new_err(message)
            }
            // OSError(errno, message) lets Python pick PermissionError,
            // FileExistsError, ... by errno, exactly as open() would.
            CoreError::Io { source, .. } => match source.raw_os_error() {
                Some(errno) => PyOSError::new_err((errno, message)),
                None => PyOSError::new_err(message),
            },
            CoreError::State(_) => PyValueError::new_err(message),
            CoreError::Cancelled => Cancelled::new_err(message),
            CoreError::Busy(_) => DownloadBusy::new_err(message),
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
