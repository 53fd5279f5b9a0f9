//! The journal of a resumable download: which byte ranges of its temporary
//! file are complete, so that a later run fetches only the rest.
//!
//! Beside the destination `NAME` live `.NAME.cdn-partial` (the temporary
//! file) and `.NAME.cdn-journal` (for names too long for those, `.<MD5 of
//! NAME>.cdn-partial` / `.cdn-journal`). The journal is JSON Lines: the first
//! line is the caller's header (object ETag, version, size, part size,
//! checksum algorithm: opaque here, compared byte for byte), then one
//! `[start,end,crc]` line per completed range, appended after the range's
//! bytes are synced. It is held under an exclusive `flock` while a download
//! uses it, so a second process resuming the same download fails at once.
//!
//! On opening, every journaled range is read back and its CRC recomputed: a
//! header that differs, a line that does not parse, or bytes that do not
//! match their CRC mean starting over with an empty file, never a mixed one.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use md5::{Digest, Md5};
use rustix::fs::{
    flock, fstat, openat, statat, unlinkat, AtFlags, FileType, FlockOperation, Mode, OFlags,
};
use rustix::io::Errno;

use crate::checksum::{Algorithm, Digests};
use crate::error::{CoreError, CoreResult};
use crate::platform;

/// Longest file-name component Linux file systems accept (NAME_MAX).
const NAME_MAX: usize = 255;
const PARTIAL: &str = ".cdn-partial";
const JOURNAL: &str = ".cdn-journal";
/// Read-back buffer for the kept ranges.
const CHUNK: usize = 1 << 20;

/// The temporary file's and the journal's names for destination `name`.
pub fn names(name: &str) -> (String, String) {
    let stem = if 1 + name.len() + JOURNAL.len() <= NAME_MAX {
        name.to_owned()
    } else {
        format!("{:x}", Md5::digest(name.as_bytes()))
    };
    (format!(".{stem}{PARTIAL}"), format!(".{stem}{JOURNAL}"))
}

/// Whether destination `name` in `dir` has a journal an earlier run left
/// (a regular file with something in it): a hint only, for the journal is
/// read and checked when a writer opens it.
pub fn exists(dir: &OwnedFd, name: &str) -> bool {
    let (_, journal) = names(name);
    statat(dir, journal.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
        FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_size > 0
    })
}

/// Removes the temporary file and journal that an earlier attempt at
/// destination `name` in `dir` kept, unless a download holds that journal
/// now: the destination was just written whole and verified, so they
/// describe nothing left to resume. `path`: the destination, for messages.
pub fn remove_leftovers(dir: &OwnedFd, name: &str, path: &Path) {
    let (partial, journal) = names(name);
    if statat(dir, journal.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_err() {
        // A resumer creates its journal before its temporary file: without
        // one, a temporary file of that name is nobody's.
        let _ = unlinkat(dir, partial.as_str(), AtFlags::empty());
        return;
    }
    if let Ok(held) = Journal::lock(dir, &journal, path.with_file_name(&journal)) {
        let _ = unlinkat(dir, partial.as_str(), AtFlags::empty());
        held.remove(dir);
        held.release();
    }
}

/// A completed range: `start..end`, and the CRC of its bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
    pub crc: u64,
}

/// What a writer closed before.
const RELEASED: &str = "the download's journal was already released";

/// An open, locked journal (until `release`).
pub struct Journal {
    /// The journal file and where the next line goes; None once released.
    file: Mutex<Option<(File, u64)>>,
    /// Ranges the journal holds.
    count: AtomicUsize,
    pub name: String,
    pub path: PathBuf,
}

fn errno_io(action: &'static str, path: &Path, errno: Errno) -> CoreError {
    CoreError::io(action, path, errno.into())
}

