//! The web client (`ferroftp web`) over real HTTP against a real ferroftp on loopback: every
//! page and every rule of SPEC.md "Web client (seed 004)", driven with ureq (redirects off,
//! so every 303 is seen), plus one end-to-end run in headless Chromium (tests/browser).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferroftp::web::allow::{Allowlist, Rule};
use ferroftp::web::{WebConfig, WebServer};

use crate::support::{ALICE, BOB, PyFtpd, TestServer, pseudo_random, run_with_timeout, sha256};

// ---- harness ----

/// An in-process `ferroftp web` on 127.0.0.1:0, stopped on drop.
struct Web {
    addr: SocketAddr,
    stop: Box<dyn Fn() + Send + Sync>,
    handle: Option<JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl Web {
    /// Default allowlist (this machine), 30 min idle expiry.
    fn start() -> Web {
        Web::start_with(
            Allowlist::this_machine(Vec::new()),
            ferroftp::web::SESSION_IDLE,
        )
    }

    fn start_with(allow: Allowlist, session_idle: Duration) -> Web {
        let dir = tempfile::tempdir().unwrap();
        let server = WebServer::bind(WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            allow,
            known_hosts: Some(dir.path().join("known_hosts")),
            session_idle,
        })
        .expect("web server binds");
        let addr = server.local_addr().expect("an IP address");
        let stop = Box::new(server.stopper());
        let handle = std::thread::spawn(move || server.run());
        Web {
            addr,
            stop,
            handle: Some(handle),
            dir,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    fn client(&self) -> Client {
        Client::new(self)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        (self.stop)();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// An HTTP response, read whole.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn location(&self) -> &str {
        assert_eq!(self.status, 303, "expected a redirect: {}", self.text());
        self.header("Location").expect("Location")
    }

    /// The CSRF token the page's forms carry.
    fn csrf(&self) -> String {
        let text = self.text();
        let at = text
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in: {text}"));
        let rest = &text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// The text of `<p class="error">`, if any.
    fn error(&self) -> Option<String> {
        between(&self.text(), "<p class=\"error\" role=\"alert\">", "</p>")
    }

    /// The text of `<p class="notice">`, if any.
    fn notice(&self) -> Option<String> {
        between(&self.text(), "<p class=\"notice\" role=\"status\">", "</p>")
    }
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let i = text.find(start)? + start.len();
    let j = text[i..].find(end)? + i;
    Some(text[i..j].to_owned())
}

/// A browser: one cookie jar (the session cookie), no automatic redirects.
struct Client {
    agent: ureq::Agent,
    base: String,
    /// The session cookie (`ferroftp_session=…`).
    cookie: Option<String>,
    /// Other cookies the web client set (`name=value`), sent back like a browser does.
    others: Vec<String>,
}

const BOUNDARY: &str = "----ferroftpTestBoundary7MA4YWxkTrZu0gW";

impl Client {
    fn new(web: &Web) -> Client {
        Client::at(web.base())
    }

    /// A browser for the web client at `base` (for threads, which cannot borrow a `Web`).
    fn at(base: String) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base,
            cookie: None,
            others: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        let jar: Vec<&str> = self
            .cookie
            .iter()
            .chain(&self.others)
            .map(String::as_str)
            .collect();
        if !jar.is_empty() {
            req = req.header("Cookie", jar.join("; "));
        }
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        let req = req.body(body.to_vec()).unwrap();
        let mut resp = self
            .agent
            .run(req)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("{method} {path}: body: {e}"));
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap().trim().to_owned();
                if !pair.starts_with("ferroftp_session=") {
                    let name = pair.split('=').next().unwrap_or("").to_owned();
                    self.others.retain(|c| !c.starts_with(&format!("{name}=")));
                    self.others.push(pair);
                } else if v.contains("Max-Age=0") {
                    self.cookie = None;
                } else {
                    self.cookie = Some(pair);
                }
            }
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None, b"")
    }

    fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        )
    }

    fn post_multipart(&mut self, path: &str, body: &[u8]) -> Resp {
        self.send(
            "POST",
            path,
            Some(&format!("multipart/form-data; boundary={BOUNDARY}")),
            body,
        )
    }

    /// Follows one 303 (if it is one) with a GET.
    fn follow(&mut self, r: Resp) -> Resp {
        if r.status == 303 {
            let loc = r.location().to_owned();
            self.get(&loc)
        } else {
            r
        }
    }

    /// The session's CSRF token (from the login page or the browser page).
    fn csrf(&mut self) -> String {
        let r = self.get("/");
        let r = self.follow(r);
        r.csrf()
    }

    /// The login form for any host and port (as text: bad ones are tested too).
    fn login_to(&mut self, host: &str, port: &str, user: (&str, &str)) -> Resp {
        let csrf = self.csrf();
        self.post_form(
            "/login",
            &[
                ("csrf", &csrf),
                ("host", host),
                ("port", port),
                ("user", user.0),
                ("password", user.1),
            ],
        )
    }

    fn login_form(&mut self, port: u16, user: (&str, &str), tls: bool) -> Resp {
        let csrf = self.csrf();
        let port = port.to_string();
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("host", "127.0.0.1"),
            ("port", port.as_str()),
            ("user", user.0),
            ("password", user.1),
        ];
        if tls {
            fields.push(("tls", "on"));
        }
        self.post_form("/login", &fields)
    }

    /// Logs in over plain FTP; returns the page the redirect leads to.
    fn login(&mut self, ftp: &TestServer, user: (&str, &str)) -> Resp {
        let r = self.login_form(ftp.port(), user, false);
        assert_eq!(r.status, 303, "login: {}", r.text());
        let page = self.get(r.location());
        assert_eq!(page.status, 200, "{}", page.text());
        page
    }

    fn browse(&mut self, path: &str) -> Resp {
        self.get(&format!("/browse?path={}", enc(path)))
    }
}

/// Percent-encodes a query or form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A multipart body: the CSRF field first (when given), then one `file` part per file.
fn multipart(csrf: Option<&str>, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(t) = csrf {
        write!(
            body,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{t}\r\n"
        )
        .unwrap();
    }
    for (name, data) in files {
        write!(
            body,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{BOUNDARY}--\r\n").unwrap();
    body
}

/// Puts `data` at `path` (relative to alice's home) over FTP as alice.
fn ftp_put(ftp: &TestServer, user: (&str, &str), path: &str, data: &[u8]) {
    let mut c = ftp.ftp(user);
    c.put_file(path, &mut &data[..])
        .unwrap_or_else(|e| panic!("STOR {path}: {e}"));
    let _ = c.quit();
}

fn ftp_get(ftp: &TestServer, user: (&str, &str), path: &str) -> Option<Vec<u8>> {
    let mut c = ftp.ftp(user);
    let r = c.retr_as_buffer(path).ok().map(|b| b.into_inner());
    let _ = c.quit();
    r
}

fn ftp_names(ftp: &TestServer, user: (&str, &str), dir: &str) -> Vec<String> {
    let mut c = ftp.ftp(user);
    let names = c.nlst(Some(dir)).unwrap_or_default();
    let _ = c.quit();
    names
        .into_iter()
        .map(|n| n.rsplit('/').next().unwrap_or("").to_owned())
        .collect()
}

fn assert_security_headers(r: &Resp, what: &str) {
    let csp = r
        .header("Content-Security-Policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(!csp.contains("unsafe-inline"), "{what}: CSP {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: CSP {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: CSP {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp}");
    assert_eq!(
        r.header("X-Content-Type-Options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"), "{what}");
}

/// No inline script or style: the pages must work under their own CSP.
fn assert_no_inline_code(r: &Resp, what: &str) {
    let t = r.text();
    assert!(!t.contains("<script>"), "{what}: inline script");
    assert!(!t.contains(" style="), "{what}: inline style");
    assert!(!t.contains("<style"), "{what}: inline style");
    assert!(
        !t.contains(" onclick=") && !t.contains(" onload="),
        "{what}"
    );
    assert!(
        !t.contains("http://") && !t.contains("https://"),
        "{what}: external resource"
    );
}

// ---- login ----

#[test]
fn web_login_page_then_success_message() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let r = b.get("/");
    assert_eq!(r.status, 200);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    let t = r.text();
    for field in [
        "name=\"host\"",
        "name=\"port\"",
        "name=\"user\"",
        "name=\"password\" type=\"password\"",
        "type=\"checkbox\" name=\"tls\"",
        "action=\"/login\"",
    ] {
        assert!(t.contains(field), "login page lacks {field}: {t}");
    }
    assert_no_inline_code(&r, "login page");
    let csrf = r.csrf();
    assert_eq!(csrf.len(), 32);
    let port = ftp.port().to_string();
    let r = b.post_form(
        "/login",
        &[
            ("csrf", &csrf),
            ("host", "127.0.0.1"),
            ("port", &port),
            ("user", ALICE.0),
            ("password", ALICE.1),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/browse?path=%2Falice");
    let page = b.get("/browse?path=%2Falice");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.notice().as_deref(),
        Some(format!("Connected to 127.0.0.1:{port} as alice.").as_str())
    );
    assert!(page.text().contains("alice on 127.0.0.1:"));
    // The success message is shown once.
    let again = b.browse("/alice");
    assert_eq!(again.notice(), None);
    // The password never reaches the browser.
    assert!(!page.text().contains(ALICE.1) && !again.text().contains(ALICE.1));
    // Once logged in, / goes to the browser.
    let r = b.get("/");
    assert_eq!(r.location(), "/browse?path=%2Falice");
}

#[test]
fn web_wrong_password_401_then_429_on_the_fourth_attempt() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    for i in 1..=3 {
        let r = b.login_form(ftp.port(), (ALICE.0, "wrong"), false);
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text());
        let err = r.error().expect("an error message");
        assert!(err.starts_with("Login failed"), "{err}");
        // The form comes back filled in, without the password.
        assert!(r.text().contains("value=\"alice\""));
        assert!(!r.text().contains("wrong"));
    }
    // Blocked now, even with the right password, and from a fresh session (per IP).
    let r = b.login_form(ftp.port(), ALICE, false);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.error().unwrap().contains("Too many failed logins"));
    let mut other = web.client();
    let r = other.login_form(ftp.port(), ALICE, false);
    assert_eq!(r.status, 429);
    // Another web server (another limiter) still logs in: the FTP account is fine.
    let web2 = Web::start();
    web2.client().login(&ftp, ALICE);
}

/// Honest mistakes are no guesses (issue 14): a server outside the allowlist, port 22, a
/// server that is down, many times over, and the right password still logs in at once.
#[test]
fn web_honest_mistakes_do_not_count_as_failed_logins() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    for (host, port) in [("10.1.2.3", "21"), ("127.0.0.1", "22")].repeat(3) {
        let r = b.login_to(host, port, ALICE);
        assert_eq!(r.status, 403, "{host}:{port}: {}", r.text());
    }
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = closed.local_addr().unwrap().port();
    drop(closed);
    for _ in 0..4 {
        assert_eq!(b.login_form(down, ALICE, false).status, 502);
    }
    b.login(&ftp, ALICE);
}

#[test]
fn web_disallowed_hosts_are_refused_without_connecting() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    // Not this machine; and a privileged port of this machine.
    for (host, port) in [("10.1.2.3", "21"), ("127.0.0.1", "22")] {
        let started = Instant::now();
        let r = b.login_to(host, port, (ALICE.0, "x"));
        assert_eq!(r.status, 403, "{host}:{port}: {}", r.text());
        assert!(
            r.error().unwrap().contains("not an allowed server"),
            "{:?}",
            r.error()
        );
        // Refused before any connection: no connect timeout was waited for.
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    drop(b);
    drop(ftp);

    // A listener the allowlist does not cover never sees a connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let allow = Allowlist::new(vec![Rule::parse("127.0.0.1:21").unwrap()], Vec::new());
    let web = Web::start_with(allow, ferroftp::web::SESSION_IDLE);
    let mut b = web.client();
    let r = b.login_form(port, ALICE, false);
    assert_eq!(r.status, 403, "{}", r.text());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the web client connected to a disallowed port"
    );
}

