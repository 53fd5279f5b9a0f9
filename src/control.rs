//! Progress and cancellation of one transfer, shared by all of its parts.
//!
//! Both data planes report through the same object: the Rust writer and the
//! native HTTP client from worker threads, the boto3 path from Python. So
//! the manager's bandwidth limit is applied here too, once for both.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::bandwidth::Bandwidth;
use crate::error::CoreError;

/// Counts the bytes a transfer has moved, calls the caller's progress
/// callback with each increment, carries a cancellation flag, and holds the
/// transfer to its manager's bandwidth limit.
#[pyclass(frozen)]
pub struct Control {
    cancelled: AtomicBool,
    transferred: AtomicI64,
    progress: Option<Py<PyAny>>,
    bandwidth: Option<Py<Bandwidth>>,
}

/// Python's identity of its main thread, the one it runs signal handlers on.
static MAIN_THREAD: OnceLock<u64> = OnceLock::new();

thread_local! {
    /// Whether this thread is Python's main thread, found out once per thread.
    static ON_MAIN_THREAD: OnceCell<bool> = const { OnceCell::new() };
}

/// Notes which thread is Python's main thread (at module import).
pub fn remember_main_thread(py: Python<'_>) -> PyResult<()> {
    let main = py.import("threading")?.call_method0("main_thread")?;
    let _ = MAIN_THREAD.set(main.getattr("ident")?.extract()?);
    Ok(())
}

/// Whether this is Python's main thread, by Python's own thread identity
/// (portable, where a system thread id is not). `_thread.get_ident` is
/// built in, so asking runs no Python code, and so no signal handler whose
/// exception could be lost here.
fn on_main_thread() -> bool {
    ON_MAIN_THREAD.with(|cell| {
        *cell.get_or_init(|| {
            Python::attach(|py| -> PyResult<bool> {
                let this: u64 = py.import("_thread")?.call_method0("get_ident")?.extract()?;
                Ok(MAIN_THREAD.get() == Some(&this))
            })
            .unwrap_or(false)
        })
    })
}

impl Control {
    /// Fails with `Cancelled` once the transfer is cancelled. On the main
    /// thread it also runs Python's signal handlers, so Ctrl-C interrupts a
    /// transfer the main thread is moving with the GIL released (and
    /// cancels the rest of it).
    pub fn ensure_running(&self) -> PyResult<()> {
        if self.cancelled.load(Ordering::Acquire) {
            return Err(CoreError::Cancelled.into());
        }
        if on_main_thread() {
            if let Err(err) = Python::attach(|py| py.check_signals()) {
                self.cancel();
                return Err(err);
            }
        }
        Ok(())
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

    /// Records `n` bytes that crossed the wire, then waits until the
    /// bandwidth limit allows them (call it without the GIL).
    pub fn record_moved(&self, n: usize) -> PyResult<()> {
        self.record(n as i64)?;
        self.pay(n)
    }

    /// Waits until the bandwidth limit allows `n` more bytes, without
    /// reporting them (call it without the GIL): for bytes paid for before
    /// they are read, and reported once they are.
    pub fn pay(&self, n: usize) -> PyResult<()> {
        match &self.bandwidth {
            Some(bandwidth) => bandwidth.get().spend(n as u64, || self.ensure_running()),
            None => Ok(()),
        }
    }
}

#[pymethods]
impl Control {
    /// `progress(n)` is called with the bytes moved since the last call,
    /// from whichever thread moved them; `bandwidth` is the manager's limit,
    /// if it has one.
    #[new]
    #[pyo3(signature = (progress = None, bandwidth = None))]
    fn new(progress: Option<Py<PyAny>>, bandwidth: Option<Py<Bandwidth>>) -> Self {
        Control {
            cancelled: AtomicBool::new(false),
            transferred: AtomicI64::new(0),
            progress,
            bandwidth,
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
        self.ensure_running()
    }

    /// Records `n` bytes of progress (negative to roll back a failed
    /// attempt) without spending bandwidth.
    fn advance(&self, n: i64) -> PyResult<()> {
        self.record(n)
    }

    /// Records `n` bytes that crossed the wire and waits, without the GIL,
    /// until the bandwidth limit allows them.
    fn moved(&self, py: Python<'_>, n: usize) -> PyResult<()> {
        py.detach(|| self.record_moved(n))
    }

    /// Net bytes moved so far.
    #[getter]
    fn transferred(&self) -> i64 {
        self.transferred.load(Ordering::Relaxed)
    }
}
