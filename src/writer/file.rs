//! `FileWriter`: a download into a temporary file beside the destination,
//! committed by fsync and rename, removed on abort, or kept with its
//! journal for a resumable download (`journal.rs`).
//!
//! Everything after the destination's folder is opened (create, rename,
//! remove, sync) is done relative to its descriptor, so a folder on the way
//! swapped for a symbolic link meanwhile cannot redirect the write (see
//! `paths.rs`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;
use rustix::fs::{fstat, fsync, openat, renameat, unlinkat, AtFlags, FileType, Mode, OFlags};

use super::behind::Behind;
use super::destination::Destination;
use super::journal::{self, intact, Journal, Range};
use super::{Gate, PartSink, Target, CLOSED};
use crate::checksum::{Algorithm, Digests};
use crate::control::Control;
use crate::error::{CoreError, CoreResult};
#[cfg(test)]
use crate::paths::open_parent;
use crate::paths::Parent;
use crate::platform;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Files of this size or more get a writer thread of their own (`Behind`):
/// anything larger than the default download threshold is fetched in
/// ranges by several part threads at once.
const WRITE_BEHIND_FROM: u64 = 16 << 20;

/// The open temporary file of a `FileWriter`, and the folder it is in.
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
    /// The journal of a resumable download, locked while this is open.
    journal: Option<Arc<Journal>>,
    /// The thread that writes a large file for its parts.
    behind: Option<Behind>,
}

impl TempFile {
    /// Starts the writer thread of a file of `size` bytes, if it is large.
    fn start_behind(&mut self, size: u64) -> CoreResult<()> {
        if size >= WRITE_BEHIND_FROM {
            let io = |e| CoreError::io("start writing", &self.path, e);
            let file = self.file.try_clone().map_err(io)?;
            self.behind =
                Some(Behind::start(file, self.journal.clone(), self.path.clone()).map_err(io)?);
        }
        Ok(())
    }

    /// Waits for the writer thread, if any, to write (and with `journal`,
    /// journal) everything handed to it, and ends it.
    fn stop_behind(&self, journal: bool) -> CoreResult<()> {
        match &self.behind {
            Some(behind) => behind.stop(journal),
            None => Ok(()),
        }
    }

    /// Removes the temporary file and its journal (best effort: they are
    /// ours, in our folder).
    fn remove(&self) {
        let _ = unlinkat(&self.dir, self.temp_name.as_str(), AtFlags::empty());
        if let Some(journal) = &self.journal {
            journal.remove(&self.dir);
        }
    }

    /// Leaves an unfinished download: with `keep`, a resumable one that
    /// completed some range stays for the next run; anything else goes.
    fn leave(&self, keep: bool) {
        // Journals what finished before the end, or finds a failed write.
        let written = self.stop_behind(keep);
        if !(keep && written.is_ok() && self.journal.as_ref().is_some_and(|j| j.has_ranges())) {
            self.remove();
        }
        if let Some(journal) = &self.journal {
            journal.release();
        }
    }
}

impl Target for TempFile {
    fn write_at(&self, data: &[u8], offset: u64) -> CoreResult<()> {
        if self.behind.is_some() {
            let mut buffer = self.buffer(data.len());
            buffer.copy_from_slice(data);
            self.write_owned(buffer, data.len(), offset)?;
            return Ok(());
        }
        self.gate.write(|| {
            platform::write_all_at(&self.file, data, offset)
                .map_err(|e| CoreError::io("write", &self.path, e))
        })
    }

    fn buffer(&self, size: usize) -> Vec<u8> {
        match &self.behind {
            Some(behind) => behind.buffer(size),
            None => vec![0; size],
        }
    }

    fn write_owned(&self, buffer: Vec<u8>, len: usize, offset: u64) -> CoreResult<Vec<u8>> {
        let Some(behind) = &self.behind else {
            self.write_at(&buffer[..len], offset)?;
            return Ok(buffer);
        };
        let size = buffer.len();
        self.gate.write(|| behind.write(buffer, len, offset))?;
        Ok(behind.buffer(size))
    }
}

/// Names the temporary file: short and fixed-length, so it fits whatever the
/// destination's own name length, and hidden.
fn temp_name() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".cdnpart-{}-{n}", std::process::id())
}

