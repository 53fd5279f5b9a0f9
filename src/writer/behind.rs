//! `Behind`: one writer thread per large download file, fed by its part
//! readers.
//!
//! Eight part threads writing one file each take the file's lock for every
//! write (a buffered write holds the inode's lock on ext4 and XFS alike), so
//! on a busy host they spent their time waiting for, and spinning on, each
//! other (docs/design.md, "Downloads to a disk"). Here the readers only
//! receive and digest; each filled buffer is handed over whole (no copy) to
//! the one thread that writes this file, which hands it back for reuse once
//! written. That thread also starts each finished range's write-back. For a
//! resumable download a second thread journals the finished ranges in
//! groups, beside the writes rather than between them: one `fdatasync` of
//! the file for however many ranges finished since the last, then their
//! lines and one sync of the journal (a sync waits for the disk, which a
//! busy neighbour can make take 100 ms; the writer goes on meanwhile).
//!
//! A failed write is kept and reported to the next reader that hands over a
//! buffer, and by `flush` (which commit and abort call), so nothing written
//! after a failure is lost silently. The queue is bounded: a reader waits
//! when the disk is behind, as it waited on its own write before.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::journal::{Journal, Range};
use crate::error::{CoreError, CoreResult};
use crate::platform;

/// Buffers that may wait in the queue: with one held by each reader, and
/// one being written, this bounds the memory a download holds.
const QUEUED: usize = 8;

enum Job {
    Write {
        offset: u64,
        buffer: Vec<u8>,
        len: usize,
    },
    /// A range whose every write was queued before this.
    Finished(Range),
    /// Answered once everything queued before it is written (and, with
    /// `journal`, journaled).
    Flush { journal: bool, done: SyncSender<()> },
}

/// What the writer tells the journal's thread.
enum Journaled {
    /// A range whose bytes are all written (not yet synced).
    Written(Range),
    /// Answered once every range told before is journaled (or, without
    /// `journal`, dropped).
    Flush { journal: bool, done: SyncSender<()> },
}

/// A failed write or sync, kept to be reported to the readers and to
/// `flush` (an `io::Error` cannot be cloned).
struct Failure {
    action: &'static str,
    kind: io::ErrorKind,
    os_error: Option<i32>,
    message: String,
}

/// What the writer thread and the readers share.
struct Shared {
    /// Buffers written and ready for reuse.
    free: Mutex<Vec<Vec<u8>>>,
    /// The first failure.
    failed: Mutex<Option<Failure>>,
    path: PathBuf,
}

impl Shared {
    fn failed(&self) -> MutexGuard<'_, Option<Failure>> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fail(&self, action: &'static str, err: &io::Error) {
        let mut failed = self.failed();
        if failed.is_none() {
            *failed = Some(Failure {
                action,
                kind: err.kind(),
                os_error: err.raw_os_error(),
                message: err.to_string(),
            });
        }
    }

    fn fail_with(&self, err: CoreError) {
        match err {
            CoreError::Io { action, source, .. } => self.fail(action, &source),
            other => self.fail("journal", &io::Error::other(other.to_string())),
        }
    }

    fn check(&self) -> CoreResult<()> {
        match &*self.failed() {
            None => Ok(()),
            Some(failure) => {
                let source = match failure.os_error {
                    Some(code) => io::Error::from_raw_os_error(code),
                    None => io::Error::new(failure.kind, failure.message.clone()),
                };
                Err(CoreError::io(failure.action, &self.path, source))
            }
        }
    }

    fn recycle(&self, buffer: Vec<u8>) {
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(buffer);
    }
}

