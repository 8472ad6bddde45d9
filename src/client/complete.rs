//! Tab completion in the REPL (rustyline's helper): command names first; then, for commands
//! that take a remote path, the names in the directory being completed, asked of the server
//! (`LIST` of `dir/` for `get dir/pa<Tab>`, directories with a trailing `/`); local file names
//! for the commands that take local ones. A second Tab lists every candidate.

use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;

use super::command::COMMANDS;
use super::connection::Connection;
use super::lock;

/// Commands whose arguments are local paths.
const LOCAL_ARGS: &[&str] = &["put", "mput", "lcd", "lls"];
/// Most names offered at once (a huge directory must not flood the terminal).
const MAX_CANDIDATES: usize = 1000;

pub(super) struct ClientHelper {
    /// Names from the last `ls`, when the server cannot be asked.
    names: Arc<Mutex<Vec<String>>>,
    /// The connection, lent by the REPL while a line is typed.
    conn: Arc<Mutex<Option<Connection>>>,
    files: FilenameCompleter,
}

impl ClientHelper {
    pub(super) fn new(
        names: Arc<Mutex<Vec<String>>>,
        conn: Arc<Mutex<Option<Connection>>>,
    ) -> ClientHelper {
        ClientHelper {
            names,
            conn,
            files: FilenameCompleter::new(),
        }
    }

    /// `word` completed against the remote directory it names (`sub/f` → the entries of
    /// `sub/` starting with `f`); None when there is no connection or the listing fails.
    fn remote(&self, word: &str) -> Option<Vec<Pair>> {
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => (&word[..=i], &word[i + 1..]),
            None => ("", word),
        };
        let mut conn = lock(&self.conn);
        let entries = conn
            .as_mut()?
            .entries((!dir.is_empty()).then_some(dir))
            .ok()?;
        let mut out: Vec<Pair> = entries
            .iter()
            .filter(|e| e.name.starts_with(prefix) && e.name != "." && e.name != "..")
            // SECURITY: a hostile server's names must not put terminal escapes on screen.
            .filter(|e| !e.name.chars().any(char::is_control))
            .take(MAX_CANDIDATES)
            .map(|e| {
                let slash = if e.is_dir { "/" } else { "" };
                Pair {
                    display: format!("{}{slash}", e.name),
                    replacement: quoted(&format!("{dir}{}{slash}", e.name)),
                }
            })
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
        Some(out)
    }

    /// The last listing's names starting with `word`.
    fn cached(&self, word: &str) -> Vec<Pair> {
        lock(&self.names)
            .iter()
            .filter(|n| n.starts_with(word))
            .map(|n| pair(n))
            .collect()
    }
}

/// `path` as one word of a command line: in double quotes (with `\\` before `"` and `\\`)
/// when it holds a space, a quote, a backslash or a `;`.
fn quoted(path: &str) -> String {
    if !path.contains(|c: char| c.is_whitespace() || "\"'\\;".contains(c)) {
        return path.to_owned();
    }
    let mut out = String::from("\"");
    for c in path.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn pair(s: &str) -> Pair {
    Pair {
        display: s.to_owned(),
        replacement: s.to_owned(),
    }
}

impl Completer for ClientHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        // After the last whitespace character, which may be wider than one byte.
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        if start == 0 {
            let mut out: Vec<Pair> = COMMANDS
                .iter()
                .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
                .filter(|n| n.starts_with(word))
                .map(pair)
                .collect();
            out.sort_by(|a, b| a.display.cmp(&b.display));
            return Ok((0, out));
        }
        let first = before.split_whitespace().next().unwrap_or("");
        if LOCAL_ARGS.contains(&first) {
            return self.files.complete(line, pos, ctx);
        }
        let candidates = self.remote(word).unwrap_or_else(|| self.cached(word));
        Ok((start, candidates))
    }
}

impl Hinter for ClientHelper {
    type Hint = String;
}

impl Highlighter for ClientHelper {}

impl Validator for ClientHelper {}

impl rustyline::Helper for ClientHelper {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::command::ClientCommand;

    /// A wide whitespace character before the word (an ideographic space) is no slicing panic.
    #[test]
    fn completion_after_a_multibyte_space() {
        let helper = ClientHelper::new(
            Arc::new(Mutex::new(vec!["file.txt".into()])),
            Arc::new(Mutex::new(None)),
        );
        let history = rustyline::history::DefaultHistory::new();
        let ctx = rustyline::Context::new(&history);
        let line = "get\u{3000}fi";
        let (start, found) = helper.complete(line, line.len(), &ctx).unwrap();
        assert_eq!(start, "get\u{3000}".len());
        assert_eq!(
            found
                .iter()
                .map(|p| p.replacement.as_str())
                .collect::<Vec<_>>(),
            ["file.txt"]
        );
    }

    #[test]
    fn completed_names_stay_one_word() {
        assert_eq!(quoted("sub/plain.txt"), "sub/plain.txt");
        let odd = "my \"odd\" name; \\x.txt";
        let line = format!("get {}", quoted(odd));
        match ClientCommand::parse(&line).unwrap() {
            ClientCommand::Get { remote, .. } => assert_eq!(remote, odd),
            other => panic!("{other:?}"),
        }
    }
}
