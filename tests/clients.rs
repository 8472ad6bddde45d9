//! Third-party clients against a real server: curl, lftp and Python's ftplib. Every
//! transfer is checked byte for byte (SHA-256), listings line by line where stable. Each
//! client runs under a time limit, so a hung client fails its test instead of the run.

use std::path::Path;
use std::process::Command;

use crate::support::{
    ALICE, BOB, Ran, TestServer, pseudo_random, run_with_timeout, sha256, sha256_file,
};

/// Seconds any one client invocation may take.
const CLIENT_TIMEOUT: u64 = 60;

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// The fields of one `ls -l` line: mode, links, owner, group, size, and the name.
fn ls_fields(line: &str) -> (String, String, String, String, u64, String) {
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert!(parts.len() >= 9, "not an ls -l line: {line:?}");
    (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
        parts[3].to_owned(),
        parts[4].parse().expect("size column"),
        parts[8..].join(" "),
    )
}

/// The `ls -l` line for `name` in a listing; fails the test if there is not exactly one.
fn ls_line_for<'a>(listing: &'a str, name: &str) -> &'a str {
    let found: Vec<&str> = listing
        .lines()
        .filter(|l| l.trim_end_matches('\r').ends_with(&format!(" {name}")))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one line for {name:?} in listing:\n{listing}"
    );
    found[0].trim_end_matches('\r')
}

mod curl {
    use super::*;

    /// curl with an error-only, bounded configuration.
    fn curl(args: &[&str]) -> Ran {
        run_with_timeout(
            Command::new("curl")
                .args(["-q", "-sS", "--connect-timeout", "5", "--max-time", "30"])
                .args(args),
            CLIENT_TIMEOUT,
        )
    }

    /// `ftp://alice:pw@127.0.0.1:PORT/%2F<path>`: `path` is absolute in the FTP namespace
    /// (curl sends `CWD /dir` rather than paths relative to the login directory).
    fn url(server: &TestServer, user: (&str, &str), path: &str) -> String {
        format!("{}/%2F{path}", server.url(user))
    }

    #[test]
    fn upload_then_download_is_byte_exact() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(300_001, 1);
        let local = tmp.path().join("up.bin");
        write(&local, &body);