/// The writer thread of one file.
pub struct Behind {
    sender: Mutex<Option<SyncSender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

impl Behind {
    /// Starts the thread that writes `file` (and journals into `journal`).
    pub fn start(file: File, journal: Option<Arc<Journal>>, path: PathBuf) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            free: Mutex::new(Vec::new()),
            failed: Mutex::new(None),
            path,
        });
        let (sender, receiver) = mpsc::sync_channel(QUEUED);
        let journaler = match journal {
            Some(journal) => {
                let (to_journal, ranges) = mpsc::channel();
                let journaler = Journaler {
                    file: file.try_clone()?,
                    journal,
                    shared: shared.clone(),
                    unjournaled: Vec::new(),
                };
                let thread = std::thread::Builder::new()
                    .name("cdn-manager-journal".into())
                    .spawn(move || journaler.run(ranges))?;
                Some((to_journal, thread))
            }
            None => None,
        };
        let worker = Worker {
            file,
            journaler,
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("cdn-manager-writer".into())
            .spawn(move || worker.run(receiver))?;
        Ok(Behind {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            shared,
        })
    }

    /// A buffer of `size` bytes to receive into: one already written, or new.
    pub fn buffer(&self, size: usize) -> Vec<u8> {
        let reused = self
            .shared
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        match reused {
            Some(mut buffer) => {
                buffer.resize(size, 0);
                buffer
            }
            None => vec![0; size],
        }
    }

    fn send(&self, job: Job) -> CoreResult<()> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let gone = || CoreError::State("the download's writer has stopped");
        sender.ok_or_else(gone)?.send(job).map_err(|_| gone())
    }

    /// Queues `buffer[..len]` to be written at `offset`; fails if an earlier
    /// write failed.
    pub fn write(&self, buffer: Vec<u8>, len: usize, offset: u64) -> CoreResult<()> {
        self.shared.check()?;
        self.send(Job::Write {
            offset,
            buffer,
            len,
        })
    }

    /// Queues `range` as finished: its write-back starts, and a resumable
    /// download journals it once its bytes are synced.
    pub fn finished(&self, range: Range) -> CoreResult<()> {
        self.shared.check()?;
        self.send(Job::Finished(range))
    }

    /// Waits until everything queued is written (and journaled, with
    /// `journal`); the first failure, if any.
    pub fn flush(&self, journal: bool) -> CoreResult<()> {
        let (done, wait) = mpsc::sync_channel(1);
        if self.send(Job::Flush { journal, done }).is_ok() {
            let _ = wait.recv();
        }
        self.shared.check()
    }

    /// Flushes, then ends the thread (idempotent).
    pub fn stop(&self, journal: bool) -> CoreResult<()> {
        let result = self.flush(journal);
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
        result
    }
}

impl Drop for Behind {
    fn drop(&mut self) {
        let _ = self.stop(true);
    }
}

struct Worker {
    file: File,
    /// The journal's thread, and how to reach it (resumable downloads).
    journaler: Option<(Sender<Journaled>, JoinHandle<()>)>,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            self.handle(job);
        }
        if let Some((to_journal, thread)) = self.journaler.take() {
            drop(to_journal);
            let _ = thread.join();
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Write {
                offset,
                buffer,
                len,
            } => {
                if self.shared.check().is_ok() {
                    if let Err(e) = platform::write_all_at(&self.file, &buffer[..len], offset) {
                        self.shared.fail("write", &e);
                    }
                }
                self.shared.recycle(buffer);
            }
            Job::Finished(range) => {
                // Write-behind: the range's pages head for the disk now, so
                // the fsync at commit has little left.
                platform::start_writeback(&self.file, range.start, range.end - range.start);
                if let Some((to_journal, _)) = &self.journaler {
                    let _ = to_journal.send(Journaled::Written(range));
                }
            }
            Job::Flush { journal, done } => {
                if let Some((to_journal, _)) = &self.journaler {
                    let (journaled, wait) = mpsc::sync_channel(1);
                    let flush = Journaled::Flush {
                        journal,
                        done: journaled,
                    };
                    if to_journal.send(flush).is_ok() {
                        let _ = wait.recv();
                    }
                }
                let _ = done.send(());
            }
        }
    }
}

