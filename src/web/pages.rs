//! Page bodies: the login form, the certificate question, the file browser and the delete
//! confirmation. Every name is escaped here; every form carries the session's CSRF token.

use std::fmt::Write as _;

use crate::web::html::{escape, percent_encode};

/// One row of the file browser, taken from the server's `ls -l` style LIST line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub perms: String,
    pub owner: String,
    pub date: String,
}

impl Row {
    /// Parses `perms links owner group size mon day time|year name`; other shapes fall back
    /// to the client's generic parser without owner and date.
    pub fn parse(line: &str) -> Option<Row> {
        let mut fields = line.split_whitespace();
        let perms = fields.next()?;
        let parsed = (|| {
            let _links = fields.next()?;
            let owner = fields.next()?;
            let _group = fields.next()?;
            let size: u64 = fields.next()?.parse().ok()?;
            let date = [fields.next()?, fields.next()?, fields.next()?].join(" ");
            // The name is everything after the 8th field, spaces included.
            let name = nth_field_rest(line, 8)?;
            Some((owner.to_owned(), size, date, name.to_owned()))
        })();
        match parsed {
            Some((owner, size, date, name)) if perms.len() == 10 => Some(Row {
                is_dir: perms.starts_with('d'),
                perms: perms.to_owned(),
                name,
                size,
                owner,
                date,
            }),
            _ => {
                let e = crate::client::connection::Entry::parse(line)?;
                Some(Row {
                    name: e.name,
                    is_dir: e.is_dir,
                    size: e.size,
                    perms: String::new(),
                    owner: String::new(),
                    date: String::new(),
                })
            }
        }
    }
}

/// The text after the first `n` whitespace-separated fields.
fn nth_field_rest(line: &str, n: usize) -> Option<&str> {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace)?;
        rest = rest[end..].trim_start();
    }
    (!rest.is_empty()).then_some(rest)
}

fn hidden_csrf(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

pub struct LoginForm<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub tls: bool,
}

pub fn login(csrf: &str, form: &LoginForm<'_>) -> String {
    format!(
        "<h1>Connect to an FTP server</h1>\
         <form method=\"post\" action=\"/login\" class=\"card\">{csrf}\
         <label>Host <input name=\"host\" value=\"{host}\" required autocomplete=\"off\"></label>\
         <label>Port <input name=\"port\" type=\"number\" min=\"1\" max=\"65535\" value=\"{port}\" required></label>\
         <label>User <input name=\"user\" value=\"{user}\" required autocomplete=\"username\"></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
         <label class=\"check\"><input type=\"checkbox\" name=\"tls\" value=\"on\"{checked}> Use TLS (FTPS)</label>\
         <button type=\"submit\">Connect</button></form>",
        csrf = hidden_csrf(csrf),
        host = escape(form.host),
        port = form.port,
        user = escape(form.user),
        checked = if form.tls { " checked" } else { "" },
    )
}

pub fn trust_question(csrf: &str, endpoint: &str, fingerprint: &str) -> String {
    format!(
        "<h1>Trust this server's certificate?</h1>\
         <p>The server <strong>{endpoint}</strong> presented a certificate this web client has not seen \
         before. Compare its SHA-256 fingerprint with the one the server printed when it started:</p>\
         <p class=\"fingerprint\"><code>{fp}</code></p>\
         <form method=\"post\" action=\"/trust\" class=\"inline\">{csrf}\
         <input type=\"hidden\" name=\"fingerprint\" value=\"{fp}\">\
         <button type=\"submit\">Trust and connect</button></form> \
         <a class=\"button secondary\" href=\"/\">Cancel</a>",
        endpoint = escape(endpoint),
        fp = escape(fingerprint),
        csrf = hidden_csrf(csrf),
    )
}

/// `/a/b` → links to `/`, `/a`, `/a/b`.
fn breadcrumbs(path: &str) -> String {
    let mut out = String::from(
        "<nav class=\"crumbs\" aria-label=\"Path\"><a href=\"/browse?path=%2F\">/</a>",
    );
    let mut acc = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        acc.push('/');
        acc.push_str(part);
        let _ = write!(
            out,
            " <a href=\"/browse?path={}\">{}</a> /",
            percent_encode(&acc),
            escape(part)
        );
    }
    out.push_str("</nav>");
    out
}

pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub struct Browser<'a> {
    pub csrf: &'a str,
    pub path: &'a str,
    pub user: &'a str,
    pub server: &'a str,
    pub rows: &'a [Row],
}