#[test]
fn web_allowlist_rules_admit_listed_servers() {
    let ftp = TestServer::start();
    let rule = format!("127.0.0.0/8:{}", ftp.port());
    let allow = Allowlist::new(vec![Rule::parse(&rule).unwrap()], Vec::new());
    let web = Web::start_with(allow, ferroftp::web::SESSION_IDLE);
    web.client().login(&ftp, ALICE);
    // The same host on another port is not listed.
    let other = TestServer::start();
    let r = web.client().login_form(other.port(), ALICE, false);
    assert_eq!(r.status, 403, "{}", r.text());
}

/// The README's `web_allowed_servers` examples mean what the README says.
#[test]
fn web_allowlist_readme_examples() {
    let rules = [
        "localhost",
        "192.168.1.0/24:21,2121",
        "[fd00::5]:1024-65535",
    ]
    .iter()
    .map(|r| Rule::parse(r).unwrap_or_else(|e| panic!("{r}: {e}")))
    .collect();
    let allow = Allowlist::new(rules, Vec::new());
    for (host, port) in [
        ("127.0.0.1", 5550),
        ("::1", 21),
        ("192.168.1.7", 21),
        ("192.168.1.254", 2121),
        ("fd00::5", 2121),
    ] {
        assert!(allow.resolve(host, port).is_ok(), "{host}:{port}");
    }
    for (host, port) in [
        ("127.0.0.1", 22),
        ("192.168.1.7", 22),
        ("192.168.2.7", 21),
        ("10.1.2.3", 21),
        ("fd00::6", 2121),
        ("fd00::5", 21),
    ] {
        assert!(allow.resolve(host, port).is_err(), "{host}:{port}");
    }
    assert!(Rule::parse("192.168.1.0/33").is_err());
    assert!(Rule::parse("example.com").is_err());
}

#[test]
fn web_unreachable_and_bad_input_on_login() {
    let web = Web::start();
    let mut b = web.client();
    // A closed port on this machine: a readable error, 502.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let r = b.login_form(port, ALICE, false);
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.error().is_some());
    let csrf = b.csrf();
    let r = b.post_form(
        "/login",
        &[
            ("csrf", &csrf),
            ("host", "127.0.0.1"),
            ("port", "99999"),
            ("user", "a"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.error().unwrap().contains("port"));
}

// ---- CSRF, cookies, headers ----

#[test]
fn web_csrf_missing_or_wrong_is_403_on_every_post() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let port = ftp.port().to_string();
    // Login without a token, and with another session's token.
    let other = web.client().csrf();
    for token in [
        None,
        Some(""),
        Some("0123456789abcdef0123456789abcdef"),
        Some(other.as_str()),
    ] {
        let mut fields = vec![
            ("host", "127.0.0.1"),
            ("port", port.as_str()),
            ("user", ALICE.0),
            ("password", ALICE.1),
        ];
        if let Some(t) = token {
            fields.push(("csrf", t));
        }
        let r = b.post_form("/login", &fields);
        assert_eq!(r.status, 403, "login with token {token:?}: {}", r.text());
    }
    b.login(&ftp, ALICE);
    ftp_put(&ftp, ALICE, "keep.txt", b"keep");
    std::fs::create_dir(ftp.storage("alice/keepdir")).unwrap();
    let bad = "ffffffffffffffffffffffffffffffff";

    let r = b.post_form(
        "/mkdir",
        &[("csrf", bad), ("dir", "/alice"), ("name", "evil")],
    );
    assert_eq!(r.status, 403);
    let r = b.post_form("/mkdir", &[("dir", "/alice"), ("name", "evil")]);
    assert_eq!(r.status, 403);
    assert!(!ftp.storage("alice/evil").exists());

    for (path, dir) in [("/alice/keep.txt", "0"), ("/alice/keepdir", "1")] {
        let r = b.post_form("/delete", &[("csrf", bad), ("path", path), ("dir", dir)]);
        assert_eq!(r.status, 403);
        let r = b.post_form("/delete", &[("path", path), ("dir", dir)]);
        assert_eq!(r.status, 403);
    }
    assert!(ftp.storage("alice/keep.txt").exists() && ftp.storage("alice/keepdir").exists());

    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(Some(bad), &[("evil.txt", b"x")]),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(None, &[("evil.txt", b"x")]),
    );
    assert_eq!(r.status, 403);
    // The token must come first: a token after the file does not count.
    let csrf = b.csrf();
    let mut late = multipart(None, &[("evil.txt", b"x")]);
    late.truncate(late.len() - format!("--{BOUNDARY}--\r\n").len());
    write!(
        late,
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{BOUNDARY}--\r\n"
    )
    .unwrap();
    let r = b.post_multipart("/upload?dir=%2Falice", &late);
    assert_eq!(r.status, 403);
    assert!(!ftp.storage("alice/evil.txt").exists());

    for fields in [
        vec![
            ("csrf", bad),
            ("from", "/alice/keep.txt"),
            ("to", "stolen.txt"),
        ],
        vec![("from", "/alice/keep.txt"), ("to", "stolen.txt")],
    ] {
        let r = b.post_form("/rename", &fields);
        assert_eq!(r.status, 403, "{}", r.text());
    }
    assert!(ftp.storage("alice/keep.txt").exists() && !ftp.storage("alice/stolen.txt").exists());

    let r = b.post_form("/trust", &[("csrf", bad), ("fingerprint", "AA")]);
    assert_eq!(r.status, 403);

    let r = b.post_form("/logout", &[("csrf", bad)]);
    assert_eq!(r.status, 403);
    let r = b.post_form("/logout", &[]);
    assert_eq!(r.status, 403);
    // Still logged in after all of that.
    let r = b.browse("/alice");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("keep.txt"));
}

#[test]
fn web_session_cookie_flags_and_security_headers() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let r = b.get("/");
    let cookie = r.header("Set-Cookie").expect("a session cookie");
    assert!(cookie.starts_with("ferroftp_session="), "{cookie}");
    let id = cookie
        .trim_start_matches("ferroftp_session=")
        .split(';')
        .next()
        .unwrap();
    assert_eq!(id.len(), 32, "128 random bits in hex: {id}");
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"HttpOnly"), "{cookie}");
    assert!(attrs.contains(&"SameSite=Strict"), "{cookie}");
    assert!(attrs.contains(&"Path=/"), "{cookie}");
    // Two browsers, two different sessions.
    let other = web.client().get("/");
    assert_ne!(other.header("Set-Cookie"), Some(cookie));
    assert_security_headers(&r, "login page");

    let r = b.login_form(ftp.port(), ALICE, false);
    assert_security_headers(&r, "login redirect");
    // The cookie is not replaced by logging in... and stays the same afterwards.
    let page = b.follow(r);
    assert_security_headers(&page, "browser page");
    assert_no_inline_code(&page, "browser page");
    ftp_put(&ftp, ALICE, "h.txt", b"headers");
    let d = b.get("/download?path=%2Falice%2Fh.txt");
    assert_eq!(d.status, 200);
    assert_security_headers(&d, "download");
    let e = b.get("/download?path=%2Falice%2Fmissing.txt");
    assert_security_headers(&e, "error page");
    let wrong = web
        .client()
        .login_form(ftp.port(), (ALICE.0, "nope"), false);
    assert_security_headers(&wrong, "failed login");
    let nf = b.get("/nope");
    assert_eq!(nf.status, 404);
    assert_security_headers(&nf, "404");
    let css = b.get("/static/style.css");
    assert_eq!(css.status, 200);
    assert!(css.header("Content-Type").unwrap().starts_with("text/css"));
    let js = b.get("/static/app.js");
    assert_eq!(js.status, 200);
    assert!(
        js.header("Content-Type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_security_headers(&js, "app.js");
}

#[test]
fn web_form_too_large_is_413() {
    let web = Web::start();
    let mut b = web.client();
    let csrf = b.csrf();
    let big = "x".repeat(70 * 1024);
    let r = b.post_form("/login", &[("csrf", &csrf), ("host", &big)]);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.error().is_some());
}

// ---- browsing ----

#[test]
fn web_browse_breadcrumbs_directories_first_and_details() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let mut c = ftp.ftp(ALICE);
    c.mkdir("zeta").unwrap();
    c.mkdir("alpha").unwrap();
    c.mkdir("alpha/deep").unwrap();
    c.mkdir("alpha/deep/er").unwrap();
    c.put_file("aaa.txt", &mut &b"12345"[..]).unwrap();
    c.put_file("mmm.bin", &mut &vec![7u8; 3 * 1024][..])
        .unwrap();
    let _ = c.quit();
    b.login(&ftp, ALICE);

    let r = b.browse("/alice");
    assert_eq!(r.status, 200);
    let t = r.text();
    let pos = |s: &str| t.find(s).unwrap_or_else(|| panic!("{s} not listed: {t}"));
    // Directories first (each group by name), then files.
    assert!(pos(">alpha/<") < pos(">zeta/<"));
    assert!(pos(">zeta/<") < pos(">aaa.txt<"));
    assert!(pos(">aaa.txt<") < pos(">mmm.bin<"));
    // Size, owner and date from the server's MLSD facts (no `ls -l` permissions column:
    // what may be done shows as the actions offered).
    assert!(t.contains("<td>5 B</td>"), "{t}");
    assert!(t.contains("<td>3.0 KiB</td>"), "{t}");
    assert!(t.contains("<td>alice</td>"));
    assert!(!t.contains("<th>Permissions</th>"), "{t}");
    let today = chrono::Utc::now().format("%b %e ").to_string();
    assert!(
        t.contains(&format!("<td>{today}")),
        "dates as `{today}HH:MM`: {t}"
    );
    assert!(t.contains("href=\"/browse?path=%2Falice%2Falpha\""));
    assert!(t.contains("href=\"/download?path=%2Falice%2Faaa.txt\""));
    assert!(t.contains("href=\"/browse?path=%2F\">↑ up</a>"));

    let r = b.browse("/alice/alpha/deep/er");
    assert_eq!(r.status, 200);
    let crumbs = between(&r.text(), "<nav class=\"crumbs\"", "</nav>").expect("breadcrumbs");
    for link in [
        "href=\"/browse?path=%2F\">/</a>",
        "href=\"/browse?path=%2Falice\">alice</a>",
        "href=\"/browse?path=%2Falice%2Falpha\">alpha</a>",
        "href=\"/browse?path=%2Falice%2Falpha%2Fdeep\">deep</a>",
        "href=\"/browse?path=%2Falice%2Falpha%2Fdeep%2Fer\">er</a>",
    ] {
        assert!(crumbs.contains(link), "breadcrumbs lack {link}: {crumbs}");
    }
    assert!(r.text().contains("This directory is empty."));
    assert!(
        r.text()
            .contains("href=\"/browse?path=%2Falice%2Falpha%2Fdeep\">↑ up</a>")
    );

    // A directory that does not exist: readable error, 404, session survives.
    let r = b.browse("/alice/nope");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.error().unwrap().contains("/alice/nope"));
    assert_eq!(b.browse("/alice").status, 200);
}