/// The thread that journals a resumable download's written ranges.
struct Journaler {
    file: File,
    journal: Arc<Journal>,
    shared: Arc<Shared>,
    /// Written ranges not journaled yet.
    unjournaled: Vec<Range>,
}

impl Journaler {
    fn run(mut self, told: Receiver<Journaled>) {
        while let Ok(message) = told.recv() {
            let mut flushes = Vec::new();
            self.take(message, &mut flushes);
            // Every range written meanwhile goes in the same group.
            while let Ok(message) = told.try_recv() {
                self.take(message, &mut flushes);
            }
            self.journal();
            for done in flushes {
                let _ = done.send(());
            }
        }
        self.journal();
    }

    fn take(&mut self, message: Journaled, flushes: &mut Vec<SyncSender<()>>) {
        match message {
            Journaled::Written(range) => self.unjournaled.push(range),
            Journaled::Flush { journal, done } => {
                if !journal {
                    self.unjournaled.clear();
                }
                flushes.push(done);
            }
        }
    }

    /// Syncs the file once, then journals every range written since the
    /// last time: a range is never journaled before its bytes are on disk.
    fn journal(&mut self) {
        if self.unjournaled.is_empty() || self.shared.check().is_err() {
            return;
        }
        if let Err(e) = self.file.sync_data() {
            self.shared.fail("sync", &e);
            return;
        }
        if let Err(e) = self.journal.append_all(&self.unjournaled) {
            self.shared.fail_with(e);
            return;
        }
        self.unjournaled.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;

    #[test]
    fn buffers_land_at_their_offsets_and_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        file.set_len(8).unwrap();
        let behind = Behind::start(file, None, path.clone()).unwrap();
        let mut buffer = behind.buffer(4);
        buffer.copy_from_slice(b"wxyz");
        behind.write(buffer, 4, 4).unwrap();
        let mut buffer = behind.buffer(4);
        buffer[..3].copy_from_slice(b"abc");
        behind.write(buffer, 3, 0).unwrap();
        behind.flush(false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abc\0wxyz");
        assert!(!behind.shared.free.lock().unwrap().is_empty());
        behind.stop(false).unwrap();
        assert!(behind.write(vec![0; 1], 1, 0).is_err());
    }

    #[test]
    fn a_failed_write_is_reported_to_the_next_writer_and_to_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"").unwrap();
        // Opened for reading only: every write fails (EBADF).
        let behind = Behind::start(File::open(&path).unwrap(), None, path.clone()).unwrap();
        behind.write(vec![1; 4], 4, 0).unwrap();
        let err = behind.flush(false).unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::Io {
                    action: "write",
                    ..
                }
            ),
            "{err}"
        );
        assert!(behind.write(vec![1; 4], 4, 0).is_err());
        assert!(behind
            .finished(Range {
                start: 0,
                end: 4,
                crc: 0
            })
            .is_err());
    }

    #[test]
    fn finished_ranges_are_journaled_after_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let folder = rustix::fs::open(
            dir.path(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let journal_path = dir.path().join("j");
        let journal = Arc::new(Journal::lock(&folder, "j", journal_path.clone()).unwrap());
        journal.restart("header").unwrap();
        let path = dir.path().join("f");
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(6).unwrap();
        let behind = Behind::start(file, Some(journal.clone()), path).unwrap();
        behind.write(b"abc".to_vec(), 3, 0).unwrap();
        behind
            .finished(Range {
                start: 0,
                end: 3,
                crc: 7,
            })
            .unwrap();
        behind.write(b"def".to_vec(), 3, 3).unwrap();
        behind
            .finished(Range {
                start: 3,
                end: 6,
                crc: 8,
            })
            .unwrap();
        behind.flush(true).unwrap();
        assert!(journal.has_ranges());
        assert_eq!(
            fs::read_to_string(&journal_path).unwrap(),
            "header\n[0,3,7]\n[3,6,8]\n"
        );
        behind.stop(false).unwrap();
    }
}