pub fn browser(b: &Browser<'_>) -> String {
    let mut rows: Vec<&Row> = b
        .rows
        .iter()
        .filter(|r| r.name != "." && r.name != "..")
        .collect();
    rows.sort_by(|a, c| c.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&c.name)));
    let csrf = hidden_csrf(b.csrf);
    let mut out = String::with_capacity(4096 + rows.len() * 400);
    let _ = write!(
        out,
        "<div class=\"top\"><p class=\"who\">{user} on {server}</p>\
         <form method=\"post\" action=\"/logout\" class=\"inline\">{csrf}<button type=\"submit\" class=\"secondary\">Log out</button></form></div>\
         {crumbs}",
        user = escape(b.user),
        server = escape(b.server),
        crumbs = breadcrumbs(b.path),
    );
    out.push_str("<div class=\"table-wrap\"><table class=\"files\"><thead><tr><th>Name</th><th>Size</th><th>Modified</th><th>Owner</th><th>Permissions</th><th></th></tr></thead><tbody>");
    if b.path != "/" {
        let parent = match b.path.rfind('/') {
            Some(0) | None => "/".to_owned(),
            Some(i) => b.path[..i].to_owned(),
        };
        let _ = write!(
            out,
            "<tr><td colspan=\"6\"><a class=\"up\" href=\"/browse?path={}\">↑ up</a></td></tr>",
            percent_encode(&parent)
        );
    }
    if rows.is_empty() {
        out.push_str("<tr><td colspan=\"6\" class=\"empty\">This directory is empty.</td></tr>");
    }
    for r in rows {
        file_row(&mut out, b.path, r);
    }
    out.push_str("</tbody></table></div>");
    tools(&mut out, &csrf, b.path);
    out
}

/// One listing row: the name (a link for directories), size, date, owner, permissions and
/// the actions on it.
fn file_row(out: &mut String, dir: &str, r: &Row) {
    let q = percent_encode(&join(dir, &r.name));
    let name_cell = if r.is_dir {
        format!(
            "<a class=\"dir\" href=\"/browse?path={q}\">{}/</a>",
            escape(&r.name)
        )
    } else {
        format!("<span class=\"file\">{}</span>", escape(&r.name))
    };
    let actions = if r.is_dir {
        format!("<a class=\"button secondary\" href=\"/delete?path={q}&amp;dir=1\">Delete</a>")
    } else {
        format!(
            "<a class=\"button\" href=\"/download?path={q}\" download>Download</a> \
             <a class=\"button secondary\" href=\"/delete?path={q}\">Delete</a>"
        )
    };
    let size = if r.is_dir {
        String::new()
    } else {
        human_size(r.size)
    };
    let _ = write!(
        out,
        "<tr><td>{name_cell}</td><td>{size}</td><td>{date}</td><td>{owner}</td><td><code>{perms}</code></td><td class=\"actions\">{actions}</td></tr>",
        date = escape(&r.date),
        owner = escape(&r.owner),
        perms = escape(&r.perms),
    );
}

/// The forms under the listing: upload, download by name, new directory.
fn tools(out: &mut String, csrf: &str, path: &str) {
    let path_q = percent_encode(path);
    let _ = write!(
        out,
        "<section class=\"tools\">\
         <form method=\"post\" action=\"/upload?dir={path_q}\" enctype=\"multipart/form-data\" class=\"card\" id=\"upload\">{csrf}\
         <h2>Upload</h2><input type=\"file\" name=\"file\" multiple required>\
         <button type=\"submit\">Upload</button><progress hidden></progress></form>\
         <form method=\"get\" action=\"/download\" class=\"card\">\
         <h2>Download by name</h2><input type=\"hidden\" name=\"dir\" value=\"{path}\">\
         <input name=\"name\" placeholder=\"exact file name\" required><button type=\"submit\">Download</button></form>\
         <form method=\"post\" action=\"/mkdir\" class=\"card\">{csrf}<h2>New directory</h2>\
         <input type=\"hidden\" name=\"dir\" value=\"{path}\">\
         <input name=\"name\" placeholder=\"name\" required><button type=\"submit\">Create</button></form>\
         </section>",
        path = escape(path),
    );
}

pub fn confirm_delete(csrf: &str, path: &str, is_dir: bool) -> String {
    let what = if is_dir { "directory" } else { "file" };
    let back = match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    };
    format!(
        "<h1>Delete this {what}?</h1><p class=\"target\"><code>{p}</code></p>\
         <form method=\"post\" action=\"/delete\" class=\"inline\">{csrf}\
         <input type=\"hidden\" name=\"path\" value=\"{p}\"><input type=\"hidden\" name=\"dir\" value=\"{d}\">\
         <button type=\"submit\" class=\"danger\">Delete</button></form> \
         <a class=\"button secondary\" href=\"/browse?path={back}\">Cancel</a>",
        p = escape(path),
        d = if is_dir { "1" } else { "0" },
        csrf = hidden_csrf(csrf),
        back = percent_encode(&back),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_ls_lines() {
        let r = Row::parse("-rw-------   1 alice    ftp          1234 Nov 22 14:57 my file.txt")
            .unwrap();
        assert_eq!(r.name, "my file.txt");
        assert_eq!(
            (r.size, r.owner.as_str(), r.date.as_str()),
            (1234, "alice", "Nov 22 14:57")
        );
        assert!(
            Row::parse("drwxr-xr-x   2 nobody   ftp          4096 Jan  1  2020 Public")
                .unwrap()
                .is_dir
        );
    }

    #[test]
    fn names_are_escaped_everywhere() {
        let rows = vec![Row {
            name: "<script>alert(1)</script>".into(),
            is_dir: false,
            size: 1,
            perms: "-rw-r--r--".into(),
            owner: "<b>".into(),
            date: "x".into(),
        }];
        let html = browser(&Browser {
            csrf: "t",
            path: "/a\"b",
            user: "u<",
            server: "s>",
            rows: &rows,
        });
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("a&quot;b"));
    }
}
