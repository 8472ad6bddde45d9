//! `data/deleted-accounts.txt`: every account deletion, one `SEQ NAME` line, written ahead of
//! the credentials rewrite (under the credentials lock) by whoever deletes: the CLI or SITE
//! DELUSER. A running server applies each line once, in `SEQ` order, before it installs the
//! credentials that no longer hold that account, so a name deleted and re-created between
//! two polls never hands the old account's files to the new one. `SEQ` grows with the clock
//! and past the last line, so truncating or rotating the file skips nothing and never
//! re-applies an old line; the server journals the last `SEQ` it applied.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::credentials::FILE_MODE;

/// The deletion log beside credentials.txt.
pub const DELETIONS_FILE: &str = "deleted-accounts.txt";

/// Longest log read (far more than years of deletions).
const MAX_READ: u64 = 16 << 20;

/// Every complete, well-formed `SEQ NAME` line, in file order. A missing log has none; a
/// torn or hand-mangled line is skipped.
pub(crate) fn read(path: &Path) -> io::Result<Vec<(u64, String)>> {
    let mut text = Vec::new();
    match File::open(path) {
        Ok(f) => {
            f.take(MAX_READ).read_to_end(&mut text)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => &text[..=end],
        None => &[][..],
    };
    Ok(String::from_utf8_lossy(complete)
        .lines()
        .filter_map(|line| {
            let (seq, name) = line.trim().split_once(' ')?;
            Some((seq.parse().ok()?, name.trim().to_owned()))
        })
        .filter(|(_, name): &(u64, String)| !name.is_empty() && !name.contains(' '))
        .collect())
}

/// The highest `SEQ` in the log (0 for none).
pub(crate) fn last_seq(path: &Path) -> io::Result<u64> {
    Ok(read(path)?.iter().map(|(seq, _)| *seq).max().unwrap_or(0))
}

/// Appends `names` with fresh sequence numbers and makes them durable; returns the log's
/// length before, so a failed credentials rewrite can take the lines back (no names: the
/// log is not touched). Call with the credentials `FileLock` held.
pub(crate) fn append(path: &Path, names: &[String]) -> io::Result<u64> {
    if names.is_empty() {
        return Ok(0);
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(FILE_MODE)
        .open(path)?;
    let mut before = file.metadata()?.len();
    // SECURITY: a torn last line (a crash mid-append) is cut off, not completed: completed,
    // its partial name could name another account.
    if before > 0 && !ends_with_newline(&mut file)? {
        before = complete_length(path)?;
        truncate(path, before)?;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let mut seq = last_seq(path)?.max(now);
    let mut text = String::new();
    for name in names {
        seq += 1;
        text.push_str(&format!("{seq} {name}\n"));
    }
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    Ok(before)
}

/// Takes back what `append` wrote (the credentials rewrite it went ahead of failed).
pub(crate) fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_data()
}

/// The length of the log up to its last newline.
fn complete_length(path: &Path) -> io::Result<u64> {
    let text = std::fs::read(path)?;
    Ok(text
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i as u64 + 1))
}

fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_grow_past_truncation_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DELETIONS_FILE);
        assert!(read(&path).unwrap().is_empty());
        append(&path, &["bob".into(), "carol".into()]).unwrap();
        let first = read(&path).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!((first[0].1.as_str(), first[1].1.as_str()), ("bob", "carol"));
        assert!(first[1].0 == first[0].0 + 1);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"99 da")
            .unwrap();
        assert_eq!(read(&path).unwrap(), first, "a torn line is not read");
        append(&path, &["dave".into()]).unwrap();
        let all = read(&path).unwrap();
        let names: Vec<&str> = all.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            names,
            ["bob", "carol", "dave"],
            "the torn line is cut, not completed"
        );
        // Emptied by hand: new lines still come after every old one.
        let before = all.last().unwrap().0;
        std::fs::write(&path, "").unwrap();
        let len = append(&path, &["erin".into()]).unwrap();
        assert_eq!(len, 0);
        assert!(read(&path).unwrap()[0].0 > before);
        truncate(&path, 0).unwrap();
        assert!(read(&path).unwrap().is_empty());
    }
}