#[test]
fn web_browse_without_login_goes_to_the_login_page() {
    let web = Web::start();
    let mut b = web.client();
    for path in [
        "/browse?path=%2F",
        "/download?path=%2Fx",
        "/delete?path=%2Fx",
    ] {
        let r = b.get(path);
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.location(), "/", "{path}");
    }
    let csrf = b.csrf();
    let r = b.post_form("/mkdir", &[("csrf", &csrf), ("dir", "/"), ("name", "x")]);
    assert_eq!(r.location(), "/");
}

#[test]
fn web_names_are_html_escaped() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let mut c = ftp.ftp(ALICE);
    // `/` cannot be in a name: `<script>alert(1)</script>` is the directory
    // `<script>alert(1)<` holding the file `script>`.
    c.mkdir("<script>alert(1)<").unwrap();
    c.put_file("<script>alert(1)</script>", &mut &b"xss"[..])
        .unwrap();
    c.put_file("<img src=x onerror=alert(1)>.txt", &mut &b"img"[..])
        .unwrap();
    c.put_file("a&b \"'q'\".txt", &mut &b"amp"[..]).unwrap();
    let _ = c.quit();
    b.login(&ftp, ALICE);

    let r = b.browse("/alice");
    let t = r.text();
    assert!(!t.contains("<script>alert"), "{t}");
    assert!(!t.contains("<img"), "{t}");
    assert!(t.contains("&lt;script&gt;alert(1)&lt;/</a>"), "{t}");
    assert!(t.contains("&lt;img src=x onerror=alert(1)&gt;.txt"), "{t}");
    assert!(t.contains("a&amp;b &quot;&#39;q&#39;&quot;.txt"), "{t}");

    let r = b.browse("/alice/<script>alert(1)<");
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(!t.contains("<script>alert"), "{t}");
    assert!(t.contains(">script&gt;</a>"), "{t}");
    // The breadcrumb and the title carry the name escaped as well.
    assert!(t.contains(">&lt;script&gt;alert(1)&lt;</a>"), "{t}");
    assert!(
        t.contains("<title>/alice/&lt;script&gt;alert(1)&lt; · ferroftp</title>"),
        "{t}"
    );
    // And it downloads by its exact path.
    let d = b.get(&format!(
        "/download?path={}",
        enc("/alice/<script>alert(1)</script>")
    ));
    assert_eq!(d.status, 200);
    assert_eq!(d.body, b"xss");
    // The delete confirmation escapes it too.
    let r = b.get(&format!(
        "/delete?path={}",
        enc("/alice/<img src=x onerror=alert(1)>.txt")
    ));
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("<img"), "{}", r.text());
}

// ---- downloads ----

#[test]
fn web_download_headers_for_odd_names_and_by_exact_name() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let name = "my \"quoted\" file é.txt";
    let data = pseudo_random(100_000, 7);
    ftp_put(&ftp, ALICE, name, &data);
    ftp_put(&ftp, ALICE, "exact.txt", b"exact bytes");
    let page = b.login(&ftp, ALICE);

    // The listing's own download link.
    let t = page.text();
    let href = "/download?path=%2Falice%2Fmy%20%22quoted%22%20file%20%C3%A9.txt";
    assert!(
        t.contains(&format!(
            "<a class=\"button\" href=\"{href}\" download>Download</a>"
        )),
        "{t}"
    );
    let d = b.get(href);
    assert_eq!(d.status, 200);
    assert_eq!(d.header("Content-Length"), Some("100000"));
    assert_eq!(d.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(
        d.header("Content-Disposition"),
        Some(
            "attachment; filename=\"my _quoted_ file _.txt\"; \
             filename*=UTF-8''my%20%22quoted%22%20file%20%C3%A9.txt"
        )
    );
    assert_eq!(sha256(&d.body), sha256(&data));

    // Download by exact name (the "Download by name" form).
    let d = b.get("/download?dir=%2Falice&name=exact.txt");
    assert_eq!(d.status, 200);
    assert_eq!(d.body, b"exact bytes");
    assert_eq!(d.header("Content-Length"), Some("11"));
    assert!(
        d.header("Content-Disposition")
            .unwrap()
            .contains("filename=\"exact.txt\"")
    );
    // Names are exact: no case folding, no paths.
    let r = b.get("/download?dir=%2Falice&name=EXACT.txt");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.error().unwrap().contains("EXACT.txt"));
    let r = b.get("/download?dir=%2Falice&name=..%2Fbob%2Fx");
    assert_eq!(r.status, 400);
    let r = b.get("/download");
    assert_eq!(r.status, 400);
    // A missing file: 404 with a readable page; the session survives.
    let r = b.get("/download?path=%2Falice%2Fmissing.bin");
    assert_eq!(r.status, 404);
    assert!(r.header("Content-Type").unwrap().starts_with("text/html"));
    assert!(r.error().unwrap().contains("/alice/missing.bin"));
    let d = b.get("/download?path=%2Falice%2Fexact.txt");
    assert_eq!(d.body, b"exact bytes");
    // Another user's private file is not served.
    ftp_put(&ftp, BOB, "secret.txt", b"bob's");
    let r = b.get("/download?path=%2Fbob%2Fsecret.txt");
    assert_ne!(r.status, 200);
    assert_ne!(r.body, b"bob's");
}

// ---- uploads ----

#[test]
fn web_upload_several_files_at_once() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let one = pseudo_random(1000, 1);
    let two = pseudo_random(70_000, 2);
    // A part body that contains something that looks like a boundary line.
    let mut three = format!("line\r\n--{}\r\n--\r\n", &BOUNDARY[..30]).into_bytes();
    three.extend(pseudo_random(5000, 3));
    let body = multipart(
        Some(&csrf),
        &[
            ("one.bin", &one),
            ("two words é.bin", &two),
            ("three.bin", &three),
            ("empty.txt", b""),
        ],
    );
    let r = b.post_multipart("/upload?dir=%2Falice", &body);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/browse?path=%2Falice");
    let page = b.follow(r);
    assert_eq!(
        page.notice().as_deref(),
        Some("Uploaded 4 file(s): one.bin, two words é.bin, three.bin, empty.txt.")
    );
    for (name, data) in [
        ("one.bin", &one),
        ("two words é.bin", &two),
        ("three.bin", &three),
        ("empty.txt", &Vec::new()),
    ] {
        let got = ftp_get(&ftp, ALICE, name).unwrap_or_else(|| panic!("{name} not stored"));
        assert_eq!(sha256(&got), sha256(data), "{name}");
        assert!(
            page.text().contains(&format!(">{name}</a>")),
            "{name} not listed"
        );
    }
}

#[test]
fn web_upload_and_download_a_multi_megabyte_file() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let data = pseudo_random(24 * 1024 * 1024 + 13, 99);
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(Some(&csrf), &[("big.bin", &data)]),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        sha256(&std::fs::read(ftp.storage("alice/big.bin")).unwrap()),
        sha256(&data)
    );
    let d = b.get("/download?path=%2Falice%2Fbig.bin");
    assert_eq!(d.status, 200);
    assert_eq!(
        d.header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(sha256(&d.body), sha256(&data));
}

#[test]
fn web_malformed_multipart_is_400_and_leaves_nothing() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();

    // Truncated: the body ends in the middle of the file, no closing delimiter.
    let mut body = multipart(Some(&csrf), &[("partial.bin", &pseudo_random(300_000, 5))]);
    body.truncate(body.len() - 100_000);
    let r = b.post_multipart("/upload?dir=%2Falice", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.error().unwrap().contains("partial.bin"),
        "{:?}",
        r.error()
    );
    assert!(
        !ftp_names(&ftp, ALICE, "/alice")
            .iter()
            .any(|n| n == "partial.bin")
    );
    assert!(!ftp.storage("alice/partial.bin").exists());

    // A part header block larger than allowed.
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.bin\"\r\n\
         X-Filler: {}\r\n\r\ndata\r\n--{BOUNDARY}--\r\n",
        "f".repeat(20_000)
    )
    .into_bytes();
    let r = b.post_multipart("/upload?dir=%2Falice", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.error().unwrap().contains("headers too long"),
        "{:?}",
        r.error()
    );
    assert!(!ftp.storage("alice/huge.bin").exists());
    // Larger than the reader's whole buffer.
    let body = String::from_utf8(body)
        .unwrap()
        .replace(&"f".repeat(20_000), &"f".repeat(100_000));
    let r = b.post_multipart("/upload?dir=%2Falice", body.as_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!ftp.storage("alice/huge.bin").exists());

    // Garbage after the CSRF part.
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{BOUNDARY}garbage-without-crlf"
    )
    .into_bytes();
    let r = b.post_multipart("/upload?dir=%2Falice", &body);
    assert_eq!(r.status, 400, "{}", r.text());

    // Not multipart at all.
    let r = b.send(
        "POST",
        "/upload?dir=%2Falice",
        Some("application/x-www-form-urlencoded"),
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().unwrap().contains("multipart/form-data"));

    // A file name with a path: only the last component is used; `..` is refused.
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(Some(&csrf), &[("..", b"dots")]),
    );
    assert_eq!(r.status, 400);
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(Some(&csrf), &[("C:\\\\Users\\\\me\\\\win.txt", b"win")]),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        ftp_get(&ftp, ALICE, "win.txt").as_deref(),
        Some(&b"win"[..])
    );

    // No file chosen.
    let r = b.post_multipart("/upload?dir=%2Falice", &multipart(Some(&csrf), &[]));
    assert_eq!(r.status, 400);

    // The session survived every one of these.
    let r = b.browse("/alice");
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("partial.bin"));
}