        curl(&[
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "alice/x.bin"),
        ])
        .ok("curl upload");
        assert_eq!(sha256_file(&server.storage("alice/x.bin")), sha256(&body));

        let back = tmp.path().join("down.bin");
        curl(&[
            "-o",
            back.to_str().unwrap(),
            &url(&server, ALICE, "alice/x.bin"),
        ])
        .ok("curl download");
        assert_eq!(sha256_file(&back), sha256(&body));
    }

    #[test]
    fn resumed_download_completes_a_partial_file() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(250_000, 2);
        let local = tmp.path().join("full.bin");
        write(&local, &body);
        curl(&[
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "alice/r.bin"),
        ])
        .ok("curl upload");

        let partial = tmp.path().join("partial.bin");
        write(&partial, &body[..100_000]);
        let ran = curl(&[
            "-v",
            "-C",
            "-",
            "-o",
            partial.to_str().unwrap(),
            &url(&server, ALICE, "alice/r.bin"),
        ])
        .ok("curl -C - download");
        assert!(
            ran.stderr.contains("> REST 100000") && ran.stderr.contains("< 350 "),
            "curl resumed with REST 100000:\n{}",
            ran.stderr
        );
        assert_eq!(sha256_file(&partial), sha256(&body));
    }

    #[test]
    fn resumed_upload_appends_the_rest() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(200_000, 3);
        let half = tmp.path().join("half.bin");
        write(&half, &body[..80_000]);
        curl(&[
            "-T",
            half.to_str().unwrap(),
            &url(&server, ALICE, "alice/u.bin"),
        ])
        .ok("curl upload of the first part");
        assert_eq!(
            std::fs::metadata(server.storage("alice/u.bin"))
                .unwrap()
                .len(),
            80_000
        );

        let full = tmp.path().join("full.bin");
        write(&full, &body);
        curl(&[
            "-C",
            "-",
            "-T",
            full.to_str().unwrap(),
            &url(&server, ALICE, "alice/u.bin"),
        ])
        .ok("curl -C - -T");
        assert_eq!(sha256_file(&server.storage("alice/u.bin")), sha256(&body));
    }

    #[test]
    fn listing_shows_the_uploaded_file() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let local = tmp.path().join("listed.bin");
        write(&local, &pseudo_random(12_345, 4));
        curl(&[
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "alice/listed.bin"),
        ])
        .ok("curl upload");

        let listing = curl(&[&url(&server, ALICE, "alice/")])
            .ok("curl LIST")
            .stdout;
        assert_eq!(listing.lines().count(), 1, "listing:\n{listing}");
        let (mode, links, owner, group, size, name) =
            ls_fields(ls_line_for(&listing, "listed.bin"));
        // SPEC: an upload outside Public is private and owned by the uploader.
        assert_eq!(
            (
                mode.as_str(),
                links.as_str(),
                owner.as_str(),
                group.as_str()
            ),
            ("-rw-------", "1", "alice", "ftp"),
            "listing:\n{listing}"
        );
        assert_eq!((size, name.as_str()), (12_345, "listed.bin"));

        let names = curl(&["--list-only", &url(&server, ALICE, "alice/")])
            .ok("curl NLST")
            .stdout;
        assert_eq!(names, "listed.bin\n");

        // Public uploads are public, and bob sees them with alice as the owner.
        curl(&[
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "Public/shared.bin"),
        ])
        .ok("curl upload to Public");
        let listing = curl(&[&url(&server, BOB, "Public/")])
            .ok("curl LIST as bob")
            .stdout;
        let (mode, _, owner, _, size, _) = ls_fields(ls_line_for(&listing, "shared.bin"));
        assert_eq!(
            (mode.as_str(), owner.as_str(), size),
            ("-rw-r--r--", "alice", 12_345),
            "listing:\n{listing}"
        );
    }

    #[test]
    fn create_dirs_makes_the_missing_path() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(5_000, 5);
        let local = tmp.path().join("f.txt");
        write(&local, &body);
        curl(&[
            "--ftp-create-dirs",
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "alice/a/b%20c/d/f.txt"),
        ])
        .ok("curl --ftp-create-dirs");
        assert!(server.storage("alice/a/b c/d").is_dir());
        assert_eq!(
            sha256_file(&server.storage("alice/a/b c/d/f.txt")),
            sha256(&body)
        );
    }

    #[test]
    fn active_mode_eprt_and_port() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(150_000, 6);
        let local = tmp.path().join("act.bin");
        write(&local, &body);

        // EPRT (curl's default for -P).
        let ran = curl(&[
            "-v",
            "-P",
            "127.0.0.1",
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "alice/act.bin"),
        ])
        .ok("curl -P upload");
        assert!(
            ran.stderr.contains("> EPRT |1|127.0.0.1|"),
            "{}",
            ran.stderr
        );
        assert_eq!(sha256_file(&server.storage("alice/act.bin")), sha256(&body));

        // PORT.
        let back = tmp.path().join("back.bin");
        let ran = curl(&[
            "-v",
            "--disable-eprt",
            "-P",
            "127.0.0.1",
            "-o",
            back.to_str().unwrap(),
            &url(&server, ALICE, "alice/act.bin"),
        ])
        .ok("curl -P --disable-eprt download");
        assert!(ran.stderr.contains("> PORT 127,0,0,1,"), "{}", ran.stderr);
        assert_eq!(sha256_file(&back), sha256(&body));
    }

    #[test]
    fn quote_dele_removes_the_file() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let local = tmp.path().join("x");
        write(&local, b"delete me\n");
        curl(&[
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "alice/x"),
        ])
        .ok("curl upload");
        curl(&[
            "-T",
            local.to_str().unwrap(),
            &url(&server, ALICE, "alice/keep"),
        ])
        .ok("curl upload");
        assert!(server.storage("alice/x").exists());

        // -Q runs after login, in the login directory /alice; then curl lists it.
        let names = curl(&[
            "-Q",
            "DELE x",
            "--list-only",
            &url(&server, ALICE, "alice/"),
        ])
        .ok("curl -Q DELE")
        .stdout;
        assert!(!server.storage("alice/x").exists());
        assert_eq!(names, "keep\n");

        // DELE of a missing file: the quote command fails, CURLE_QUOTE_ERROR.
        let ran = curl(&[
            "-Q",
            "DELE x",
            "--list-only",
            &url(&server, ALICE, "alice/"),
        ]);
        assert_eq!(ran.code(), Some(21), "{ran:?}");
        assert!(ran.stderr.contains("550"), "{ran:?}");
    }

    #[test]
    fn failures_give_curls_exact_exit_codes() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");

        // RETR of a missing file: 550 -> CURLE_REMOTE_FILE_NOT_FOUND (78).
        let ran = curl(&[
            "-o",
            out.to_str().unwrap(),
            &url(&server, ALICE, "alice/missing.bin"),
        ]);
        assert_eq!(ran.code(), Some(78), "{ran:?}");

        // CWD into a missing directory: CURLE_REMOTE_ACCESS_DENIED (9).
        let ran = curl(&[
            "-o",
            out.to_str().unwrap(),
            &url(&server, ALICE, "alice/nodir/f.bin"),
        ]);
        assert_eq!(ran.code(), Some(9), "{ran:?}");

        // Wrong password: 530 -> CURLE_LOGIN_DENIED (67).
        let ran = curl(&[&format!("ftp://alice:wrong@127.0.0.1:{}/", server.port())]);
        assert_eq!(ran.code(), Some(67), "{ran:?}");

        // Another user's home is not granted: bob cannot enter /alice.
        let ran = curl(&[&url(&server, BOB, "alice/")]);
        assert_eq!(ran.code(), Some(9), "{ran:?}");
    }
}

