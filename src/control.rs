//! Progress and cancellation of one transfer, shared by all of its parts.
//!
//! Both data planes report through the same object: the Rust writer and the
//! native HTTP client from worker threads, the boto3 path from Python.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use pyo3::prelude::*;

use crate::error::{CoreError, CoreResult};

/// Counts the bytes a transfer has moved, calls the caller's progress
/// callback with each increment, and carries a cancellation flag.
#[pyclass(frozen)]
pub struct Control {
    cancelled: AtomicBool,
    transferred: AtomicI64,
    progress: Option<Py<PyAny>>,
}

impl Control {
    pub fn ensure_running(&self) -> CoreResult<()> {
        if self.cancelled.load(Ordering::Acquire) {
            Err(CoreError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Records `n` bytes (negative when a failed attempt is rolled back) and
    /// tells the callback, taking the GIL only if there is one.
    pub fn record(&self, n: i64) -> PyResult<()> {
        if n == 0 {
            return Ok(());
        }
        self.transferred.fetch_add(n, Ordering::Relaxed);
        match &self.progress {
            Some(callback) => Python::attach(|py| callback.call1(py, (n,)).map(drop)),
            None => Ok(()),
        }
    }
}

#[pymethods]
impl Control {
    /// `progress(n)` is called with the bytes moved since the last call,
    /// from whichever thread moved them.
    #[new]
    #[pyo3(signature = (progress = None))]
    fn new(progress: Option<Py<PyAny>>) -> Self {
        Control {
            cancelled: AtomicBool::new(false),
            transferred: AtomicI64::new(0),
            progress,
        }
    }

    /// Asks every part of the transfer to stop at its next chunk.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Raises `Cancelled` once `cancel()` was called.
    fn check(&self) -> PyResult<()> {
        Ok(self.ensure_running()?)
    }

    /// Records `n` bytes moved (negative to roll back a failed attempt).
    fn advance(&self, n: i64) -> PyResult<()> {
        self.record(n)
    }

    /// Net bytes moved so far.
    #[getter]
    fn transferred(&self) -> i64 {
        self.transferred.load(Ordering::Relaxed)
    }
}
