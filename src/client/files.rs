//! Transfers and local files: downloads through a `.part` file, uploads, whole trees,
//! wildcards, and the local names a download may take.

use crate::client::command::Visibility;
use crate::client::connection::Error as FtpError;
use crate::client::progress::Progress;
use anyhow::{Context as _, anyhow, bail};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Client, connection};

/// Where downloads go unless a local name is given (seed 002).
pub(super) const DOWNLOADS: &str = "downloads";
/// `get -r` / `put -r` stop descending here (a symlink loop cannot run forever).
pub(super) const MAX_TREE_DEPTH: usize = 32;
/// Suffix of a download in progress; renamed to the final name on success.
pub(super) const PART_SUFFIX: &str = ".part";

impl Client {
    pub(super) fn ls(&mut self, path: Option<&str>) -> anyhow::Result<()> {
        let lines = self.conn()?.list(path)?;
        let mut names = Vec::new();
        for line in &lines {
            println!("{line}");
            if let Some(entry) = connection::Entry::parse(line) {
                names.push(entry.name);
            }
        }
        *self.names.lock().unwrap_or_else(|p| p.into_inner()) = names;
        Ok(())
    }

    /// `get [-c] [-r] REMOTE [LOCAL]`: one file, or with `recursive` a whole tree; the local
    /// name defaults to the remote base name under `downloads/`.
    pub(super) fn get(
        &mut self,
        remote: &str,
        local: Option<&str>,
        resume: bool,
        recursive: bool,
    ) -> anyhow::Result<()> {
        if !recursive {
            let dest = local_destination(remote, local)?;
            return self.get_file(remote, &dest, resume);
        }
        let dest = match local {
            Some(l) => PathBuf::from(l),
            None => Path::new(DOWNLOADS).join(base_name(remote)),
        };
        self.get_tree(remote, &dest, 0)
    }

    /// `put [-c|-r] LOCAL [REMOTE] [VISIBILITY]`: the remote name defaults to the local base
    /// name.
    pub(super) fn put(
        &mut self,
        local: &str,
        remote: Option<String>,
        visibility: Option<Visibility>,
        recursive: bool,
        resume: bool,
    ) -> anyhow::Result<()> {
        let remote = remote.unwrap_or_else(|| local_base_name(local));
        if recursive {
            self.put_tree(Path::new(local), &remote, visibility, 0)
        } else {
            let offset = if resume {
                self.resume_offset(Path::new(local), &remote)?
            } else {
                0
            };
            self.put_file(Path::new(local), &remote, visibility, offset)
        }
    }

    /// `put -c`: how much of `remote` the server has (SIZE; none yet is 0). Refused in ASCII
    /// mode (sizes differ there) and when the server has more than the local file.
    fn resume_offset(&mut self, local: &Path, remote: &str) -> anyhow::Result<u64> {
        if self.conn()?.is_ascii() {
            bail!("put -c resumes in binary mode only (say binary first)");
        }
        let local_len = fs::metadata(local)
            .with_context(|| format!("cannot open local file {}", local.display()))?
            .len();
        let offset = match self.conn()?.size(remote) {
            Ok(n) => n,
            Err(FtpError::Reply(r)) if r.code == 550 => 0,
            Err(e) => return Err(e.into()),
        };
        if offset > local_len {
            bail!(
                "{remote} on the server ({offset} bytes) is longer than {} ({local_len} bytes): nothing to resume",
                local.display()
            );
        }
        Ok(offset)
    }

