//! `ferroftp unblock IP` reaching a running server: the CLI appends the address, one line per
//! request, to `data/unblock-requests`; the server's reload thread takes the file (a rename,
//! so a request appended meanwhile lands in a new file for the next round), lifts each block
//! and deletes it. A request left by a CLI while no server ran is dropped at the next start,
//! when no address is blocked anyway.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::auth::Throttle;

const REQUESTS: &str = "unblock-requests";
const TAKEN: &str = "unblock-requests.taken";

/// Files are small: an address per line; more than this many lines are a mistake (or abuse
/// by someone who may write `data/` anyway) and the rest is ignored.
const MAX_REQUESTS: usize = 10_000;
const MAX_BYTES: u64 = 1024 * 1024;

fn requests(data_dir: &Path) -> PathBuf {
    data_dir.join(REQUESTS)
}

/// Asks the server running on `data_dir` to lift the block of `ip` (the CLI's side). One
/// `write` of one line: concurrent requests never interleave.
pub fn request(data_dir: &Path, ip: IpAddr) -> io::Result<()> {
    fs::create_dir_all(data_dir)?;
    let owner = fs::metadata(data_dir)?;
    let path = requests(data_dir);
    // The server may take the file between our open and our write; then the line may have
    // gone with it, unread: write it again into a fresh file (twice is harmless).
    for _ in 0..3 {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        // Run as root for a server running as its own user: the file must be the server's.
        if file.metadata()?.uid() != owner.uid() {
            std::os::unix::fs::fchown(&file, Some(owner.uid()), Some(owner.gid()))?;
        }
        file.write_all(format!("{ip}\n").as_bytes())?;
        let ours = file.metadata()?.ino();
        if fs::metadata(&path).is_ok_and(|m| m.ino() == ours) {
            return Ok(());
        }
    }
    Ok(())
}

/// Drops requests older than this server (at start).
pub fn discard_stale(data_dir: &Path) {
    for name in [REQUESTS, TAKEN] {
        match fs::remove_file(data_dir.join(name)) {
            Ok(()) => log::info!("dropped stale unblock requests {name}"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot remove {}: {e}", data_dir.join(name).display()),
        }
    }
}

/// The server's side: lifts the block of every requested address; how many were blocked.
pub fn apply(data_dir: &Path, throttle: &Throttle) -> usize {
    let taken = data_dir.join(TAKEN);
    match fs::rename(requests(data_dir), &taken) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return 0,
        Err(e) => {
            log::warn!("cannot take the unblock requests: {e}");
            return 0;
        }
    }
    let text = read_taken(&taken);
    let _ = fs::remove_file(&taken);
    let mut lifted = 0;
    for line in text.lines().take(MAX_REQUESTS) {
        match line.trim().parse::<IpAddr>() {
            Ok(ip) if throttle.unblock(ip) => {
                log::info!("unblocked ip={ip} (ferroftp unblock)");
                lifted += 1;
            }
            Ok(ip) => log::info!("unblock requested for ip={ip}, which was not blocked"),
            Err(_) => log::warn!("ignoring an unblock request that is no address: {line:?}"),
        }
    }
    lifted
}

/// The taken file's text: a regular file only (no symlink, no FIFO), at most 1 MiB; a read
/// error is logged, not taken for "no requests".
fn read_taken(path: &Path) -> String {
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let mut file = match opened {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => f,
        Ok(_) => {
            log::warn!("{} is not a regular file; ignored", path.display());
            return String::new();
        }
        Err(e) => {
            log::warn!("cannot read the unblock requests {}: {e}", path.display());
            return String::new();
        }
    };
    let mut text = String::new();
    if let Err(e) = (&mut file).take(MAX_BYTES).read_to_string(&mut text) {
        log::warn!("cannot read the unblock requests {}: {e}", path.display());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ThrottlePolicy;

    #[test]
    fn requested_addresses_are_unblocked_once() {
        let dir = tempfile::tempdir().unwrap();
        let t = Throttle::new(ThrottlePolicy {
            max_failures: 1,
            ..ThrottlePolicy::default()
        });
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(t.record(a));
        request(dir.path(), a).unwrap();
        request(dir.path(), "192.0.2.8".parse().unwrap()).unwrap();
        assert_eq!(apply(dir.path(), &t), 1);
        assert!(!t.is_blocked(a));
        assert_eq!(apply(dir.path(), &t), 0, "the file was consumed");
        assert!(!dir.path().join(REQUESTS).exists() && !dir.path().join(TAKEN).exists());
    }
}