/// Sends an upload of `name` into `dir` that declares 10 MiB, sends 300 kB of the file and
/// then shuts its sending side, as a closed tab or a dropped link does; returns the answer,
/// which comes only once the web client is done with the FTP server (so checks made after
/// it cannot race the handler).
fn cut_upload(web: &Web, cookie: &str, csrf: &str, dir: &str, name: &str) -> String {
    let mut s = TcpStream::connect(web.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /upload?dir={} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n",
        enc(dir),
        10 << 20
    )
    .unwrap();
    s.write_all(&pseudo_random(300_000, 22)).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

/// The browser's upload request over an existing file is cut mid-body (declared 10 MiB,
/// 300 kB sent, then the connection closes its sending side): the upload fails with 400
/// and the original stays on the server byte for byte. The web client used to send DELE
/// after the failed STOR, deleting the file ferroftp had kept.
#[test]
fn web_cut_upload_over_an_existing_file_keeps_the_original() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let original = pseudo_random(200_000, 21);
    ftp_put(&ftp, ALICE, "keep.bin", &original);
    let csrf = b.csrf();
    let cookie = b.cookie.clone().unwrap();

    let reply = cut_upload(&web, &cookie, &csrf, "/alice", "keep.bin");
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply:.300}");

    let kept = ftp_get(&ftp, ALICE, "keep.bin").expect("the original is still there");
    assert_eq!(
        sha256(&kept),
        sha256(&original),
        "the original, byte for byte"
    );
    assert_eq!(b.browse("/alice").status, 200, "the session goes on");
}

/// pyftpdlib keeps what arrived of an aborted STOR under the final name. A cut upload of a
/// new name then leaves nothing (the web client removes its own partial); over an existing
/// name the web client deletes nothing (the server has already replaced the original; a DELE
/// would only lose more).
#[test]
fn web_cut_uploads_against_pyftpdlib() {
    let (root, scripts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let py = PyFtpd::start(root.path(), scripts.path());
    let web = Web::start();
    let mut b = web.client();
    let r = b.login_form(py.port, PyFtpd::USER, false);
    assert_eq!(r.status, 303, "login: {}", r.text());
    let csrf = b.csrf();
    let cookie = b.cookie.clone().unwrap();

    let reply = cut_upload(&web, &cookie, &csrf, "/", "new.bin");
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply:.300}");
    assert!(!root.path().join("new.bin").exists(), "our partial removed");

    std::fs::write(root.path().join("old.bin"), b"old").unwrap();
    let reply = cut_upload(&web, &cookie, &csrf, "/", "old.bin");
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply:.300}");
    assert!(
        root.path().join("old.bin").exists(),
        "a name that existed is not deleted"
    );
}

/// One raw HTTP exchange: sends `request`, returns what came back before the server closed
/// (or 5 s passed).
fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // Headers are enough; the server may keep waiting for the announced body.
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

/// A child `ferroftp web` process, for what only the binary shows (its log, a crash of the
/// whole process): stderr collected, killed on drop.
struct WebChild {
    child: std::process::Child,
    addr: SocketAddr,
    stderr: Option<JoinHandle<String>>,
    _dir: tempfile::TempDir,
}

impl WebChild {
    fn start(env: &[(&str, &str)]) -> WebChild {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .args(["web", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir.path())
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        });
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("web client on http://")
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or_else(|| panic!("banner: {line}"))
            .parse()
            .unwrap();
        WebChild {
            child,
            addr,
            stderr: Some(stderr),
            _dir: dir,
        }
    }

    /// A handle for clients (stopping it is Drop's job here).
    fn web(&self) -> Web {
        Web {
            addr: self.addr,
            stop: Box::new(|| {}),
            handle: None,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Ends the process and returns everything it wrote on stderr.
    fn stop_and_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for WebChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request announcing a huge body and sending a few bytes must get its 413 (or page) and
/// leave the server running. Run as a child `ferroftp web`, since the failure mode is the
/// whole process aborting.
#[test]
fn web_hostile_content_length_neither_crashes_nor_buffers() {
    let ftp = TestServer::start();
    let mut child = WebChild::start(&[]);
    let web = child.web();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let cookie = b.cookie.clone().unwrap();
    let huge = 100u64 << 30;
    let requests = [
        format!("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {huge}\r\n\r\nabc"),
        format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {huge}\r\n\r\ncsrf=x&host=1"
        ),
        format!(
            "POST /upload?dir=%2Falice HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {huge}\r\n\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
        ),
    ];
    for (i, req) in requests.iter().enumerate() {
        let reply = raw_http(web.addr, req.as_bytes());
        if i == 2 {
            assert!(reply.starts_with("HTTP/1.1 413 "), "upload: {reply}");
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            child.alive(),
            "`ferroftp web` died after request {i}: {req:.60}"
        );
        assert_eq!(b.browse("/alice").status, 200, "after request {i}");
    }
    let log = child.stop_and_stderr();
    assert!(!log.contains("panicked"), "{log}");
}

/// SPEC "Access model": no web form password in the log at any RUST_LOG level (suppaftp,
/// which the web client drives, logs every PASS it sends at trace).
#[test]
fn web_no_password_in_the_log_at_trace() {
    let ftp = TestServer::start();
    let mut child = WebChild::start(&[("RUST_LOG", "trace")]);
    let web = child.web();
    let mut b = web.client();
    let r = b.login_form(ftp.port(), ("alice", "Wrong-Secr3t"), false);
    assert_eq!(r.status, 401, "{}", r.text());
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(Some(&csrf), &[("log.txt", b"hello")]),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let r = b.get("/download?path=%2Falice%2Flog.txt");
    assert_eq!(r.body, b"hello");
    assert_eq!(b.browse("/alice").status, 200);
    let log = child.stop_and_stderr();
    assert!(
        log.contains("web login ok: user=alice"),
        "the log is on: {log}"
    );
    for secret in [ALICE.1, "Wrong-Secr3t"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

/// Runs `f` on its own thread; its result if it finishes within `secs`, else `None` (the
/// thread is left to finish or fail on its own).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs)).ok()
}

/// A download whose browser stops reading holds nothing anybody else waits for: while it
/// is stalled (64 MiB, more than every socket buffer on the way, and the test reads none
/// of it past the first bytes), another user logs in and lists, and the same user loads
/// other pages. Then the download completes intact.
#[test]
fn web_a_stalled_download_stalls_nobody() {
    let ftp = TestServer::start();
    let big = pseudo_random(64 << 20, 31);
    crate::support::place(&ftp, "alice/big.bin", &big, "alice", false);
    let web = Web::start();
    let mut a = web.client();
    a.login(&ftp, ALICE);

    let mut d = TcpStream::connect(web.addr).unwrap();
    d.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let cookie = a.cookie.clone().unwrap();
    write!(
        d,
        "GET /download?path=%2Falice%2Fbig.bin HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(d.read(&mut byte).unwrap(), 1, "download headers");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", big.len())),
        "{head}"
    );
    let mut first = vec![0u8; 4096];
    d.read_exact(&mut first).unwrap();

    let bob = within(30, {
        let (ftp_port, base) = (ftp.port(), web.base());
        move || {
            let mut b = Client::at(base);
            let r = b.login_form(ftp_port, BOB, false);
            let listed = b.browse("/bob");
            (r.status, listed.status)
        }
    });
    assert_eq!(bob, Some((303, 200)), "another user, during the download");
    let alice = within(30, move || {
        let listed = a.browse("/alice");
        let index = a.get("/");
        (
            listed.status,
            listed.text().contains("big.bin"),
            index.status,
        )
    });
    assert_eq!(
        alice,
        Some((200, true, 303)),
        "the same user's other pages, during the download"
    );

    // Content-Length bytes, not to EOF: the web server keeps the connection open.
    let mut rest = vec![0u8; big.len() - first.len()];
    d.read_exact(&mut rest).unwrap();
    first.extend_from_slice(&rest);
    assert!(
        first == big,
        "the download completes intact ({} bytes)",
        first.len()
    );
}

// ---- mkdir, delete, logout ----

#[test]
fn web_mkdir() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let r = b.post_form(
        "/mkdir",
        &[("csrf", &csrf), ("dir", "/alice"), ("name", "new dir é")],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/browse?path=%2Falice");
    assert!(ftp.storage("alice/new dir é").is_dir());
    let page = b.follow(r);
    assert_eq!(page.notice().as_deref(), Some("Created /alice/new dir é."));
    assert!(page.text().contains(">new dir é/</a>"));
    // Nested, then bad names.
    let r = b.post_form(
        "/mkdir",
        &[
            ("csrf", &csrf),
            ("dir", "/alice/new dir é"),
            ("name", "inner"),
        ],
    );
    assert_eq!(r.status, 303);
    assert!(ftp.storage("alice/new dir é/inner").is_dir());
    for bad in ["", "..", "a/b", "x\\y", "tab\there"] {
        let r = b.post_form(
            "/mkdir",
            &[("csrf", &csrf), ("dir", "/alice"), ("name", bad)],
        );
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text());
    }
    // An FTP refusal (already exists; another user's directory): readable error page.
    let r = b.post_form(
        "/mkdir",
        &[("csrf", &csrf), ("dir", "/alice"), ("name", "new dir é")],
    );
    assert!((400..500).contains(&r.status), "{}: {}", r.status, r.text());
    assert!(
        r.error()
            .unwrap()
            .contains("Cannot create /alice/new dir é")
    );
    let r = b.post_form(
        "/mkdir",
        &[("csrf", &csrf), ("dir", "/bob"), ("name", "intrude")],
    );
    assert!((400..500).contains(&r.status), "{}", r.text());
    assert!(!ftp.storage("bob/intrude").exists());
    assert_eq!(b.browse("/alice").status, 200);
}