mod lftp {
    use super::*;
    use crate::support::tree_hashes;

    /// Runs `script` in lftp logged in as alice; fail-exit, bounded retries and timeouts,
    /// so a failure exits non-zero quickly instead of retrying for ever.
    fn lftp(server: &TestServer, local_cwd: &Path, settings: &str, script: &str) -> Ran {
        let full = format!(
            "set cmd:fail-exit true; set net:max-retries 1; set net:timeout 10; \
             set net:reconnect-interval-base 1; set ftp:ssl-allow false; \
             set xfer:clobber true; {settings}; \
             open -u {},{} -p {} 127.0.0.1; {script}; bye",
            ALICE.0,
            ALICE.1,
            server.port()
        );
        run_with_timeout(
            Command::new("lftp")
                .arg("-c")
                .arg(full)
                .current_dir(local_cwd)
                .env("HOME", local_cwd),
            CLIENT_TIMEOUT,
        )
    }

    const PASSIVE: &str = "set ftp:passive-mode true";
    const ACTIVE: &str = "set ftp:passive-mode false";

    #[test]
    fn mirror_round_trip_of_a_nested_tree() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let local = tmp.path().join("local tree");
        let dirs = [
            "",
            "docs",
            "docs/read me",
            "docs/read me/deeper level",
            "docs/read me/deeper level/bottom",
            "media files",
            "media files/2026",
        ];
        let sizes = [0, 1, 100, 4_096, 65_537, 1 << 20];
        let mut count = 0;
        for i in 0..50 {
            let dir = dirs[i % dirs.len()];
            let name = if i % 3 == 0 {
                format!("file number {i}.dat")
            } else {
                format!("f{i}.bin")
            };
            // One 1 MB file, a few empty ones, the rest small.
            let size = if i == 7 { 1 << 20 } else { sizes[i % 5] };
            write(
                &local.join(dir).join(name),
                &pseudo_random(size, 100 + i as u64),
            );
            count += 1;
        }
        assert_eq!(count, 50);
        let sent = tree_hashes(&local);
        assert_eq!(sent.len(), 50);
        assert!(sent.values().any(|h| *h == sha256(b"")), "an empty file");

        lftp(&server, tmp.path(), PASSIVE, "mirror -R 'local tree' tree").ok("mirror -R");
        assert_eq!(
            tree_hashes(&server.storage("alice/tree")),
            sent,
            "server storage matches what was sent"
        );

