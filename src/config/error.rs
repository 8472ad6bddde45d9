//! Config errors a person can act on: `ferroftp.toml:LINE: KEY: what is wrong and what is
//! expected`, in one line, whatever layer found the problem (the TOML parser, serde, or the
//! checks of `Settings::build`), without the parser's internal wording.

/// The file a `FileConfig` was read from, kept to point errors at their line.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub path: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read at all.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// Something at a line of the file: `what` starts with the key when there is one.
    #[error("{path}:{line}: {what}")]
    At {
        path: String,
        line: usize,
        what: String,
    },
    /// A value from a flag (or a key whose line was not found).
    #[error("{key}: {message}")]
    Value { key: &'static str, message: String },
}

impl ConfigError {
    /// A value error about `key`, pointed at the key's line in `origin` when the value came
    /// from the file.
    pub fn at_key_line(self, origin: Option<&Origin>) -> ConfigError {
        let (ConfigError::Value { key, message }, Some(origin)) = (&self, origin) else {
            return self;
        };
        match key_line(&origin.text, key) {
            Some(line) => ConfigError::At {
                path: origin.path.clone(),
                line,
                what: format!("{key}: {message}"),
            },
            None => self,
        }
    }
}

/// The 1-based line where `key = …` is set.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| key_of(l) == Some(key))
        .map(|i| i + 1)
}

/// The key a line sets, if it is a `key = value` line.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(key)
}

/// A TOML or serde error in `origin`, as one line naming the line, the key and what is wrong.
pub fn from_toml(origin: &Origin, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|span| {
        // `get`: a span that is not on a character boundary must not panic.
        let before = origin.text.get(..span.start).unwrap_or(&origin.text);
        before.matches('\n').count() + 1
    });
    let source_line = line
        .and_then(|n| origin.text.lines().nth(n - 1))
        .unwrap_or("");
    let key = key_of(source_line);
    let what = plain_message(e.message(), source_line);
    let what = match key {
        Some(key) if !what.starts_with("unknown key") => format!("{key}: {what}"),
        _ => what,
    };
    match line {
        Some(line) => ConfigError::At {
            path: origin.path.clone(),
            line,
            what,
        },
        None => ConfigError::File {
            path: origin.path.clone(),
            message: what,
        },
    }
}

/// The parser's words, made plain: "expected u64" is "expected a whole number", an unquoted
/// text value gets the hint to quote it, an unknown key is named as such.
fn plain_message(message: &str, source_line: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return format!("unknown key `{name}` (the README's Configuration table lists them)");
    }
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {}, found {found}", plain_expected(expected));
    }
    let value = source_line.split_once('=').map_or("", |(_, v)| v.trim());
    if !value.is_empty() && !starts_like_a_toml_value(value) {
        let key = key_of(source_line).unwrap_or("key");
        return format!("{value} is not a TOML value; text goes in quotes: {key} = \"{value}\"");
    }
    format!("not valid TOML: {message}")
}

fn plain_expected(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i64" => "a whole number".to_owned(),
        "a boolean" => "true or false".to_owned(),
        "a sequence" => "a list in brackets, e.g. [\"a\", \"b\"]".to_owned(),
        other => other.to_owned(),
    }
}

/// A quoted string, a number, a boolean, a list or a table.
fn starts_like_a_toml_value(value: &str) -> bool {
    let plain_number = value
        .trim_start_matches(['+', '-'])
        .chars()
        .all(|c| c.is_ascii_digit() || c == '_' || c == '.');
    value.starts_with(['"', '\'', '[', '{']) || value == "true" || value == "false" || plain_number
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> String {
        let origin = Origin {
            path: "ferroftp.toml".into(),
            text: text.into(),
        };
        let e = toml::from_str::<super::super::FileConfig>(text).unwrap_err();
        from_toml(&origin, &e).to_string()
    }

    #[test]
    fn parser_errors_name_the_line_the_key_and_what_is_expected() {
        assert_eq!(
            parse_error("# c\nmax_sessions = \"lots\"\n"),
            "ferroftp.toml:2: max_sessions: expected a whole number, found string \"lots\""
        );
        assert_eq!(
            parse_error("pasv_ports = 50000-50100\n"),
            "ferroftp.toml:1: pasv_ports: 50000-50100 is not a TOML value; text goes in quotes: pasv_ports = \"50000-50100\""
        );
        assert_eq!(
            parse_error("\n\nbogus = 1\n"),
            "ferroftp.toml:3: unknown key `bogus` (the README's Configuration table lists them)"
        );
        assert_eq!(
            parse_error("idle_timeout = \"5 minutes\"\n"),
            "ferroftp.toml:1: idle_timeout: expected a whole number of seconds or a duration such as \"90s\", \"5m\", \"2h\", found string \"5 minutes\""
        );
        assert_eq!(
            parse_error("overwrite = yes\n"),
            "ferroftp.toml:1: overwrite: yes is not a TOML value; text goes in quotes: overwrite = \"yes\""
        );
    }
}
