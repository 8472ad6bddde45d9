//! The storage jail against the corpus in `tests/data/traversal.txt`: every hostile path is
//! refused with 550 (501 for non-UTF-8), odd-but-plain names stay inside the home, and nothing
//! appears or changes outside `server_storage/`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::support::{ADMIN, ALICE, Raw, TestServer, dir_names, place, sha256_file, tree};

const CORPUS: &str = include_str!("data/traversal.txt");
const ABSENT: &str = "550 No such file or directory.\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    All,
    Literal,
}

fn corpus() -> Vec<(Kind, String)> {
    let entries: Vec<(Kind, String)> = CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (kind, path) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            let kind = match kind {
                "read" => Kind::Read,
                "all" => Kind::All,
                "literal" => Kind::Literal,
                other => panic!("unknown kind {other:?} in {l:?}"),
            };
            (kind, path.to_owned())
        })
        .collect();
    assert!(entries.len() >= 60, "corpus too small: {}", entries.len());
    entries
}

/// What must not change outside server_storage/: the rest of the instance, the canary
/// directory, and the sha256 of /etc/passwd.
type Outside = (Vec<(PathBuf, u64)>, Vec<(PathBuf, u64)>, String);

/// The disk around the server: symlinks in alice's home, a canary directory outside the
/// instance, a file in bob's home.
struct Fixture {
    server: TestServer,
    canary: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let server = TestServer::start();
        let canary = tempfile::tempdir().unwrap();
        std::fs::write(canary.path().join("canary.txt"), b"canary").unwrap();
        let home = server.storage("alice");
        symlink("/etc", home.join("etc_link")).unwrap();
        symlink("/etc/passwd", home.join("passwd_link")).unwrap();
        symlink(canary.path(), home.join("out_link")).unwrap();
        symlink(canary.path().join("canary.txt"), home.join("out_file_link")).unwrap();
        symlink(canary.path().join("missing"), home.join("dangling_link")).unwrap();
        symlink("../../data", home.join("up_link")).unwrap();
        // alice's own file: she may rename it, so RNTO reaches the hostile target.
        place(&server, "alice/victim.txt", b"victim", "alice", false);
        place(&server, "bob/secret.txt", b"bob's secret", "bob", false);
        Fixture { server, canary }
    }

    /// Everything outside server_storage/ (the xferlog and the ownership journal, which grow
    /// with every legitimate transfer and MKD, aside), the canary, and /etc/passwd.
    fn outside(&self) -> Outside {
        let instance: Vec<_> = tree(self.server.root(), &["server_storage"])
            .into_iter()
            .filter(|(p, _)| {
                p != Path::new("data/xferlog") && p != Path::new("data/metadata.jsonl")
            })
            .collect();
        let passwd = sha256_file(Path::new("/etc/passwd"));
        (instance, tree(self.canary.path(), &[]), passwd)
    }

    fn home_names(&self) -> Vec<String> {
        dir_names(&self.server.storage("alice"))
    }
}

/// Commands that only read. Each must answer exactly `expected`.
fn check_reads(raw: &mut Raw, path: &str, expected: &str) {
    for verb in ["RETR", "LIST", "NLST", "MLSD"] {
        let (opening, data, _) = raw.download(&format!("{verb} {path}"));
        assert_eq!(opening, expected, "{verb} {path:?}");
        assert!(data.is_empty(), "{verb} {path:?} sent data");
    }
    for verb in ["SIZE", "MDTM", "CWD", "MLST", "STAT"] {
        assert_eq!(
            raw.cmd(&format!("{verb} {path}")),
            expected,
            "{verb} {path:?}"
        );
    }
    assert_eq!(
        raw.cmd("PWD"),
        "257 \"/alice\" is the current directory.\r\n",
        "after {path:?}"
    );
}

/// Commands that write. Each must answer exactly `expected` and change nothing.
fn check_writes(raw: &mut Raw, path: &str, expected: &str) {
    for verb in ["STOR", "APPE"] {
        let (opening, _) = raw.upload(&format!("{verb} {path}"), b"pwned");
        assert_eq!(opening, expected, "{verb} {path:?}");
    }
    for verb in ["MKD", "RMD", "DELE", "RNFR"] {
        assert_eq!(
            raw.cmd(&format!("{verb} {path}")),
            expected,
            "{verb} {path:?}"
        );
    }
    assert_eq!(
        raw.cmd(&format!("MFMT 20000101000000 {path}")),
        expected,
        "MFMT {path:?}"
    );
    assert_eq!(raw.cmd("RNFR victim.txt"), "350 Ready for RNTO.\r\n");
    assert_eq!(raw.cmd(&format!("RNTO {path}")), expected, "RNTO {path:?}");
}

