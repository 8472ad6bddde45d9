//! `data/deleted-accounts.txt`: every account deletion, one name a line, appended under the
//! credentials lock by whoever deletes (the CLI, SITE DELUSER). A running server applies each
//! line once, in order, before it installs the credentials that no longer hold that account,
//! so a name deleted and re-created between two polls never hands the old account's files to
//! the new one. A line's end offset is its sequence number (the server journals the last one
//! it applied).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::auth::credentials::FILE_MODE;

/// The deletion log beside credentials.txt.
pub const DELETIONS_FILE: &str = "deleted-accounts.txt";

/// Longest stretch of the log read at once (far more than any burst of deletions).
const MAX_READ: u64 = 1 << 20;

/// Appends `names` and makes them durable. Call with the credentials `FileLock` held.
pub(crate) fn append(path: &Path, names: &[String]) -> io::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)?;
    let mut text = String::new();
    for name in names {
        text.push_str(name);
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

/// The complete lines after byte `from`, each with its end offset. A missing log has none.
pub(crate) fn read_after(path: &Path, from: u64) -> io::Result<Vec<(String, u64)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ).read_to_end(&mut bytes)?;
    let mut out = Vec::new();
    let mut offset = from;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if line.last() != Some(&b'\n') {
            break; // a line still being written: read again next time
        }
        offset += line.len() as u64;
        let name = String::from_utf8_lossy(&line[..line.len() - 1])
            .trim()
            .to_owned();
        if !name.is_empty() {
            out.push((name, offset));
        }
    }
    Ok(out)
}

/// The log's current length: where a process that starts now begins reading.
pub(crate) fn end(path: &Path) -> io::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_once_with_their_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DELETIONS_FILE);
        assert!(read_after(&path, 0).unwrap().is_empty());
        append(&path, &["bob".into(), "carol".into()]).unwrap();
        let first = read_after(&path, 0).unwrap();
        assert_eq!(first, vec![("bob".into(), 4), ("carol".into(), 10)]);
        assert!(read_after(&path, 10).unwrap().is_empty());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"da")
            .unwrap();
        assert!(
            read_after(&path, 10).unwrap().is_empty(),
            "partial line waits"
        );
        assert_eq!(end(&path).unwrap(), 12);
    }
}
