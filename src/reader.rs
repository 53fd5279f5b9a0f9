//! Reading a local file for upload: part checksums ahead of a multipart
//! upload, and each part's bytes with their checksum, GIL released.
//!
//! An upload opens its file once (`FileReader`): without following a final
//! symbolic link unless the caller asked for it, checked with `fstat` to be
//! a regular file (and the very file that was planned, by device and inode)
//! before a byte is read; every part is then read from that descriptor, so
//! the file cannot be swapped for another between parts.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rustix::fs::{openat, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::checksum::{parallel_map, Algorithm, Digests, HashKind};
use crate::control::Control;
use crate::error::{CoreError, CoreResult};
use crate::platform;

/// Bytes hashed per read when only the checksum is wanted (and how often a
/// long checksum run looks for a cancellation).
const HASH_CHUNK: usize = 1 << 20;

fn open(path: &Path) -> CoreResult<File> {
    File::open(path).map_err(|e| CoreError::io("open", path, e))
}

fn unsafe_file(path: &Path, reason: &'static str) -> CoreError {
    CoreError::UnsafeFile {
        path: path.to_owned(),
        reason,
    }
}

/// Opens `path` for reading and checks, on the open descriptor, that it is a
/// regular file (and the one identified by `expected` = (device, inode)).
/// Without `follow`, a symbolic link as the last component is refused.
pub fn open_checked(path: &Path, follow: bool, expected: Option<(u64, u64)>) -> CoreResult<File> {
    // O_NONBLOCK so that a FIFO in the file's place cannot hang the open
    // (it is refused just after); reads of a regular file ignore the flag.
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let file = match openat(CWD, path, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(Errno::LOOP) if !follow => return Err(unsafe_file(path, "is a symbolic link")),
        Err(e) => return Err(CoreError::io("open", path, e.into())),
    };
    let meta = file
        .metadata()
        .map_err(|e| CoreError::io("inspect", path, e))?;
    if !meta.file_type().is_file() {
        return Err(unsafe_file(path, "is not a regular file"));
    }
    if expected.is_some_and(|identity| identity != (meta.dev(), meta.ino())) {
        return Err(unsafe_file(
            path,
            "is no longer the file that was planned (replaced since)",
        ));
    }
    Ok(file)
}

fn read_exact_at(file: &File, path: &Path, buffer: &mut [u8], offset: u64) -> CoreResult<()> {
    platform::read_exact_at(file, buffer, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            CoreError::io("read (the file shrank during the upload)", path, e)
        } else {
            CoreError::io("read", path, e)
        }
    })
}

/// CRC of `length` bytes from `offset`, calling `running` before each chunk
/// (it fails once the upload is cancelled).
fn range_checksum(
    file: &File,
    path: &Path,
    algorithm: Algorithm,
    range: (u64, u64),
    running: &dyn Fn() -> PyResult<()>,
) -> PyResult<u64> {
    let mut digests = Digests::new(Some(algorithm), None);
    read_range(file, path, range, running, |chunk| digests.update(chunk))?;
    Ok(digests.crc().unwrap_or(0))
}

/// Reads `length` bytes at `offset` in chunks, handing each to `each`.
fn read_range(
    file: &File,
    path: &Path,
    (offset, length): (u64, u64),
    running: &dyn Fn() -> PyResult<()>,
    mut each: impl FnMut(&[u8]),
) -> PyResult<()> {
    let mut buffer = vec![0; HASH_CHUNK.min(length as usize)];
    let mut done = 0;
    while done < length {
        running()?;
        let n = (length - done).min(buffer.len() as u64) as usize;
        read_exact_at(file, path, &mut buffer[..n], offset + done)?;
        each(&buffer[..n]);
        done += n as u64;
    }
    Ok(())
}

fn part_ranges(size: u64, part_size: u64) -> PyResult<Vec<(u64, u64)>> {
    if part_size == 0 {
        return Err(PyValueError::new_err("part_size must be positive"));
    }
    Ok((0..size)
        .step_by(part_size as usize)
        .map(|start| (start, part_size.min(size - start)))
        .collect())
}