    /// Downloads `remote` to `dest` through `dest.part`, renamed on success. With `resume`,
    /// an existing `.part` (or an existing shorter `dest`) continues with `REST`.
    pub(super) fn get_file(
        &mut self,
        remote: &str,
        dest: &Path,
        resume: bool,
    ) -> anyhow::Result<()> {
        let size = match self.conn()?.size(remote) {
            Ok(n) => Some(n),
            // In binary mode a 550 to SIZE is what RETR would answer (no such file, not a
            // file): say it now, before a `.part` file or a progress line appears.
            Err(FtpError::Reply(r)) if r.code == 550 && !self.conn()?.is_ascii() => {
                return Err(FtpError::Reply(r).into());
            }
            Err(_) => None,
        };
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let part = part_path(dest);
        let mut offset = 0;
        if resume {
            if !part.exists() && dest.is_file() {
                fs::rename(dest, &part)
                    .with_context(|| format!("cannot resume into {}", dest.display()))?;
            }
            offset = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        }
        if resume && offset > 0 && size == Some(offset) {
            fs::rename(&part, dest)?;
            println!("{} is already complete ({offset} bytes)", dest.display());
            return Ok(());
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(offset > 0)
            .truncate(offset == 0)
            .open(&part)
            .with_context(|| format!("cannot create {}", part.display()))?;
        let progress = Progress::start(self.bars, remote, size, offset);
        let result = {
            let mut out = progress.writer(io::BufWriter::new(&file));
            self.conn()?.get(remote, offset, &mut out)
        };
        let result = result.and_then(|n| file.sync_all().map(|_| n).map_err(FtpError::LocalWrite));
        drop(file);
        finish_download(result, remote, &part, dest, progress)
    }

    /// Uploads `local` as `remote`, from byte `offset` on (0: the whole file).
    pub(super) fn put_file(
        &mut self,
        local: &Path,
        remote: &str,
        visibility: Option<Visibility>,
        offset: u64,
    ) -> anyhow::Result<()> {
        let mut file = fs::File::open(local)
            .with_context(|| format!("cannot open local file {}", local.display()))?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            bail!("{} is a directory (use put -r)", local.display());
        }
        if offset > 0 && offset == meta.len() {
            println!("{remote} is already complete ({offset} bytes)");
            return Ok(());
        }
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))
            .with_context(|| format!("cannot read {}", local.display()))?;
        let progress = Progress::start(self.bars, remote, Some(meta.len()), offset);
        let result = {
            let mut input = progress.reader(io::BufReader::new(&file));
            self.conn()?.put(remote, offset, &mut input)
        };
        match result {
            Ok(n) => println!("{} -> {remote}: {}", local.display(), progress.finish(n)),
            Err(e) => {
                progress.abandon();
                return Err(e.into());
            }
        }
        if let Some(v) = visibility {
            self.set_visibility(remote, v)?;
        }
        Ok(())
    }

    /// `SITE VISIBILITY` is ferroftp's; another server's refusal (5xx) is a warning only.
    pub(super) fn set_visibility(&mut self, remote: &str, v: Visibility) -> anyhow::Result<()> {
        match self
            .conn()?
            .site(&format!("VISIBILITY {} {remote}", v.word()))
        {
            Ok(_) => {
                println!("{remote} is {}", v.word());
                Ok(())
            }
            Err(FtpError::Reply(r)) if r.code >= 500 => {
                eprintln!("warning: the server did not set the visibility: {r}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn get_tree(
        &mut self,
        remote: &str,
        dest: &Path,
        depth: usize,
    ) -> anyhow::Result<()> {
        if depth > MAX_TREE_DEPTH {
            bail!("{remote}: deeper than {MAX_TREE_DEPTH} levels, stopped");
        }
        fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
        let entries = self.conn()?.entries(Some(remote))?;
        for entry in entries {
            if entry.name == "." || entry.name == ".." {
                continue;
            }
            let Some(name) = safe_local_name(&entry.name) else {
                eprintln!("warning: skipping {:?}: not a plain file name", entry.name);
                continue;
            };
            let remote_child = join_remote(remote, name);
            let local_child = dest.join(name);
            if entry.is_dir {
                self.get_tree(&remote_child, &local_child, depth + 1)?;
            } else {
                self.get_file(&remote_child, &local_child, false)?;
            }
        }
        Ok(())
    }

    pub(super) fn put_tree(
        &mut self,
        local: &Path,
        remote: &str,
        visibility: Option<Visibility>,
        depth: usize,
    ) -> anyhow::Result<()> {
        if depth > MAX_TREE_DEPTH {
            bail!(
                "{}: deeper than {MAX_TREE_DEPTH} levels, stopped",
                local.display()
            );
        }
        if !local.is_dir() {
            return self.put_file(local, remote, visibility, 0);
        }
        // An existing directory answers 550 here; the uploads below tell if it is unusable.
        match self.conn()?.mkdir(remote) {
            Ok(()) => println!("created {remote}"),
            Err(FtpError::Reply(r)) if r.code >= 500 => {}
            Err(e) => return Err(e.into()),
        }
        let mut children: Vec<_> = fs::read_dir(local)
            .with_context(|| format!("cannot read {}", local.display()))?
            .filter_map(Result::ok)
            .collect();
        children.sort_by_key(|e| e.file_name());
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let path = child.path();
            let remote_child = join_remote(remote, &name);
            if path.is_dir() {
                self.put_tree(&path, &remote_child, visibility, depth + 1)?;
            } else {
                self.put_file(&path, &remote_child, visibility, 0)?;
            }
        }
        Ok(())
    }

    pub(super) fn mget(&mut self, patterns: &[String]) -> anyhow::Result<()> {
        for pattern in patterns {
            let (dir, name_pattern) = match pattern.rsplit_once('/') {
                Some((d, n)) => (Some(if d.is_empty() { "/" } else { d }), n),
                None => (None, pattern.as_str()),
            };
            let matcher = glob::Pattern::new(name_pattern)
                .with_context(|| format!("bad pattern {pattern}"))?;
            let entries = self.conn()?.entries(dir)?;
            let matched: Vec<String> = entries
                .into_iter()
                .filter(|e| !e.is_dir && safe_local_name(&e.name).is_some())
                .filter(|e| matcher.matches(&e.name))
                .map(|e| e.name)
                .collect();
            if matched.is_empty() {
                bail!("no remote file matches {pattern}");
            }
            for name in matched {
                let remote = match dir {
                    Some(d) => join_remote(d, &name),
                    None => name.clone(),
                };
                let dest = Path::new(DOWNLOADS).join(&name);
                self.get_file(&remote, &dest, false)?;
            }
        }
        Ok(())
    }

    pub(super) fn mput(&mut self, patterns: &[String]) -> anyhow::Result<()> {
        for pattern in patterns {
            let mut files = Vec::new();
            for path in glob::glob(pattern).with_context(|| format!("bad pattern {pattern}"))? {
                let path = path.with_context(|| format!("cannot read a match of {pattern}"))?;
                if path.is_file() {
                    files.push(path);
                }
            }
            if files.is_empty() {
                bail!("no local file matches {pattern}");
            }
            for path in files {
                let remote = local_base_name(&path.to_string_lossy());
                self.put_file(&path, &remote, None, 0)?;
            }
        }
        Ok(())
    }
}

/// The end of a download: the `.part` becomes `dest`, or a failure keeps what can be resumed
/// (and removes a part that holds nothing, or that a local write failure left unsure).
fn finish_download(
    result: Result<u64, FtpError>,
    remote: &str,
    part: &Path,
    dest: &Path,
    progress: Progress,
) -> anyhow::Result<()> {
    match result {
        Ok(n) => {
            fs::rename(part, dest).with_context(|| {
                format!("cannot rename {} to {}", part.display(), dest.display())
            })?;
            println!("{remote} -> {}: {}", dest.display(), progress.finish(n));
            Ok(())
        }
        Err(e) => {
            progress.abandon();
            let kept = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
            if kept == 0 || matches!(e, FtpError::LocalWrite(_)) {
                let _ = fs::remove_file(part);
                Err(e.into())
            } else {
                Err(anyhow!(
                    "{e} ({kept} bytes kept in {}; get -c resumes)",
                    part.display()
                ))
            }
        }
    }
}

/// `lls [DIR]`: the entries of a local directory, sorted, directories with a `/`, files
/// with their size.
pub(super) fn list_local_dir(dir: Option<&str>) -> anyhow::Result<()> {
    let dir = Path::new(dir.unwrap_or("."));
    let mut entries: Vec<(String, Option<u64>)> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.metadata() {
                Ok(m) if m.is_dir() => (format!("{name}/"), None),
                Ok(m) => (name, Some(m.len())),
                Err(_) => (name, None),
            }
        })
        .collect();
    entries.sort();
    for (name, size) in entries {
        match size {
            Some(size) => println!("{size:>12}  {name}"),
            None => println!("{:>12}  {name}", ""),
        }
    }
    Ok(())
}

