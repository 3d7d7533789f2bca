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
///
/// The data directory holds secrets (sealed, but still): on Unix it is created mode 0700 and
/// every file mode 0600; a directory or file found with group or other permissions is
/// tightened when opened, and [`RealFs::tightened`] says which, for a warning to the user.
#[derive(Debug, Clone)]
pub struct RealFs {
    dir: PathBuf,
    tightened: Vec<String>,
}

/// Mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in it.
pub const FILE_MODE: u32 = 0o600;

impl RealFs {
    /// Use `dir` as the data directory, creating it (and its parents, mode 0700 on Unix) when
    /// absent. A newly created directory's own entry is made durable (fsync of its parent),
    /// so a store committed in it cannot vanish with the directory after a power cut. An
    /// existing directory and its files are tightened to 0700 / 0600 (see
    /// [`RealFs::tightened`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, VfsError> {
        let dir = dir.as_ref().to_path_buf();
        let mut tightened = Vec::new();
        if !dir.is_dir() {
            create_private_dir(&dir).map_err(|e| io_err("create_dir", ".", &e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)
                    .and_then(|p| p.sync_all())
                    .map_err(|e| io_err("fsync_dir", "..", &e))?;
            }
        } else {
            tightened = tighten(&dir).map_err(|e| io_err("chmod", ".", &e))?;
        }
        Ok(Self { dir, tightened })
    }

    /// What [`RealFs::open`] found readable or writable by group or others and tightened,
    /// one line each (`path: mode 0644 -> 0600`).
    pub fn tightened(&self) -> &[String] {
        &self.tightened
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

/// Create `dir` and its missing parents, mode 0700 on Unix.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(DIR_MODE);
    }
    b.create(dir)
}

/// Tighten `dir` itself to 0700 (Unix; elsewhere nothing): what was looser, for a warning.
pub fn tighten_dir_only(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::symlink_metadata(dir)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
            out.push(format!(
                "{}: mode {mode:04o} -> {DIR_MODE:04o}",
                dir.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(out)
}

/// Tighten `dir` to 0700 and the regular files in it to 0600 (Unix; elsewhere nothing):
/// the list of what was looser, for a warning.
pub fn tighten(dir: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mut fix = |path: &Path, want: u32| -> io::Result<()> {
            let mode = fs::symlink_metadata(path)?.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(want))?;
                out.push(format!("{}: mode {mode:04o} -> {want:04o}", path.display()));
            }
            Ok(())
        };
        fix(dir, DIR_MODE)?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                fix(&entry.path(), FILE_MODE)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(out)
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
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(FILE_MODE);
        }
        let mut file = options.open(path).map_err(|e| io_err("write", name, &e))?;
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

    #[cfg(unix)]
    #[test]
    fn real_fs_is_private_and_tightens_what_it_finds() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("card");
        let rfs = RealFs::open(&dir).unwrap();
        assert!(rfs.tightened().is_empty());
        assert_eq!(mode(&dir), 0o700);
        rfs.write("j", b"x").unwrap();
        assert_eq!(mode(&dir.join("j")), 0o600);
        // Rewriting a file keeps it private.
        rfs.write("j", b"y").unwrap();
        assert_eq!(mode(&dir.join("j")), 0o600);
        // Loosened by hand: reopening tightens both and says so.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.join("j"), fs::Permissions::from_mode(0o644)).unwrap();
        let rfs = RealFs::open(&dir).unwrap();
        assert_eq!(rfs.tightened().len(), 2, "{:?}", rfs.tightened());
        assert!(rfs.tightened()[0].contains("0755 -> 0700"));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("j")), 0o600);
        assert!(RealFs::open(&dir).unwrap().tightened().is_empty());
    }
}
