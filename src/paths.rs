//! Object key -> local path inside the destination folder, and folder creation.
//!
//! The key comes from outside (the bucket), so it is treated as hostile: it may
//! only name a file strictly below `folder`, and no existing symbolic link on
//! the way is followed.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use pyo3::prelude::*;

use crate::error::{CoreError, CoreResult};

/// Longest file-name component Linux file systems accept (NAME_MAX).
const NAME_MAX: usize = 255;
/// Longest path the kernel accepts (PATH_MAX, including the NUL).
const PATH_MAX: usize = 4095;

fn unsafe_key(key: &str, reason: &'static str) -> CoreError {
    CoreError::UnsafeKey {
        key: key.to_owned(),
        reason,
    }
}

/// The key as a relative path, or why it cannot be one.
pub fn relative_path(key: &str) -> CoreResult<PathBuf> {
    if key.is_empty() || key == "." {
        return Err(unsafe_key(key, "names the folder itself, not a file"));
    }
    if key.contains('\0') {
        return Err(unsafe_key(key, "contains a NUL byte"));
    }
    if key.starts_with('/') {
        return Err(unsafe_key(key, "is an absolute path"));
    }
    if key.ends_with('/') {
        return Err(unsafe_key(key, "ends with '/' and names a folder"));
    }
    let mut path = PathBuf::new();
    for component in key.split('/') {
        match component {
            "" => return Err(unsafe_key(key, "has an empty path component ('//')")),
            "." | ".." => return Err(unsafe_key(key, "has a '.' or '..' component")),
            c if c.len() > NAME_MAX => {
                return Err(unsafe_key(key, "has a component longer than 255 bytes"))
            }
            c => path.push(c),
        }
    }
    Ok(path)
}

/// Checks `key`, creates `folder` and the folders the key implies, and returns
/// `folder/key`. Fails if any folder below `folder` is a symbolic link or a
/// file, or if the destination itself is a folder.
pub fn prepare(folder: &Path, key: &str) -> CoreResult<PathBuf> {
    let relative = relative_path(key)?;
    if folder.as_os_str().len() + 1 + key.len() > PATH_MAX {
        return Err(unsafe_key(
            key,
            "makes the local path longer than 4095 bytes",
        ));
    }
    fs::create_dir_all(folder).map_err(|e| CoreError::io("create folder", folder, e))?;
    if !folder.is_dir() {
        return Err(CoreError::io(
            "use as folder",
            folder,
            io::Error::from_raw_os_error(20), // ENOTDIR
        ));
    }
    let mut current = folder.to_path_buf();
    let mut components = relative.components().peekable();
    while let Some(component) = components.next() {
        current.push(component);
        let is_last = components.peek().is_none();
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() && !is_last => {
                return Err(unsafe_key(key, "passes through a symbolic link"));
            }
            Ok(meta) if is_last && meta.is_dir() => {
                return Err(CoreError::io(
                    "replace",
                    &current,
                    io::Error::from_raw_os_error(21), // EISDIR
                ));
            }
            Ok(meta) if !is_last && !meta.is_dir() => {
                return Err(CoreError::io(
                    "use as folder",
                    &current,
                    io::Error::from_raw_os_error(20), // ENOTDIR
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !is_last {
                    match fs::create_dir(&current) {
                        Ok(()) => {}
                        // Another download created it meanwhile: check it again.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            let meta = fs::symlink_metadata(&current)
                                .map_err(|e| CoreError::io("inspect", &current, e))?;
                            if !meta.is_dir() {
                                return Err(unsafe_key(key, "passes through a symbolic link"));
                            }
                        }
                        Err(e) => return Err(CoreError::io("create folder", &current, e)),
                    }
                }
            }
            Err(e) => return Err(CoreError::io("inspect", &current, e)),
        }
    }
    Ok(current)
}

/// Checks an object key and creates the folders it needs below `folder`;
/// returns the local file path `folder/key`.
///
/// Raises `UnsafePath` for a key that cannot be a file strictly inside
/// `folder`, and `OSError` for file-system failures.
#[pyfunction]
pub fn prepare_destination(py: Python<'_>, folder: PathBuf, key: String) -> PyResult<PathBuf> {
    Ok(py.detach(|| prepare(&folder, &key))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_are_rejected() {
        let long = "x".repeat(256);
        // NAME_MAX counts bytes: 128 two-byte characters are too many.
        let long_utf8 = "é".repeat(128);
        for key in [
            "",
            ".",
            "..",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "//x",
            "./../x",
            "a/./b",
            "a\0b",
            "dir/",
            "a//b",
            long.as_str(),
            long_utf8.as_str(),
        ] {
            assert!(
                matches!(relative_path(key), Err(CoreError::UnsafeKey { .. })),
                "{key:?} was accepted"
            );
        }
    }

    #[test]
    fn unusual_but_safe_keys_are_accepted() {
        for key in [
            "a b/c",
            "ünïcødé/файл",
            "%2e%2e",
            "a..b",
            "...",
            "x".repeat(255).as_str(),
            "é".repeat(127).as_str(),
        ] {
            let path = relative_path(key).unwrap();
            assert_eq!(path, PathBuf::from(key));
        }
    }

    #[test]
    fn prepare_creates_nested_folders() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("bucket");
        let dest = prepare(&folder, "a/b/c.bin").unwrap();
        assert_eq!(dest, folder.join("a/b/c.bin"));
        assert!(folder.join("a/b").is_dir());
        assert!(!dest.exists());
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_parent_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let folder = dir.path().join("bucket");
        fs::create_dir(&folder).unwrap();
        std::os::unix::fs::symlink(&outside, folder.join("link")).unwrap();
        assert!(matches!(
            prepare(&folder, "link/x"),
            Err(CoreError::UnsafeKey { .. })
        ));
        assert!(matches!(
            prepare(&folder, "link/sub/x"),
            Err(CoreError::UnsafeKey { .. })
        ));
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn folder_that_is_a_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("file");
        fs::write(&folder, b"x").unwrap();
        assert!(matches!(prepare(&folder, "k"), Err(CoreError::Io { .. })));
    }
}
