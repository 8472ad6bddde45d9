//! Page bodies: the login form, the certificate question, the file browser and the delete
//! confirmation. Every name is escaped here; every form carries the session's CSRF token.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::web::html::{escape, percent_encode};
use crate::web::listing::{Perm, Row, SortKey, View};

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
    /// What the server allows in this directory itself (upload, new directory).
    pub here: &'a Perm,
    pub view: &'a View,
    pub now: SystemTime,
}

pub fn browser(b: &Browser<'_>) -> String {
    let rows = b.view.apply(b.rows);
    let csrf = hidden_csrf(b.csrf);
    let mut out = String::with_capacity(4096 + rows.len() * 500);
    let _ = write!(
        out,
        "<div class=\"top\"><p class=\"who\">{user} on {server}</p>\
         <form method=\"post\" action=\"/logout\" class=\"inline\">{csrf}<button type=\"submit\" class=\"secondary\">Log out</button></form></div>\
         {crumbs}",
        user = escape(b.user),
        server = escape(b.server),
        crumbs = breadcrumbs(b.path),
    );
    search_box(&mut out, b.path, b.view);
    selection_bar(&mut out, &csrf, b.path, &rows);
    let with_perms = b.rows.iter().any(|r| !r.perms.is_empty());
    let columns = if with_perms { 6 } else { 5 };
    out.push_str("<div class=\"table-wrap\"><table class=\"files\"><thead><tr>");
    for (key, label) in [
        (SortKey::Name, "Name"),
        (SortKey::Size, "Size"),
        (SortKey::Date, "Modified"),
    ] {
        sort_header(&mut out, b.path, b.view, key, label);
    }
    out.push_str("<th>Owner</th>");
    if with_perms {
        out.push_str("<th>Permissions</th>");
    }
    out.push_str("<th><span class=\"visually-hidden\">Actions</span></th></tr></thead><tbody>");
    if b.path != "/" {
        let _ = write!(
            out,
            "<tr><td colspan=\"{columns}\"><a class=\"up\" href=\"/browse?path={}\">↑ up</a></td></tr>",
            percent_encode(&parent(b.path))
        );
    }
    if rows.is_empty() {
        empty_state(&mut out, b, columns);
    }
    for r in rows {
        file_row(&mut out, b.path, r, with_perms, b.now);
    }
    out.push_str("</tbody></table></div>");
    tools(&mut out, &csrf, b.path, b.here);
    out
}

/// The form the rows' checkboxes belong to: the selection as one zip, or deleted.
fn selection_bar(out: &mut String, csrf: &str, path: &str, rows: &[&Row]) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<form id=\"selection\" method=\"post\" action=\"/selection\" class=\"selection\">{csrf}\
         <input type=\"hidden\" name=\"dir\" value=\"{path}\">\
         <button type=\"submit\" name=\"action\" value=\"zip\" class=\"secondary\">Download selected as zip</button>",
        path = escape(path),
    );
    if rows.iter().any(|r| r.perm.delete()) {
        out.push_str(
            " <button type=\"submit\" name=\"action\" value=\"delete\" class=\"secondary\">Delete selected</button>",
        );
    }
    out.push_str("</form>");
}

fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

/// The search box: a plain GET form (works without script), keeping the sort order.
fn search_box(out: &mut String, path: &str, view: &View) {
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/browse\" class=\"search\" role=\"search\">\
         <input type=\"hidden\" name=\"path\" value=\"{path}\">\
         <input type=\"hidden\" name=\"sort\" value=\"{sort}\">\
         <input type=\"hidden\" name=\"order\" value=\"{order}\">\
         <input type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"Filter names\" aria-label=\"Filter names\">\
         <button type=\"submit\" class=\"secondary\">Filter</button>",
        path = escape(path),
        sort = view.sort.as_str(),
        order = if view.descending { "desc" } else { "asc" },
        q = escape(&view.search),
    );
    if !view.search.is_empty() {
        let _ = write!(
            out,
            " <a class=\"button secondary\" href=\"{}\">Clear</a>",
            view_link(path, view.sort, view.descending, "")
        );
    }
    out.push_str("</form>");
}

