//! Names of the files in a database directory.
//!
//! ```text
//! 000012.log       a write-ahead log; the number orders logs by age
//! 000013.sst       an SSTable
//! MANIFEST-000004  a log of version edits
//! CURRENT          the name of the live MANIFEST, followed by a newline
//! LOCK             held (flock) by the open Db
//! *.tmp            written then renamed; left over only by a crash
//! ```
//!
//! File numbers come from one counter, so a number names at most one file.

use std::path::{Path, PathBuf};

/// The kinds of file a database directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `NNNNNN.log`
    Wal,
    /// `NNNNNN.sst`
    Table,
    /// `MANIFEST-NNNNNN`
    Manifest,
    /// `CURRENT`
    Current,
    /// `LOCK`
    Lock,
    /// `*.tmp`
    Temp,
}

/// `000012.log`
pub(crate) fn wal_name(number: u64) -> String {
    format!("{number:06}.log")
}

/// `000013.sst`
pub(crate) fn table_name(number: u64) -> String {
    format!("{number:06}.sst")
}

/// `MANIFEST-000004`
pub(crate) fn manifest_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

/// The CURRENT file's name.
pub(crate) const CURRENT: &str = "CURRENT";
/// The LOCK file's name.
pub(crate) const LOCK: &str = "LOCK";

/// `dir/name`
pub(crate) fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// What a file name denotes, with its number where it has one; `None` for foreign files.
pub(crate) fn parse(name: &str) -> Option<(FileKind, u64)> {
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    if name == CURRENT {
        return Some((FileKind::Current, 0));
    }
    if name == LOCK {
        return Some((FileKind::Lock, 0));
    }
    if name.ends_with(".tmp") {
        return Some((FileKind::Temp, 0));
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return Some((FileKind::Manifest, number(n)?));
    }
    if let Some(n) = name.strip_suffix(".log") {
        return Some((FileKind::Wal, number(n)?));
    }
    if let Some(n) = name.strip_suffix(".sst") {
        return Some((FileKind::Table, number(n)?));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse(&wal_name(12)), Some((FileKind::Wal, 12)));
        assert_eq!(parse(&table_name(1234567)), Some((FileKind::Table, 1234567)));
        assert_eq!(parse(&manifest_name(4)), Some((FileKind::Manifest, 4)));
        assert_eq!(parse("CURRENT"), Some((FileKind::Current, 0)));
        assert_eq!(parse("CURRENT.tmp"), Some((FileKind::Temp, 0)));
        assert_eq!(parse("x.log"), None);
        assert_eq!(parse(".sst"), None);
        assert_eq!(parse("notes.txt"), None);
    }
}