#[test]
fn traversal_corpus_is_refused() {
    let fx = Fixture::new();
    let before = fx.outside();
    let home_before = fx.home_names();
    let mut raw = fx.server.login(ALICE);
    raw.cmd("TYPE I");
    for (kind, path) in corpus() {
        match kind {
            Kind::Read => check_reads(&mut raw, &path, ABSENT),
            Kind::All => {
                check_reads(&mut raw, &path, ABSENT);
                check_writes(&mut raw, &path, ABSENT);
            }
            Kind::Literal => check_literal(&fx, &mut raw, &path),
        }
        assert_eq!(fx.home_names(), home_before, "after {path:?}");
    }
    assert_eq!(
        fx.outside(),
        before,
        "something changed outside server_storage/"
    );
    assert_eq!(dir_names(&fx.server.storage("bob")), ["secret.txt"]);
    assert_eq!(
        std::fs::read(fx.server.storage("alice/victim.txt")).unwrap(),
        b"victim"
    );
    assert!(!fx.canary.path().join("missing").exists());
    // The journal only ever names paths inside the namespace.
    let journal = std::fs::read_to_string(fx.server.root().join("data/metadata.jsonl")).unwrap();
    for line in journal.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["path", "from", "to"] {
            if let Some(path) = record.get(key).and_then(|p| p.as_str()) {
                assert!(
                    path.starts_with('/') && !path.split('/').any(|c| c == ".." || c == "."),
                    "journal names {path:?}: {line}"
                );
            }
        }
    }
}

/// A plain name: absent at first, then created exactly where its name says, then removed.
fn check_literal(fx: &Fixture, raw: &mut Raw, name: &str) {
    let real = fx.server.storage("alice").join(name);
    for verb in ["RETR", "SIZE", "CWD", "DELE", "RMD"] {
        let r = if verb == "RETR" {
            raw.download(&format!("RETR {name}")).0
        } else {
            raw.cmd(&format!("{verb} {name}"))
        };
        assert_eq!(r, ABSENT, "{verb} {name:?}");
    }
    assert_eq!(
        raw.cmd(&format!("MKD {name}")),
        format!("257 \"/alice/{}\" created.\r\n", name.replace('"', "\"\"")),
        "MKD {name:?}"
    );
    assert!(real.is_dir(), "MKD {name:?} made {}", real.display());
    assert_eq!(
        raw.cmd(&format!("RMD {name}")),
        "250 Remove directory operation successful.\r\n"
    );
    let (_, done) = raw.upload(&format!("STOR {name}"), b"plain");
    assert_eq!(done, "226 Transfer complete.\r\n", "STOR {name:?}");
    assert_eq!(std::fs::read(&real).unwrap(), b"plain", "STOR {name:?}");
    assert_eq!(raw.download(&format!("RETR {name}")).1, b"plain");
    assert_eq!(
        raw.cmd(&format!("DELE {name}")),
        "250 Delete operation successful.\r\n"
    );
    assert!(!real.exists());
}

#[test]
fn symlinks_out_of_the_jail_are_not_listed() {
    let fx = Fixture::new();
    let mut raw = fx.server.login(ALICE);
    let (_, body, _) = raw.listing("NLST -a");
    assert_eq!(body, "victim.txt\r\n");
    let (_, body, _) = raw.listing("MLSD");
    assert_eq!(body.lines().count(), 1, "{body}");
    assert!(body.ends_with("; victim.txt\r\n"), "{body}");
    let (_, body, _) = raw.listing("LIST -la");
    assert_eq!(body.lines().count(), 1, "{body}");
}

/// Admins see every top-level directory, but the jail holds for them too.
#[test]
fn admin_is_jailed_too() {
    let fx = Fixture::new();
    let before = fx.outside();
    let mut raw = fx.server.login(ADMIN);
    raw.cmd("TYPE I");
    for path in [
        "../../etc/passwd",
        "/../../../../etc/passwd",
        "/alice/etc_link/passwd",
        "/alice/passwd_link",
    ] {
        check_reads_as(&mut raw, path, "/admin");
    }
    for path in [
        "..",
        "/..",
        "../../data/credentials.txt",
        "/../data/credentials.txt",
        "/alice/../../data",
        "/alice/out_link/canary.txt",
        "/alice/out_link/new.txt",
        "/alice/out_file_link",
        "/alice/dangling_link/x",
        "/alice/up_link/credentials.txt",
        "/.ferroftp-upload.x",
    ] {
        if path == ".." {
            // From /admin, `..` is the root: allowed, not an escape.
            continue;
        }
        check_reads_as(&mut raw, path, "/admin");
        for verb in ["STOR", "APPE"] {
            let (opening, _) = raw.upload(&format!("{verb} {path}"), b"pwned");
            assert_eq!(opening, ABSENT, "admin {verb} {path:?}");
        }
        for verb in ["MKD", "RMD", "DELE", "RNFR"] {
            assert_eq!(
                raw.cmd(&format!("{verb} {path}")),
                ABSENT,
                "admin {verb} {path:?}"
            );
        }
    }
    // The root itself is listable for admins and `..` from the root is refused.
    assert_eq!(raw.cmd("CWD /"), "250 Directory successfully changed.\r\n");
    assert_eq!(raw.cmd("CWD .."), ABSENT);
    assert_eq!(raw.cmd("PWD"), "257 \"/\" is the current directory.\r\n");
    assert_eq!(fx.outside(), before);
}