        lftp(&server, tmp.path(), PASSIVE, "mirror tree back").ok("mirror");
        assert_eq!(tree_hashes(&tmp.path().join("back")), sent);
    }

    #[test]
    fn one_liners_put_ls_mkdir_mv_get_rm() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(70_000, 7);
        write(&tmp.path().join("one.bin"), &body);

        lftp(&server, tmp.path(), PASSIVE, "put one.bin").ok("put");
        assert_eq!(sha256_file(&server.storage("alice/one.bin")), sha256(&body));

        let listing = lftp(&server, tmp.path(), PASSIVE, "ls").ok("ls").stdout;
        let (_, _, _, _, size, name) = ls_fields(ls_line_for(&listing, "one.bin"));
        assert_eq!((size, name.as_str()), (70_000, "one.bin"));
        assert_eq!(listing.lines().count(), 1, "listing:\n{listing}");

        lftp(&server, tmp.path(), PASSIVE, "mkdir 'new dir'").ok("mkdir");
        assert!(server.storage("alice/new dir").is_dir());

        lftp(&server, tmp.path(), PASSIVE, "mv one.bin 'new dir/two.bin'").ok("mv");
        assert!(!server.storage("alice/one.bin").exists());
        assert_eq!(
            sha256_file(&server.storage("alice/new dir/two.bin")),
            sha256(&body)
        );

        lftp(
            &server,
            tmp.path(),
            PASSIVE,
            "get 'new dir/two.bin' -o fetched.bin",
        )
        .ok("get");
        assert_eq!(sha256_file(&tmp.path().join("fetched.bin")), sha256(&body));

        let names = lftp(&server, tmp.path(), PASSIVE, "cls -1 'new dir/'")
            .ok("cls")
            .stdout;
        assert_eq!(names, "new dir/two.bin\n");

        lftp(&server, tmp.path(), PASSIVE, "rm 'new dir/two.bin'").ok("rm");
        assert!(!server.storage("alice/new dir/two.bin").exists());
        lftp(&server, tmp.path(), PASSIVE, "rmdir 'new dir'").ok("rmdir");
        assert!(!server.storage("alice/new dir").exists());

        // A failing command makes lftp exit non-zero (cmd:fail-exit).
        let ran = lftp(&server, tmp.path(), PASSIVE, "get missing.bin");
        assert!(!ran.success(), "get of a missing file fails: {ran:?}");
        assert!(ran.stderr.contains("550"), "{ran:?}");
    }

    #[test]
    fn active_mode_put_get_ls() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(200_000, 8);
        write(&tmp.path().join("act.bin"), &body);

        lftp(
            &server,
            tmp.path(),
            ACTIVE,
            "put act.bin; get act.bin -o back.bin; ls",
        )
        .ok("active put/get/ls");
        assert_eq!(sha256_file(&server.storage("alice/act.bin")), sha256(&body));
        assert_eq!(sha256_file(&tmp.path().join("back.bin")), sha256(&body));
    }
}

mod ftplib {
    use super::*;