#[test]
fn web_delete_asks_then_deletes() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    ftp_put(&ftp, ALICE, "gone soon.txt", b"bye");
    let mut c = ftp.ftp(ALICE);
    c.mkdir("old").unwrap();
    let _ = c.quit();
    let page = b.login(&ftp, ALICE);
    assert!(
        page.text()
            .contains("href=\"/delete?path=%2Falice%2Fgone%20soon.txt\">Delete</a>")
    );
    assert!(
        page.text()
            .contains("href=\"/delete?path=%2Falice%2Fold&amp;dir=1\">Delete</a>")
    );

    // The confirmation page changes nothing.
    let r = b.get("/delete?path=%2Falice%2Fgone%20soon.txt");
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(t.contains("Delete this file?"), "{t}");
    assert!(t.contains("<code>/alice/gone soon.txt</code>"));
    assert!(t.contains("action=\"/delete\""));
    assert!(t.contains("name=\"path\" value=\"/alice/gone soon.txt\""));
    assert!(t.contains("href=\"/browse?path=%2Falice\">Cancel</a>"));
    assert!(ftp.storage("alice/gone soon.txt").exists());
    let csrf = r.csrf();
    let r = b.post_form(
        "/delete",
        &[
            ("csrf", &csrf),
            ("path", "/alice/gone soon.txt"),
            ("dir", "0"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/browse?path=%2Falice");
    assert!(!ftp.storage("alice/gone soon.txt").exists());
    let page = b.follow(r);
    assert_eq!(
        page.notice().as_deref(),
        Some("Deleted /alice/gone soon.txt.")
    );

    // A directory.
    let r = b.get("/delete?path=%2Falice%2Fold&dir=1");
    assert!(r.text().contains("Delete this directory?"));
    assert!(r.text().contains("name=\"dir\" value=\"1\""));
    let r = b.post_form(
        "/delete",
        &[("csrf", &csrf), ("path", "/alice/old"), ("dir", "1")],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(!ftp.storage("alice/old").exists());

    // Deleting what is not there: 404 and a readable error.
    let r = b.post_form(
        "/delete",
        &[("csrf", &csrf), ("path", "/alice/never.txt"), ("dir", "0")],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.error().unwrap().contains("/alice/never.txt"));
    assert_eq!(b.browse("/alice").status, 200);
}

#[test]
fn web_logout_clears_the_cookie_and_the_session() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let old_cookie = b.cookie.clone().unwrap();
    let csrf = b.csrf();
    let r = b.post_form("/logout", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/");
    let set = r.header("Set-Cookie").expect("the cookie is cleared");
    assert!(set.starts_with("ferroftp_session=;"), "{set}");
    assert!(set.contains("Max-Age=0"), "{set}");
    assert!(b.cookie.is_none());
    // The old session id is dead on the server too.
    b.cookie = Some(old_cookie);
    let r = b.browse("/alice");
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "/");
    let login = b.get("/");
    assert_eq!(login.status, 200);
    assert!(login.text().contains("action=\"/login\""));
}

// ---- FTPS, expiry, reconnect ----

#[test]
fn web_ftps_login_asks_to_trust_the_certificate_once() {
    let ftp = TestServer::start();
    let web = Web::start();
    let expected = ftp.shared.identity.fingerprint().to_owned();
    let mut b = web.client();
    let r = b.login_form(ftp.port(), ALICE, true);
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(t.contains("Trust this server"), "{t}");
    assert!(t.contains("action=\"/trust\""));
    let shown = between(&t, "<p class=\"fingerprint\"><code>", "</code>").expect("fingerprint");
    assert_eq!(shown, expected);
    assert!(
        !web.known_hosts().exists()
            || std::fs::read_to_string(web.known_hosts())
                .unwrap()
                .is_empty()
    );
    // A wrong fingerprint is refused.
    let csrf = r.csrf();
    let r2 = b.post_form("/trust", &[("csrf", &csrf), ("fingerprint", "AA:BB")]);
    assert_eq!(r2.status, 400, "{}", r2.text());
    // Ask again, then trust.
    let r = b.login_form(ftp.port(), ALICE, true);
    assert_eq!(r.status, 200);
    let r = b.post_form("/trust", &[("csrf", &csrf), ("fingerprint", &shown)]);
    assert_eq!(r.status, 303, "{}", r.text());
    let page = b.follow(r);
    assert_eq!(page.status, 200);
    assert!(
        page.notice()
            .unwrap()
            .starts_with("Connected to 127.0.0.1:")
    );
    assert!(
        std::fs::read_to_string(web.known_hosts())
            .unwrap()
            .contains(&expected)
    );
    // Transfers go over TLS.
    ftp_put(&ftp, ALICE, "tls.txt", b"over tls");
    let d = b.get("/download?path=%2Falice%2Ftls.txt");
    assert_eq!(d.body, b"over tls");
    let csrf = b.csrf();
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(Some(&csrf), &[("up-tls.txt", b"up over tls")]),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        ftp_get(&ftp, ALICE, "up-tls.txt").as_deref(),
        Some(&b"up over tls"[..])
    );

    // Pinned now: another browser logs in over TLS without the question.
    let mut other = web.client();
    let r = other.login_form(ftp.port(), BOB, true);
    assert_eq!(r.status, 303, "{}", r.text());
}

#[test]
fn web_idle_session_expires_back_to_login() {
    let ftp = TestServer::start();
    let web = Web::start_with(Allowlist::this_machine(Vec::new()), Duration::from_secs(1));
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let old = b.cookie.clone().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let r = b.browse("/alice");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/");
    // The login page starts a new session (new cookie); the old id is gone.
    let r = b.get("/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("action=\"/login\""));
    assert_ne!(b.cookie.as_deref(), Some(old.as_str()));
}

#[test]
fn web_reconnects_after_the_server_drops_the_connection() {
    let ftp = TestServer::start_with(|s| s.idle_timeout = Duration::from_secs(1));
    let web = Web::start();
    let mut b = web.client();
    ftp_put(&ftp, ALICE, "still.txt", b"still here");
    b.login(&ftp, ALICE);
    // Wait for the FTP server to close the idle control connection.
    std::thread::sleep(Duration::from_millis(2500));
    let r = b.browse("/alice");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(">still.txt</a>"));
    std::thread::sleep(Duration::from_millis(2500));
    let d = b.get("/download?path=%2Falice%2Fstill.txt");
    assert_eq!(d.status, 200, "{}", d.text());
    assert_eq!(d.body, b"still here");
    std::thread::sleep(Duration::from_millis(2500));
    let csrf = b.csrf();
    std::thread::sleep(Duration::from_millis(2500));
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(Some(&csrf), &[("after.txt", b"after the drop")]),
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        ftp_get(&ftp, ALICE, "after.txt").as_deref(),
        Some(&b"after the drop"[..])
    );
}

// ---- a real browser ----

/// Logs in, uploads, sees the file listed, downloads it and compares bytes, in headless
/// Chromium (tests/browser/e2e.mjs; `./scripts/test.sh` installs chromium and npm packages).
#[test]
fn web_end_to_end_in_headless_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/e2e.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "run ./scripts/test.sh (it runs npm ci in tests/browser)"
    );
    let ftp = TestServer::start();
    let mut c = ftp.ftp(ALICE);
    c.mkdir("projects").unwrap();
    c.mkdir("photos").unwrap();
    let _ = c.quit();
    ftp_put(&ftp, ALICE, "notes.txt", b"meeting notes\n");
    ftp_put(&ftp, ALICE, "report 2026.pdf", &pseudo_random(180_000, 11));
    ftp_put(
        &ftp,
        ALICE,
        "a name long enough to need an ellipsis on any screen, even a wide one - holiday photos and the notes that go with them.zip",
        &pseudo_random(2_500_000, 12),
    );
    let web = Web::start();
    // FERROFTP_SHOTS=docs writes the README's screenshots there instead of a temp dir.
    let out = tempfile::tempdir().unwrap();
    let shots = match std::env::var_os("FERROFTP_SHOTS") {
        Some(dir) => root.join(dir),
        None => out.path().to_path_buf(),
    };
    let ran = run_with_timeout(
        std::process::Command::new("node")
            .arg(&script)
            .arg(web.base())
            .arg(ftp.port().to_string())
            .arg(ALICE.0)
            .arg(ALICE.1)
            .arg(&shots),
        180,
    )
    .ok("tests/browser/e2e.mjs");
    assert!(ran.stdout.contains("e2e ok"), "{}", ran.stdout);
    for name in [
        "web-1280-light.png",
        "web-1280-dark.png",
        "web-390-light.png",
        "web-390-dark.png",
    ] {
        let png = std::fs::read(shots.join(name)).expect("a screenshot");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "{name}"
        );
    }
    // What the browser uploaded is on the server, byte for byte.
    let uploaded = ftp_get(&ftp, ALICE, "hello from chromium.txt").expect("uploaded");
    assert!(uploaded.starts_with(b"uploaded by headless Chromium"));
    assert!(
        ftp_get(&ftp, ALICE, "dropped.txt").is_none(),
        "dropped, then deleted with dot.png"
    );
    assert_eq!(ftp_get(&ftp, ALICE, "album/cover.txt").unwrap(), b"cover\n");
    assert_eq!(
        ftp_get(&ftp, ALICE, "album/sub/track.txt").unwrap(),
        b"track\n"
    );
    assert!(
        ftp_get(&ftp, ALICE, "slow.bin").is_none(),
        "a cancelled upload leaves nothing"
    );
    let large: Vec<u8> = (0..18 * 1024 * 1024usize)
        .map(|i| ((i * 31 + (i >> 12)) % 251) as u8)
        .collect();
    let got = ftp_get(&ftp, ALICE, "large.bin").expect("the resumed upload");
    assert_eq!(sha256(&got), sha256(&large), "{} bytes", got.len());
    assert!(ftp_get(&ftp, ALICE, "large.bin.part").is_none());
    assert_eq!(
        ftp_get(&ftp, ALICE, "plain-folder/inner/deep.txt").unwrap(),
        b"deep\n"
    );
}

/// Session fixation: the id (and CSRF token) given before login is not the one used after.
#[test]
fn web_login_issues_a_new_session_id() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let before_csrf = b.csrf();
    let before = b.cookie.clone().expect("a session cookie before login");
    b.login(&ftp, ALICE);
    let after = b.cookie.clone().expect("a session cookie after login");
    assert_ne!(before, after, "login must rotate the session id");
    assert_ne!(b.csrf(), before_csrf, "login must rotate the CSRF token");
    // The pre-login id no longer reaches the logged-in session.
    let mut planted = web.client();
    planted.cookie = Some(before);
    let r = planted.get("/browse?path=%2Falice");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.location(), "/");
}

/// The page's script uploads with `X-Ferroftp-Upload`: success answers the destination as
/// text (so the notice is still there to show), and the browser's `%22` for `"` in a file
/// name is decoded.
#[test]
fn web_scripted_upload_and_browser_encoded_names() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let body = multipart(Some(&csrf), &[("say %22hi%22.txt", b"quoted")]);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(format!("{}/upload?dir=%2Falice", b.base))
        .header("Content-Type", ct.as_str())
        .header("X-Ferroftp-Upload", "1");
    if let Some(c) = &b.cookie {
        req = req.header("Cookie", c.as_str());
    }
    let mut resp = b.agent.run(req.body(body).unwrap()).unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    assert_eq!(text, "/browse?path=%2Falice");
    assert_eq!(
        std::fs::read(ftp.storage("alice/say \"hi\".txt")).unwrap(),
        b"quoted"
    );
    let page = b.get(&text);
    assert_eq!(
        page.notice().as_deref(),
        Some("Uploaded 1 file(s): say &quot;hi&quot;.txt.")
    );
    // Creating a directory that exists is a conflict.
    let r = b.post_form(
        "/mkdir",
        &[("csrf", &csrf), ("dir", "/alice"), ("name", "d")],
    );
    assert_eq!(r.status, 303);
    let r = b.post_form(
        "/mkdir",
        &[("csrf", &csrf), ("dir", "/alice"), ("name", "d")],
    );
    assert_eq!(r.status, 409, "{}", r.text());
}

