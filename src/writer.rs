//! Where downloads land: a temporary file beside the destination, committed
//! by fsync and rename (`FileWriter`), or a new `bytes` object
//! (`MemoryWriter`). Parts are written at their offsets from any number of
//! threads through `PartSink`s, which digest the bytes as they pass.
//!
//! Until `commit` succeeds the destination is never touched, so a failed or
//! abandoned download leaves a pre-existing file exactly as it was.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rustix::fs::{fsync, openat, renameat, unlinkat, AtFlags, Mode, OFlags};

use crate::buffer::BorrowedBytes;
use crate::checksum::{Algorithm, Digests};
use crate::control::Control;
use crate::error::{CoreError, CoreResult};
use crate::paths::{open_parent, Parent};

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

/// The open temporary file of a `FileWriter`, and the folder it is in.
///
/// Everything after the folder was opened (create, rename, remove, sync) is
/// done relative to its descriptor, so a folder on the way swapped for a
/// symbolic link meanwhile cannot redirect the write (see `paths.rs`).
struct TempFile {
    file: File,
    /// The destination's folder, opened without following links.
    dir: OwnedFd,
    /// The temporary file's name in `dir`, and the destination's.
    temp_name: String,
    name: String,
    /// `folder/.cdnpart-…`, for messages.
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

impl TempFile {
    /// Removes the temporary file (best effort: it is ours, in our folder).
    fn remove(&self) {
        let _ = unlinkat(&self.dir, self.temp_name.as_str(), AtFlags::empty());
    }
}

/// Names the temporary file: short and fixed-length, so it fits whatever the
/// destination's own name length, and hidden.
fn temp_path_for() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".cdnpart-{}-{n}", std::process::id())
}

/// Creates the temporary file (sized `size`) in the destination's folder:
/// `O_EXCL | O_NOFOLLOW`, so nothing already there, link or file, is opened.
fn create_temp(parent: Parent, size: u64) -> CoreResult<TempFile> {
    let temp_name = temp_path_for();
    let path = parent.path.with_file_name(&temp_name);
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = openat(
        &parent.dir,
        temp_name.as_str(),
        flags,
        Mode::from_raw_mode(0o666),
    )
    .map_err(|e| CoreError::io("create", &path, e.into()))?;
    let temp = TempFile {
        file: File::from(fd),
        dir: parent.dir,
        temp_name,
        name: parent.name,
        path,
        gate: Gate::default(),
    };
    if let Err(e) = temp.file.set_len(size) {
        temp.remove();
        return Err(CoreError::io("size", &temp.path, e));
    }
    Ok(temp)
}

fn fsync_parent(temp: &TempFile, destination: &Path) -> CoreResult<()> {
    fsync(&temp.dir).map_err(|e| CoreError::io("sync folder of", destination, e.into()))
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
        let (dir, temp, name) = (&file.dir, file.temp_name.as_str(), file.name.as_str());
        renameat(dir, temp, dir, name)
            .map_err(|e| CoreError::io("rename into", &self.destination, e.into()))?;
        fsync_parent(file, &self.destination)
    }
}

#[pymethods]
impl FileWriter {
    /// Checks `key` and creates the folders it needs below `folder` (as
    /// `prepare_destination`), then the temporary file (sized `size`) beside
    /// `folder/key`, all without following a link below `folder`.
    #[new]
    fn new(py: Python<'_>, folder: PathBuf, key: String, size: u64) -> PyResult<Self> {
        let temp = py.detach(|| create_temp(open_parent(&folder, &key)?, size))?;
        Ok(FileWriter {
            destination: temp.path.with_file_name(&temp.name),
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
                self.temp.remove();
            }
            result
        })?;
        Ok(())
    }

    /// Removes the temporary file; the destination is left as it was.
    /// Safe to call more than once.
    fn abort(&self, py: Python<'_>) {
        if self.temp.gate.close() {
            py.detach(|| self.temp.remove());
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
            self.temp.remove();
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
    fn crc(&self) -> Option<u32> {
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

    use std::fs;

    fn temp_for(folder: &Path, key: &str, size: u64) -> TempFile {
        create_temp(open_parent(folder, key).unwrap(), size).unwrap()
    }

    #[test]
    fn temp_file_lives_beside_the_destination_and_is_sized() {
        let dir = tempfile::tempdir().unwrap();
        let name = "a-very-long-name".repeat(15);
        let temp = temp_for(dir.path(), &format!("sub/{name}"), 1234);
        assert_eq!(temp.path.parent(), Some(dir.path().join("sub").as_path()));
        assert!(temp.path.file_name().unwrap().len() < 64);
        assert_eq!(fs::metadata(&temp.path).unwrap().len(), 1234);
        temp.remove();
        assert!(!temp.path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_swapped_for_a_link_after_opening_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let folder = dir.path().join("bucket");
        let temp = temp_for(&folder, "sub/x", 3);
        fs::rename(folder.join("sub"), dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("sub")).unwrap();
        temp.write_at(b"abc", 0).unwrap();
        let writer = FileWriter {
            destination: folder.join("sub/x"),
            size: 3,
            temp: Arc::new(temp),
        };
        writer.commit_file().unwrap();
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert_eq!(fs::read(dir.path().join("moved/x")).unwrap(), b"abc");
    }

    #[test]
    fn writes_after_close_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = temp_for(dir.path(), "x", 4);
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