    /// Login, binary round trip, NLST, MLSD, rename, delete, and a wrong password; prints
    /// one JSON object for the Rust side to check.
    const SCRIPT: &str = r#"
import ftplib, hashlib, io, json, sys
port = int(sys.argv[1])
out = {}
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=15)
out["login"] = ftp.login("alice", "alice-pw")
out["pwd"] = ftp.pwd()
data = bytes((i * 7 + i // 251) % 256 for i in range(333333))
out["sent_sha"] = hashlib.sha256(data).hexdigest()
out["stor"] = ftp.storbinary("STOR py.bin", io.BytesIO(data))
got = bytearray()
out["retr"] = ftp.retrbinary("RETR py.bin", got.extend)
out["got_sha"] = hashlib.sha256(bytes(got)).hexdigest()
out["nlst"] = sorted(ftp.nlst())
out["mlsd"] = {name: facts for name, facts in ftp.mlsd()}
out["size"] = ftp.size("py.bin")
out["rename"] = ftp.rename("py.bin", "renamed.bin")
out["after_rename"] = sorted(ftp.nlst())
out["delete"] = ftp.delete("renamed.bin")
out["after_delete"] = sorted(ftp.nlst())
ftp.quit()
bad = ftplib.FTP()
bad.connect("127.0.0.1", port, timeout=15)
try:
    bad.login("alice", "not-the-password")
    out["wrong_password"] = "accepted"
except ftplib.error_perm as e:
    out["wrong_password"] = str(e)
bad.close()
print(json.dumps(out))
"#;

    #[test]
    fn login_round_trip_nlst_mlsd_rename_delete_and_530() {
        let server = TestServer::start();
        let ran = run_with_timeout(
            Command::new("python3")
                .arg("-c")
                .arg(SCRIPT)
                .arg(server.port().to_string()),
            CLIENT_TIMEOUT,
        )
        .ok("python ftplib script");
        let out: serde_json::Value = serde_json::from_str(ran.stdout.trim())
            .unwrap_or_else(|e| panic!("JSON from the script ({e}): {}", ran.stdout));
        let s = |k: &str| out[k].as_str().unwrap_or_default().to_owned();

        assert_eq!(s("login"), "230 Login successful.");
        assert_eq!(s("pwd"), "/alice");
        assert!(s("stor").starts_with("226 "), "{out}");
        assert!(s("retr").starts_with("226 "), "{out}");
        assert_eq!(s("got_sha"), s("sent_sha"));
        assert_eq!(out["nlst"], serde_json::json!(["py.bin"]));
        assert_eq!(out["size"], serde_json::json!(333_333));

        let facts = &out["mlsd"]["py.bin"];
        assert_eq!(facts["type"], "file", "{out}");
        assert_eq!(facts["size"], "333333", "{out}");
        assert_eq!(facts["unix.owner"], "alice", "{out}");
        let modify = facts["modify"].as_str().unwrap_or_default();
        assert!(
            modify.len() == 14 && modify.bytes().all(|b| b.is_ascii_digit()),
            "modify fact: {out}"
        );
        let perm = facts["perm"].as_str().unwrap_or_default();
        for p in ['r', 'w', 'd', 'f'] {
            assert!(perm.contains(p), "owner's perm has {p}: {out}");
        }
        assert!(
            !facts["unique"].as_str().unwrap_or_default().is_empty(),
            "{out}"
        );

        assert!(s("rename").starts_with("250 "), "{out}");
        assert_eq!(out["after_rename"], serde_json::json!(["renamed.bin"]));
        assert!(s("delete").starts_with("250 "), "{out}");
        assert_eq!(out["after_delete"], serde_json::json!([]));
        assert!(!server.storage("alice/renamed.bin").exists());
        assert_eq!(s("wrong_password"), "530 Login incorrect.");
    }
}

/// rclone (Debian's package): copy, check, sync and purge of a 200-file tree with its
/// default concurrency (`--transfers 4 --checkers 8`), plain, explicit and implicit FTPS.
/// rclone keeps one TLS session cache for all its connections, so data connections offer
/// sessions issued to sibling control connections of the same login.
mod rclone {
    use super::*;
    use crate::support::tree_hashes;

    fn rclone(work: &Path, args: &[&str]) -> Ran {
        run_with_timeout(
            Command::new("rclone")
                .args(args)
                .arg("--config")
                .arg(work.join("rclone.conf"))
                .args(["--low-level-retries", "1", "--retries", "1"])
                .env("HOME", work)
                .env_remove("RCLONE_CONFIG")
                .current_dir(work),
            240,
        )
        .ok(&format!("rclone {args:?}"))
    }

    fn configure(work: &Path, port: u16, tls: &str) {
        let port = format!("port={port}");
        let mut args = vec![
            "config",
            "create",
            "lan",
            "ftp",
            "host=127.0.0.1",
            &port,
            "user=alice",
            "pass=alice-pw",
            "--obscure",
        ];
        let tls_on = format!("{tls}=true");
        if !tls.is_empty() {
            args.extend([tls_on.as_str(), "no_check_certificate=true"]);
        }
        rclone(work, &args);
    }

    fn tree(work: &Path) {
        for i in 0..200u64 {
            let dir = work.join(format!("tree/d{}", i % 10));
            std::fs::create_dir_all(&dir).unwrap();
            let body = crate::support::pseudo_random(100 + i as usize * 37, i);
            std::fs::write(dir.join(format!("f{i:03}.bin")), body).unwrap();
        }
    }

    fn round_trip(tls: &str) {
        let (server, implicit) = TestServer::start_tls(|_| {});
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        tree(w);
        let port = if tls == "tls" {
            implicit.port()
        } else {
            server.port()
        };
        configure(w, port, tls);
        rclone(w, &["copy", "tree", "lan:tree"]);
        rclone(w, &["check", "tree", "lan:tree"]);
        assert_eq!(
            tree_hashes(&server.storage("alice/tree")),
            tree_hashes(&w.join("tree"))
        );
        std::fs::remove_file(w.join("tree/d3/f003.bin")).unwrap();
        std::fs::write(w.join("tree/d4/new.bin"), b"new").unwrap();
        rclone(w, &["sync", "tree", "lan:tree"]);
        assert_eq!(
            tree_hashes(&server.storage("alice/tree")),
            tree_hashes(&w.join("tree"))
        );
        rclone(w, &["copy", "lan:tree", "back"]);
        assert_eq!(tree_hashes(&w.join("back")), tree_hashes(&w.join("tree")));
        rclone(w, &["purge", "lan:tree"]);
        assert!(!server.storage("alice/tree").exists());
    }

    #[test]
    fn plain() {
        round_trip("");
    }

    #[test]
    fn explicit_tls() {
        round_trip("explicit_tls");
    }

    #[test]
    fn implicit_tls() {
        round_trip("tls");
    }
}

/// aioftp (pip): upload, listing and download, plain, explicit and implicit FTPS. It
/// finishes a data connection's TLS handshake before it sends the transfer command.
mod aioftp {
    use super::*;

    const AIOFTP_SCRIPT: &str = r#"
import asyncio, ssl, sys
import aioftp

async def main(port, mode, body_path):
    body = open(body_path, "rb").read()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = aioftp.Client(**({"ssl": context} if mode == "implicit" else {}))
    await client.connect("127.0.0.1", port)
    if mode == "explicit":
        await client.upgrade_to_tls(context)
    await client.login("alice", "alice-pw")
    async with client.upload_stream("up.bin") as stream:
        await stream.write(body)
    names = [str(path) for path, info in await client.list()]
    assert "up.bin" in names, names
    got = b""
    async with client.download_stream("up.bin") as stream:
        async for block in stream.iter_by_block():
            got += block
    assert got == body, (len(got), len(body))
    await client.quit()
    print("ok", len(body))

asyncio.run(asyncio.wait_for(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]), 60))
"#;

    fn round_trip(mode: &str) {
        let (server, implicit) = TestServer::start_tls(|_| {});
        let port = if mode == "implicit" {
            implicit.port()
        } else {
            server.port()
        };
        let dir = tempfile::tempdir().unwrap();
        let body = crate::support::pseudo_random(300_000, 77);
        let body_path = dir.path().join("body.bin");
        std::fs::write(&body_path, &body).unwrap();
        let ran = crate::support::python(
            AIOFTP_SCRIPT,
            &[&port.to_string(), mode, body_path.to_str().unwrap()],
            90,
        )
        .ok(&format!("aioftp {mode}"));
        assert_eq!(ran.stdout.trim(), "ok 300000");
        assert_eq!(std::fs::read(server.storage("alice/up.bin")).unwrap(), body);
    }

    #[test]
    fn plain() {
        round_trip("plain");
    }

    #[test]
    fn explicit_tls() {
        round_trip("explicit");
    }

    #[test]
    fn implicit_tls() {
        round_trip("implicit");
    }
}

/// tnftp (NetBSD's `ftp`), scripted on stdin: `mget` with a wildcard, which it sends as NLST.
mod tnftp {
    use super::*;

    #[test]
    fn mget_with_a_wildcard() {
        let server = TestServer::start();
        for name in ["f00.bin", "f001.bin", "f1.bin"] {
            crate::support::place(
                &server,
                &format!("alice/{name}"),
                name.as_bytes(),
                "alice",
                false,
            );
        }
        let work = tempfile::tempdir().unwrap();
        let script = "user alice alice-pw\nbinary\nprompt\nmget f00*.bin\nbye\n";
        let ran = crate::support::run_with_input(
            Command::new("tnftp")
                .args(["-n", "-P", &server.port().to_string(), "127.0.0.1"])
                .current_dir(work.path())
                .env("HOME", work.path()),
            Some(script.as_bytes()),
            60,
        )
        .ok("tnftp mget");
        assert_eq!(
            std::fs::read(work.path().join("f00.bin")).unwrap(),
            b"f00.bin",
            "{}",
            ran.stdout
        );
        assert_eq!(
            std::fs::read(work.path().join("f001.bin")).unwrap(),
            b"f001.bin"
        );
        assert!(!work.path().join("f1.bin").exists());
    }
}
