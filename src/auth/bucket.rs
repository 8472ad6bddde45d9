//! Accounts shared through the bucket (`storage = "s3"`): each account is one object,
//! `_ferroftp/accounts/NAME`, holding its credentials.txt line and its directories.txt line
//! (the `*` default grants are the object `*`), and, as user metadata, the id of the account's
//! creation. `data/credentials.txt` and `data/directories.txt` stay each node's working copy,
//! read and hot-reloaded as ever; one `sync` step carries this copy's edits up and other
//! nodes' edits down, remembering in `data/accounts-synced.json` what both sides agreed on
//! last. The network calls are made outside the account files' locks (a dead store delays
//! the sync, never an account edit); one sync runs at a time per instance.
//!
//! Accounts are separate objects, so edits of different accounts never conflict; two nodes
//! editing the same account within one sync: the edit that reaches the bucket last wins. No
//! conditional write is used (Garage 2.5 accepts them without honouring them). An account
//! deleted and made again elsewhere gets a new creation id, so this node ends the sessions
//! of the old one even when it never saw the deletion.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;
use super::credentials::{CREDENTIALS_FILE, CredentialsFile, FILE_MODE};
use super::deletions::{self, DELETIONS_FILE};
use super::directories::{DIRECTORIES_FILE, DirectoriesFile};
use super::hotfile::{FileLock, Format, write_atomic};
use crate::storage::s3::client::{Client, Endpoint, S3Error};

/// Where the account objects are, below the storage prefix.
pub const ACCOUNTS_PREFIX: &str = "_ferroftp/accounts/";
/// What this node last agreed on with the bucket.
const SYNCED_FILE: &str = "accounts-synced.json";
/// Held for a whole sync: one at a time per instance (the server's and a `user` command's).
const SYNC_LOCK: &str = "accounts-sync.lock";
/// The user metadata that carries an account's creation id.
const CREATED_HEADER: &str = "x-amz-meta-created";
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Agreed {
    lines: Lines,
    /// The object's ETag when both sides held `lines`.
    etag: Option<String>,
    /// The id of the account's creation (a deleted and re-made account has a new one).
    #[serde(default)]
    created: Option<String>,
}

/// What this node last agreed on with the bucket (`data/accounts-synced.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct SyncState {
    accounts: BTreeMap<String, Agreed>,
    /// `SEQ` of the last line of `deleted-accounts.txt` taken into account: a name deleted
    /// here since then and present again is a new account.
    deletions_seen: u64,
}

/// What a sync did that the server acts on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Synced {
    /// The local account files changed.
    pub changed: bool,
    /// Accounts another node deleted or made anew: sessions under these names belong to an
    /// account that is gone.
    pub ended: Vec<String>,
}

/// How one account is brought in step.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Nothing to do.
    Keep,
    /// Take the bucket's version (empty lines: the account is gone); `ended` when it is not
    /// the account this node had (deleted, or deleted and made again).
    Take { agreed: Agreed, ended: bool },
    /// Put this node's version up, with this creation id.
    Push { lines: Lines, created: String },
    /// Delete the object: the account was deleted here.
    Delete,
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

/// Every account's step: the accounts to keep locally (`merged`), the names whose sessions
/// end, and the steps that go up to the bucket.
fn settle_all(
    local: &BTreeMap<String, Lines>,
    deleted_here: &BTreeSet<String>,
    state: &mut SyncState,
    remote: &BTreeMap<String, String>,
    fetched: &BTreeMap<String, Agreed>,
) -> (BTreeMap<String, Lines>, Synced, Vec<(String, Step)>) {
    let names: BTreeSet<String> = local
        .keys()
        .chain(state.accounts.keys())
        .chain(remote.keys())
        .cloned()
        .collect();
    let mut merged = local.clone();
    let mut synced = Synced::default();
    let mut uploads = Vec::new();
    for name in names {
        let here = Here {
            lines: local.get(&name).cloned().unwrap_or_default(),
            deleted: deleted_here.contains(&name),
        };
        match settle(
            &here,
            state.accounts.get(&name),
            remote.get(&name),
            fetched.get(&name),
        ) {
            Step::Keep => {}
            Step::Take { agreed, ended } => {
                if agreed.lines.is_empty() {
                    merged.remove(&name);
                } else {
                    merged.insert(name.clone(), agreed.lines.clone());
                }
                if ended {
                    synced.ended.push(name.clone());
                }
                // Gone on both sides: nothing left to agree on.
                if agreed == Agreed::default() {
                    state.accounts.remove(&name);
                } else {
                    state.accounts.insert(name, agreed);
                }
            }
            step => uploads.push((name, step)),
        }
    }
    (merged, synced, uploads)
}

fn store(e: S3Error) -> Error {
    Error::Io(io::Error::other(e.to_string()))
}