/// `/browse?path=…&sort=…&order=…[&q=…]`, escaped for an attribute.
fn view_link(path: &str, sort: SortKey, descending: bool, search: &str) -> String {
    let mut link = format!(
        "/browse?path={}&amp;sort={}&amp;order={}",
        percent_encode(path),
        sort.as_str(),
        if descending { "desc" } else { "asc" }
    );
    if !search.is_empty() {
        let _ = write!(link, "&amp;q={}", percent_encode(search));
    }
    link
}

/// A column header that sorts by its column (a second click reverses the order).
fn sort_header(out: &mut String, path: &str, view: &View, key: SortKey, label: &str) {
    let active = view.sort == key;
    let descending = active && !view.descending;
    let (aria, arrow) = match (active, view.descending) {
        (false, _) => ("none", ""),
        (true, false) => ("ascending", " ▲"),
        (true, true) => ("descending", " ▼"),
    };
    let _ = write!(
        out,
        "<th aria-sort=\"{aria}\"><a class=\"sort\" href=\"{href}\">{label}{arrow}</a></th>",
        href = view_link(path, key, descending, &view.search),
    );
}

fn empty_state(out: &mut String, b: &Browser<'_>, columns: usize) {
    let text = if !b.view.search.trim().is_empty() && !b.rows.is_empty() {
        format!("No names here contain “{}”.", escape(b.view.search.trim()))
    } else if b.here.create() || b.here.mkdir() {
        "This directory is empty. Upload files or create a directory below.".to_owned()
    } else {
        "This directory is empty.".to_owned()
    };
    let _ = write!(
        out,
        "<tr><td colspan=\"{columns}\" class=\"empty\">{text}</td></tr>"
    );
}

/// The kind of file a name suggests, for its icon.
fn kind_of(r: &Row) -> &'static str {
    if r.is_dir {
        return "dir";
    }
    let ext = r
        .name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" | "jpg" | "jpeg" | "gif" | "webp" | "bmp" | "svg" | "ico" | "heic" => "image",
        "mp3" | "wav" | "flac" | "ogg" | "m4a" | "opus" => "audio",
        "mp4" | "mkv" | "mov" | "avi" | "webm" => "video",
        "zip" | "tar" | "gz" | "tgz" | "bz2" | "xz" | "7z" | "rar" | "zst" => "archive",
        "pdf" => "pdf",
        "txt" | "md" | "log" | "csv" | "json" | "toml" | "yaml" | "yml" | "ini" | "conf" => "text",
        "rs" | "c" | "h" | "py" | "js" | "ts" | "go" | "java" | "sh" | "html" | "css" => "code",
        _ => "file",
    }
}