/// Creates the temporary file (sized `size`) in the destination's folder:
/// `O_EXCL | O_NOFOLLOW`, so nothing already there, link or file, is opened.
fn create_temp(parent: Parent, size: u64) -> CoreResult<TempFile> {
    let temp_name = temp_name();
    create_named(parent, temp_name, size, None)
}

fn create_named(
    parent: Parent,
    temp_name: String,
    size: u64,
    journal: Option<Journal>,
) -> CoreResult<TempFile> {
    let path = parent.path.with_file_name(&temp_name);
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = openat(
        &parent.dir,
        temp_name.as_str(),
        flags,
        Mode::from_raw_mode(0o666),
    )
    .map_err(|e| CoreError::io("create", &path, e.into()))?;
    let mut temp = TempFile {
        file: File::from(fd),
        dir: parent.dir,
        temp_name,
        name: parent.name,
        path,
        gate: Gate::default(),
        journal: journal.map(Arc::new),
        behind: None,
    };
    if let Err(e) = temp.file.set_len(size) {
        temp.remove();
        return Err(CoreError::io("size", &temp.path, e));
    }
    // The whole extent at once: a file grown page by page at scattered
    // offsets makes every buffered write allocate (ext4 delayed allocation),
    // and a disk too full for the object fails here, not 90 % in.
    if let Err(e) = platform::reserve(&temp.file, size) {
        temp.remove();
        return Err(CoreError::io("reserve space for", &temp.path, e));
    }
    if let Err(e) = temp.start_behind(size) {
        temp.remove();
        return Err(e);
    }
    Ok(temp)
}

/// The kept temporary file `temp_name` if it is a regular file of `size`
/// bytes.
fn open_kept(parent: &Parent, temp_name: &str, size: u64) -> Option<File> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = openat(&parent.dir, temp_name, flags, Mode::empty()).ok()?;
    let stat = fstat(&fd).ok()?;
    let regular = FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile;
    (regular && stat.st_size as u64 == size).then(|| File::from(fd))
}

/// Opens the resumable download of `size` bytes described by `header`:
/// the kept temporary file and the ranges of it whose bytes still match
/// their journaled CRCs, or a new empty one if anything does not match.
fn open_resumable(
    parent: Parent,
    size: u64,
    header: &str,
    algorithm: Algorithm,
) -> CoreResult<(TempFile, Vec<(u64, Digests)>)> {
    let (temp_name, journal_name) = journal::names(&parent.name);
    let journal_path = parent.path.with_file_name(&journal_name);
    let journal = Journal::lock(&parent.dir, &journal_name, journal_path)?;
    let kept = open_kept(&parent, &temp_name, size).and_then(|file| {
        let ranges = journal.ranges(header, size).ok()??;
        let digests = ranges
            .iter()
            .map(|&r| intact(&file, r, algorithm).map(|d| (r.start, d)))
            .collect::<Option<Vec<_>>>()?;
        Some((file, digests))
    });
    if let Some((file, digests)) = kept {
        let mut temp = TempFile {
            file,
            dir: parent.dir,
            path: parent.path.with_file_name(&temp_name),
            temp_name,
            name: parent.name,
            gate: Gate::default(),
            journal: Some(Arc::new(journal)),
            behind: None,
        };
        temp.start_behind(size)?;
        return Ok((temp, digests));
    }
    let _ = unlinkat(&parent.dir, temp_name.as_str(), AtFlags::empty());
    journal.restart(header)?;
    Ok((
        create_named(parent, temp_name, size, Some(journal))?,
        Vec::new(),
    ))
}

/// A download in progress to `destination`.
///
/// Write through `part(offset)` sinks, then `commit()`; `abort()` (or garbage
/// collection of an uncommitted writer) removes the temporary file. A
/// resumable writer (given a journal header) journals each range passed to
/// `finished()` and keeps its files on `abort(keep=True)` and collection.
#[pyclass(frozen)]
pub struct FileWriter {
    destination: PathBuf,
    size: u64,
    temp: Arc<TempFile>,
    /// Start and digests of the ranges a resumed download already has.
    kept: Vec<(u64, Digests)>,
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
        match &file.journal {
            Some(journal) => {
                journal.remove(dir);
                journal.release();
            }
            None => journal::remove_leftovers(dir, name, &self.destination),
        }
        fsync(dir).map_err(|e| CoreError::io("sync folder of", &self.destination, e.into()))
    }
}