/// `!COMMAND`: runs it with `sh -c` (a bare `!`: `$SHELL`, else `sh`), on this terminal.
pub(super) fn run_shell(command: &str) -> anyhow::Result<()> {
    let status = if command.is_empty() {
        let shell = std::env::var_os("SHELL").unwrap_or_else(|| "sh".into());
        std::process::Command::new(shell).status()
    } else {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .status()
    }
    .context("cannot start a shell")?;
    if !status.success() {
        bail!("the command exited with {status}");
    }
    Ok(())
}

/// `lcd [DIR]`: changes the local directory (HOME without one) and prints where it is.
pub(super) fn change_local_dir(dir: Option<String>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("no HOME to go to"))?,
    };
    std::env::set_current_dir(&dir)
        .with_context(|| format!("cannot change to {}", dir.display()))?;
    println!("local directory {}", std::env::current_dir()?.display());
    Ok(())
}

/// The last path component of a remote path.
pub(super) fn base_name(remote: &str) -> String {
    remote
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("download")
        .to_owned()
}

pub(super) fn local_base_name(local: &str) -> String {
    Path::new(local)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| base_name(local))
}

/// Where `get REMOTE [LOCAL]` writes: `./downloads/NAME` by default, into LOCAL when it is
/// a directory (or ends with `/`), else LOCAL itself.
pub(super) fn local_destination(remote: &str, local: Option<&str>) -> anyhow::Result<PathBuf> {
    let name = base_name(remote);
    // SECURITY: a server-chosen or user-typed `..` must not walk out of the target dir.
    if name == ".." || name == "." {
        bail!("{remote}: not a file name");
    }
    Ok(match local {
        None => Path::new(DOWNLOADS).join(name),
        Some(l) if l.ends_with('/') || Path::new(l).is_dir() => Path::new(l).join(name),
        Some(l) => PathBuf::from(l),
    })
}

