//! Everything that differs by operating system, in one place.
//!
//! Socket tuning is Linux-only: TCP_QUICKACK and a receive low-water mark
//! that the kernel honours (SO_RCVLOWAT, sized for since Linux 4.18) have no
//! equivalent we have measured elsewhere, so other systems get plain sockets
//! (`tuning_available()` is false there and every tuning call is a no-op).
//! File I/O is POSIX (positioned reads and writes here; `openat` and friends
//! relative to a folder's descriptor in `paths.rs`, `reader.rs` and
//! `writer/file.rs`, through rustix): the crate builds for Unix systems, and
//! is built and tested on Linux only. Two Linux calls make a large download
//! to a disk cheaper (`reserve`, `start_writeback`, measured in
//! docs/design.md, as is the direct I/O tried and dropped); elsewhere each
//! is a no-op.

use std::fs::File;
use std::io;
use std::net::TcpStream;

/// Whether this system has the socket tuning of `http/tcp.rs`.
pub fn tuning_available() -> bool {
    cfg!(target_os = "linux")
}

/// Asks for the next ACK to be sent at once rather than delayed.
pub fn quick_ack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    let _ = linux::set_int(stream, libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1);
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

/// Makes reads on `stream` wait until `bytes` are available (or the read
/// times out, or the peer closes).
pub fn set_low_water(stream: &TcpStream, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let _ = linux::set_int(stream, libc::SOL_SOCKET, libc::SO_RCVLOWAT, bytes);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (stream, bytes);
}

/// Whether the kernel grows a socket's receive buffer to hold its
/// SO_RCVLOWAT (Linux 4.18 and later). Before that a low-water mark above
/// what the window lets the server send would stall every read until its
/// timeout.
pub fn low_water_reads_batch() -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::sync::OnceLock;
        static ANSWER: OnceLock<bool> = OnceLock::new();
        *ANSWER.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .and_then(|release| release_at_least(&release, (4, 18)))
                .unwrap_or(false)
        })
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Whether a Linux release such as "6.1.0-18-amd64" is `minimum` or later.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn release_at_least(release: &str, minimum: (u32, u32)) -> Option<bool> {
    let mut numbers = release.trim().split(['.', '-']);
    let major = numbers.next()?.parse().ok()?;
    let minor = numbers.next()?.parse().ok()?;
    Some((major, minor) >= minimum)
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    /// `setsockopt` with an `int` value: the one call the standard library
    /// lacks for the options above.
    pub fn set_int(
        stream: &TcpStream,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        #[allow(unsafe_code)]
        // Safety: the descriptor belongs to `stream`, which is borrowed (so
        // open) for the whole call; the option value is a c_int on this
        // stack frame, and its exact size is passed with it.
        let result = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `fallocate(fd, 0, 0, len)`: allocates the blocks of the first `len`
    /// bytes (the file is already that long, so its size is unchanged).
    pub fn fallocate(file: &File, len: libc::off_t) -> io::Result<()> {
        #[allow(unsafe_code)]
        // Safety: the descriptor belongs to `file`, borrowed (so open) for
        // the whole call; the other arguments are plain integers.
        let result = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn sync_file_range(
        file: &File,
        offset: libc::off64_t,
        len: libc::off64_t,
        flags: libc::c_uint,
    ) -> io::Result<()> {
        #[allow(unsafe_code)]
        // Safety: as for `fallocate`; no memory is passed.
        let result = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    #[cfg(test)]
    pub fn get_int(stream: &TcpStream, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        #[allow(unsafe_code)]
        // Safety: as for `set_int`; `value` and `len` live on this frame and
        // `len` holds the size of `value`.
        let result = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                level,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(result, 0, "{}", io::Error::last_os_error());
        value
    }
}

/// Writes all of `data` at `offset` without moving a shared cursor, so
/// parts can be written from many threads at once.
pub fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

/// Fills `buffer` from `offset`; `UnexpectedEof` if the file is shorter.
pub fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
}

/// Reserves the blocks of `file`'s first `len` bytes (Linux `fallocate`),
/// so writes into it later find their extent ready instead of allocating it
/// page by page. Returns Ok where the system or file system cannot reserve
/// (nothing is reserved then); a real failure, such as ENOSPC, is an error.
pub fn reserve(file: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let Ok(len) = libc::off_t::try_from(len) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        match linux::fallocate(file, len) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL)
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, len);
        Ok(())
    }
}

/// Starts writing `file`'s dirty pages in `offset..offset + len` to the disk
/// without waiting (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`), so the
/// fsync at commit finds little left to write. Best effort: it durably
/// records nothing, and a failure here is found by that fsync.
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    if let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) {
        let _ = linux::sync_file_range(file, offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_water_marks_need_linux_4_18() {
        assert_eq!(release_at_least("6.18.44-fc-v769\n", (4, 18)), Some(true));
        assert_eq!(
            release_at_least("4.18.0-553.el8_10.x86_64", (4, 18)),
            Some(true)
        );
        assert_eq!(release_at_least("4.9.337", (4, 18)), Some(false));
        assert_eq!(
            release_at_least("3.10.0-1160.el7.x86_64", (4, 18)),
            Some(false)
        );
        assert_eq!(release_at_least("garbage", (4, 18)), None);
    }

    /// Covers the `unsafe` of `linux::set_int`: the options land on the
    /// socket they were meant for.
    #[test]
    fn socket_options_reach_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        set_low_water(&stream, 4096);
        quick_ack(&stream);
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                linux::get_int(&stream, libc::SOL_SOCKET, libc::SO_RCVLOWAT),
                4096
            );
            assert!(linux::set_int(&stream, libc::SOL_SOCKET, -1, 0).is_err());
        }
    }

    #[test]
    fn reserving_allocates_the_blocks_and_keeps_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("f")).unwrap();
        file.set_len(1 << 20).unwrap();
        reserve(&file, 1 << 20).unwrap();
        reserve(&file, 0).unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(meta.len(), 1 << 20);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::MetadataExt;
            assert!(meta.blocks() * 512 >= 1 << 20, "{} blocks", meta.blocks());
        }
    }

    #[test]
    fn positioned_io_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        write_all_at(&file, b"world", 6).unwrap();
        write_all_at(&file, b"hello ", 0).unwrap();
        let mut buffer = [0; 5];
        read_exact_at(&file, &mut buffer, 6).unwrap();
        assert_eq!(&buffer, b"world");
        let err = read_exact_at(&file, &mut buffer, 8).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