#[pymethods]
impl FileWriter {
    /// Creates the temporary file (sized `size`) in the folder `destination`
    /// holds open, beside the file it names. With `journal` (the header
    /// line: what the object is) the download is resumable: a temporary
    /// file kept for the same header is reopened, and its journaled ranges
    /// read back and checked with `algorithm` (see `kept`). Raises
    /// `DownloadBusy` if another process is resuming it.
    #[new]
    #[pyo3(signature = (destination, size, journal = None, algorithm = None))]
    fn new(
        py: Python<'_>,
        destination: PyRef<'_, Destination>,
        size: u64,
        journal: Option<String>,
        algorithm: Option<&str>,
    ) -> PyResult<Self> {
        let parent = destination.parent()?;
        let (temp, kept) = match (journal, algorithm) {
            (Some(header), Some(name)) => {
                let algorithm = Algorithm::parse(name)?;
                py.detach(|| open_resumable(parent, size, &header, algorithm))?
            }
            (None, None) => (py.detach(|| create_temp(parent, size))?, Vec::new()),
            _ => return Err(CoreError::State("a journal needs an algorithm").into()),
        };
        Ok(FileWriter {
            destination: temp.path.with_file_name(&temp.name),
            size,
            temp: Arc::new(temp),
            kept,
        })
    }

    /// Sinks of the ranges a resumed download already has, read back from
    /// the kept temporary file and found intact (empty otherwise).
    #[getter]
    fn kept(&self) -> Vec<PartSink> {
        self.kept
            .iter()
            .map(|(start, digests)| PartSink {
                target: self.temp.clone(),
                start: *start,
                digests: digests.clone(),
                control: None,
            })
            .collect()
    }

    /// Records the range `sink` wrote as complete: starts writing it to the
    /// disk; if resumable, syncs the temporary file, then journals the range
    /// (for a large file, its writer thread does both, after the range's
    /// queued writes, and this returns at once).
    fn finished(&self, py: Python<'_>, sink: PyRef<'_, PartSink>) -> PyResult<()> {
        let range = Range {
            start: sink.start,
            end: sink.start + sink.digests.length(),
            crc: sink.digests.crc().unwrap_or(0),
        };
        if let Some(behind) = &self.temp.behind {
            // The writer thread starts its write-back and journals it.
            return Ok(py.detach(|| behind.finished(range))?);
        }
        // Write-behind: the range's pages head for the disk now, so the
        // fsync at commit has little left.
        py.detach(|| {
            platform::start_writeback(&self.temp.file, range.start, range.end - range.start)
        });
        let Some(journal) = &self.temp.journal else {
            return Ok(());
        };
        py.detach(|| {
            self.temp
                .file
                .sync_data()
                .map_err(|e| CoreError::io("sync", &self.temp.path, e))?;
            journal.append(range)
        })?;
        Ok(())
    }

    /// A sink that writes consecutive bytes from `offset` and digests them.
    #[pyo3(signature = (offset, algorithm = None, hash = None, control = None))]
    fn part(
        &self,
        offset: u64,
        algorithm: Option<&str>,
        hash: Option<&str>,
        control: Option<Py<Control>>,
    ) -> PyResult<PartSink> {
        self.temp.gate.ensure_open()?;
        PartSink::new(self.temp.clone(), offset, algorithm, hash, control)
    }

    /// Flushes the file to disk and renames it over the destination.
    /// On failure the temporary file is removed and the destination untouched.
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            if !self.temp.gate.close() {
                return Err(CoreError::State(CLOSED));
            }
            let result = self
                .temp
                .stop_behind(false)
                .and_then(|()| self.commit_file());
            if result.is_err() {
                self.temp.remove();
            }
            result
        })?;
        Ok(())
    }

    /// Removes the temporary file (with `keep`, a resumable download that
    /// completed some range keeps it and its journal for the next run); the
    /// destination is left as it was. Safe to call more than once.
    #[pyo3(signature = (keep = false))]
    fn abort(&self, py: Python<'_>, keep: bool) {
        py.detach(|| {
            if self.temp.gate.close() {
                self.temp.leave(keep);
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
            self.temp.leave(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;
    use std::path::Path;

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
            kept: Vec::new(),
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
}
