//! The shape the per-user files share (`directories.txt`, `limits.txt`): one line per account
//! name or `*` (the default), matched ignoring ASCII case as account names are unique that
//! way; comments and blank lines kept as written, so an edit leaves the admin's formatting
//! alone; a second line for the same users is an error.

use super::Error;
use super::credentials::UserName;

/// The name of the default line.
pub(super) const DEFAULT_NAME: &str = "*";

/// Whom a line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Who {
    /// `*`: users without a line of their own.
    Default,
    User(UserName),
}

impl Who {
    /// `*` or a valid user name (a line for an account that does not exist yet is fine:
    /// accounts come and go). The error is the `what` of a malformed line.
    pub(super) fn parse(name: &str) -> Result<Who, String> {
        if name == DEFAULT_NAME {
            return Ok(Who::Default);
        }
        UserName::parse(name)
            .map(Who::User)
            .map_err(|e| e.to_string())
    }

    /// True for the line of user `name`.
    pub(super) fn is_user(&self, name: &str) -> bool {
        matches!(self, Who::User(n) if n.as_str().eq_ignore_ascii_case(name))
    }

    /// True if both lines are for the same users (a second one is a duplicate).
    pub(super) fn same_as(&self, other: &Who) -> bool {
        match (self, other) {
            (Who::Default, Who::Default) => true,
            (Who::User(a), Who::User(b)) => a.as_str().eq_ignore_ascii_case(b.as_str()),
            _ => false,
        }
    }

    /// `"*"` or `user "bob"`, for error messages.
    fn describe(&self) -> String {
        match self {
            Who::Default => format!("{DEFAULT_NAME:?}"),
            Who::User(name) => format!("user {:?}", name.as_str()),
        }
    }

    /// As written at the start of a line.
    pub(super) fn as_str(&self) -> &str {
        match self {
            Who::Default => DEFAULT_NAME,
            Who::User(name) => name.as_str(),
        }
    }
}

/// A parsed line for someone.
pub(super) trait UserRule {
    fn who(&self) -> &Who;
}

/// One line of the file, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Line<R> {
    Verbatim(String),
    Rule { text: String, rule: R },
}

/// A whole per-user file, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UserLines<R> {
    pub(super) lines: Vec<Line<R>>,
}

impl<R> Default for UserLines<R> {
    fn default() -> Self {
        UserLines { lines: Vec::new() }
    }
}

impl<R: UserRule> UserLines<R> {
    /// Parses the text: `#` starts a comment (it is in no name), `parse_rule` reads what is
    /// left of a line, and `malformed(line, what)` makes the file's error.
    pub(super) fn parse(
        text: &str,
        parse_rule: impl Fn(&str) -> Result<R, String>,
        malformed: impl Fn(usize, String) -> Error,
    ) -> Result<UserLines<R>, Error> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut file = UserLines::<R>::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            let text = raw.trim_end().to_string();
            if content.is_empty() {
                file.lines.push(Line::Verbatim(text));
                continue;
            }
            let rule = parse_rule(content).map_err(|what| malformed(line, what))?;
            if let Some(earlier) = file.rules().find(|r| r.who().same_as(rule.who())) {
                let what = format!("duplicate line for {}", earlier.who().describe());
                return Err(malformed(line, what));
            }
            file.lines.push(Line::Rule { text, rule });
        }
        Ok(file)
    }

    pub(super) fn serialize(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Verbatim(text) | Line::Rule { text, .. } => out.push_str(text),
            }
            out.push('\n');
        }
        out
    }

    pub(super) fn rules(&self) -> impl Iterator<Item = &R> {
        self.lines.iter().filter_map(|l| match l {
            Line::Rule { rule, .. } => Some(rule),
            Line::Verbatim(_) => None,
        })
    }

    /// The line of user `name` (not the default).
    pub(super) fn own(&self, name: &str) -> Option<&R> {
        self.rules().find(|r| r.who().is_user(name))
    }

    /// The `*` line.
    pub(super) fn default_rule(&self) -> Option<&R> {
        self.rules().find(|r| *r.who() == Who::Default)
    }

    /// Where the line for `who` is.
    pub(super) fn position(&self, who: &Who) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| matches!(l, Line::Rule { rule, .. } if rule.who().same_as(who)))
    }

    /// Drops the line of user `name`; false if there was none.
    pub(super) fn remove(&mut self, name: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::Rule { rule, .. } if rule.who().is_user(name)));
        self.lines.len() != before
    }
}