/// SECURITY (review): requests without a cookie outside the login page start no session, so a
/// flood of them cannot fill the session table; pages send such visitors to the login page.
#[test]
fn web_only_the_login_page_starts_a_session() {
    let web = Web::start();
    let mut b = web.client();
    for path in [
        "/browse?path=%2F",
        "/favicon.ico",
        "/nope",
        "/static/style.css",
    ] {
        let r = b.get(path);
        assert!(r.header("set-cookie").is_none(), "{path} set a cookie");
    }
    assert_eq!(b.get("/browse?path=%2F").location(), "/");
    let r = b.post_form("/mkdir", &[("csrf", "x"), ("dir", "/"), ("name", "d")]);
    assert_eq!(r.status, 403);
    assert!(b.get("/").header("set-cookie").is_some());
}

// ---- what the browser offers, and where its answers land ----

/// The action links and forms a listing page offers.
fn offered(page: &Resp) -> (bool, bool, Vec<String>) {
    let t = page.text();
    let upload = t.contains("id=\"upload\"");
    let mkdir = t.contains("action=\"/mkdir\"");
    let actions = t
        .match_indices("class=\"button secondary\" href=\"")
        .map(|(i, m)| {
            let rest = &t[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .filter(|href| !href.starts_with("/zip?") && !href.starts_with("/view?"))
        .collect();
    (upload, mkdir, actions)
}

#[test]
fn web_offers_only_what_the_server_allows() {
    let ftp = TestServer::start();
    ftp_put(&ftp, BOB, "/Public/from bob.txt", b"bob's");
    ftp_put(&ftp, ALICE, "/Public/from alice.txt", b"alice's");
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);

    // `/` holds the granted directories: nothing can be created there.
    let root = b.browse("/");
    assert_eq!(root.status, 200, "{}", root.text());
    let (upload, mkdir, actions) = offered(&root);
    assert!(!upload && !mkdir, "{}", root.text());
    assert!(
        actions.is_empty(),
        "no rename or delete of top-level directories: {actions:?}"
    );
    assert!(root.text().contains("This directory is read-only for you"));

    // In Public: bob's file can be read, not changed; alice's own one can be.
    let public = b.browse("/Public");
    let (upload, mkdir, actions) = offered(&public);
    assert!(upload && mkdir, "{}", public.text());
    assert_eq!(
        actions,
        [
            "/rename?path=%2FPublic%2Ffrom%20alice.txt",
            "/delete?path=%2FPublic%2Ffrom%20alice.txt",
        ]
    );
    let t = public.text();
    assert!(t.contains("href=\"/download?path=%2FPublic%2Ffrom%20bob.txt\" download>Download</a>"));

    // The server still decides: a forged delete of bob's file is refused on the same page.
    let csrf = public.csrf();
    let r = b.post_form(
        "/delete",
        &[
            ("csrf", &csrf),
            ("path", "/Public/from bob.txt"),
            ("dir", "0"),
        ],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.error()
            .unwrap()
            .starts_with("Cannot delete /Public/from bob.txt: ")
    );
    assert!(
        r.text().contains("<table class=\"files\">"),
        "the listing, not a dead end"
    );
    assert_eq!(
        ftp_get(&ftp, BOB, "/Public/from bob.txt").unwrap(),
        b"bob's"
    );
}

#[test]
fn web_failed_actions_answer_on_the_listing_they_came_from() {
    let ftp = TestServer::start();
    ftp_put(&ftp, ALICE, "here.txt", b"x");
    std::fs::create_dir(ftp.storage("alice/taken")).unwrap();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let listing = |r: &Resp| {
        let t = r.text();
        assert!(t.contains("<table class=\"files\">"), "{t}");
        assert!(t.contains(">here.txt</a>"), "{t}");
        assert!(t.contains("<nav class=\"crumbs\""), "{t}");
    };

    let r = b.post_form(
        "/mkdir",
        &[("csrf", &csrf), ("dir", "/alice"), ("name", "taken")],
    );
    assert_eq!(r.status, 409);
    assert!(
        r.error()
            .unwrap()
            .starts_with("Cannot create /alice/taken: ")
    );
    listing(&r);

    let r = b.post_form(
        "/mkdir",
        &[("csrf", &csrf), ("dir", "/alice"), ("name", "a/b")],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error().unwrap(), "Please give a plain directory name.");
    listing(&r);

    let r = b.post_form(
        "/delete",
        &[("csrf", &csrf), ("path", "/alice/gone.txt"), ("dir", "0")],
    );
    assert_eq!(r.status, 404);
    listing(&r);

    let r = b.get("/download?dir=%2Falice&name=missing.txt");
    assert_eq!(r.status, 404);
    assert!(
        r.error()
            .unwrap()
            .starts_with("Cannot download /alice/missing.txt: ")
    );
    listing(&r);

    // No notice was used up, and the next page is an ordinary one.
    let r = b.browse("/alice");
    assert_eq!((r.status, r.error()), (200, None));
}

#[test]
fn web_sorts_by_name_size_and_date_and_filters_by_name() {
    let ftp = TestServer::start();
    let mut c = ftp.ftp(ALICE);
    for (name, size) in [
        ("b-mid.txt", 20usize),
        ("a-big.bin", 300),
        ("C-small.log", 1),
    ] {
        c.put_file(name, &mut &vec![b'x'; size][..]).unwrap();
    }
    c.mkdir("zdir").unwrap();
    let _ = c.quit();
    // Dates: a-big.bin oldest (2021), C-small.log in 2024, b-mid.txt now.
    for (name, secs) in [
        ("a-big.bin", 1_609_556_645u64),
        ("C-small.log", 1_717_747_750),
    ] {
        std::fs::File::options()
            .write(true)
            .open(ftp.storage(&format!("alice/{name}")))
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let order = |r: &Resp| -> Vec<String> {
        let t = r.text();
        ["zdir/", "a-big.bin", "b-mid.txt", "C-small.log"]
            .iter()
            .filter_map(|n| t.find(&format!(">{n}</a>")).map(|i| (i, n.to_string())))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_values()
            .collect()
    };
    let r = b.browse("/alice");
    assert_eq!(
        order(&r),
        ["zdir/", "a-big.bin", "b-mid.txt", "C-small.log"]
    );
    assert!(r.text().contains("<th aria-sort=\"ascending\"><a class=\"sort\" href=\"/browse?path=%2Falice&amp;sort=name&amp;order=desc\">Name ▲</a></th>"));
    let r = b.get("/browse?path=%2Falice&sort=size&order=desc");
    assert_eq!(
        order(&r),
        ["zdir/", "a-big.bin", "b-mid.txt", "C-small.log"]
    );
    let r = b.get("/browse?path=%2Falice&sort=size&order=asc");
    assert_eq!(
        order(&r),
        ["zdir/", "C-small.log", "b-mid.txt", "a-big.bin"]
    );
    let r = b.get("/browse?path=%2Falice&sort=date&order=asc");
    assert_eq!(
        order(&r),
        ["zdir/", "a-big.bin", "C-small.log", "b-mid.txt"]
    );
    // Dates carry the year when it is not this one.
    let t = r.text();
    assert!(t.contains("<td>Jan  2 2021</td>"), "{t}");
    assert!(t.contains("<td>Jun  7 2024</td>"), "{t}");

    // The filter: case-insensitive, keeps the order, says so when nothing matches.
    let r = b.get("/browse?path=%2Falice&sort=size&order=desc&q=B");
    assert_eq!(order(&r), ["a-big.bin", "b-mid.txt"]);
    assert!(r.text().contains("name=\"q\" value=\"B\""));
    let r = b.get("/browse?path=%2Falice&q=%3Cnothing%3E");
    assert_eq!(order(&r), Vec::<String>::new());
    assert!(
        r.text()
            .contains("No names here contain “&lt;nothing&gt;”."),
        "{}",
        r.text()
    );
}

#[test]
fn web_rename_and_move() {
    let ftp = TestServer::start();
    ftp_put(&ftp, ALICE, "old name.txt", b"content");
    std::fs::create_dir(ftp.storage("alice/sub")).unwrap();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);

    let r = b.get("/rename?path=%2Falice%2Fold%20name.txt");
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(
        t.contains("name=\"from\" value=\"/alice/old name.txt\""),
        "{t}"
    );
    assert!(
        t.contains("name=\"to\" value=\"/alice/old name.txt\""),
        "{t}"
    );
    let csrf = r.csrf();

    let r = b.post_form(
        "/rename",
        &[
            ("csrf", &csrf),
            ("from", "/alice/old name.txt"),
            ("to", "new name.txt"),
        ],
    );
    assert_eq!(r.location(), "/browse?path=%2Falice");
    let page = b.follow(r);
    assert_eq!(
        page.notice().unwrap(),
        "Renamed /alice/old name.txt to /alice/new name.txt."
    );
    assert_eq!(ftp_get(&ftp, ALICE, "new name.txt").unwrap(), b"content");
    assert!(ftp_get(&ftp, ALICE, "old name.txt").is_none());

    // A full path moves it.
    let r = b.post_form(
        "/rename",
        &[
            ("csrf", &csrf),
            ("from", "/alice/new name.txt"),
            ("to", "/alice/sub/moved.txt"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(ftp_get(&ftp, ALICE, "sub/moved.txt").unwrap(), b"content");

    // Bad names and refusals come back on the listing.
    for to in ["", "a\nb", "../x"] {
        let r = b.post_form(
            "/rename",
            &[
                ("csrf", &csrf),
                ("from", "/alice/sub/moved.txt"),
                ("to", to),
            ],
        );
        assert_eq!(r.status, 400, "{to:?}: {}", r.text());
        assert_eq!(r.error().unwrap(), "Please give a new name or a full path.");
    }
    let r = b.post_form(
        "/rename",
        &[
            ("csrf", &csrf),
            ("from", "/alice/sub/moved.txt"),
            ("to", "/bob/mine.txt"),
        ],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.error()
            .unwrap()
            .starts_with("Cannot rename /alice/sub/moved.txt: ")
    );
    assert!(
        r.text().contains(">moved.txt</a>"),
        "the listing of /alice/sub"
    );
    assert_eq!(ftp_get(&ftp, ALICE, "sub/moved.txt").unwrap(), b"content");
}

#[test]
fn web_login_form_remembers_host_port_and_user_never_the_password() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    let first = b.get("/");
    assert!(first.text().contains("name=\"user\" value=\"\""));
    let r = b.login_form(ftp.port(), ALICE, false);
    let remember = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.clone())
        .find(|v| v.starts_with("ferroftp_login="))
        .expect("a cookie with the last login");
    assert!(remember.contains("; HttpOnly") && remember.contains("; SameSite=Strict"));
    assert!(!remember.contains(ALICE.1), "{remember}");
    let page = b.follow(r);
    let csrf = page.csrf();
    b.post_form("/logout", &[("csrf", &csrf)]);

    let t = b.get("/").text();
    assert!(t.contains("name=\"host\" value=\"127.0.0.1\""), "{t}");
    assert!(
        t.contains(&format!(
            "name=\"port\" type=\"number\" min=\"1\" max=\"65535\" value=\"{}\"",
            ftp.port()
        )),
        "{t}"
    );
    assert!(t.contains("name=\"user\" value=\"alice\""), "{t}");
    assert!(t.contains("name=\"password\" type=\"password\" autocomplete=\"current-password\">"));
    assert!(!t.contains(ALICE.1));

    // A mangled cookie is ignored, never trusted into the page unescaped.
    let mut other = web.client();
    other
        .others
        .push("ferroftp_login=h%3D%253Cb%253E%26p%3D99999".into());
    let t = other.get("/").text();
    assert!(
        t.contains("name=\"user\" value=\"\"") && !t.contains("<b>"),
        "{t}"
    );
    let mut other = web.client();
    other
        .others
        .push("ferroftp_login=h%3D%253Cb%253E%26p%3D21%26u%3D%2522x".into());
    let t = other.get("/").text();
    assert!(t.contains("name=\"host\" value=\"&lt;b&gt;\""), "{t}");
    assert!(t.contains("name=\"user\" value=\"&quot;x\""), "{t}");
}

#[test]
fn web_head_answers_like_get_without_a_body() {
    let web = Web::start();
    let get = raw_http(
        web.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let head = raw_http(
        web.addr,
        b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let length = |r: &str| {
        r.lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(str::to_owned)
    };
    assert_eq!(length(&head), length(&get), "{head}\n{get}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html")
    );
    assert!(
        head.ends_with("\r\n\r\n"),
        "no body after the head: {head:?}"
    );
    let mut s = TcpStream::connect(web.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let all = String::from_utf8_lossy(&all);
    assert!(all.ends_with("\r\n\r\n"), "nothing after the head: {all:?}");
}

// ---- zip downloads and bulk actions ----

/// The entries of a zip archive (name → bytes), read with the zip crate and checked with
/// Info-ZIP's `unzip -t`, a reader no one here wrote.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("got.zip");
    std::fs::write(&file, bytes).unwrap();
    let test = std::process::Command::new("unzip")
        .arg("-t")
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success() && said.contains("No errors detected"),
        "{said}"
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (entry.name().unwrap().into_owned(), data)
        })
        .collect()
}

#[test]
fn web_zip_of_a_folder_and_of_a_selection() {
    let ftp = TestServer::start();
    let big = pseudo_random(3 * 1024 * 1024 + 7, 21);
    std::fs::create_dir_all(ftp.storage("alice/photos/sub")).unwrap();
    ftp_put(&ftp, ALICE, "photos/beach.jpg", &big);
    ftp_put(&ftp, ALICE, "photos/sub/list é.txt", b"towels\n");
    ftp_put(&ftp, ALICE, "notes.txt", b"notes");
    ftp_put(&ftp, ALICE, "other.txt", b"not selected");
    let web = Web::start();
    let mut b = web.client();
    let page = b.login(&ftp, ALICE);
    assert!(
        page.text()
            .contains("href=\"/zip?path=%2Falice%2Fphotos\" download>Zip</a>")
    );

    let r = b.get("/zip?path=%2Falice%2Fphotos");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/zip"));
    assert!(
        r.header("Content-Disposition")
            .unwrap()
            .contains("filename=\"photos.zip\"")
    );
    let entries = unzip(&r.body);
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        [
            "photos/",
            "photos/beach.jpg",
            "photos/sub/",
            "photos/sub/list é.txt"
        ]
    );
    assert_eq!(sha256(&entries["photos/beach.jpg"]), sha256(&big));
    assert_eq!(entries["photos/sub/list é.txt"], b"towels\n");

    // A selection: the checked names of one directory, as one archive.
    let csrf = page.csrf();
    let r = b.post_form(
        "/selection",
        &[
            ("csrf", &csrf),
            ("dir", "/alice"),
            ("action", "zip"),
            ("name", "notes.txt"),
            ("name", "photos"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("Content-Disposition")
            .unwrap()
            .contains("filename=\"alice.zip\"")
    );
    let entries = unzip(&r.body);
    assert!(entries.contains_key("notes.txt") && entries.contains_key("photos/beach.jpg"));
    assert!(!entries.contains_key("other.txt"), "{:?}", entries.keys());

    // Refusals before the first byte land on the listing.
    let r = b.post_form(
        "/selection",
        &[
            ("csrf", &csrf),
            ("dir", "/alice"),
            ("action", "zip"),
            ("name", "ghost.txt"),
        ],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(
        r.error().unwrap(),
        "Cannot zip /alice/ghost.txt: no such entry."
    );
    assert!(r.text().contains(">notes.txt</a>"));
    for name in ["../bob", "a/b"] {
        let r = b.post_form(
            "/selection",
            &[
                ("csrf", &csrf),
                ("dir", "/alice"),
                ("action", "zip"),
                ("name", name),
            ],
        );
        assert_eq!(r.status, 400, "{name}: {}", r.text());
    }
    let r = b.post_form(
        "/selection",
        &[("csrf", &csrf), ("dir", "/alice"), ("action", "zip")],
    );
    assert_eq!(
        (r.status, r.error().as_deref()),
        (400, Some("Nothing was selected."))
    );
    let r = b.post_form(
        "/selection",
        &[("dir", "/alice"), ("action", "zip"), ("name", "notes.txt")],
    );
    assert_eq!(
        r.status, 403,
        "the selection form carries the CSRF token too"
    );
    // Someone else's private directory is not listed, so not zipped.
    ftp_put(&ftp, BOB, "secret.txt", b"bob's");
    let r = b.get("/zip?path=%2Fbob");
    assert_ne!(r.status, 200, "{}", r.text());
}

#[test]
fn web_delete_selected_asks_then_deletes() {
    let ftp = TestServer::start();
    ftp_put(&ftp, ALICE, "a.txt", b"a");
    ftp_put(&ftp, ALICE, "b.txt", b"b");
    ftp_put(&ftp, ALICE, "keep.txt", b"k");
    let mut c = ftp.ftp(ALICE);
    c.mkdir("empty").unwrap();
    c.mkdir("full").unwrap();
    let _ = c.quit();
    ftp_put(&ftp, ALICE, "full/inside.txt", b"i");
    let web = Web::start();
    let mut b = web.client();
    let page = b.login(&ftp, ALICE);
    assert!(page.text().contains("name=\"action\" value=\"delete\""));
    assert!(page.text().contains(
        "<input type=\"checkbox\" name=\"name\" value=\"a.txt\" form=\"selection\" aria-label=\"Select a.txt\">"
    ));
    let csrf = page.csrf();

    let r = b.post_form(
        "/selection",
        &[
            ("csrf", &csrf),
            ("dir", "/alice"),
            ("action", "delete"),
            ("name", "a.txt"),
            ("name", "b.txt"),
            ("name", "empty"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.text();
    assert!(t.contains("<h1>Delete 3 entries?</h1>"), "{t}");
    assert!(t.contains("<li><code>empty/</code></li>"), "{t}");
    assert!(
        ftp.storage("alice/a.txt").exists(),
        "nothing deleted before the confirmation"
    );
    let r = b.post_form(
        "/delete-selected",
        &[
            ("csrf", &csrf),
            ("dir", "/alice"),
            ("file", "a.txt"),
            ("file", "b.txt"),
            ("folder", "empty"),
        ],
    );
    assert_eq!(r.location(), "/browse?path=%2Falice");
    assert_eq!(b.follow(r).notice().unwrap(), "Deleted 3 entries.");
    assert!(!ftp.storage("alice/a.txt").exists() && !ftp.storage("alice/b.txt").exists());
    assert!(!ftp.storage("alice/empty").exists() && ftp.storage("alice/keep.txt").exists());

    // A directory that is not empty stops it, on the listing, saying what went before.
    let r = b.post_form(
        "/delete-selected",
        &[
            ("csrf", &csrf),
            ("dir", "/alice"),
            ("file", "keep.txt"),
            ("folder", "full"),
        ],
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let error = r.error().unwrap();
    assert!(
        error.starts_with("Cannot delete /alice/full: ")
            && error.ends_with("(1 deleted before it)"),
        "{error}"
    );
    assert!(ftp.storage("alice/full/inside.txt").exists());
    let r = b.post_form("/delete-selected", &[("dir", "/alice"), ("file", "x")]);
    assert_eq!(r.status, 403);
    let r = b.post_form(
        "/delete-selected",
        &[("csrf", &csrf), ("dir", "/alice"), ("file", "../x")],
    );
    assert_eq!(r.status, 400);
}

// ---- previews ----

#[test]
fn web_previews_images_and_text_and_nothing_that_could_run() {
    let ftp = TestServer::start();
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &pseudo_random(3000, 5)].concat();
    ftp_put(&ftp, ALICE, "pic.png", &png);
    ftp_put(
        &ftp,
        ALICE,
        "notes.txt",
        b"<script>alert(1)</script>\nline two\n",
    );
    let long: Vec<u8> = (0..100 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    ftp_put(&ftp, ALICE, "long.log", &long);
    ftp_put(&ftp, ALICE, "page.svg", b"<svg onload=alert(1)/>");
    ftp_put(&ftp, ALICE, "data.bin", b"\x00\x01");
    let web = Web::start();
    let mut b = web.client();
    let listing = b.login(&ftp, ALICE).text();
    for name in ["pic.png", "notes.txt", "long.log"] {
        assert!(
            listing.contains(&format!("href=\"/view?path=%2Falice%2F{name}\">View</a>")),
            "{name}"
        );
    }
    for name in ["page.svg", "data.bin"] {
        assert!(
            !listing.contains(&format!("/view?path=%2Falice%2F{name}")),
            "{name}"
        );
    }

    let r = b.get("/view?path=%2Falice%2Fpic.png");
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains(
            "<img src=\"/download?path=%2Falice%2Fpic.png&amp;inline=1\" alt=\"pic.png\">"
        )
    );
    let img = b.get("/download?path=%2Falice%2Fpic.png&inline=1");
    assert_eq!(img.header("Content-Type"), Some("image/png"));
    assert!(
        img.header("Content-Disposition")
            .unwrap()
            .starts_with("inline; filename=\"pic.png\"")
    );
    assert_eq!(img.body, png);

    let r = b.get("/view?path=%2Falice%2Fnotes.txt");
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(
        t.contains("&lt;script&gt;alert(1)&lt;/script&gt;\nline two\n</pre>"),
        "{t}"
    );
    assert!(!t.contains("<script>alert"));
    let r = b.get("/view?path=%2Falice%2Flong.log");
    let t = r.text();
    let shown = between(&t, "<pre class=\"preview card\">", "</pre>").unwrap();
    assert_eq!(shown.as_bytes(), &long[..64 * 1024]);
    assert!(t.contains("The first 64 KiB; download the file for the rest."));
    // The connection the cut preview closed does not break the next page.
    assert_eq!(b.browse("/alice").status, 200);

    // SVG (script) and anything else: never shown inline, no preview page.
    let svg = b.get("/download?path=%2Falice%2Fpage.svg&inline=1");
    assert_eq!(svg.header("Content-Type"), Some("application/octet-stream"));
    assert!(
        svg.header("Content-Disposition")
            .unwrap()
            .starts_with("attachment;")
    );
    let r = b.get("/view?path=%2Falice%2Fpage.svg");
    assert_eq!(r.status, 415);
    assert_eq!(
        r.error().unwrap(),
        "No preview for /alice/page.svg: download it instead."
    );
    let r = b.get("/view?path=%2Falice%2Fmissing.txt");
    assert_eq!(r.status, 404, "{}", r.text());
}

// ---- folder uploads and resumable uploads ----

#[test]
fn web_folder_upload_keeps_the_tree() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let r = b.post_multipart(
        "/upload?dir=%2Falice",
        &multipart(
            Some(&csrf),
            &[
                ("trip/day 1/beach.txt", b"sand"),
                ("trip/day 1/sea.txt", b"salt"),
                ("trip/day 2/hills.txt", b"grass"),
                ("trip/top.txt", b"top"),
            ],
        ),
    );
    assert_eq!(r.location(), "/browse?path=%2Falice", "{}", r.text());
    assert_eq!(
        b.follow(r).notice().unwrap(),
        "Uploaded 4 file(s): trip/day 1/beach.txt, trip/day 1/sea.txt, trip/day 2/hills.txt, trip/top.txt."
    );
    assert_eq!(
        ftp_get(&ftp, ALICE, "trip/day 1/beach.txt").unwrap(),
        b"sand"
    );
    assert_eq!(
        ftp_get(&ftp, ALICE, "trip/day 2/hills.txt").unwrap(),
        b"grass"
    );
    assert_eq!(ftp_get(&ftp, ALICE, "trip/top.txt").unwrap(), b"top");
    // The new directories belong to alice like any she makes.
    assert_eq!(
        ftp_names(&ftp, ALICE, "trip"),
        ["day 1", "day 2", "top.txt"]
    );

    for bad in [
        "../escape.txt",
        "trip/../../bob/x.txt",
        "a//b.txt",
        "/abs.txt",
    ] {
        let r = b.post_multipart(
            "/upload?dir=%2Falice",
            &multipart(Some(&csrf), &[(bad, b"x")]),
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(
            r.error().unwrap(),
            format!("Refusing the file name &quot;{bad}&quot;.")
        );
    }
    assert!(ftp_get(&ftp, BOB, "x.txt").is_none() && !ftp.storage("escape.txt").exists());
}

/// A raw HTTP request from this browser's session (for cut bodies and custom headers).
fn session_request(
    web: &Web,
    cookie: &str,
    head: &str,
    body: &[u8],
    cut_after: Option<usize>,
) -> String {
    let mut s = TcpStream::connect(web.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "{head}\r\nHost: x\r\nCookie: {cookie}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    match cut_after {
        Some(n) => {
            s.write_all(&body[..n]).unwrap();
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            drop(s);
            String::new()
        }
        None => {
            s.write_all(body).unwrap();
            let mut reply = String::new();
            let _ = s.read_to_string(&mut reply);
            reply
        }
    }
}

fn status_and_body(reply: &str) -> (u16, String) {
    let status = reply[9..12].parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn web_resumable_upload_goes_on_after_a_dropped_connection() {
    let ftp = TestServer::start();
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let cookie = b.cookie.clone().unwrap();
    let data = pseudo_random(5 * 1024 * 1024 + 123, 31);
    let q = "dir=%2Falice&name=big%2Fdisk.img";
    let piece = |offset: usize, len: usize, cut: Option<usize>| {
        let end = (offset + len).min(data.len());
        session_request(
            &web,
            &cookie,
            &format!("POST /upload-piece?{q}&offset={offset} HTTP/1.1\r\nX-Ferroftp-Csrf: {csrf}"),
            &data[offset..end],
            cut,
        )
    };
    let mib = 1024 * 1024;
    assert_eq!(b.get(&format!("/upload-offset?{q}")).text(), "0");
    // First piece (into a new folder), then a piece cut half-way by a dropped connection.
    assert_eq!(
        status_and_body(&piece(0, 2 * mib, None)),
        (200, (2 * mib).to_string())
    );
    piece(2 * mib, 2 * mib, Some(mib));
    let have: usize = {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut before = 0;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let now: usize = b
                .get(&format!("/upload-offset?{q}"))
                .text()
                .parse()
                .unwrap();
            // The web server notices the cut when its read fails; what arrived stays.
            if (now > 2 * mib && now == before) || Instant::now() > deadline {
                break now;
            }
            before = now;
        }
    };
    assert!(
        have > 2 * mib && have <= 3 * mib,
        "kept what arrived: {have}"
    );
    assert!(ftp.storage("alice/big/disk.img.part").exists());
    assert!(
        !ftp.storage("alice/big/disk.img").exists(),
        "no half file under the final name"
    );
    // A piece from the wrong place is refused with what the server has.
    assert_eq!(
        status_and_body(&piece(0, mib, None)),
        (409, have.to_string())
    );
    // From there to the end, then done: the file takes its name.
    let mut at = have;
    let mut busy = 0;
    while at < data.len() {
        let (status, body) = status_and_body(&piece(at, 2 * mib, None));
        // The cut piece's FTP upload may still hold the file for a moment: 503, as the
        // page's script sees it, which tries again.
        if status == 503 && body.contains("File busy") && busy < 50 {
            busy += 1;
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        assert_eq!(status, 200, "{body}");
        at = body.parse().unwrap();
    }
    let done = |size: usize, token: &str| {
        status_and_body(&session_request(
            &web,
            &cookie,
            &format!("POST /upload-done?{q}&size={size} HTTP/1.1\r\nX-Ferroftp-Csrf: {token}"),
            b"",
            None,
        ))
    };
    assert_eq!(done(data.len() + 1, &csrf), (409, data.len().to_string()));
    assert_eq!(done(data.len(), "wrong").0, 403);
    assert_eq!(
        done(data.len(), &csrf),
        (200, "/browse?path=%2Falice%2Fbig".into())
    );
    assert_eq!(
        sha256(&ftp_get(&ftp, ALICE, "big/disk.img").unwrap()),
        sha256(&data)
    );
    assert!(!ftp.storage("alice/big/disk.img.part").exists());
    assert_eq!(
        b.browse("/alice/big").notice().unwrap(),
        "Uploaded big/disk.img."
    );

    // Done never replaces a file that has the name; cancel removes the part.
    assert_eq!(status_and_body(&piece(0, mib, None)).0, 200);
    let (status, body) = done(mib, &csrf);
    assert_eq!(status, 409);
    assert_eq!(
        body,
        "/alice/big/disk.img exists; the upload stays as /alice/big/disk.img.part."
    );
    let cancel = |token: &str| {
        status_and_body(&session_request(
            &web,
            &cookie,
            &format!("POST /upload-cancel?{q} HTTP/1.1\r\nX-Ferroftp-Csrf: {token}"),
            b"",
            None,
        ))
    };
    assert_eq!(cancel("nope").0, 403);
    assert!(ftp.storage("alice/big/disk.img.part").exists());
    assert_eq!(cancel(&csrf), (200, "cancelled".into()));
    assert!(!ftp.storage("alice/big/disk.img.part").exists());
    // Without the header, or with a bad name, nothing is written.
    let r = session_request(
        &web,
        &cookie,
        &format!("POST /upload-piece?{q}&offset=0 HTTP/1.1"),
        b"x",
        None,
    );
    assert_eq!(status_and_body(&r).0, 403);
    let r = session_request(
        &web,
        &cookie,
        &format!(
            "POST /upload-piece?dir=%2Falice&name=..%2Fbob%2Fx&offset=0 HTTP/1.1\r\nX-Ferroftp-Csrf: {csrf}"
        ),
        b"x",
        None,
    );
    assert_eq!(status_and_body(&r).0, 400);
    assert_eq!(
        sha256(&ftp_get(&ftp, ALICE, "big/disk.img").unwrap()),
        sha256(&data)
    );
}

#[test]
fn web_new_pages_keep_the_security_headers_and_no_inline_code() {
    let ftp = TestServer::start();
    ftp_put(&ftp, ALICE, "n \"q\".txt", b"<b>x</b>");
    let web = Web::start();
    let mut b = web.client();
    b.login(&ftp, ALICE);
    let csrf = b.csrf();
    let pages = [
        ("rename", b.get("/rename?path=%2Falice%2Fn%20%22q%22.txt")),
        ("view", b.get("/view?path=%2Falice%2Fn%20%22q%22.txt")),
        (
            "sorted",
            b.get("/browse?path=%2Falice&sort=date&order=desc&q=%22"),
        ),
        (
            "bulk delete",
            b.post_form(
                "/selection",
                &[
                    ("csrf", &csrf),
                    ("dir", "/alice"),
                    ("action", "delete"),
                    ("name", "n \"q\".txt"),
                ],
            ),
        ),
    ];
    for (what, r) in &pages {
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        assert_security_headers(r, what);
        assert_no_inline_code(r, what);
        assert!(
            !r.text().contains("n \"q\".txt") && !r.text().contains("<b>x"),
            "{what}: {}",
            r.text()
        );
    }
    let zip = b.get("/zip?path=%2Falice");
    assert_security_headers(&zip, "zip");
}

#[test]
fn web_a_hostile_servers_names_never_leave_the_archive_or_reach_a_page_raw() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("ok.txt"), b"fine").unwrap();
    std::fs::write(root.path().join("evil.txt"), b"evil").unwrap();
    std::fs::write(root.path().join("<img src=x>"), b"html").unwrap();
    // A server that lists names with slashes and dot-dots in MLSD.
    let handler = r#"
def _hostile_mlsd(self, path):
    lines = [b"type=file;size=4;perm=r; ../../evil.txt\r\n", b"type=file;size=4;perm=r; a/../evil.txt\r\n",
             b"type=file;size=4;perm=r; <img src=x>\r\n", b"type=file;size=4;perm=r; ok.txt\r\n"]
    self.push_dtp_data(b"".join(lines), isproducer=False, cmd="MLSD")
FTPHandler.ftp_MLSD = _hostile_mlsd
"#;
    let py = PyFtpd::start_with(root.path(), root.path(), handler);
    let web = Web::start();
    let mut b = web.client();
    let r = b.login_form(py.port, PyFtpd::USER, false);
    assert_eq!(r.status, 303, "{}", r.text());
    let page = b.browse("/");
    assert!(!page.text().contains("<img src=x>"), "{}", page.text());
    let r = b.get("/download?path=%2Fok.txt");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"fine"[..]),
        "{}",
        r.text()
    );
    let r = b.get("/zip?path=%2F");
    assert_eq!(r.status, 200, "{}", r.text());
    let entries = unzip(&r.body);
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        ["<img src=x>", "ok.txt"],
        "only plain names go in"
    );
    assert_eq!(entries["ok.txt"], b"fine");
}