/// A name from a server listing that is safe to use as a local file name.
/// SECURITY: a hostile server listing `../../.bashrc` or `/etc/x` in `get -r`/`mget` must
/// not make us write outside the target directory.
pub(super) fn safe_local_name(name: &str) -> Option<&str> {
    let plain =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    plain.then_some(name)
}

pub(super) fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(PART_SUFFIX);
    dest.with_file_name(name)
}

pub(super) fn join_remote(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_destinations() {
        assert_eq!(
            local_destination("/Public/a.txt", None).unwrap(),
            Path::new("downloads/a.txt")
        );
        assert_eq!(
            local_destination("a.txt", Some("out.txt")).unwrap(),
            Path::new("out.txt")
        );
        assert_eq!(
            local_destination("x/a.txt", Some("dir/")).unwrap(),
            Path::new("dir/a.txt")
        );
        assert!(local_destination("..", None).is_err());
        assert_eq!(safe_local_name("a.txt"), Some("a.txt"));
        for bad in ["", ".", "..", "../x", "/etc/x", "a\\b"] {
            assert_eq!(safe_local_name(bad), None, "{bad:?}");
        }
        assert_eq!(
            part_path(Path::new("downloads/a.txt")),
            Path::new("downloads/a.txt.part")
        );
        assert_eq!(join_remote("/", "x"), "/x");
        assert_eq!(join_remote("/a", "x"), "/a/x");
    }
}