/// CRC of each `part_size` slice of the first `size` bytes of the file at
/// `path`, in order, read in parallel.
#[pyfunction]
#[pyo3(signature = (path, size, part_size, algorithm = "crc32"))]
pub fn file_part_checksums(
    py: Python<'_>,
    path: PathBuf,
    size: u64,
    part_size: u64,
    algorithm: &str,
) -> PyResult<Vec<u64>> {
    let algorithm = Algorithm::parse(algorithm)?;
    let ranges = part_ranges(size, part_size)?;
    py.detach(|| {
        let file = open(&path)?;
        parallel_map(&ranges, |&range| {
            range_checksum(&file, &path, algorithm, range, &|| Ok(()))
        })
        .into_iter()
        .collect()
    })
}

/// The `hash` ("md5", "sha1" or "sha256") of each `part_size` slice of the
/// first `size` bytes of the file at `path`, in order, read in parallel: what
/// a multipart object's composite hash (or multipart ETag) is made of.
#[pyfunction]
#[pyo3(signature = (path, size, part_size, hash = "md5"))]
pub fn file_part_hashes<'py>(
    py: Python<'py>,
    path: PathBuf,
    size: u64,
    part_size: u64,
    hash: &str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let kind = HashKind::parse(hash)?;
    let ranges = part_ranges(size, part_size)?;
    let hashes = py.detach(|| -> PyResult<Vec<Vec<u8>>> {
        let file = open(&path)?;
        parallel_map(&ranges, |&range| -> PyResult<Vec<u8>> {
            let mut digests = Digests::new(None, Some(kind));
            read_range(&file, &path, range, &|| Ok(()), |c| digests.update(c))?;
            Ok(digests.hash().unwrap_or_default())
        })
        .into_iter()
        .collect()
    })?;
    Ok(hashes.iter().map(|h| PyBytes::new(py, h)).collect())
}

/// A local file opened once for an upload (see the module's notes).
#[pyclass(frozen)]
pub struct FileReader {
    /// None once closed.
    file: RwLock<Option<File>>,
    path: PathBuf,
    size: u64,
    device: u64,
    inode: u64,
    /// Last modification as the open descriptor saw it: with size, device
    /// and inode, what tells a resumable upload that the file is unchanged.
    mtime_ns: i64,
}

impl FileReader {
    fn with_file<R>(&self, f: impl FnOnce(&File) -> PyResult<R>) -> PyResult<R> {
        let guard = self.file.read().expect("reader lock poisoned");
        match guard.as_ref() {
            Some(file) => f(file),
            None => Err(CoreError::State("the file was already closed").into()),
        }
    }
}

#[pymethods]
impl FileReader {
    /// Opens `path`; `follow` lets a symbolic link as its last component be
    /// followed (once, now); `expected` is the (device, inode) the file must
    /// have. Raises `UnsafePath` for a link (unless `follow`), a file that
    /// is not regular, or another file than `expected`; `OSError` if it
    /// cannot be opened.
    #[new]
    #[pyo3(signature = (path, follow = false, expected = None))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        follow: bool,
        expected: Option<(u64, u64)>,
    ) -> PyResult<Self> {
        let file = py.detach(|| open_checked(&path, follow, expected))?;
        let meta = file
            .metadata()
            .map_err(|e| CoreError::io("inspect", &path, e))?;
        Ok(FileReader {
            size: meta.len(),
            device: meta.dev(),
            inode: meta.ino(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            file: RwLock::new(Some(file)),
            path,
        })
    }

    /// CRC of each `part_size` slice of the file (its size when opened), in
    /// order, read in parallel. With `control`, stops with `Cancelled` (or
    /// the interrupt, on the main thread) at the next 1 MiB once cancelled.
    #[pyo3(signature = (part_size, algorithm = "crc32", control = None))]
    fn part_checksums(
        &self,
        py: Python<'_>,
        part_size: u64,
        algorithm: &str,
        control: Option<Py<Control>>,
    ) -> PyResult<Vec<u64>> {
        let algorithm = Algorithm::parse(algorithm)?;
        let ranges = part_ranges(self.size, part_size)?;
        let control = control.as_ref().map(|c| c.get());
        let running = || control.map_or(Ok(()), Control::ensure_running);
        py.detach(|| {
            self.with_file(|file| hash_ranges(file, &self.path, algorithm, &ranges, &running))
        })
    }

    /// `length` bytes from `offset`, read straight into a new `bytes`
    /// object, and their CRC.
    #[pyo3(signature = (offset, length, algorithm = "crc32"))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        length: usize,
        algorithm: &str,
    ) -> PyResult<(Bound<'py, PyBytes>, u64)> {
        let algorithm = Algorithm::parse(algorithm)?;
        let mut crc = 0;
        let bytes = PyBytes::new_with(py, length, |buffer| {
            py.detach(|| {
                self.with_file(|file| {
                    read_exact_at(file, &self.path, buffer, offset)?;
                    crc = algorithm.checksum(buffer);
                    Ok(())
                })
            })
        })?;
        Ok((bytes, crc))
    }

    /// Closes the descriptor; later reads raise. Safe to call more than once.
    fn close(&self) {
        self.file.write().expect("reader lock poisoned").take();
    }

    #[getter]
    fn size(&self) -> u64 {
        self.size
    }

    #[getter]
    fn device(&self) -> u64 {
        self.device
    }

    #[getter]
    fn inode(&self) -> u64 {
        self.inode
    }

    #[getter]
    fn mtime_ns(&self) -> i64 {
        self.mtime_ns
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }
}