impl Journal {
    /// Opens (creating) and locks the journal `name` in `dir`. Fails with
    /// `CoreError::Busy` if another process holds it.
    pub fn lock(dir: &OwnedFd, name: &str, path: PathBuf) -> CoreResult<Self> {
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        loop {
            let fd = openat(dir, name, flags, Mode::from_raw_mode(0o644))
                .map_err(|e| errno_io("open", &path, e))?;
            match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Err(Errno::WOULDBLOCK) => return Err(CoreError::Busy(path)),
                Err(e) => return Err(errno_io("lock", &path, e)),
                Ok(()) => {}
            }
            // The holder we waited for may have finished and removed it:
            // a journal no longer linked is nobody's; open the name again.
            if fstat(&fd)
                .map_err(|e| errno_io("inspect", &path, e))?
                .st_nlink
                > 0
            {
                return Ok(Journal {
                    file: Mutex::new(Some((File::from(fd), 0))),
                    count: AtomicUsize::new(0),
                    name: name.to_owned(),
                    path,
                });
            }
        }
    }

    /// The ranges this journal holds for `header`, or None if it is for
    /// something else or damaged.
    pub fn ranges(&self, header: &str, size: u64) -> CoreResult<Option<Vec<Range>>> {
        let mut text = String::new();
        let mut guard = self.open();
        let Some((file, end)) = guard.as_mut() else {
            return Err(CoreError::State(RELEASED));
        };
        if (&*file).read_to_string(&mut text).is_err() {
            return Ok(None); // not UTF-8: damaged
        }
        let mut lines = text.split_terminator('\n');
        if lines.next() != Some(header) {
            return Ok(None);
        }
        let mut ranges: Vec<Range> = Vec::new();
        for line in lines {
            match parse(line) {
                Some(r) if r.start < r.end && r.end <= size => {
                    if ranges.iter().any(|k| k.start < r.end && r.start < k.end) {
                        return Ok(None);
                    }
                    ranges.push(r);
                }
                _ => return Ok(None),
            }
        }
        *end = text.len() as u64;
        self.count.store(ranges.len(), Ordering::Relaxed);
        Ok(Some(ranges))
    }

    /// Empties the journal and writes `header` as its first line.
    pub fn restart(&self, header: &str) -> CoreResult<()> {
        let mut guard = self.open();
        let Some((file, end)) = guard.as_mut() else {
            return Err(CoreError::State(RELEASED));
        };
        let line = format!("{header}\n");
        let io = |action, e| CoreError::io(action, &self.path, e);
        file.set_len(0).map_err(|e| io("truncate", e))?;
        platform::write_all_at(file, line.as_bytes(), 0).map_err(|e| io("write", e))?;
        file.sync_data().map_err(|e| io("sync", e))?;
        *end = line.len() as u64;
        self.count.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Records `range` as complete (its bytes must already be synced).
    pub fn append(&self, range: Range) -> CoreResult<()> {
        self.append_all(&[range])
    }

    /// Records `ranges` as complete (their bytes must already be synced),
    /// with one write and one sync.
    pub fn append_all(&self, ranges: &[Range]) -> CoreResult<()> {
        let mut guard = self.open();
        let Some((file, end)) = guard.as_mut() else {
            return Err(CoreError::State(RELEASED));
        };
        let lines: String = ranges
            .iter()
            .map(|r| format!("[{},{},{}]\n", r.start, r.end, r.crc))
            .collect();
        let io = |action, e| CoreError::io(action, &self.path, e);
        platform::write_all_at(file, lines.as_bytes(), *end).map_err(|e| io("write", e))?;
        file.sync_data().map_err(|e| io("sync", e))?;
        *end += lines.len() as u64;
        self.count.fetch_add(ranges.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Removes the journal (best effort: it is ours, in our folder).
    pub fn remove(&self, dir: &OwnedFd) {
        let _ = unlinkat(dir, self.name.as_str(), AtFlags::empty());
    }

    /// Whether any range is recorded (so the temporary file is worth keeping).
    pub fn has_ranges(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Closes the journal, which releases its lock: a writer that ended
    /// lets the next run in at once, whatever still refers to it.
    pub fn release(&self) {
        self.open().take();
    }

    fn open(&self) -> MutexGuard<'_, Option<(File, u64)>> {
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn parse(line: &str) -> Option<Range> {
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let mut numbers = inner.split(',').map(|n| n.parse::<u64>().ok());
    let range = Range {
        start: numbers.next()??,
        end: numbers.next()??,
        crc: numbers.next()??,
    };
    numbers.next().is_none().then_some(range)
}

/// The digests of the bytes of `range` in `file`, if they still have their
/// journaled CRC.
pub fn intact(file: &File, range: Range, algorithm: Algorithm) -> Option<Digests> {
    let mut digests = Digests::new(Some(algorithm), None);
    let mut buffer = vec![0; CHUNK.min((range.end - range.start) as usize)];
    let mut offset = range.start;
    while offset < range.end {
        let n = buffer.len().min((range.end - offset) as usize);
        platform::read_exact_at(file, &mut buffer[..n], offset).ok()?;
        digests.update(&buffer[..n]);
        offset += n as u64;
    }
    (digests.crc() == Some(range.crc)).then_some(digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hidden_and_fit_any_name() {
        assert_eq!(
            names("big.iso"),
            (
                ".big.iso.cdn-partial".to_owned(),
                ".big.iso.cdn-journal".to_owned()
            )
        );
        let (partial, journal) = names(&"x".repeat(255));
        assert!(partial.len() < 64 && journal.len() < 64 && partial.starts_with('.'));
    }

    #[test]
    fn only_a_regular_journal_with_content_counts_as_left() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = rustix::fs::open(
            tmp.path(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .unwrap();
        assert!(!exists(&dir, "a.bin"));
        std::fs::write(tmp.path().join(".a.bin.cdn-journal"), b"").unwrap();
        assert!(!exists(&dir, "a.bin"));
        std::fs::write(tmp.path().join(".a.bin.cdn-journal"), b"{}\n").unwrap();
        assert!(exists(&dir, "a.bin"));
        std::os::unix::fs::symlink(
            tmp.path().join(".a.bin.cdn-journal"),
            tmp.path().join(".b.bin.cdn-journal"),
        )
        .unwrap();
        assert!(!exists(&dir, "b.bin"));
    }

    #[test]
    fn lines_parse_strictly() {
        let r = parse("[0,8,17]").unwrap();
        assert_eq!((r.start, r.end, r.crc), (0, 8, 17));
        for bad in ["[0,8]", "[0,8,1,2]", "0,8,1", "[0,-8,1]", "[0,8,1"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