/// One listing row: icon and name (a link that opens a directory or downloads a file), size,
/// date, owner, permissions, and the actions the server allows on it.
fn file_row(out: &mut String, dir: &str, r: &Row, with_perms: bool, now: SystemTime) {
    let q = percent_encode(&join(dir, &r.name));
    let name = escape(&r.name);
    let pick = format!(
        "<input type=\"checkbox\" name=\"name\" value=\"{name}\" form=\"selection\" aria-label=\"Select {name}\">"
    );
    let name_cell = if r.is_dir {
        format!("<a class=\"dir\" href=\"/browse?path={q}\" title=\"{name}\">{name}/</a>")
    } else if r.perm.read() {
        format!(
            "<a class=\"file\" href=\"/download?path={q}\" title=\"{name}\" download>{name}</a>"
        )
    } else {
        format!("<span class=\"file\" title=\"{name}\">{name}</span>")
    };
    let mut actions = String::new();
    if r.is_dir && r.perm.list() {
        let _ = write!(
            actions,
            "<a class=\"button secondary\" href=\"/zip?path={q}\" download>Zip</a> "
        );
    }
    if !r.is_dir && r.perm.read() && crate::web::preview::previewable(&r.name) {
        let _ = write!(
            actions,
            "<a class=\"button secondary\" href=\"/view?path={q}\">View</a> "
        );
    }
    if !r.is_dir && r.perm.read() {
        let _ = write!(
            actions,
            "<a class=\"button\" href=\"/download?path={q}\" download>Download</a> "
        );
    }
    if r.perm.rename() {
        let _ = write!(
            actions,
            "<a class=\"button secondary\" href=\"/rename?path={q}\">Rename</a> "
        );
    }
    if r.perm.delete() {
        let dir_flag = if r.is_dir { "&amp;dir=1" } else { "" };
        let _ = write!(
            actions,
            "<a class=\"button secondary\" href=\"/delete?path={q}{dir_flag}\">Delete</a>"
        );
    }
    let size = if r.is_dir {
        String::new()
    } else {
        human_size(r.size)
    };
    let perms = if with_perms {
        format!("<td><code>{}</code></td>", escape(&r.perms))
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<tr><td class=\"name\">{pick}<span class=\"icon icon-{kind}\" aria-hidden=\"true\"></span>{name_cell}</td>\
         <td>{size}</td><td>{date}</td><td>{owner}</td>{perms}<td class=\"actions\">{actions}</td></tr>",
        kind = kind_of(r),
        date = escape(&r.date_text(now)),
        owner = escape(&r.owner),
        actions = actions.trim_end(),
    );
}

/// The forms under the listing: upload and new directory where the server allows them,
/// download by name.
fn tools(out: &mut String, csrf: &str, path: &str, here: &Perm) {
    let path_q = percent_encode(path);
    out.push_str("<section class=\"tools\">");
    if here.create() {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/upload?dir={path_q}\" enctype=\"multipart/form-data\" class=\"card\" id=\"upload\" data-dir=\"{path}\">{csrf}\
             <h2>Upload</h2>\
             <div class=\"dropzone\" hidden>Drop files or folders here</div>\
             <label>Files <input type=\"file\" name=\"file\" class=\"pick-files\" multiple></label>\
             <label>Or a folder, with what is inside it <input type=\"file\" name=\"file\" class=\"pick-folder\" webkitdirectory></label>\
             <button type=\"submit\">Upload</button>\
             <ul class=\"queue\" aria-live=\"polite\"></ul></form>",
            path = escape(path),
        );
    }
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/download\" class=\"card\">\
         <h2>Download by name</h2><input type=\"hidden\" name=\"dir\" value=\"{path}\">\
         <input name=\"name\" placeholder=\"exact file name\" required><button type=\"submit\">Download</button></form>",
        path = escape(path),
    );
    if here.mkdir() {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/mkdir\" class=\"card\">{csrf}<h2>New directory</h2>\
             <input type=\"hidden\" name=\"dir\" value=\"{path}\">\
             <input name=\"name\" placeholder=\"name\" required><button type=\"submit\">Create</button></form>",
            path = escape(path),
        );
    }
    if !here.create() && !here.mkdir() {
        out.push_str(
            "<p class=\"card readonly\">This directory is read-only for you: files here can be \
             downloaded, nothing can be added.</p>",
        );
    }
    out.push_str("</section>");
}

pub fn confirm_delete_selected(csrf: &str, dir: &str, chosen: &[(String, bool)]) -> String {
    let mut list = String::new();
    let mut fields = String::new();
    for (name, is_dir) in chosen {
        let (kind, field) = if *is_dir {
            ("/", "folder")
        } else {
            ("", "file")
        };
        let _ = write!(list, "<li><code>{}{kind}</code></li>", escape(name));
        let _ = write!(
            fields,
            "<input type=\"hidden\" name=\"{field}\" value=\"{}\">",
            escape(name)
        );
    }
    format!(
        "<h1>Delete {n} entries?</h1><p>In <code>{d}</code> (a directory must be empty):</p>\
         <ul class=\"target\">{list}</ul>\
         <form method=\"post\" action=\"/delete-selected\" class=\"inline\">{csrf}\
         <input type=\"hidden\" name=\"dir\" value=\"{d}\">{fields}\
         <button type=\"submit\" class=\"danger\">Delete</button></form> \
         <a class=\"button secondary\" href=\"/browse?path={back}\">Cancel</a>",
        n = chosen.len(),
        d = escape(dir),
        csrf = hidden_csrf(csrf),
        back = percent_encode(dir),
    )
}

