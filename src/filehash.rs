//! Whole-file digests for change detection: one read of a local file feeds
//! every checksum asked for (CRC32 / CRC32C / CRC64NVME and MD5), GIL
//! released.
//!
//! The file is opened without following a symbolic link, must be a regular
//! file, and its identity (device, inode, size, mtime, ctime) is returned as
//! it was before and after the read, so the caller can tell the file it
//! planned from another one, and a file that changed while it was read.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use pyo3::prelude::*;

use crate::checksum::{Algorithm, Digests, HashKind};
use crate::error::{CoreError, CoreResult};
use crate::reader::open_checked;

/// Bytes read per call.
pub const READ_CHUNK: usize = 1 << 20;

/// `(device, inode, size, mtime_ns, ctime_ns)` of an open file.
pub type Identity = (u64, u64, u64, i128, i128);

/// Opens `path` for reading as an upload does (`reader::open_checked`: no
/// symbolic link followed, a regular file); returns it and its identity.
pub fn open_regular(path: &Path) -> CoreResult<(File, Identity)> {
    let file = open_checked(path, false, None)?;
    let identity = identity(&file, path)?;
    Ok((file, identity))
}

/// The identity of an open file (fstat); fails for anything but a regular file.
pub fn identity(file: &File, path: &Path) -> CoreResult<Identity> {
    let meta = file
        .metadata()
        .map_err(|e| CoreError::io("stat", path, e))?;
    if !meta.file_type().is_file() {
        let err = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
        return Err(CoreError::io("read", path, err));
    }
    let nanos = |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    Ok((
        meta.dev(),
        meta.ino(),
        meta.size(),
        nanos(meta.mtime(), meta.mtime_nsec()),
        nanos(meta.ctime(), meta.ctime_nsec()),
    ))
}

/// Reads `file` to its end in chunks, handing each to `each`.
pub fn read_chunks(file: &mut File, path: &Path, mut each: impl FnMut(&[u8])) -> CoreResult<()> {
    let mut buffer = vec![0; READ_CHUNK];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CoreError::io("read", path, e)),
        };
        each(&buffer[..n]);
    }
}

fn digest_file(
    path: &Path,
    algorithms: &[Algorithm],
    md5: bool,
) -> CoreResult<(Vec<u64>, Option<String>, Identity, Identity)> {
    let (mut file, before) = open_regular(path)?;
    let mut crcs: Vec<Digests> = algorithms
        .iter()
        .map(|&algorithm| Digests::new(Some(algorithm), None))
        .collect();
    let mut md5 = Digests::new(None, md5.then_some(HashKind::Md5));
    read_chunks(&mut file, path, |chunk| {
        for digests in crcs.iter_mut() {
            digests.update(chunk);
        }
        md5.update(chunk);
    })?;
    let after = identity(&file, path)?;
    let values = crcs.iter().map(|d| d.crc().unwrap_or(0)).collect();
    let md5 = md5
        .hash()
        .map(|hash| hash.iter().map(|b| format!("{b:02x}")).collect());
    Ok((values, md5, before, after))
}

/// The CRC of the whole file for each of `algorithms` (in that order) and,
/// if `md5`, its hex MD5, from one read; with the file's identity before and
/// after the read. Raises `OSError` (a symbolic link, not a regular file,
/// unreadable).
#[pyfunction]
#[pyo3(signature = (path, algorithms, md5 = false))]
#[allow(clippy::type_complexity)]
pub fn file_digests(
    py: Python<'_>,
    path: PathBuf,
    algorithms: Vec<String>,
    md5: bool,
) -> PyResult<(Vec<u64>, Option<String>, Identity, Identity)> {
    let algorithms = algorithms
        .iter()
        .map(|name| Algorithm::parse(name))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(py.detach(|| digest_file(&path, &algorithms, md5))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_read_gives_every_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..READ_CHUNK * 2 + 5).map(|i| (i * 7) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let all = [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme];
        let (crcs, md5, before, after) = digest_file(&path, &all, true).unwrap();
        let expected: Vec<u64> = all.iter().map(|a| a.checksum(&data)).collect();
        assert_eq!(crcs, expected);
        assert_eq!(md5.unwrap().len(), 32);
        assert_eq!(before, after);
        assert_eq!(before.2, data.len() as u64);
    }

    #[test]
    fn symbolic_links_and_folders_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(digest_file(&link, &[Algorithm::Crc32], false).is_err());
        assert!(digest_file(dir.path(), &[Algorithm::Crc32], false).is_err());
    }
}
