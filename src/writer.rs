//! Atomic downloads: a temporary file beside the destination, positioned
//! writes from any number of threads, then fsync and rename into place.
//!
//! Until `commit` succeeds the destination is never touched, so a failed or
//! abandoned download leaves a pre-existing file exactly as it was.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use crate::buffer::BorrowedBytes;
use crate::checksum::{Algorithm, Digests};
use crate::error::{CoreError, CoreResult};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The open temporary file, shared by the writer and its part sinks.
struct TempFile {
    file: File,
    path: PathBuf,
    /// Set once the file is committed or aborted; later writes are refused.
    closed: AtomicBool,
}

impl TempFile {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CoreError::State(
                "the download was already committed or aborted",
            ));
        }
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

pub fn create_temp(destination: &Path, size: u64) -> CoreResult<PathBuf> {
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
    Ok(path)
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

enum State {
    Open(Arc<TempFile>),
    Committed,
    Aborted,
}

/// A download in progress to `destination`.
///
/// Write through `part(offset)` sinks, then `commit()`; `abort()` (or garbage
/// collection of an uncommitted writer) removes the temporary file.
#[pyclass(frozen)]
pub struct FileWriter {
    destination: PathBuf,
    size: u64,
    state: Mutex<State>,
}

impl FileWriter {
    fn open_file(&self) -> CoreResult<Arc<TempFile>> {
        match &*self.state.lock().expect("writer lock poisoned") {
            State::Open(file) => Ok(Arc::clone(file)),
            _ => Err(CoreError::State(
                "the download was already committed or aborted",
            )),
        }
    }

    fn take(&self, next: State) -> Option<Arc<TempFile>> {
        let mut state = self.state.lock().expect("writer lock poisoned");
        match std::mem::replace(&mut *state, next) {
            State::Open(file) => {
                file.closed.store(true, Ordering::Release);
                Some(file)
            }
            previous => {
                *state = previous;
                None
            }
        }
    }

    fn commit_file(&self, file: &TempFile) -> CoreResult<()> {
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
        let (path, file) = py.detach(|| -> CoreResult<_> {
            let path = create_temp(&destination, size)?;
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| CoreError::io("open", &path, e))?;
            Ok((path, file))
        })?;
        Ok(FileWriter {
            destination,
            size,
            state: Mutex::new(State::Open(Arc::new(TempFile {
                file,
                path,
                closed: AtomicBool::new(false),
            }))),
        })
    }

    /// A sink that writes consecutive bytes from `offset` and digests them.
    #[pyo3(signature = (offset, algorithm = None, md5 = false))]
    fn part(&self, offset: u64, algorithm: Option<&str>, md5: bool) -> PyResult<PartSink> {
        let algorithm = algorithm.map(Algorithm::parse).transpose()?;
        Ok(PartSink {
            file: self.open_file()?,
            start: offset,
            digests: Digests::new(algorithm, md5),
        })
    }

    /// Flushes the file to disk and renames it over the destination.
    /// On failure the temporary file is removed and the destination untouched.
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        let file = self.take(State::Committed).ok_or(CoreError::State(
            "the download was already committed or aborted",
        ))?;
        py.detach(|| {
            let result = self.commit_file(&file);
            if result.is_err() {
                let _ = fs::remove_file(&file.path);
            }
            result
        })?;
        Ok(())
    }

    /// Removes the temporary file; the destination is left as it was.
    /// Safe to call more than once.
    fn abort(&self, py: Python<'_>) {
        if let Some(file) = self.take(State::Aborted) {
            py.detach(|| {
                let _ = fs::remove_file(&file.path);
            });
        }
    }

    /// Where the bytes are written until commit.
    #[getter]
    fn temp_path(&self) -> Option<PathBuf> {
        match &*self.state.lock().expect("writer lock poisoned") {
            State::Open(file) => Some(file.path.clone()),
            _ => None,
        }
    }

    #[getter]
    fn destination(&self) -> PathBuf {
        self.destination.clone()
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some(file) = self.take(State::Aborted) {
            let _ = fs::remove_file(&file.path);
        }
    }
}

/// Writes one byte range of a download and digests it as it goes.
#[pyclass]
pub struct PartSink {
    file: Arc<TempFile>,
    start: u64,
    digests: Digests,
}

#[pymethods]
impl PartSink {
    /// Writes `data` right after the bytes written so far.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = BorrowedBytes::new(data)?;
        let slice = data.as_slice();
        let offset = self.start + self.digests.length();
        let file = &self.file;
        let digests = &mut self.digests;
        py.detach(|| -> CoreResult<()> {
            file.write_at(slice, offset)?;
            digests.update(slice);
            Ok(())
        })?;
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

    #[test]
    fn temp_file_lives_beside_the_destination_and_is_sized() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a-very-long-name".repeat(15));
        let temp = create_temp(&dest, 1234).unwrap();
        assert_eq!(temp.parent(), dest.parent());
        assert!(temp.file_name().unwrap().len() < 64);
        assert_eq!(fs::metadata(&temp).unwrap().len(), 1234);
    }

    #[test]
    fn writes_after_close_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = create_temp(&dir.path().join("x"), 4).unwrap();
        let file = TempFile {
            file: OpenOptions::new().write(true).open(&path).unwrap(),
            path,
            closed: AtomicBool::new(false),
        };
        file.write_at(b"ab", 2).unwrap();
        file.closed.store(true, Ordering::Release);
        assert!(matches!(file.write_at(b"cd", 0), Err(CoreError::State(_))));
        assert_eq!(fs::read(&file.path).unwrap(), b"\0\0ab");
    }
}