fn check_reads_as(raw: &mut Raw, path: &str, cwd: &str) {
    for verb in ["RETR", "LIST"] {
        let (opening, _, _) = raw.download(&format!("{verb} {path}"));
        assert_eq!(opening, ABSENT, "{verb} {path:?}");
    }
    for verb in ["SIZE", "MDTM", "CWD", "MLST"] {
        assert_eq!(
            raw.cmd(&format!("{verb} {path}")),
            ABSENT,
            "{verb} {path:?}"
        );
    }
    assert_eq!(
        raw.cmd("PWD"),
        format!("257 \"{cwd}\" is the current directory.\r\n")
    );
}

/// SECURITY: a NUL would cut the path at the OS boundary (`victim.txt\0x` → `victim.txt`).
#[test]
fn nul_bytes_in_paths_are_refused() {
    let fx = Fixture::new();
    let mut raw = fx.server.login(ALICE);
    raw.cmd("TYPE I");
    for path in [
        &b"victim.txt\0"[..],
        b"victim.txt\0.jpg",
        b"\0",
        b"../\0../etc/passwd",
        b"new\0.txt",
        b"dir\0/x",
    ] {
        for verb in ["RETR", "SIZE", "CWD", "DELE", "MKD", "RMD", "RNFR", "MDTM"] {
            let mut line = format!("{verb} ").into_bytes();
            line.extend_from_slice(path);
            line.extend_from_slice(b"\r\n");
            raw.send_bytes(&line);
            assert_eq!(raw.reply(), ABSENT, "{verb} {path:?}");
        }
        let mut data = raw.epsv();
        let mut line = b"STOR ".to_vec();
        line.extend_from_slice(path);
        line.extend_from_slice(b"\r\n");
        raw.send_bytes(&line);
        assert_eq!(raw.reply(), ABSENT, "STOR {path:?}");
        let _ = std::io::Write::write_all(&mut data, b"pwned");
    }
    assert_eq!(
        fx.home_names(),
        [
            "dangling_link",
            "etc_link",
            "out_file_link",
            "out_link",
            "passwd_link",
            "up_link",
            "victim.txt"
        ]
    );
    assert_eq!(
        std::fs::read(fx.server.storage("alice/victim.txt")).unwrap(),
        b"victim"
    );
}

/// Bytes that are not UTF-8 are refused before any path is built.
#[test]
fn non_utf8_names_answer_501() {
    let fx = Fixture::new();
    let mut raw = fx.server.login(ALICE);
    for line in [
        &b"RETR \xe9t\xe9.txt\r\n"[..],
        b"STOR \xc3\x28\r\n",
        b"MKD caf\xe9\r\n",
        b"DELE victim\x80.txt\r\n",
        b"CWD \xc0\xae\xc0\xae/\xc0\xae\xc0\xae/etc\r\n",
    ] {
        raw.send_bytes(line);
        assert_eq!(raw.reply(), "501 Command line not UTF-8.\r\n", "{line:?}");
    }
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert_eq!(fx.home_names().len(), 7);
}

/// limits::MAX_NAME_BYTES is 255, as on Linux: 255 works, 256 and more answer 550.
#[test]
fn over_long_names_are_refused() {
    let fx = Fixture::new();
    let mut raw = fx.server.login(ALICE);
    raw.cmd("TYPE I");
    let ok = "n".repeat(255);
    assert_eq!(
        raw.cmd(&format!("MKD {ok}")),
        format!("257 \"/alice/{ok}\" created.\r\n")
    );
    assert_eq!(
        raw.cmd(&format!("RMD {ok}")),
        "250 Remove directory operation successful.\r\n"
    );
    for path in [
        "x".repeat(256),
        "y".repeat(300),
        format!("sub/{}", "z".repeat(300)),
        format!("/alice/{}", "é".repeat(150)),
        format!("{}/../victim.txt", "w".repeat(300)),
    ] {
        for verb in ["RETR", "SIZE", "CWD", "DELE", "MKD", "RMD", "MDTM"] {
            let r = if verb == "RETR" {
                raw.download(&format!("RETR {path}")).0
            } else {
                raw.cmd(&format!("{verb} {path}"))
            };
            assert_eq!(r, ABSENT, "{verb} {}", path.len());
        }
        assert_eq!(raw.upload(&format!("STOR {path}"), b"x").0, ABSENT);
    }
    // A path of many short components, just under the line limit: absent, not a crash.
    let deep = "d/".repeat(2000);
    assert_eq!(raw.cmd(&format!("MKD {deep}")), ABSENT);
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert_eq!(fx.home_names().len(), 7);
}