/// The CRCs of `ranges`, hashed by this thread and helpers: this thread
/// takes part so that, on the main thread, `running` also notices Ctrl-C
/// (Python's signal handlers run only there) while the helpers hash.
fn hash_ranges(
    file: &File,
    path: &Path,
    algorithm: Algorithm,
    ranges: &[(u64, u64)],
    running: &(dyn Fn() -> PyResult<()> + Sync),
) -> PyResult<Vec<u64>> {
    let next = AtomicUsize::new(0);
    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ranges.len())
        .saturating_sub(1);
    let work = || -> PyResult<Vec<(usize, u64)>> {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&range) = ranges.get(i) else {
                return Ok(done);
            };
            match range_checksum(file, path, algorithm, range, running) {
                Ok(crc) => done.push((i, crc)),
                Err(err) => {
                    // The others stop taking ranges.
                    next.store(ranges.len(), Ordering::Relaxed);
                    return Err(err);
                }
            }
        }
    };
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..helpers).map(|_| scope.spawn(work)).collect();
        let mut results = vec![work()];
        results.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("hash thread panicked")),
        );
        results
    });
    let mut crcs = vec![0; ranges.len()];
    for result in results {
        for (i, crc) in result? {
            crcs[i] = crc;
        }
    }
    Ok(crcs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_stop() -> PyResult<()> {
        Ok(())
    }

    #[test]
    fn range_checksums_match_in_memory_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..3 * HASH_CHUNK + 17).map(|i| (i * 31) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = open(&path).unwrap();
        for (offset, length) in [(0, data.len()), (5, HASH_CHUNK + 3), (data.len() - 1, 1)] {
            let range = (offset as u64, length as u64);
            assert_eq!(
                range_checksum(&file, &path, Algorithm::Crc32c, range, &no_stop).unwrap(),
                Algorithm::Crc32c.checksum(&data[offset..offset + length])
            );
        }
        let ranges = part_ranges(data.len() as u64, HASH_CHUNK as u64 + 1).unwrap();
        let crcs = hash_ranges(&file, &path, Algorithm::Crc32, &ranges, &no_stop).unwrap();
        let expected: Vec<u64> = data
            .chunks(HASH_CHUNK + 1)
            .map(|c| Algorithm::Crc32.checksum(c))
            .collect();
        assert_eq!(crcs, expected);
    }

    #[test]
    fn reading_past_the_end_says_the_file_shrank() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"short").unwrap();
        let file = open(&path).unwrap();
        let err = read_exact_at(&file, &path, &mut [0; 10], 0).unwrap_err();
        assert!(err.to_string().contains("shrank"), "{err}");
    }

    #[test]
    fn links_other_files_and_non_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"data").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        let identity = (meta.dev(), meta.ino());

        assert!(open_checked(&path, false, Some(identity)).is_ok());
        assert!(open_checked(&link, true, Some(identity)).is_ok());
        let refused = |p: &Path, follow, expected| match open_checked(p, follow, expected) {
            Err(CoreError::UnsafeFile { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(&link, false, None), "is a symbolic link");
        assert_eq!(refused(dir.path(), false, None), "is not a regular file");
        let other = dir.path().join("other");
        std::fs::write(&other, b"data").unwrap();
        assert!(refused(&other, false, Some(identity)).contains("no longer the file"));
    }
}
