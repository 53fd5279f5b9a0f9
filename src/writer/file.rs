//! `FileWriter`: a download into a temporary file beside the destination,
//! committed by fsync and rename, removed on abort.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;

use super::{Gate, PartSink, Target, CLOSED};
use crate::control::Control;
use crate::error::{CoreError, CoreResult};
use crate::platform;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The open temporary file of a `FileWriter`.
struct TempFile {
    file: File,
    path: PathBuf,
    gate: Gate,
}

impl Target for TempFile {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()> {
        self.gate.write(|| {
            platform::write_all_at(&self.file, data, offset)
                .map_err(|e| CoreError::io("write", &self.path, e))
        })
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
    platform::sync_folder(parent).map_err(|e| CoreError::io("sync folder", parent, e))
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
        py.detach(|| {
            if !self.temp.gate.close() {
                return Err(CoreError::State(CLOSED));
            }
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
        py.detach(|| {
            if self.temp.gate.close() {
                let _ = fs::remove_file(&self.temp.path);
            }
        });
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
}
