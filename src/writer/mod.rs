//! Where downloads land: a temporary file beside the destination, committed
//! by fsync and rename (`FileWriter`), or a new `bytes` object
//! (`MemoryWriter`). Parts are written at their offsets from any number of
//! threads through `PartSink`s, which digest the bytes as they pass.
//!
//! Until `commit` succeeds the destination is never touched, so a failed or
//! abandoned download leaves a pre-existing file exactly as it was.
//!
//! - `destination.rs`: `Destination`, where a download will land
//! - `file.rs`: `FileWriter`, the temporary file
//! - `behind.rs`: the one thread that writes a large file for its parts
//! - `journal.rs`: the journal that makes a file download resumable
//! - `memory.rs`: `MemoryWriter`, the new `bytes` object

mod behind;
mod destination;
mod file;
mod journal;
mod memory;

use std::sync::{Arc, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::Bytes;
use crate::checksum::{Algorithm, Digests, HashKind};
use crate::control::Control;
use crate::error::{CoreError, CoreResult};
pub use destination::Destination;
pub use file::FileWriter;
pub use memory::MemoryWriter;

const CLOSED: &str = "the download was already committed or aborted";

/// Something parts can be written into at an offset.
pub trait Target: Send + Sync {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()>;

    /// A buffer of `size` bytes to receive into, for `write_owned`.
    fn buffer(&self, size: usize) -> Vec<u8> {
        vec![0; size]
    }

    /// Writes `buffer[..len]` at `offset`, taking the buffer (a target
    /// with a writer thread hands it over instead of copying it); returns
    /// a buffer to receive the next bytes into.
    fn write_owned(&self, buffer: Vec<u8>, len: usize, offset: u64) -> CoreResult<Vec<u8>> {
        self.write_at(&buffer[..len], offset)?;
        Ok(buffer)
    }
}

/// Refuses writes once the owning writer is committed or aborted, and
/// makes closing wait for the writes in flight: each write holds the lock
/// for its copy only (never while calling into Python), shared for file
/// writes and exclusive for memory copies, and closing takes it exclusively.
/// So no byte lands after `close` returns.
#[derive(Default)]
struct Gate(RwLock<bool>);

impl Gate {
    /// Runs `write` unless the gate is closed; closing waits for it.
    fn write<T>(&self, write: impl FnOnce() -> CoreResult<T>) -> CoreResult<T> {
        let closed = self.0.read().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return Err(CoreError::State(CLOSED));
        }
        write()
    }

    /// As `write`, but alone: for copies into memory, where two writes to
    /// the same bytes at once would be a data race.
    fn write_exclusive<T>(&self, write: impl FnOnce() -> CoreResult<T>) -> CoreResult<T> {
        let closed = self.0.write().unwrap_or_else(|e| e.into_inner());
        if *closed {
            return Err(CoreError::State(CLOSED));
        }
        write()
    }

    fn ensure_open(&self) -> CoreResult<()> {
        self.write(|| Ok(()))
    }

    /// Closes the gate once the writes in flight are done; true for the one
    /// caller that closed it.
    fn close(&self) -> bool {
        let mut closed = self.0.write().unwrap_or_else(|e| e.into_inner());
        !std::mem::replace(&mut *closed, true)
    }
}

/// Writes one byte range of a download, digesting it and reporting progress
/// as it goes.
#[pyclass]
pub struct PartSink {
    target: Arc<dyn Target>,
    start: u64,
    digests: Digests,
    control: Option<Py<Control>>,
}

impl PartSink {
    fn new(
        target: Arc<dyn Target>,
        start: u64,
        algorithm: Option<&str>,
        hash: Option<&str>,
        control: Option<Py<Control>>,
    ) -> PyResult<Self> {
        let algorithm = algorithm.map(Algorithm::parse).transpose()?;
        let hash = hash.map(HashKind::parse).transpose()?;
        Ok(PartSink {
            target,
            start,
            digests: Digests::new(algorithm, hash),
            control,
        })
    }

    /// The transfer this sink reports to, if any.
    pub fn control(&self) -> Option<&Py<Control>> {
        self.control.as_ref()
    }

    /// Appends `data` (without the GIL): checks for cancellation, writes,
    /// digests, reports progress and waits for the bandwidth limit.
    pub fn append(&mut self, data: &[u8]) -> PyResult<()> {
        self.append_paid(data)?;
        match &self.control {
            Some(control) => control.get().pay(data.len()),
            None => Ok(()),
        }
    }

    /// As `append`, for bytes already paid for (`Control::pay`) before
    /// they were read.
    pub fn append_paid(&mut self, data: &[u8]) -> PyResult<()> {
        if let Some(control) = &self.control {
            control.get().ensure_running()?;
        }
        let offset = self.start + self.digests.length();
        self.target.write_at(data, offset)?;
        self.digests.update(data);
        match &self.control {
            Some(control) => control.get().record(data.len() as i64),
            None => Ok(()),
        }
    }

    /// A buffer of `size` bytes to receive into, for `append_owned`.
    pub fn buffer(&self, size: usize) -> Vec<u8> {
        self.target.buffer(size)
    }

    /// As `append_paid` for `buffer[..len]`, taking the buffer (digested
    /// here, written by the target's writer thread if it has one); returns
    /// the buffer to receive the next bytes into.
    pub fn append_owned(&mut self, buffer: Vec<u8>, len: usize) -> PyResult<Vec<u8>> {
        if let Some(control) = &self.control {
            control.get().ensure_running()?;
        }
        let offset = self.start + self.digests.length();
        self.digests.update(&buffer[..len]);
        let next = self.target.write_owned(buffer, len, offset)?;
        if let Some(control) = &self.control {
            control.get().record(len as i64)?;
        }
        Ok(next)
    }
}

#[pymethods]
impl PartSink {
    /// Writes `data` right after the bytes written so far.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = Bytes::new(data)?;
        data.for_each_piece(py, 0..data.len(), |piece| self.append(piece))
    }

    /// Takes back the progress this sink reported, for a part about to be
    /// fetched again.
    fn discard(&mut self) -> PyResult<()> {
        if let Some(control) = &self.control {
            control.get().record(-(self.digests.length() as i64))?;
        }
        self.digests = Digests::new(self.digests.algorithm(), self.digests.hash_kind());
        Ok(())
    }

    /// Offset of the first byte this sink writes.
    #[getter]
    fn start(&self) -> u64 {
        self.start
    }

    /// Bytes written through this sink.
    #[getter]
    fn length(&self) -> u64 {
        self.digests.length()
    }

    /// CRC of the bytes written, if an algorithm was asked for.
    #[getter]
    fn crc(&self) -> Option<u64> {
        self.digests.crc()
    }

    /// The hash of the bytes written (raw bytes), if one was asked for.
    #[getter]
    fn hash<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.digests.hash().map(|hash| PyBytes::new(py, &hash))
    }
}
