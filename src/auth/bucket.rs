//! Accounts shared through the bucket (`storage = "s3"`): each account is one object,
//! `_ferroftp/accounts/NAME`, holding its credentials.txt line and its directories.txt line
//! (the `*` default grants are the object `*`). `data/credentials.txt` and
//! `data/directories.txt` stay each node's working copy, read and hot-reloaded as ever; one
//! `sync` step, under both files' locks, carries this copy's edits up and other nodes' edits
//! down, remembering in `data/accounts-synced.json` what both sides agreed on last.
//!
//! Accounts are separate objects, so edits of different accounts never conflict; two nodes
//! editing the same account at once: the later write wins. No conditional write is used
//! (Garage 2.5 accepts them without honouring them).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;
use super::credentials::{CREDENTIALS_FILE, CredentialsFile, FILE_MODE};
use super::directories::{DIRECTORIES_FILE, DirectoriesFile};
use super::hotfile::{FileLock, Format, write_atomic};
use crate::storage::s3::client::{Client, Endpoint, S3Error};

/// Where the account objects are, below the storage prefix.
pub const ACCOUNTS_PREFIX: &str = "_ferroftp/accounts/";
/// What this node last agreed on with the bucket.
const SYNCED_FILE: &str = "accounts-synced.json";
/// An account object is two short lines; anything longer is not one.
const MAX_OBJECT: u64 = 64 * 1024;

/// One account as both files hold it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Lines {
    credentials: Option<String>,
    grants: Option<String>,
}

impl Lines {
    fn is_empty(&self) -> bool {
        self.credentials.is_none() && self.grants.is_none()
    }

    fn body(&self) -> String {
        format!(
            "{}\n{}\n",
            self.credentials.as_deref().unwrap_or(""),
            self.grants.as_deref().unwrap_or("")
        )
    }

