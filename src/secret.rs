//! `Password`: a secret in clear text that never prints itself (`Debug` and `Display` show
//! `*******`). A leaf: the wire parser and the account layer both use it, neither owns it.

use std::fmt;

/// A password in clear text. Never printed: `Debug` and `Display` show `*******`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: String) -> Password {
        Password(secret)
    }

    /// The clear text, for bcrypt and for printing a freshly generated password once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*******")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*******")
    }
}
