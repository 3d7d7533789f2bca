//! The file-system seam: every byte the store reads or writes goes through [`Vfs`].
//!
//! A `Vfs` is one flat directory (the card's data directory). File names are plain names
//! (`[A-Za-z0-9._-]`, no separators); anything else is refused with
//! [`VfsError::InvalidName`].
//!
//! Write points: [`Vfs::write`], [`Vfs::append`], [`Vfs::fsync`], [`Vfs::fsync_dir`],
//! [`Vfs::rename`] and [`Vfs::remove`] are the *write-class* operations. The simulated file
//! system ([`super::SimFs`]) counts them and can crash at any one of them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

/// A failure of the file layer, typed so the store can report it without losing anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VfsError {
    /// The named file does not exist.
    #[error("file {0:?} does not exist")]
    NotFound(String),
    /// The device is full (ENOSPC or quota); the operation had no durable effect.
    #[error("no space left on the device while writing {0:?}")]
    NoSpace(String),
    /// The simulated machine lost power; every later operation on this instance fails.
    #[error("simulated crash: the file system is no longer reachable")]
    Crashed,
    /// The file name is not a plain name of the data directory.
    #[error("invalid file name {0:?}: only [A-Za-z0-9._-] is allowed")]
    InvalidName(String),
    /// Any other I/O failure.
    #[error("I/O error during {op} on {name:?}: {detail}")]
    Io {
        /// The operation (`write`, `append`, `fsync`, ...).
        op: &'static str,
        /// The file (or `.` for the directory).
        name: String,
        /// The operating system's message.
        detail: String,
    },
}

/// The file operations the store needs, on one flat directory.
///
/// Methods take `&self`: implementations that hold state (the simulator) use interior
/// mutability so a test can keep a handle while the store owns another.
pub trait Vfs: std::fmt::Debug {
    /// The whole content of `name`, or `None` when the file does not exist.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, VfsError>;
    /// The names of all files in the directory (any order).
    fn list(&self) -> Result<Vec<String>, VfsError>;
    /// Create `name` (or truncate it) and write `data` as its whole content. Not durable
    /// until [`Vfs::fsync`] (content) and [`Vfs::fsync_dir`] (the name).
    fn write(&self, name: &str, data: &[u8]) -> Result<(), VfsError>;
    /// Append `data` at the end of the existing file `name`. Not durable until `fsync`.
    fn append(&self, name: &str, data: &[u8]) -> Result<(), VfsError>;
    /// Make the content of `name` durable.
    fn fsync(&self, name: &str) -> Result<(), VfsError>;
    /// Make the directory entries (creations, renames, removals) durable.
    fn fsync_dir(&self) -> Result<(), VfsError>;
    /// Atomically rename `from` to `to`, replacing `to`. Not durable until `fsync_dir`.
    fn rename(&self, from: &str, to: &str) -> Result<(), VfsError>;
    /// Remove `name`. Not durable until `fsync_dir`.
    fn remove(&self, name: &str) -> Result<(), VfsError>;
}

/// Check that `name` is a plain file name of the data directory.
pub(crate) fn check_name(name: &str) -> Result<(), VfsError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(VfsError::InvalidName(name.to_owned()))
    }
}

/// The real file system: one directory, `std::fs`, `fsync` of files and of the directory.
#[derive(Debug, Clone)]
pub struct RealFs {
    dir: PathBuf,
}

impl RealFs {
    /// Use `dir` as the data directory, creating it (and its parents) when absent.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, VfsError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| io_err("create_dir", ".", &e))?;
        Ok(Self { dir })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> Result<PathBuf, VfsError> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }
}

fn io_err(op: &'static str, name: &str, e: &io::Error) -> VfsError {
    match e.kind() {
        ErrorKind::NotFound => VfsError::NotFound(name.to_owned()),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => VfsError::NoSpace(name.to_owned()),
        _ => VfsError::Io {
            op,
            name: name.to_owned(),
            detail: e.to_string(),
        },
    }
}

impl Vfs for RealFs {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, VfsError> {
        let path = self.path(name)?;
        match fs::read(path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", name, &e)),
        }
    }

    fn list(&self) -> Result<Vec<String>, VfsError> {
        let mut names = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(|e| io_err("list", ".", &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err("list", ".", &e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn write(&self, name: &str, data: &[u8]) -> Result<(), VfsError> {
        let path = self.path(name)?;
        let mut file = File::create(path).map_err(|e| io_err("write", name, &e))?;
        file.write_all(data).map_err(|e| io_err("write", name, &e))
    }

    fn append(&self, name: &str, data: &[u8]) -> Result<(), VfsError> {
        let path = self.path(name)?;
        let mut file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io_err("append", name, &e))?;
        file.write_all(data).map_err(|e| io_err("append", name, &e))
    }

    fn fsync(&self, name: &str) -> Result<(), VfsError> {
        let path = self.path(name)?;
        // fsync acts on the inode, so a fresh descriptor flushes what earlier ones wrote.
        let file = OpenOptions::new()
            .read(true)
            .open(path)
            .map_err(|e| io_err("fsync", name, &e))?;
        file.sync_all().map_err(|e| io_err("fsync", name, &e))
    }

    fn fsync_dir(&self) -> Result<(), VfsError> {
        let dir = File::open(&self.dir).map_err(|e| io_err("fsync_dir", ".", &e))?;
        dir.sync_all().map_err(|e| io_err("fsync_dir", ".", &e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), VfsError> {
        let a = self.path(from)?;
        let b = self.path(to)?;
        fs::rename(a, b).map_err(|e| io_err("rename", from, &e))
    }

    fn remove(&self, name: &str) -> Result<(), VfsError> {
        let path = self.path(name)?;
        fs::remove_file(path).map_err(|e| io_err("remove", name, &e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_plain() {
        assert!(check_name("journal.log").is_ok());
        assert!(check_name("state.snap.tmp").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b", "é"] {
            assert_eq!(
                check_name(bad),
                Err(VfsError::InvalidName(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn real_fs_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let fs = RealFs::open(tmp.path().join("card")).unwrap();
        assert_eq!(fs.read("a").unwrap(), None);
        fs.write("a.tmp", b"hello").unwrap();
        fs.append("a.tmp", b" world").unwrap();
        fs.fsync("a.tmp").unwrap();
        fs.rename("a.tmp", "a").unwrap();
        fs.fsync_dir().unwrap();
        assert_eq!(fs.read("a").unwrap().unwrap(), b"hello world");
        assert_eq!(fs.list().unwrap(), vec!["a".to_owned()]);
        assert_eq!(
            fs.append("missing", b"x"),
            Err(VfsError::NotFound("missing".into()))
        );
        fs.remove("a").unwrap();
        assert!(fs.list().unwrap().is_empty());
        assert!(matches!(fs.read("../etc"), Err(VfsError::InvalidName(_))));
    }
}