/// The preview page of an image: shown from an inline download of it.
pub fn preview_image(path: &str) -> String {
    let q = percent_encode(path);
    format!(
        "<h1 class=\"preview-name\">{name}</h1>{nav}\
         <figure class=\"preview card\"><img src=\"/download?path={q}&amp;inline=1\" alt=\"{name}\"></figure>",
        name = escape(path.rsplit('/').next().unwrap_or_default()),
        nav = preview_nav(path),
    )
}

/// The preview page of a text file: its first bytes, escaped.
pub fn preview_text(path: &str, text: &str, cut: bool) -> String {
    let note = if cut {
        format!(
            "<p class=\"who\">The first {} KiB; download the file for the rest.</p>",
            crate::web::preview::TEXT_PREVIEW_BYTES / 1024
        )
    } else {
        String::new()
    };
    format!(
        "<h1 class=\"preview-name\">{name}</h1>{nav}{note}<pre class=\"preview card\">{text}</pre>",
        name = escape(path.rsplit('/').next().unwrap_or_default()),
        nav = preview_nav(path),
        text = escape(text),
    )
}

fn preview_nav(path: &str) -> String {
    format!(
        "<p><a class=\"button secondary\" href=\"/browse?path={back}\">Back</a> \
         <a class=\"button\" href=\"/download?path={q}\" download>Download</a></p>",
        back = percent_encode(&parent(path)),
        q = percent_encode(path),
    )
}

pub fn confirm_rename(csrf: &str, path: &str) -> String {
    format!(
        "<h1>Rename or move</h1><p class=\"target\"><code>{p}</code></p>\
         <form method=\"post\" action=\"/rename\" class=\"card\">{csrf}\
         <input type=\"hidden\" name=\"from\" value=\"{p}\">\
         <label>New name, or a full path to move it <input name=\"to\" value=\"{p}\" required></label>\
         <div><button type=\"submit\">Rename</button> \
         <a class=\"button secondary\" href=\"/browse?path={back}\">Cancel</a></div></form>",
        p = escape(path),
        csrf = hidden_csrf(csrf),
        back = percent_encode(&parent(path)),
    )
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
    fn names_are_escaped_everywhere() {
        let rows = vec![Row {
            name: "<script>alert(1)</script>".into(),
            is_dir: false,
            size: 1,
            perms: "-rw-r--r--".into(),
            owner: "<b>".into(),
            modified: None,
            date: "x".into(),
            perm: Perm::unknown(),
        }];
        let html = browser(&Browser {
            csrf: "t",
            path: "/a\"b",
            user: "u<",
            server: "s>",
            rows: &rows,
            here: &Perm::unknown(),
            view: &View::default(),
            now: SystemTime::now(),
        });
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("a&quot;b"));
        let searched = browser(&Browser {
            csrf: "t",
            path: "/",
            user: "u",
            server: "s",
            rows: &rows,
            here: &Perm::unknown(),
            view: &View {
                search: "\"><i>".into(),
                ..View::default()
            },
            now: SystemTime::now(),
        });
        assert!(!searched.contains("<i>"), "{searched}");
        assert!(
            searched.contains("value=\"&quot;&gt;&lt;i&gt;\""),
            "{searched}"
        );
        assert!(searched.contains("No names here contain “&quot;&gt;&lt;i&gt;”."));
    }
}
