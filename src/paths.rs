//! Object key -> local path inside the destination folder, and folder creation.
//!
//! The key comes from outside (the bucket), so it is treated as hostile: it may
//! only name a file strictly below `folder`, hold no control character, and no
//! symbolic link below `folder` is ever followed. Checking each component by
//! path and then opening the file by path would leave a window in which a
//! folder swapped for a link redirects the write; so the folders are opened
//! one by one from the folder's descriptor (`openat` with `O_NOFOLLOW`), and
//! the download's temporary file is created, renamed and synced relative to
//! the final folder's descriptor (`writer.rs`). No path below `folder` is ever
//! resolved by the kernel from the top again.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{mkdirat, openat, statat, AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::error::{CoreError, CoreResult};
use crate::escape::is_control;

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

/// The key's components, or why it cannot be a relative file path.
fn components(key: &str) -> CoreResult<Vec<&str>> {
    if key.is_empty() || key == "." {
        return Err(unsafe_key(key, "names the folder itself, not a file"));
    }
    if key.contains('\0') {
        return Err(unsafe_key(key, "contains a NUL byte"));
    }
    if key.chars().any(is_control) {
        return Err(unsafe_key(
            key,
            "contains a control character (C0, DEL, C1 or a bidi control)",
        ));
    }
    if key.starts_with('/') {
        return Err(unsafe_key(key, "is an absolute path"));
    }
    if key.ends_with('/') {
        return Err(unsafe_key(key, "ends with '/' and names a folder"));
    }
    key.split('/')
        .map(|component| match component {
            "" => Err(unsafe_key(key, "has an empty path component ('//')")),
            "." | ".." => Err(unsafe_key(key, "has a '.' or '..' component")),
            c if c.len() > NAME_MAX => {
                Err(unsafe_key(key, "has a component longer than 255 bytes"))
            }
            c => Ok(c),
        })
        .collect()
}

/// The key as a relative path, or why it cannot be one.
#[cfg(test)]
fn relative_path(key: &str) -> CoreResult<PathBuf> {
    Ok(components(key)?.into_iter().collect())
}

/// The folder a key's file lands in, opened without following any link
/// below the destination folder, and the file's name in it.
pub struct Parent {
    /// The open folder: every later step (temp file, rename, fsync) is
    /// relative to it, so a swapped path cannot redirect them.
    pub dir: OwnedFd,
    /// The file's name inside `dir` (the key's last component).
    pub name: String,
    /// `folder/key`, for messages and for the caller.
    pub path: PathBuf,
}

impl Parent {
    /// The same folder (a new descriptor of it), name and path.
    pub fn try_clone(&self) -> CoreResult<Parent> {
        let dir = self
            .dir
            .try_clone()
            .map_err(|e| CoreError::io("reopen folder of", &self.path, e))?;
        Ok(Parent {
            dir,
            name: self.name.clone(),
            path: self.path.clone(),
        })
    }
}

fn errno_io(action: &'static str, path: &Path, errno: Errno) -> CoreError {
    CoreError::io(action, path, io::Error::from(errno))
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens (creating it if missing) the folder `name` inside `dir`, never
/// following a symbolic link.
fn open_subfolder(dir: &OwnedFd, name: &str, path: &Path, key: &str) -> CoreResult<OwnedFd> {
    let mut created = false;
    loop {
        match openat(dir, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if !created => {
                match mkdirat(dir, name, Mode::from_raw_mode(0o777)) {
                    // Another download may have created it meanwhile: open it.
                    Ok(()) | Err(Errno::EXIST) => created = true,
                    Err(e) => return Err(errno_io("create folder", path, e)),
                }
            }
            // O_NOFOLLOW gives ELOOP for a link, O_DIRECTORY ENOTDIR for a file;
            // look without following to tell which.
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                return match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                        Err(unsafe_key(key, "passes through a symbolic link"))
                    }
                    _ => Err(errno_io("use as folder", path, e)),
                }
            }
            Err(e) => return Err(errno_io("open folder", path, e)),
        }
    }
}

/// Checks `key`, creates `folder` and the folders the key implies, and opens
/// the file's folder. `folder` itself is the caller's choice and may be (or
/// pass through) a symbolic link; below it, a symbolic link fails with
/// `UnsafePath` and a file where a folder is needed with `ENOTDIR`; a
/// destination that is a folder fails with `EISDIR`.
pub fn open_parent(folder: &Path, key: &str) -> CoreResult<Parent> {
    let parts = components(key)?;
    if folder.as_os_str().len() + 1 + key.len() > PATH_MAX {
        return Err(unsafe_key(
            key,
            "makes the local path longer than 4095 bytes",
        ));
    }
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    fs::create_dir_all(folder).map_err(|e| CoreError::io("create folder", folder, e))?;
    let top = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = openat(CWD, folder, top, Mode::empty())
        .map_err(|e| errno_io("use as folder", folder, e))?;
    let (name, parents) = parts.split_last().expect("a key has a component");
    let mut path = folder.to_path_buf();
    for component in parents {
        path.push(component);
        dir = open_subfolder(&dir, component, &path, key)?;
    }
    path.push(name);
    match statat(&dir, *name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            return Err(errno_io("replace", &path, Errno::ISDIR));
        }
        Ok(_) | Err(Errno::NOENT) => {}
        Err(e) => return Err(errno_io("inspect", &path, e)),
    }
    Ok(Parent {
        dir,
        name: (*name).to_owned(),
        path,
    })
}

/// Checks `key`, creates the folders it needs below `folder`; returns
/// `folder/key`. See [`open_parent`].
#[cfg(test)]
fn prepare(folder: &Path, key: &str) -> CoreResult<PathBuf> {
    open_parent(folder, key).map(|parent| parent.path)
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
    fn keys_with_control_characters_are_rejected() {
        for key in [
            "a\x1b[31mb",
            "a\rb",
            "nl\nforged",
            "tab\tx",
            "del\x7f",
            "csi\u{9b}x",
            "rlo\u{202e}txt.exe",
            "lri\u{2066}x",
            "dir\x1b/x",
        ] {
            let err = relative_path(key).unwrap_err();
            assert!(err.to_string().contains("control character"), "{err}");
        }
        // Printable neighbours of those classes are fine.
        for key in ["nbsp\u{a0}x", "zwj\u{200d}x", "arabic\u{600}x", "~x"] {
            assert!(relative_path(key).is_ok(), "{key:?} was refused");
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
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/f"), b"x").unwrap();
        assert!(matches!(
            prepare(&dir.path().join("d"), "f/k"),
            Err(CoreError::Io { .. })
        ));
        assert!(matches!(
            prepare(dir.path(), "d"),
            Err(CoreError::Io { .. })
        ));
    }
}