    /// An object's body, each line checked as its file would check it.
    fn parse(name: &str, body: &str) -> Option<Lines> {
        let mut lines = body.lines();
        let credentials = lines.next().map(str::trim).filter(|l| !l.is_empty());
        let grants = lines.next().map(str::trim).filter(|l| !l.is_empty());
        let named = |line: &str| line_name(line).as_deref() == Some(name);
        if credentials.is_some_and(|l| !named(l) || CredentialsFile::parse(l).is_err())
            || grants.is_some_and(|l| !named(l) || DirectoriesFile::parse(l).is_err())
        {
            return None;
        }
        Some(Lines {
            credentials: credentials.map(str::to_owned),
            grants: grants.map(str::to_owned),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Agreed {
    lines: Lines,
    /// The object's ETag when both sides held `lines`.
    etag: Option<String>,
}

/// The name a credentials.txt or directories.txt line is about (`*` too); None for comments.
fn line_name(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    line.split(':').next().map(|n| n.trim().to_owned())
}

fn by_name(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| line_name(l).map(|n| (n, l.trim().to_owned())))
        .collect()
}

pub struct SharedAccounts {
    client: Client,
    prefix: String,
    data_dir: PathBuf,
}

impl std::fmt::Debug for SharedAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedAccounts")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn store(e: S3Error) -> Error {
    Error::Io(io::Error::other(e.to_string()))
}

impl SharedAccounts {
    /// The accounts of the bucket at `endpoint`, under `storage_prefix`, for the instance
    /// whose data directory is `data_dir`.
    pub fn new(endpoint: &Endpoint, storage_prefix: &str, data_dir: &Path) -> Result<Self, Error> {
        let prefix = match storage_prefix.trim_matches('/') {
            "" => ACCOUNTS_PREFIX.to_owned(),
            p => format!("{p}/{ACCOUNTS_PREFIX}"),
        };
        Ok(SharedAccounts {
            client: Client::new(endpoint).map_err(store)?,
            prefix,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// One step both ways; true when the local files changed.
    pub fn sync(&self) -> Result<bool, Error> {
        let _credentials = FileLock::acquire(&self.data_dir.join(CredentialsFile::LOCK))?;
        let _directories = FileLock::acquire(&self.data_dir.join(DirectoriesFile::LOCK))?;
        let credentials_path = self.data_dir.join(CREDENTIALS_FILE);
        let directories_path = self.data_dir.join(DIRECTORIES_FILE);
        let credentials_text = read(&credentials_path)?;
        let directories_text = read(&directories_path)?;
        let local = local_accounts(&credentials_text, &directories_text);
        let mut agreed = self.load_agreed();
        let remote = self.remote_etags()?;
        let names: BTreeSet<String> = local
            .keys()
            .chain(agreed.keys())
            .chain(remote.keys())
            .cloned()
            .collect();
        let mut merged = local.clone();
        for name in names {
            let outcome = self.settle(
                &name,
                local.get(&name),
                agreed.get(&name),
                remote.get(&name),
            )?;
            let Some(entry) = outcome else { continue };
            if entry.lines.is_empty() {
                merged.remove(&name);
            } else {
                merged.insert(name.clone(), entry.lines.clone());
            }
            // Gone on both sides: nothing left to agree on.
            if entry.lines.is_empty() && entry.etag.is_none() {
                agreed.remove(&name);
            } else {
                agreed.insert(name, entry);
            }
        }
        let changed = merged != local;
        if changed {
            let (credentials, directories) = rewrite(&credentials_text, &directories_text, &merged);
            // Only what changed: an untouched file is not rewritten (nor a missing one made).
            if credentials != credentials_text {
                write_atomic(&credentials_path, &credentials, FILE_MODE)?;
            }
            if directories != directories_text {
                write_atomic(&directories_path, &directories, DirectoriesFile::MODE)?;
            }
        }
        self.save_agreed(&agreed)?;
        Ok(changed)
    }

    /// What one account becomes: `None` when nothing changes; an entry with empty lines and
    /// no ETag when it is gone on both sides.
    fn settle(
        &self,
        name: &str,
        local: Option<&Lines>,
        agreed: Option<&Agreed>,
        remote: Option<&String>,
    ) -> Result<Option<Agreed>, Error> {
        let empty = Lines::default();
        let local_lines = local.unwrap_or(&empty);
        let key = format!("{}{name}", self.prefix);
        let Some(agreed) = agreed else {
            // Never agreed: a node joining takes the bucket's account; one only here goes up.
            return match remote {
                Some(etag) => Ok(self.pull(&key, name, etag)?),
                None if !local_lines.is_empty() => Ok(Some(self.push(&key, local_lines)?)),
                None => Ok(None),
            };
        };
        if *local_lines != agreed.lines {
            if local_lines.is_empty() {
                self.client.delete(&key).map_err(store)?;
                return Ok(Some(Agreed::default()));
            }
            return Ok(Some(self.push(&key, local_lines)?));
        }
        match remote {
            Some(etag) if agreed.etag.as_ref() != Some(etag) => Ok(self.pull(&key, name, etag)?),
            Some(_) => Ok(None),
            None if agreed.etag.is_some() => Ok(Some(Agreed::default())),
            None => Ok(None),
        }
    }

    fn push(&self, key: &str, lines: &Lines) -> Result<Agreed, Error> {
        let etag = self
            .client
            .put(key, lines.body().as_bytes(), None, None)
            .map_err(store)?;
        Ok(Agreed {
            lines: lines.clone(),
            etag,
        })
    }

    fn pull(&self, key: &str, name: &str, etag: &str) -> Result<Option<Agreed>, Error> {
        let mut body = String::new();
        io::Read::read_to_string(
            &mut io::Read::take(self.client.get(key, 0).map_err(store)?, MAX_OBJECT),
            &mut body,
        )?;
        match Lines::parse(name, &body) {
            Some(lines) => Ok(Some(Agreed {
                lines,
                etag: Some(etag.to_owned()),
            })),
            None => {
                log::warn!("account object {key} is malformed; ignored");
                Ok(None)
            }
        }
    }

    /// Account name → ETag of its object.
    fn remote_etags(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        let mut token = None;
        for _ in 0..1000 {
            let page = self
                .client
                .list(&self.prefix, false, 1000, token.as_deref())
                .map_err(store)?;
            for object in page.objects {
                if let Some(name) = object.key.strip_prefix(&self.prefix)
                    && !name.is_empty()
                    && !name.contains('/')
                {
                    out.insert(name.to_owned(), object.etag.unwrap_or_default());
                }
            }
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    fn load_agreed(&self) -> BTreeMap<String, Agreed> {
        fs::read_to_string(self.data_dir.join(SYNCED_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn save_agreed(&self, agreed: &BTreeMap<String, Agreed>) -> Result<(), Error> {
        let text = serde_json::to_string(agreed).map_err(|e| Error::Io(io::Error::other(e)))?;
        write_atomic(&self.data_dir.join(SYNCED_FILE), &text, FILE_MODE)
    }
}

fn read(path: &Path) -> Result<String, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::file(path, e)),
    }
}

fn local_accounts(credentials: &str, directories: &str) -> BTreeMap<String, Lines> {
    let mut out: BTreeMap<String, Lines> = BTreeMap::new();
    for (name, line) in by_name(credentials) {
        out.entry(name).or_default().credentials = Some(line);
    }
    for (name, line) in by_name(directories) {
        out.entry(name).or_default().grants = Some(line);
    }
    out
}

/// Both files with `merged` applied: lines edited in place, dropped, or appended; comments and
/// the order of what stays are kept.
fn rewrite(
    credentials: &str,
    directories: &str,
    merged: &BTreeMap<String, Lines>,
) -> (String, String) {
    let apply = |text: &str, pick: &dyn Fn(&Lines) -> Option<&String>| {
        let mut out = String::new();
        let mut seen = BTreeSet::new();
        for line in text.lines() {
            match line_name(line) {
                None => out.push_str(line),
                Some(name) => {
                    seen.insert(name.clone());
                    match merged.get(&name).and_then(pick) {
                        Some(new) => out.push_str(new),
                        None => continue,
                    }
                }
            }
            out.push('\n');
        }
        for (name, lines) in merged {
            if !seen.contains(name)
                && let Some(line) = pick(lines)
            {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    };
    (
        apply(credentials, &|l| l.credentials.as_ref()),
        apply(directories, &|l| l.grants.as_ref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_edited_in_place_and_comments_kept() {
        let credentials = "# accounts\nalice:h1:user:active\nbob:h2:user:active\n";
        let directories = "*: Public:ro\nbob: Public:rw\n";
        let mut merged = local_accounts(credentials, directories);
        merged.remove("alice");
        merged.insert(
            "carol".into(),
            Lines {
                credentials: Some("carol:h3:admin:active".into()),
                grants: None,
            },
        );
        merged.get_mut("bob").unwrap().credentials = Some("bob:h9:user:banned".into());
        let (c, d) = rewrite(credentials, directories, &merged);
        assert_eq!(c, "# accounts\nbob:h9:user:banned\ncarol:h3:admin:active\n");
        assert_eq!(d, "*: Public:ro\nbob: Public:rw\n");
    }

    #[test]
    fn an_object_must_name_its_own_account() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let good = format!("alice:{hash}:user:active\nalice: Public:rw\n");
        let lines = Lines::parse("alice", &good).expect("a well-formed object");
        assert_eq!(lines.body(), good);
        assert_eq!(Lines::parse("alice", "bob:x:user:active\n"), None);
        assert_eq!(Lines::parse("alice", "alice: ../etc:rw\nalice: x\n"), None);
    }
}
