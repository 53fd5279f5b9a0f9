//! Where downloads land: a temporary file beside the destination, committed
//! by fsync and rename (`FileWriter`), or a new `bytes` object
//! (`MemoryWriter`). Parts are written at their offsets from any number of
//! threads through `PartSink`s, which digest the bytes as they pass.
//!
//! Until `commit` succeeds the destination is never touched, so a failed or
//! abandoned download leaves a pre-existing file exactly as it was.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::BorrowedBytes;
use crate::checksum::{Algorithm, Digests};
use crate::control::Control;
use crate::error::{CoreError, CoreResult};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

const CLOSED: &str = "the download was already committed or aborted";

/// Something parts can be written into at an offset.
pub trait Target: Send + Sync {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()>;
}

/// Refuses writes once the owning writer is committed or aborted.
#[derive(Default)]
struct Gate(AtomicBool);

impl Gate {
    fn ensure_open(&self) -> CoreResult<()> {
        if self.0.load(Ordering::Acquire) {
            Err(CoreError::State(CLOSED))
        } else {
            Ok(())
        }
    }

    /// Closes the gate; true for the one caller that closed it.
    fn close(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }
}

/// The open temporary file of a `FileWriter`.
struct TempFile {
    file: File,
    path: PathBuf,
    gate: Gate,
}

impl Target for TempFile {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()> {
        self.gate.ensure_open()?;
        self.file
            .write_all_at(data, offset)
            .map_err(|e| CoreError::io("write", &self.path, e))
    }
}

/// Names the temporary file: short and fixed-length, so it fits whatever the
/// destination's own name length, and hidden.
fn temp_path_for(destination: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!(".cdnpart-{}-{n}", std::process::id());
    destination.with_file_name(name)
}

fn create_temp(destination: &Path, size: u64) -> CoreResult<TempFile> {
    let path = temp_path_for(destination);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| CoreError::io("create", &path, e))?;
    if let Err(e) = file.set_len(size) {
        let _ = fs::remove_file(&path);
        return Err(CoreError::io("size", &path, e));
    }
    Ok(TempFile {
        file,
        path,
        gate: Gate::default(),
    })
}

fn fsync_parent(path: &Path) -> CoreResult<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| CoreError::io("sync folder", parent, e))
}

/// A download in progress to `destination`.
///
/// Write through `part(offset)` sinks, then `commit()`; `abort()` (or garbage
/// collection of an uncommitted writer) removes the temporary file.
#[pyclass(frozen)]
pub struct FileWriter {
    destination: PathBuf,
    size: u64,
    temp: Arc<TempFile>,
}

impl FileWriter {
    fn commit_file(&self) -> CoreResult<()> {
        let file = &self.temp;
        let written = file
            .file
            .metadata()
            .map_err(|e| CoreError::io("inspect", &file.path, e))?
            .len();
        if written != self.size {
            return Err(CoreError::State("temporary file has the wrong size"));
        }
        file.file
            .sync_all()
            .map_err(|e| CoreError::io("sync", &file.path, e))?;
        fs::rename(&file.path, &self.destination)
            .map_err(|e| CoreError::io("rename into", &self.destination, e))?;
        fsync_parent(&self.destination)
    }
}

#[pymethods]
impl FileWriter {
    /// Creates the temporary file (sized `size`) beside `destination`.
    #[new]
    fn new(py: Python<'_>, destination: PathBuf, size: u64) -> PyResult<Self> {
        let temp = py.detach(|| create_temp(&destination, size))?;
        Ok(FileWriter {
            destination,
            size,
            temp: Arc::new(temp),
        })
    }

    /// A sink that writes consecutive bytes from `offset` and digests them.
    #[pyo3(signature = (offset, algorithm = None, md5 = false, control = None))]
    fn part(
        &self,
        offset: u64,
        algorithm: Option<&str>,
        md5: bool,
        control: Option<Py<Control>>,
    ) -> PyResult<PartSink> {
        self.temp.gate.ensure_open()?;
        PartSink::new(self.temp.clone(), offset, algorithm, md5, control)
    }

    /// Flushes the file to disk and renames it over the destination.
    /// On failure the temporary file is removed and the destination untouched.
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        if !self.temp.gate.close() {
            return Err(CoreError::State(CLOSED).into());
        }
        py.detach(|| {
            let result = self.commit_file();
            if result.is_err() {
                let _ = fs::remove_file(&self.temp.path);
            }
            result
        })?;
        Ok(())
    }

    /// Removes the temporary file; the destination is left as it was.
    /// Safe to call more than once.
    fn abort(&self, py: Python<'_>) {
        if self.temp.gate.close() {
            py.detach(|| {
                let _ = fs::remove_file(&self.temp.path);
            });
        }
    }

    /// Where the bytes are written until commit (None once closed).
    #[getter]
    fn temp_path(&self) -> Option<PathBuf> {
        self.temp
            .gate
            .ensure_open()
            .ok()
            .map(|()| self.temp.path.clone())
    }

    #[getter]
    fn destination(&self) -> PathBuf {
        self.destination.clone()
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if self.temp.gate.close() {
            let _ = fs::remove_file(&self.temp.path);
        }
    }
}

/// The memory of a `bytes` object that no Python code can see yet.
struct BytesMemory {
    ptr: *mut u8,
    len: usize,
    gate: Gate,
}

// Safety: the pointer is only written through `write_at`, at bounds-checked
// offsets, by sinks that each own a disjoint range of the download; the
// `bytes` object it points into is kept alive by the owning `MemoryWriter`.
#[allow(unsafe_code)]
unsafe impl Send for BytesMemory {}
#[allow(unsafe_code)]
unsafe impl Sync for BytesMemory {}

