//! An ownership record: who owns an entry and whether others may see it. Every back-end keeps
//! these (a journal beside the files; user metadata on each object).

use serde::{Deserialize, Serialize};

/// Who owns an entry and who may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub owner: String,
    pub public: bool,
}

impl Meta {
    pub fn new(owner: impl Into<String>, public: bool) -> Meta {
        Meta {
            owner: owner.into(),
            public,
        }
    }
}

/// The owner recorded for entries of a deleted account. `~` is not allowed in user names, so
/// a later account of the same name does not inherit the files (private ones stay private).
pub fn tombstone(owner: &str) -> String {
    format!("~{owner}")
}
