//! The one error type of the crate.
//!
//! Every fallible call returns [`Result`]. The variants say who is at fault: the
//! operating system ([`Error::Io`]), the bytes on disk ([`Error::Corruption`], always
//! naming the file and, where known, the offset), the caller ([`Error::InvalidArgument`]),
//! another holder of the directory ([`Error::Locked`]), an earlier background failure
//! that made the database refuse writes ([`Error::Background`]), a write to a
//! database opened read-only ([`Error::ReadOnly`]), or a concurrent commit that an
//! optimistic transaction lost to ([`Error::Conflict`]: retry it).

use std::fmt;
use std::path::PathBuf;

/// The result type of every fallible strata call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = strata::Db::open(dir.path(), strata::Options::default())?;
/// match db.put("", "value") {
///     Err(strata::Error::InvalidArgument(why)) => assert!(why.contains("empty")),
///     other => panic!("an empty key must be refused, got {other:?}"),
/// }
/// # Ok::<(), strata::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The operating system refused an operation (disk full, permission, ...).
    Io(std::io::Error),
    /// A checksum or format check failed; the message names the file and offset.
    Corruption(String),
    /// A bad option or argument, such as an empty key or a key over 64 KiB.
    InvalidArgument(String),
    /// Another live `Db` (in this process or another) holds the directory.
    Locked(PathBuf),
    /// A background flush or compaction failed earlier; the database refuses writes
    /// until it is reopened. The message describes the original failure.
    Background(String),
    /// The database has been closed.
    Closed,
    /// A write (or flush, compaction, sync) on a database opened with
    /// `Db::open_read_only`.
    ReadOnly,
    /// A transaction's commit was refused: a write committed after it began touched a
    /// key it read or wrote (or it began before the oldest write the conflict check
    /// still remembers; see `Options::transaction_log_bytes`). Nothing of it was
    /// applied; run it again.
    Conflict,
}

impl Error {
    /// Builds a corruption error naming `file` (and `offset`, when it is known).
    pub(crate) fn corruption(file: impl fmt::Display, offset: Option<u64>, what: impl fmt::Display) -> Error {
        match offset {
            Some(off) => Error::Corruption(format!("{file} at offset {off}: {what}")),
            None => Error::Corruption(format!("{file}: {what}")),
        }
    }

    /// A copy of this error for the other members of a write group, which all share the
    /// fate of one WAL write. `io::Error` is not `Clone`, so the copy keeps kind and text.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io(e) => Error::Io(std::io::Error::new(e.kind(), e.to_string())),
            Error::Corruption(s) => Error::Corruption(s.clone()),
            Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
            Error::Locked(p) => Error::Locked(p.clone()),
            Error::Background(s) => Error::Background(s.clone()),
            Error::Closed => Error::Closed,
            Error::ReadOnly => Error::ReadOnly,
            Error::Conflict => Error::Conflict,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Corruption(s) => {
                write!(f, "data corruption detected in {s}; restore the file from a backup or remove the damaged file")
            }
            Error::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
            Error::Locked(p) => {
                write!(f, "database directory {} is locked by another open Db; close it first", p.display())
            }
            Error::Background(s) => {
                write!(f, "database is read-only after a background error ({s}); reopen it to recover")
            }
            Error::Closed => write!(f, "the database has been closed"),
            Error::ReadOnly => write!(f, "the database was opened read-only; it refuses writes"),
            Error::Conflict => write!(
                f,
                "transaction conflict: a later commit touched a key it read or wrote, or it began before \
                 the oldest write the conflict check remembers; retry it"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_names_file_and_offset() {
        let e = Error::corruption("000007.sst", Some(4096), "bad checksum");
        let text = e.to_string();
        assert!(text.contains("000007.sst at offset 4096: bad checksum"), "{text}");
    }

    #[test]
    fn duplicate_keeps_kind() {
        let e = Error::Io(std::io::Error::new(std::io::ErrorKind::StorageFull, "full"));
        match e.duplicate() {
            Error::Io(d) => assert_eq!(d.kind(), std::io::ErrorKind::StorageFull),
            other => panic!("unexpected {other:?}"),
        }
    }
}