/// What one sync did to the local files, and what it still has to put up.
struct Applied {
    synced: Synced,
    /// The accounts to put up or delete in the bucket, in name order.
    uploads: Vec<(String, Step)>,
    /// The deletion log's last `SEQ` when the files were read.
    deletions_seen: u64,
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

    /// One step both ways: the bucket's changes are fetched, applied to the local files under
    /// their locks, then this node's edits are put up.
    pub fn sync(&self) -> Result<Synced, Error> {
        let _one_sync = FileLock::acquire(&self.data_dir.join(SYNC_LOCK))?;
        let mut state = self.load_state();
        let remote = self.remote_etags()?;
        // Only objects that changed since the last agreement are read.
        let mut fetched = BTreeMap::new();
        for (name, etag) in &remote {
            let known = state.accounts.get(name).and_then(|a| a.etag.as_ref());
            if known != Some(etag)
                && let Some(agreed) = self.fetch(name, etag)?
            {
                fetched.insert(name.clone(), agreed);
            }
        }
        let applied = self.apply_locally(&mut state, &remote, &fetched)?;
        let pushed = self.push_all(&mut state, applied.uploads);
        // A deletion here is taken into account once its account went up (with a new id).
        if pushed.is_ok() {
            state.deletions_seen = applied.deletions_seen;
        }
        self.save_state(&state)?;
        pushed?;
        Ok(applied.synced)
    }

    /// Under both account files' locks, and without a network call: decides every account's
    /// step, applies what comes down to the files, and returns what must go up (with the
    /// deletion log's last `SEQ`).
    fn apply_locally(
        &self,
        state: &mut SyncState,
        remote: &BTreeMap<String, String>,
        fetched: &BTreeMap<String, Agreed>,
    ) -> Result<Applied, Error> {
        let _credentials = FileLock::acquire(&self.data_dir.join(CredentialsFile::LOCK))?;
        let _directories = FileLock::acquire(&self.data_dir.join(DirectoriesFile::LOCK))?;
        let credentials_path = self.data_dir.join(CREDENTIALS_FILE);
        let directories_path = self.data_dir.join(DIRECTORIES_FILE);
        let credentials_text = read(&credentials_path)?;
        let directories_text = read(&directories_path)?;
        let local = local_accounts(&credentials_text, &directories_text);
        let (deleted_here, deletions_seen) = self.deleted_since(state.deletions_seen)?;
        let (merged, mut synced, uploads) =
            settle_all(&local, &deleted_here, state, remote, fetched);
        synced.changed = merged != local;
        if synced.changed {
            let (credentials, directories) = rewrite(&credentials_text, &directories_text, &merged);
            // Only what changed: an untouched file is not rewritten (nor a missing one made).
            if credentials != credentials_text {
                write_atomic(&credentials_path, &credentials, FILE_MODE)?;
            }
            if directories != directories_text {
                write_atomic(&directories_path, &directories, DirectoriesFile::MODE)?;
            }
        }
        Ok(Applied {
            synced,
            uploads,
            deletions_seen,
        })
    }

    /// Names deleted on this node (`deleted-accounts.txt`) after `SEQ` `seen`, and the last
    /// `SEQ` in the log.
    fn deleted_since(&self, seen: u64) -> Result<(BTreeSet<String>, u64), Error> {
        let path = self.data_dir.join(DELETIONS_FILE);
        let lines = deletions::read(&path).map_err(|e| Error::file(&path, e))?;
        let last = lines
            .iter()
            .map(|(seq, _)| *seq)
            .max()
            .unwrap_or(0)
            .max(seen);
        let names = lines
            .into_iter()
            .filter(|(seq, _)| *seq > seen)
            .map(|(_, name)| name)
            .collect();
        Ok((names, last))
    }

    /// Puts up (or deletes) what changed here, recording each success in `state`; stops at
    /// the first failure (the next sync tries again: the files still differ from `state`).
    fn push_all(&self, state: &mut SyncState, steps: Vec<(String, Step)>) -> Result<(), Error> {
        for (name, step) in steps {
            let key = format!("{}{name}", self.prefix);
            match step {
                Step::Push { lines, created } => {
                    let meta = vec![(CREATED_HEADER, created.clone())];
                    let etag = self
                        .client
                        .put_with(&key, lines.body().as_bytes(), meta)
                        .map_err(store)?;
                    let agreed = Agreed {
                        lines,
                        etag,
                        created: Some(created),
                    };
                    state.accounts.insert(name, agreed);
                }
                Step::Delete => {
                    self.client.delete(&key).map_err(store)?;
                    state.accounts.remove(&name);
                }
                Step::Keep | Step::Take { .. } => {}
            }
        }
        Ok(())
    }