impl Target for BytesMemory {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()> {
        self.gate.ensure_open()?;
        let start = usize::try_from(offset).map_err(|_| CoreError::State("offset too large"))?;
        if start
            .checked_add(data.len())
            .is_none_or(|end| end > self.len)
        {
            return Err(CoreError::State("write past the end of the object"));
        }
        #[allow(unsafe_code)]
        // Safety: `start..start + data.len()` is inside the allocation (checked
        // above); the gate is still open, so the object has not been handed to
        // Python and nothing else reads or writes this range.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(start), data.len());
        }
        Ok(())
    }
}

/// A download into a new `bytes` object of `size` bytes, written in place by
/// the parts and handed out by `commit()` only when complete.
#[pyclass(frozen)]
pub struct MemoryWriter {
    bytes: Mutex<Option<Py<PyBytes>>>,
    memory: Arc<BytesMemory>,
}

#[pymethods]
impl MemoryWriter {
    #[new]
    fn new(py: Python<'_>, size: usize) -> PyResult<Self> {
        let mut ptr = std::ptr::null_mut();
        let bytes = PyBytes::new_with(py, size, |buffer| {
            ptr = buffer.as_mut_ptr();
            Ok(())
        })?;
        Ok(MemoryWriter {
            bytes: Mutex::new(Some(bytes.unbind())),
            memory: Arc::new(BytesMemory {
                ptr,
                len: size,
                gate: Gate::default(),
            }),
        })
    }

    /// A sink that writes consecutive bytes from `offset` and digests them.
    #[pyo3(signature = (offset, algorithm = None, md5 = false, control = None))]
    fn part(
        &self,
        offset: u64,
        algorithm: Option<&str>,
        md5: bool,
        control: Option<Py<Control>>,
    ) -> PyResult<PartSink> {
        self.memory.gate.ensure_open()?;
        PartSink::new(self.memory.clone(), offset, algorithm, md5, control)
    }

    /// The finished object; later writes through its sinks are refused.
    fn commit(&self) -> PyResult<Py<PyBytes>> {
        if !self.memory.gate.close() {
            return Err(CoreError::State(CLOSED).into());
        }
        let bytes = self.bytes.lock().expect("writer lock poisoned").take();
        Ok(bytes.expect("bytes are taken only by the commit that closed the gate"))
    }

    /// Releases the memory; safe to call more than once.
    fn abort(&self) {
        if self.memory.gate.close() {
            self.bytes.lock().expect("writer lock poisoned").take();
        }
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
        md5: bool,
        control: Option<Py<Control>>,
    ) -> PyResult<Self> {
        let algorithm = algorithm.map(Algorithm::parse).transpose()?;
        Ok(PartSink {
            target,
            start,
            digests: Digests::new(algorithm, md5),
            control,
        })
    }

    /// Appends `data` (GIL not needed): checks for cancellation, writes,
    /// digests, reports progress.
    pub fn append(&mut self, data: &[u8]) -> PyResult<()> {
        if let Some(control) = &self.control {
            control.get().ensure_running()?;
        }
        let offset = self.start + self.digests.length();
        self.target.write_at(data, offset)?;
        self.digests.update(data);
        if let Some(control) = &self.control {
            control.get().record(data.len() as i64)?;
        }
        Ok(())
    }
}

#[pymethods]
impl PartSink {
    /// Writes `data` right after the bytes written so far.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = BorrowedBytes::new(data)?;
        let slice = data.as_slice();
        py.detach(|| self.append(slice))
    }

    /// Takes back the progress this sink reported, for a part about to be
    /// fetched again.
    fn discard(&mut self) -> PyResult<()> {
        if let Some(control) = &self.control {
            control.get().record(-(self.digests.length() as i64))?;
        }
        self.digests = Digests::new(self.digests.algorithm(), self.digests.has_md5());
        Ok(())
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

    /// Hex MD5 of the bytes written, if asked for.
    #[getter]
    fn md5_hex(&self) -> Option<String> {
        self.digests.md5_hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_lives_beside_the_destination_and_is_sized() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a-very-long-name".repeat(15));
        let temp = create_temp(&dest, 1234).unwrap();
        assert_eq!(temp.path.parent(), dest.parent());
        assert!(temp.path.file_name().unwrap().len() < 64);
        assert_eq!(fs::metadata(&temp.path).unwrap().len(), 1234);
    }

    #[test]
    fn writes_after_close_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = create_temp(&dir.path().join("x"), 4).unwrap();
        file.write_at(b"ab", 2).unwrap();
        assert!(file.gate.close());
        assert!(!file.gate.close());
        assert!(matches!(file.write_at(b"cd", 0), Err(CoreError::State(_))));
        assert_eq!(fs::read(&file.path).unwrap(), b"\0\0ab");
    }

    #[test]
    fn memory_writes_are_bounds_checked() {
        let mut backing = vec![0u8; 4];
        {
            let memory = BytesMemory {
                ptr: backing.as_mut_ptr(),
                len: backing.len(),
                gate: Gate::default(),
            };
            memory.write_at(b"cd", 2).unwrap();
            assert!(memory.write_at(b"xyz", 2).is_err());
            assert!(memory.write_at(b"x", u64::MAX).is_err());
            memory.write_at(b"ab", 0).unwrap();
            assert!(memory.gate.close());
            assert!(memory.write_at(b"ab", 0).is_err());
        }
        assert_eq!(backing, b"abcd");
    }
}