    /// The bucket's version of `name` (its object has ETag `etag`); `None` when malformed.
    fn fetch(&self, name: &str, etag: &str) -> Result<Option<Agreed>, Error> {
        let key = format!("{}{name}", self.prefix);
        let (body, created) = match self.client.get_small(&key, MAX_OBJECT, CREATED_HEADER) {
            Ok(got) => got,
            // Deleted since the listing: the next sync sees it gone.
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(store(e)),
        };
        match Lines::parse(name, &String::from_utf8_lossy(&body)) {
            Some(lines) => Ok(Some(Agreed {
                lines,
                etag: Some(etag.to_owned()),
                created,
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

    fn load_state(&self) -> SyncState {
        fs::read_to_string(self.data_dir.join(SYNCED_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn save_state(&self, state: &SyncState) -> Result<(), Error> {
        let text = serde_json::to_string(state).map_err(|e| Error::Io(io::Error::other(e)))?;
        write_atomic(&self.data_dir.join(SYNCED_FILE), &text, FILE_MODE)
    }
}

/// This node's side of one account.
struct Here {
    lines: Lines,
    /// Deleted here since the last sync (and perhaps made again).
    deleted: bool,
}

/// What one account's step is, from this node's lines, the last agreement, the bucket's
/// ETag and (when that changed) the bucket's version.
fn settle(
    here: &Here,
    agreed: Option<&Agreed>,
    remote: Option<&String>,
    fetched: Option<&Agreed>,
) -> Step {
    let Some(agreed) = agreed else {
        // Never agreed: a node joining takes the bucket's account; one only here goes up.
        return match (remote, fetched) {
            (Some(_), Some(theirs)) => Step::Take {
                ended: !here.lines.is_empty() && here.lines != theirs.lines,
                agreed: theirs.clone(),
            },
            (Some(_), None) => Step::Keep,
            (None, _) if here.lines.is_empty() => Step::Keep,
            (None, _) => Step::Push {
                lines: here.lines.clone(),
                created: new_creation_id(),
            },
        };
    };
    if here.lines != agreed.lines || here.deleted {
        if here.lines.is_empty() {
            return Step::Delete;
        }
        let created = match &agreed.created {
            Some(id) if !here.deleted && !agreed.lines.is_empty() => id.clone(),
            _ => new_creation_id(),
        };
        return Step::Push {
            lines: here.lines.clone(),
            created,
        };
    }
    match (remote, fetched) {
        (Some(etag), Some(theirs)) if agreed.etag.as_ref() != Some(etag) => Step::Take {
            ended: theirs.created != agreed.created,
            agreed: theirs.clone(),
        },
        (Some(_), _) => Step::Keep,
        (None, _) if agreed.etag.is_some() => Step::Take {
            agreed: Agreed::default(),
            ended: true,
        },
        (None, _) => Step::Keep,
    }
}

/// A fresh, random id for an account's creation.
fn new_creation_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // The clock still tells two creations apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("t{nanos:x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    fn account(hash: &str) -> Lines {
        Lines {
            credentials: Some(format!("alice:{hash}:user:active")),
            grants: None,
        }
    }

    fn agreed(lines: Lines, etag: &str, created: &str) -> Agreed {
        Agreed {
            lines,
            etag: Some(etag.into()),
            created: Some(created.into()),
        }
    }

    #[test]
    fn an_account_made_anew_elsewhere_ends_its_old_sessions_here() {
        let ours = agreed(account("h1"), "e1", "c1");
        let here = Here {
            lines: account("h1"),
            deleted: false,
        };
        let etag = "e2".to_owned();
        let edited = agreed(account("h2"), "e2", "c1");
        let remade = agreed(account("h3"), "e2", "c2");
        let take = |theirs: &Agreed| settle(&here, Some(&ours), Some(&etag), Some(theirs));
        assert_eq!(
            take(&edited),
            Step::Take {
                agreed: edited.clone(),
                ended: false
            }
        );
        assert_eq!(
            take(&remade),
            Step::Take {
                agreed: remade.clone(),
                ended: true
            }
        );
        // Gone from the bucket: gone here, sessions ended.
        assert!(matches!(
            settle(&here, Some(&ours), None, None),
            Step::Take { ended: true, .. }
        ));
        // Unchanged: nothing to do.
        let same = "e1".to_owned();
        assert_eq!(settle(&here, Some(&ours), Some(&same), None), Step::Keep);
    }

    #[test]
    fn an_account_deleted_and_made_again_here_goes_up_with_a_new_creation_id() {
        let ours = agreed(account("h1"), "e1", "c1");
        let etag = "e1".to_owned();
        let step = |lines: Lines, deleted: bool| {
            settle(&Here { lines, deleted }, Some(&ours), Some(&etag), None)
        };
        assert_eq!(
            step(account("h2"), false),
            Step::Push {
                lines: account("h2"),
                created: "c1".into()
            }
        );
        let Step::Push { created, .. } = step(account("h2"), true) else {
            panic!("a push");
        };
        assert_ne!(created, "c1");
        assert_eq!(created.len(), 24);
        assert_eq!(step(Lines::default(), true), Step::Delete);
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
