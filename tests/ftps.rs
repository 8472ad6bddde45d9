//! FTPS: explicit (`AUTH TLS`) and implicit TLS against real clients (Python ftplib, curl,
//! lftp, suppaftp over rustls) and a raw rustls client for exact replies. Every transfer is
//! checked byte for byte (SHA-256); every external client runs under a time limit.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    ALICE, Ran, Raw, TestServer, TlsRaw, dir_names, pseudo_random, python, run_with_timeout,
    sha256, sha256_file, tls_client_config, wait_until,
};

/// Seconds any one client invocation may take.
const CLIENT_TIMEOUT: u64 = 60;
/// Size of the round-trip files: a few MB.
const BIG: usize = 3 * 1024 * 1024 + 12_345;

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// Reads from `s` until EOF (or a reset) within `within`; returns what arrived, or `None`
/// if the connection was still open when the time ran out.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(got), // reset: closed too
        }
    }
}

mod python {
    use super::*;

    /// argv: host port user password mode local-file. `mode` is `reuse` (the SPEC's
    /// subclass that resumes the control session on data connections) or `stock`.
    const SCRIPT: &str = r#"
import ftplib, hashlib, io, ssl, sys

host, port, user, pw, mode, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

class ReusingFTP_TLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

cls = ReusingFTP_TLS if mode == "reuse" else ftplib.FTP_TLS
ftp = cls(context=ctx, timeout=20)
ftp.connect(host, port)
print("AUTH", ftp.auth().strip())
ftp.login(user, pw)
print("PROT", ftp.prot_p().strip())
try:
    print("NLST0", ftp.nlst())
except ftplib.error_perm as e:
    print("REFUSED", str(e).strip())
    ftp.quit()
    sys.exit(0)
except ssl.SSLError as e:
    # What a refused data connection closed without TLS close_notify does to ftplib.
    print("SSLERROR", e)
    print("THEN", ftp.getline())
    sys.exit(0)
data = open(path, "rb").read()
print("STOR", ftp.storbinary("STOR up.bin", io.BytesIO(data)).strip())
out = io.BytesIO()
print("RETR", ftp.retrbinary("RETR up.bin", out.write).strip())
print("SHA", hashlib.sha256(out.getvalue()).hexdigest())
print("NLST", " ".join(sorted(ftp.nlst())))
for name, facts in sorted(ftp.mlsd()):
    print("MLSD", name, facts.get("type"), facts.get("size"))
ftp.quit()
"#;

    fn run(server: &TestServer, mode: &str, body: &[u8]) -> Ran {
        let tmp = tempfile::tempdir().unwrap();
        let local = tmp.path().join("body.bin");
        write(&local, body);
        let port = server.port().to_string();
        python(
            SCRIPT,
            &[
                "127.0.0.1",
                &port,
                ALICE.0,
                ALICE.1,
                mode,
                local.to_str().unwrap(),
            ],
            CLIENT_TIMEOUT,
        )
        .ok("python ftplib FTPS script")
    }

    fn assert_round_trip(server: &TestServer, out: &str, body: &[u8]) {
        assert!(out.contains("AUTH 234 "), "{out}");
        assert!(out.contains("PROT 200 "), "{out}");
        assert!(out.contains("NLST0 []"), "{out}");
        assert!(out.contains("STOR 226 "), "{out}");
        assert!(out.contains("RETR 226 "), "{out}");
        assert!(
            out.contains(&format!("SHA {}", sha256(body))),
            "downloaded bytes match:\n{out}"
        );
        assert!(out.contains("NLST up.bin\n"), "{out}");
        assert!(
            out.contains(&format!("MLSD up.bin file {}\n", body.len())),
            "{out}"
        );
        assert_eq!(sha256_file(&server.storage("alice/up.bin")), sha256(body));
    }

    #[test]
    fn resuming_subclass_round_trips_and_lists() {
        let server = TestServer::start();
        let body = pseudo_random(BIG, 11);
        let out = run(&server, "reuse", &body).stdout;
        assert_round_trip(&server, &out, &body);
    }

    /// Stock `FTP_TLS` does not resume the control session on data connections: its first
    /// transfer is refused with 522 while the check is on.
    #[test]
    fn stock_ftp_tls_is_refused_with_522() {
        let server = TestServer::start();
        let out = run(&server, "stock", b"unused").stdout;
        assert!(
            out.contains(
                "REFUSED 522 TLS session of the data connection must resume the control connection's session."
            ),
            "{out}"
        );
        assert!(!server.storage("alice/up.bin").exists());
    }

    #[test]
    fn stock_ftp_tls_works_without_the_reuse_check() {
        let server = TestServer::start_with(|s| s.tls_session_reuse = false);
        let body = pseudo_random(BIG, 12);
        let out = run(&server, "stock", &body).stdout;
        assert_round_trip(&server, &out, &body);
    }
}

mod curl {
    use super::*;

    fn curl(args: &[&str]) -> Ran {
        run_with_timeout(
            Command::new("curl")
                .args([
                    "-q",
                    "-sS",
                    "-k",
                    "--connect-timeout",
                    "5",
                    "--max-time",
                    "40",
                ])
                .args(args),
            CLIENT_TIMEOUT,
        )
    }

    /// `ftp://alice:pw@127.0.0.1:PORT/%2F<path>` (absolute path in the FTP namespace).
    fn url(server: &TestServer, path: &str) -> String {
        format!("{}/%2F{path}", server.url(ALICE))
    }

    #[test]
    fn explicit_upload_download_listing_and_resume() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(BIG, 21);
        let local = tmp.path().join("up.bin");
        write(&local, &body);

        let ran = curl(&[
            "-v",
            "--ssl-reqd",
            "-T",
            local.to_str().unwrap(),
            &url(&server, "alice/x.bin"),
        ])
        .ok("curl --ssl-reqd upload");
        // curl tries AUTH SSL first (which implies PROT P here), then AUTH TLS.
        assert!(
            (ran.stderr.contains("> AUTH SSL") || ran.stderr.contains("> AUTH TLS"))
                && ran.stderr.contains("< 234 Proceed with negotiation."),
            "{}",
            ran.stderr
        );
        assert!(ran.stderr.contains("> PROT P"), "{}", ran.stderr);
        assert_eq!(sha256_file(&server.storage("alice/x.bin")), sha256(&body));

        let back = tmp.path().join("down.bin");
        curl(&[
            "--ssl-reqd",
            "-o",
            back.to_str().unwrap(),
            &url(&server, "alice/x.bin"),
        ])
        .ok("curl --ssl-reqd download");
        assert_eq!(sha256_file(&back), sha256(&body));

        let listing = curl(&["--ssl-reqd", &url(&server, "alice/")])
            .ok("curl --ssl-reqd LIST")
            .stdout;
        let line = listing.lines().find(|l| l.ends_with(" x.bin"));
        assert!(
            line.is_some_and(|l| l.contains(&format!(" {} ", body.len()))),
            "listing:\n{listing}"
        );
        let names = curl(&["--ssl-reqd", "--list-only", &url(&server, "alice/")])
            .ok("curl --ssl-reqd NLST")
            .stdout;
        assert_eq!(names, "x.bin\n");

        // Resumed download: REST + RETR over a protected data connection.
        let partial = tmp.path().join("partial.bin");
        write(&partial, &body[..1_000_000]);
        let ran = curl(&[
            "-v",
            "--ssl-reqd",
            "-C",
            "-",
            "-o",
            partial.to_str().unwrap(),
            &url(&server, "alice/x.bin"),
        ])
        .ok("curl --ssl-reqd -C - download");
        assert!(ran.stderr.contains("> REST 1000000"), "{}", ran.stderr);
        assert_eq!(sha256_file(&partial), sha256(&body));

        // Resumed upload: the server has the first part, curl appends the rest.
        let half = tmp.path().join("half.bin");
        write(&half, &body[..700_001]);
        curl(&[
            "--ssl-reqd",
            "-T",
            half.to_str().unwrap(),
            &url(&server, "alice/r.bin"),
        ])
        .ok("curl --ssl-reqd upload of the first part");
        assert_eq!(
            std::fs::metadata(server.storage("alice/r.bin"))
                .unwrap()
                .len(),
            700_001
        );
        curl(&[
            "--ssl-reqd",
            "-C",
            "-",
            "-T",
            local.to_str().unwrap(),
            &url(&server, "alice/r.bin"),
        ])
        .ok("curl --ssl-reqd -C - -T");
        assert_eq!(sha256_file(&server.storage("alice/r.bin")), sha256(&body));
    }

    #[test]
    fn implicit_upload_download_listing() {
        let (server, implicit) = TestServer::start_tls(|_| {});
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(BIG, 22);
        let local = tmp.path().join("up.bin");
        write(&local, &body);
        let url = |path: &str| {
            format!(
                "ftps://{}:{}@127.0.0.1:{}/%2F{path}",
                ALICE.0,
                ALICE.1,
                implicit.port()
            )
        };

        curl(&["-T", local.to_str().unwrap(), &url("alice/i.bin")]).ok("curl ftps:// upload");
        assert_eq!(sha256_file(&server.storage("alice/i.bin")), sha256(&body));

        let back = tmp.path().join("down.bin");
        curl(&["-o", back.to_str().unwrap(), &url("alice/i.bin")]).ok("curl ftps:// download");
        assert_eq!(sha256_file(&back), sha256(&body));

        let names = curl(&["--list-only", &url("alice/")])
            .ok("curl ftps:// NLST")
            .stdout;
        assert_eq!(names, "i.bin\n");
    }
}

mod lftp {

    use super::*;
    use crate::support::tree_hashes;

    fn lftp(server: &TestServer, cwd: &Path, settings: &str, script: &str) -> Ran {
        let full = format!(
            "set ftp:ssl-force true; set ftp:ssl-protect-data true; \
             set ssl:verify-certificate false; set net:max-retries 1; set net:timeout 10; \
             set net:reconnect-interval-base 1; set cmd:fail-exit true; set xfer:clobber true; \
             {settings}; open -u {},{} -p {} 127.0.0.1; {script}; bye",
            ALICE.0,
            ALICE.1,
            server.port()
        );
        run_with_timeout(
            Command::new("lftp")
                .arg("-c")
                .arg(full)
                .current_dir(cwd)
                .env("HOME", cwd),
            CLIENT_TIMEOUT,
        )
    }

    #[test]
    fn put_get_ls_and_mirror_over_protected_data() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(BIG, 31);
        write(&tmp.path().join("big.bin"), &body);
        let tree = tmp.path().join("tree");
        let dirs = ["", "a", "a/b c", "d"];
        for i in 0..12 {
            let size = [0, 1, 1000, 70_000][i % 4];
            write(
                &tree.join(dirs[i % dirs.len()]).join(format!("f{i}.bin")),
                &pseudo_random(size, 300 + i as u64),
            );
        }
        let sent = tree_hashes(&tree);
        assert_eq!(sent.len(), 12);

        // One control session, many protected data connections: each must resume.
        let ran = lftp(
            &server,
            tmp.path(),
            "set ftp:passive-mode true",
            "put big.bin; get big.bin -o back.bin; ls; mirror -R tree tree; mirror tree tree-back; cls -1 tree",
        )
        .ok("lftp over FTPS");
        assert_eq!(sha256_file(&server.storage("alice/big.bin")), sha256(&body));
        assert_eq!(sha256_file(&tmp.path().join("back.bin")), sha256(&body));
        assert!(
            ran.stdout
                .lines()
                .any(|l| l.ends_with(" big.bin") && l.contains(&format!(" {} ", body.len()))),
            "ls output:\n{}",
            ran.stdout
        );
        assert!(ran.stdout.contains("\nd/\n") || ran.stdout.contains("d/"));
        assert_eq!(tree_hashes(&server.storage("alice/tree")), sent);
        assert_eq!(tree_hashes(&tmp.path().join("tree-back")), sent);
    }

    #[test]
    fn active_mode_put_and_get() {
        let server = TestServer::start();
        let tmp = tempfile::tempdir().unwrap();
        let body = pseudo_random(BIG, 32);
        write(&tmp.path().join("act.bin"), &body);
        lftp(
            &server,
            tmp.path(),
            "set ftp:passive-mode false",
            "put act.bin; get act.bin -o act-back.bin",
        )
        .ok("lftp active mode over FTPS");
        assert_eq!(sha256_file(&server.storage("alice/act.bin")), sha256(&body));
        assert_eq!(sha256_file(&tmp.path().join("act-back.bin")), sha256(&body));
    }
}

mod suppaftp_rustls {
    use std::io::Cursor;

    use suppaftp::types::FileType;
    use suppaftp::{RustlsConnector, RustlsFtpStream};

    use super::*;

    /// `RustlsFtpStream::connect(..).into_secure(..)` (AUTH TLS, PBSZ 0, PROT P), logged in
    /// as alice, binary type.
    fn connect(server: &TestServer) -> RustlsFtpStream {
        let ftp = RustlsFtpStream::connect(server.addr).expect("connect");
        let mut ftp = ftp
            .into_secure(
                RustlsConnector::from(server.tls_client_config()),
                "localhost",
            )
            .expect("AUTH TLS, PBSZ, PROT P");
        ftp.login(ALICE.0, ALICE.1).expect("login");
        ftp.transfer_type(FileType::Binary).expect("TYPE I");
        ftp
    }

    #[test]
    fn round_trip_and_listings() {
        let server = TestServer::start();
        let body = pseudo_random(BIG, 41);
        let mut ftp = connect(&server);
        let n = ftp
            .put_file("s.bin", &mut Cursor::new(body.clone()))
            .expect("STOR");
        assert_eq!(n, body.len() as u64);
        assert_eq!(sha256_file(&server.storage("alice/s.bin")), sha256(&body));
        let back = ftp.retr_as_buffer("s.bin").expect("RETR").into_inner();
        assert_eq!(sha256(&back), sha256(&body));
        ftp.quit().expect("QUIT");

        let mut ftp = connect(&server);
        assert_eq!(ftp.nlst(None).expect("NLST"), ["s.bin"]);
        let mlsd = ftp.mlsd(None).expect("MLSD");
        assert!(
            mlsd.iter()
                .any(|l| l.contains(&format!("size={};", body.len())) && l.ends_with(" s.bin")),
            "{mlsd:?}"
        );
        ftp.quit().expect("QUIT");

        let mut ftp = connect(&server);
        let list = ftp.list(None).expect("LIST");
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(list[0].ends_with(" s.bin"), "{list:?}");
        ftp.quit().expect("QUIT");
    }

    /// Many data connections in one control session (as in any sync client): each must
    /// resume the control session, though rustls uses each TLS 1.3 ticket only once.
    #[test]
    fn many_data_connections_in_one_session() {
        let server = TestServer::start();
        let mut ftp = connect(&server);
        for i in 0..5 {
            let small = pseudo_random(10_000 + i, 50 + i as u64);
            let name = format!("small{i}.bin");
            ftp.put_file(&name, &mut Cursor::new(small.clone()))
                .unwrap_or_else(|e| panic!("data connection {}: STOR: {e}", 2 * i + 1));
            let got = ftp
                .retr_as_buffer(&name)
                .unwrap_or_else(|e| panic!("data connection {}: RETR: {e}", 2 * i + 2))
                .into_inner();
            assert_eq!(got, small);
        }
        let names = ftp.nlst(None).expect("data connection 11: NLST");
        assert_eq!(names.len(), 5, "{names:?}");
        ftp.quit().expect("QUIT");
    }
}

/// Exact control replies of the security commands (RFC 2228/4217), via raw connections.
mod control {
    use super::*;

    #[test]
    fn security_command_replies() {
        let server = TestServer::start();
        let mut plain = server.raw();
        let feat = plain.cmd("FEAT");
        for line in [" AUTH TLS\r\n", " PBSZ\r\n", " PROT\r\n"] {
            assert!(feat.contains(line), "FEAT lacks {line:?}:\n{feat}");
        }
        assert!(plain.cmd("PBSZ 0").starts_with("503 "), "PBSZ before AUTH");
        assert!(plain.cmd("PROT P").starts_with("503 "), "PROT before AUTH");
        assert!(plain.cmd("AUTH KERBEROS").starts_with("504 "));
        drop(plain);

        let mut tls = server.tls_raw(); // asserts `234 Proceed with negotiation.`
        assert!(tls.cmd("PROT P").starts_with("503 "), "PROT before PBSZ");
        assert!(tls.cmd("AUTH TLS").starts_with("503 "), "AUTH twice");
        assert_eq!(tls.cmd("PBSZ 0"), "200 PBSZ=0\r\n");
        assert!(tls.cmd("PROT S").starts_with("536 "));
        assert!(tls.cmd("PROT E").starts_with("536 "));
        assert!(tls.cmd("PROT X").starts_with("504 "));
        assert!(tls.cmd("PROT C").starts_with("200 "));
        assert!(tls.cmd("PROT P").starts_with("200 "));
        let feat = tls.cmd("FEAT");
        assert!(feat.contains(" AUTH TLS\r\n"), "{feat}");
        tls.login(ALICE);
        let r = tls.cmd("CCC");
        assert!(r.starts_with("534 "), "{r}");
        // Still TLS after CCC was refused.
        assert!(tls.cmd("NOOP").starts_with("200 "));
        assert!(tls.cmd("QUIT").starts_with("221 "));
    }

    /// SECURITY: a command pipelined after AUTH TLS in clear text is not run as if it came
    /// over TLS (CVE-2011-0411 style injection): the server answers 421 and closes.
    #[test]
    fn plaintext_pipelined_after_auth_closes_with_421() {
        let server = TestServer::start();
        let mut raw = server.raw();
        raw.send_bytes(b"AUTH TLS\r\nNOOP\r\n");
        let r = raw.reply();
        assert!(r.starts_with("421 "), "{r}");
        raw.set_timeout(Duration::from_secs(5));
        assert!(raw.at_eof(), "closed after 421");
        // The server still serves others.
        let mut ok = server.tls_raw();
        ok.login(ALICE);
    }

    #[test]
    fn require_tls_refuses_plain_login_and_unprotected_transfers() {
        let server = TestServer::start_with(|s| s.require_tls = true);
        let mut plain = server.raw();
        assert_eq!(
            plain.cmd("USER alice"),
            "530 TLS required: use AUTH TLS first.\r\n"
        );
        assert_eq!(
            plain.cmd("PASS alice-pw"),
            "530 TLS required: use AUTH TLS first.\r\n"
        );
        drop(plain);

        std::fs::write(server.storage("alice/f.txt"), b"hello").unwrap();
        let mut tls = server.tls_raw();
        tls.login(ALICE);
        // No PROT at all, then PROT C: transfers refused with 521.
        let refused = "521 Data connections must be protected: use PROT P.\r\n";
        assert_eq!(tls.cmd("LIST"), refused);
        assert_eq!(tls.cmd("PBSZ 0"), "200 PBSZ=0\r\n");
        assert!(tls.cmd("PROT C").starts_with("200 "));
        let _data = tls.epsv();
        assert_eq!(tls.cmd("LIST"), refused);
        assert_eq!(tls.cmd("RETR f.txt"), refused);
        assert_eq!(tls.cmd("STOR g.txt"), refused);
        assert!(!server.storage("alice/g.txt").exists());
        // PROT P: allowed.
        assert!(tls.cmd("PROT P").starts_with("200 "));
        let (opening, data, done) = tls.download("RETR f.txt");
        assert!(opening.starts_with("150 "), "{opening}");
        assert_eq!(data, b"hello");
        assert!(done.starts_with("226 "), "{done}");
    }

    /// Every data command runs over TLS under PROT P, passive and active. (At most two data
    /// connections per control connection: repeated resumption is `resumption`'s subject.)
    #[test]
    fn every_data_command_is_protected() {
        let server = TestServer::start();
        let mut c = server.tls_login(ALICE);
        let body = pseudo_random(BIG, 51);
        let (o, done) = c.upload("STOR p.bin", &body);
        assert!(
            o.starts_with("150 ") && done.starts_with("226 "),
            "{o}{done}"
        );
        let (o, done) = c.upload("APPE p.bin", b"tail");
        assert!(
            o.starts_with("150 ") && done.starts_with("226 "),
            "{o}{done}"
        );
        let mut whole = body.clone();
        whole.extend_from_slice(b"tail");
        assert_eq!(sha256_file(&server.storage("alice/p.bin")), sha256(&whole));
        let mut c = server.tls_login(ALICE);
        let (o, done) = c.upload("STOU", b"unique");
        assert!(
            o.starts_with("150 ") && done.starts_with("226 "),
            "{o}{done}"
        );

        let (_, data, done) = c.download("RETR p.bin");
        assert!(done.starts_with("226 "), "{done}");
        assert_eq!(sha256(&data), sha256(&whole));
        let mut c = server.tls_login(ALICE);
        let (_, list, done) = c.download("LIST");
        assert!(done.starts_with("226 "), "{done}");
        assert!(String::from_utf8(list).unwrap().contains(" p.bin\r\n"));
        let (_, nlst, done) = c.download("NLST");
        assert!(done.starts_with("226 "), "{done}");
        let nlst = String::from_utf8(nlst).unwrap();
        assert_eq!(nlst.lines().count(), 2, "{nlst}");
        assert!(nlst.contains("p.bin\r\n"), "{nlst}");
        let mut c = server.tls_login(ALICE);
        let (_, mlsd, done) = c.download("MLSD");
        assert!(done.starts_with("226 "), "{done}");
        let mlsd = String::from_utf8(mlsd).unwrap();
        assert!(
            mlsd.contains(&format!("size={};", whole.len())),
            "MLSD:\n{mlsd}"
        );

        // Active mode: the server connects, and is still the TLS server.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(
            c.cmd(&format!("EPRT |1|127.0.0.1|{port}|"))
                .starts_with("200 ")
        );
        let o = c.cmd("RETR p.bin");
        assert!(o.starts_with("150 "), "{o}");
        let (tcp, _) = crate::support::accept_within(&listener, Duration::from_secs(10));
        let mut data = c.protect(tcp);
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(sha256(&got), sha256(&whole));
        assert!(c.reply().starts_with("226 "));

        // A data client that does not speak TLS gets no plaintext.
        let mut c = server.tls_login(ALICE);
        let mut tcp = c.epsv();
        assert!(c.cmd("RETR p.bin").starts_with("150 "));
        tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let got = read_until_closed(&mut tcp, Duration::from_secs(10)).expect("closed");
        assert!(!got.windows(16).any(|w| w == &whole[..16]), "no plaintext");
        let r = c.reply();
        assert!(r.starts_with("425 "), "{r}");
    }

    /// AUTH SSL implies PROT P (no PBSZ/PROT needed).
    #[test]
    fn auth_ssl_protects_data_by_default() {
        let server = TestServer::start();
        std::fs::write(server.storage("alice/f.txt"), b"secret").unwrap();
        let mut raw = server.raw();
        assert_eq!(raw.cmd("AUTH SSL"), "234 Proceed with negotiation.\r\n");
        let stream = raw.stream().try_clone().unwrap();
        drop(raw);
        let config = server.tls_client_config();
        let mut c = TlsRaw::over(stream, config);
        c.login(ALICE);
        let (_, data, done) = c.download("RETR f.txt");
        assert!(done.starts_with("226 "), "{done}");
        assert_eq!(data, b"secret");
    }
}

/// Data-connection session resumption (vsftpd's require_ssl_reuse).
mod resumption {
    use super::*;

    const REFUSED: &str =
        "522 TLS session of the data connection must resume the control connection's session.\r\n";

    #[test]
    fn a_data_connection_that_does_not_resume_is_refused() {
        let server = TestServer::start();
        std::fs::write(server.storage("alice/f.txt"), b"data").unwrap();
        let mut c = server.tls_login(ALICE);
        let tcp = c.epsv();
        assert!(c.cmd("RETR f.txt").starts_with("150 "));
        // A fresh client config: no session to resume, so a full handshake.
        let fresh = server.tls_client_config();
        let mut data = crate::support::tls_connect(&fresh, tcp);
        let mut got = Vec::new();
        let _ = data.read_to_end(&mut got);
        assert!(got.is_empty(), "no data over a non-resumed connection");
        assert_eq!(c.reply(), REFUSED);
        // The session goes on, and a resuming data connection works.
        let (_, got, done) = c.download("RETR f.txt");
        assert!(done.starts_with("226 "), "{done}");
        assert_eq!(got, b"data");
    }

    /// SECURITY: resumption is bound to the login: a session issued to another control
    /// connection of the same user from the same IP resumes (rclone keeps one TLS session
    /// cache for all its connections); another user's session is refused.
    #[test]
    fn a_sibling_connections_session_resumes_another_users_does_not() {
        let server = TestServer::start();
        std::fs::write(server.storage("alice/f.txt"), b"data").unwrap();
        std::fs::write(server.storage("Public/p.txt"), b"public").unwrap();
        let mut a = server.tls_login(ALICE);
        let mut b = server.tls_login(ALICE);
        let mut bob = server.tls_login(crate::support::BOB);
        assert!(a.cmd("NOOP").starts_with("200 "));
        let tcp = b.epsv();
        assert!(b.cmd("RETR f.txt").starts_with("150 "));
        let mut data = a.protect(tcp); // resumes a's session: alice's too
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"data");
        assert!(b.reply().starts_with("226 "));

        let tcp = bob.epsv();
        assert!(bob.cmd("RETR /Public/p.txt").starts_with("150 "));
        let mut data = a.protect(tcp); // alice's session on bob's transfer
        let mut got = Vec::new();
        let _ = data.read_to_end(&mut got);
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(bob.reply(), REFUSED);
    }

    /// Clients that finish the data connection's TLS handshake before they send the
    /// transfer command (aioftp) are served: the server handshakes as the connection comes.
    #[test]
    fn a_handshake_before_the_transfer_command_is_served() {
        let server = TestServer::start();
        std::fs::write(server.storage("alice/f.txt"), b"early").unwrap();
        let mut c = server.tls_login(ALICE);
        let tcp = c.epsv();
        let mut data = c.protect(tcp); // the whole handshake, before RETR
        assert!(c.cmd("RETR f.txt").starts_with("150 "));
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"early");
        assert!(c.reply().starts_with("226 "));
        // A zero-byte upload right after the handshake (basic-ftp), then the command.
        let tcp = c.epsv();
        let mut data = c.protect(tcp);
        data.conn.send_close_notify();
        data.flush().unwrap();
        data.sock.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(c.cmd("STOR empty.txt").starts_with("150 "));
        assert_eq!(c.reply(), "226 Transfer complete.\r\n");
        assert_eq!(
            std::fs::read(server.storage("alice/empty.txt")).unwrap(),
            b""
        );
        // A stranger's early handshake is refused as late ones are.
        let tcp = c.epsv();
        let mut data = crate::support::tls_connect(&server.tls_client_config(), tcp);
        assert!(c.cmd("RETR f.txt").starts_with("150 "));
        let mut got = Vec::new();
        let _ = data.read_to_end(&mut got);
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(c.reply(), REFUSED);
    }

    #[test]
    fn no_reuse_check_when_turned_off() {
        let server = TestServer::start_with(|s| s.tls_session_reuse = false);
        std::fs::write(server.storage("alice/f.txt"), b"data").unwrap();
        let mut c = server.tls_login(ALICE);
        let tcp = c.epsv();
        assert!(c.cmd("RETR f.txt").starts_with("150 "));
        let mut data = crate::support::tls_connect(&server.tls_client_config(), tcp);
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"data");
        assert!(c.reply().starts_with("226 "));
    }

    /// A client config trusting the server's certificate, speaking only `version`.
    fn config_for(
        server: &TestServer,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> std::sync::Arc<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(server.cert_pem()).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        std::sync::Arc::new(
            rustls::ClientConfig::builder_with_protocol_versions(&[version])
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// Six uploads and six downloads in one control session, each on a data connection that
    /// must resume the control session.
    fn repeated_transfers(version: &'static rustls::SupportedProtocolVersion) {
        let server = TestServer::start();
        let body = pseudo_random(100_000, 61);
        let mut c = TlsRaw::explicit(server.addr, config_for(&server, version));
        c.login(ALICE);
        assert_eq!(c.cmd("PBSZ 0"), "200 PBSZ=0\r\n");
        assert!(c.cmd("PROT P").starts_with("200 "));
        assert!(c.cmd("TYPE I").starts_with("200 "));
        for i in 0..6 {
            let name = format!("r{i}.bin");
            let (_, done) = c.upload(&format!("STOR {name}"), &body);
            assert!(
                done.starts_with("226 "),
                "{:?}, data connection {}: {done}",
                version.version,
                2 * i + 1
            );
            let (_, got, done) = c.download(&format!("RETR {name}"));
            assert!(
                done.starts_with("226 "),
                "{:?}, data connection {}: {done}",
                version.version,
                2 * i + 2
            );
            assert_eq!(sha256(&got), sha256(&body));
        }
    }

    #[test]
    fn repeated_resumption_tls12() {
        repeated_transfers(&rustls::version::TLS12);
    }

    /// rustls clients use each TLS 1.3 ticket once; data connections get no new tickets, so
    /// the control connection's tickets must suffice for every data connection.
    #[test]
    fn repeated_resumption_tls13() {
        repeated_transfers(&rustls::version::TLS13);
    }
}

mod implicit {
    use super::*;

    #[test]
    fn rustls_client_round_trip_protected_by_default() {
        let (server, implicit) = TestServer::start_tls(|_| {});
        let mut c = TlsRaw::implicit(implicit, server.tls_client_config());
        c.login(ALICE);
        assert!(c.cmd("TYPE I").starts_with("200 "));
        let body = pseudo_random(BIG, 71);
        // No PBSZ/PROT: data is protected by default on the implicit port.
        let (o, done) = c.upload("STOR imp.bin", &body);
        assert!(
            o.starts_with("150 ") && done.starts_with("226 "),
            "{o}{done}"
        );
        assert_eq!(sha256_file(&server.storage("alice/imp.bin")), sha256(&body));
        let (_, got, done) = c.download("RETR imp.bin");
        assert!(done.starts_with("226 "), "{done}");
        assert_eq!(sha256(&got), sha256(&body));
        assert_eq!(c.cmd("PBSZ 0"), "200 PBSZ=0\r\n");
        assert!(c.cmd("AUTH TLS").starts_with("503 "));
    }

    #[test]
    fn plain_text_to_the_implicit_port_ends_that_session_only() {
        let (server, implicit) = TestServer::start_tls(|_| {});
        let mut s = TcpStream::connect(implicit).unwrap();
        s.write_all(b"USER alice\r\n").unwrap();
        let got = read_until_closed(&mut s, Duration::from_secs(5))
            .expect("the server closes a plain-text session on the implicit port");
        assert!(!String::from_utf8_lossy(&got).contains("220"), "{got:?}");

        let mut garbage = TcpStream::connect(implicit).unwrap();
        garbage.write_all(&pseudo_random(2048, 72)).unwrap();
        assert!(
            read_until_closed(&mut garbage, Duration::from_secs(5)).is_some(),
            "garbage ends the session"
        );

        let mut c = TlsRaw::implicit(implicit, server.tls_client_config());
        c.login(ALICE);
        let mut plain = server.raw();
        assert!(plain.cmd("NOOP").starts_with("200 "));
    }

    /// A client that sends nothing, or that drops mid-handshake, holds no worker for long:
    /// with two workers, others are still served, and its place is freed on disconnect.
    #[test]
    fn silent_or_vanishing_clients_do_not_keep_workers() {
        let (server, implicit) = TestServer::start_tls(|s| s.max_sessions = 2);
        let active = || server.shared.active_sessions();

        // One client connects and says nothing (its handshake would time out after 30 s).
        let silent = TcpStream::connect(implicit).unwrap();
        assert!(wait_until(Duration::from_secs(5), || active() == 1));

        // Another starts a handshake, reads the server's first flight, and vanishes.
        {
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut conn = rustls::ClientConnection::new(server.tls_client_config(), name).unwrap();
            let mut tcp = TcpStream::connect(implicit).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            while conn.wants_write() {
                conn.write_tls(&mut tcp).unwrap();
            }
            let mut first = [0u8; 1];
            assert_eq!(tcp.read(&mut first).unwrap(), 1, "ServerHello arrives");
            assert_eq!(active(), 2);
        }
        assert!(
            wait_until(Duration::from_secs(5), || active() == 1),
            "the vanished client's worker is freed"
        );

        // Served meanwhile: a full session on the explicit port.
        let mut c = server.tls_login(ALICE);
        assert!(c.cmd("NOOP").starts_with("200 "));
        // Both places taken now: a third takes the place of the silent client, which has
        // not logged in (SPEC: eviction), once it has had its first second to log in; the
        // silent one is disconnected.
        std::thread::sleep(Duration::from_millis(1100));
        let mut third = Raw::connect(server.addr);
        assert_eq!(third.reply(), "220 ferroftp ready.\r\n");
        let mut silent = silent;
        silent
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut rest = Vec::new();
        assert_eq!(silent.read_to_end(&mut rest).unwrap(), 0, "evicted: closed");
        drop(third);
        assert!(
            wait_until(Duration::from_secs(5), || active() == 1),
            "the evicted and the departed places are freed"
        );
        let mut again = TlsRaw::implicit(implicit, server.tls_client_config());
        again.login(ALICE);
        drop(again);
        drop(c);
    }
}

/// The binary's certificate handling: generated on first start, fingerprint printed.
mod certificate {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Child, Stdio};
    use std::sync::mpsc;

    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    use super::*;

    const BIN: &str = env!("CARGO_BIN_EXE_ferroftp");

    /// Kills the child on drop (by its own handle).
    struct Serve(Child);

    impl Drop for Serve {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts `serve` on `dir` and returns it with its stdout lines up to the fingerprint.
    fn serve(dir: &Path) -> (Serve, Vec<String>) {
        let mut child = Command::new(BIN)
            .args(["serve", "--dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ferroftp");
        let stdout = child.stdout.take().unwrap();
        let child = Serve(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let done = line.starts_with("TLS certificate SHA-256 fingerprint ");
                    lines.push(line);
                    if done {
                        return (child, lines);
                    }
                }
                Err(_) => panic!("no fingerprint line within 30 s; got {lines:?}"),
            }
        }
    }

    fn fingerprint_of(cert_pem: &Path) -> String {
        let der = CertificateDer::pem_file_iter(cert_pem)
            .unwrap()
            .next()
            .expect("one certificate")
            .unwrap();
        sha256(der.as_ref())
            .to_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":")
    }

    #[test]
    fn generated_certificate_fingerprint_and_key_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("inst");
        let (child, lines) = serve(&dir);
        drop(child);
        let printed = lines
            .last()
            .unwrap()
            .strip_prefix("TLS certificate SHA-256 fingerprint ")
            .unwrap()
            .to_owned();
        let cert = dir.join("certs/cert.pem");
        assert_eq!(printed, fingerprint_of(&cert), "{lines:?}");
        assert_eq!(printed.len(), 32 * 3 - 1);
        assert!(
            printed
                .chars()
                .all(|c| c == ':' || c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
        let mode = std::fs::metadata(dir.join("certs/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key.pem mode {:o}", mode & 0o777);

        // The certificate is kept: a second start prints the same fingerprint.
        let (child, lines) = serve(&dir);
        drop(child);
        assert!(lines.last().unwrap().ends_with(&printed), "{lines:?}");

        // The in-process server agrees with the file, and rustls trusts it for localhost.
        let server = TestServer::start();
        let mut c = TlsRaw::explicit(server.addr, tls_client_config(&server.cert_pem()));
        c.login(ALICE);
    }

    /// `serve` on `dir` must exit non-zero quickly with exactly one stderr line naming `file`.
    fn assert_refuses(dir: &Path, file: &str) {
        let ran = run_with_timeout(
            Command::new(BIN)
                .args(["serve", "--dir"])
                .arg(dir)
                .args(["--listen", "127.0.0.1:0"]),
            30,
        );
        assert!(!ran.success(), "serve must fail: {ran:?}");
        let lines: Vec<&str> = ran.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "one stderr line: {ran:?}");
        assert!(lines[0].contains(file), "names {file}: {ran:?}");
    }

    #[test]
    fn unloadable_certificate_or_key_stops_serve_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("inst");
        drop(serve(&dir));
        let certs = dir.join("certs");
        let good_cert = std::fs::read(certs.join("cert.pem")).unwrap();
        let good_key = std::fs::read(certs.join("key.pem")).unwrap();

        std::fs::write(certs.join("cert.pem"), b"not a certificate\n").unwrap();
        assert_refuses(&dir, "cert.pem");

        std::fs::write(certs.join("cert.pem"), &good_cert).unwrap();
        std::fs::write(certs.join("key.pem"), b"garbage\n").unwrap();
        assert_refuses(&dir, "key.pem");

        // Restored: serves again with the same certificate.
        std::fs::write(certs.join("key.pem"), &good_key).unwrap();
        let (child, lines) = serve(&dir);
        drop(child);
        assert!(
            lines
                .last()
                .unwrap()
                .ends_with(&fingerprint_of(&certs.join("cert.pem")))
        );
    }

    /// PEM armour around bytes that are not a certificate: still one line naming the file.
    #[test]
    fn certificate_with_broken_der_stops_serve_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("inst");
        drop(serve(&dir));
        std::fs::write(
            dir.join("certs/cert.pem"),
            b"-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert_refuses(&dir, "cert.pem");
    }
}

/// Protected uploads that end badly keep nothing.
/// A renewed certificate (as a Let's Encrypt deploy hook copies it in) is used by new
/// sessions within seconds, without a restart; a broken one is refused and the last good one
/// stays in use.
mod renewal {
    use super::*;

    /// Does a TLS handshake after AUTH TLS succeed with a client trusting only `cert_pem`?
    fn handshake_trusting(server: &TestServer, cert_pem: &Path) -> bool {
        let config = tls_client_config(cert_pem);
        let mut raw = Raw::connect(server.addr);
        assert!(raw.reply().starts_with("220 "));
        assert_eq!(raw.cmd("AUTH TLS"), "234 Proceed with negotiation.\r\n");
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut tcp = raw.stream().try_clone().unwrap();
        while conn.is_handshaking() {
            if conn.complete_io(&mut tcp).is_err() {
                return false;
            }
        }
        true
    }

    fn new_pair(dir: &Path) -> (String, String) {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = key.cert.pem();
        std::fs::write(dir.join("new-cert.pem"), &cert).unwrap();
        (cert, key.signing_key.serialize_pem())
    }

    #[test]
    fn a_renewed_certificate_is_served_without_a_restart() {
        let server = TestServer::start();
        let certs = server.dir.path().join("certs");
        let old = server.dir.path().join("old-cert.pem");
        std::fs::copy(server.cert_pem(), &old).unwrap();
        assert!(handshake_trusting(&server, &old));
        let mut raw = server.tls_login(ALICE);

        let (cert, key) = new_pair(server.dir.path());
        std::fs::write(certs.join("key.pem"), key).unwrap();
        std::fs::write(certs.join("cert.pem"), cert).unwrap();
        let new = server.dir.path().join("new-cert.pem");
        assert!(
            wait_until(Duration::from_secs(5), || handshake_trusting(&server, &new)),
            "the new certificate is served"
        );
        assert!(!handshake_trusting(&server, &old), "the old one is not");
        assert_eq!(
            raw.cmd("NOOP"),
            "200 NOOP ok.\r\n",
            "a running session goes on"
        );

        // A half-written renewal does not take the server's TLS down.
        std::fs::write(
            certs.join("cert.pem"),
            "-----BEGIN CERTIFICATE-----\nnot base64\n",
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        assert!(
            handshake_trusting(&server, &new),
            "the last good pair stays"
        );
    }
}

mod upload_robustness {
    use socket2::SockRef;

    use super::*;

    /// Opens a protected STOR of `name` and sends `body` without ending the TLS stream.
    fn start_upload(c: &mut TlsRaw, name: &str, body: &[u8]) -> crate::support::TlsStream {
        let tcp = c.epsv();
        let o = c.cmd(&format!("STOR {name}"));
        assert!(o.starts_with("150 "), "{o}");
        let mut data = c.protect(tcp);
        data.write_all(body).unwrap();
        data.flush().unwrap();
        data
    }

    fn nothing_kept(server: &TestServer, name: &str) {
        let names = dir_names(&server.storage("alice"));
        assert!(
            !names.iter().any(|n| n.contains(name)),
            "nothing kept: {names:?}"
        );
    }

    #[test]
    fn reset_mid_upload_answers_426_and_keeps_nothing() {
        let server = TestServer::start();
        let mut c = server.tls_login(ALICE);
        let data = start_upload(&mut c, "reset.bin", &pseudo_random(1 << 20, 81));
        SockRef::from(&data.sock)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(data); // RST, no close_notify
        let r = c.reply();
        assert!(r.starts_with("426 "), "{r}");
        nothing_kept(&server, "reset.bin");
        // The control connection goes on.
        let body = pseudo_random(BIG, 82);
        let (_, done) = c.upload("STOR ok.bin", &body);
        assert!(done.starts_with("226 "), "{done}");
        assert_eq!(sha256_file(&server.storage("alice/ok.bin")), sha256(&body));
    }

    /// The same reset, through Python's ssl module.
    #[test]
    fn python_reset_mid_upload_answers_426() {
        let server = TestServer::start();
        let script = r#"
import ftplib, socket, ssl, struct, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
class F(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
ftp = F(context=ctx, timeout=20)
ftp.connect("127.0.0.1", int(sys.argv[1]))
ftp.login("alice", "alice-pw")
ftp.prot_p()
ftp.voidcmd("TYPE I")
conn = ftp.transfercmd("STOR py-reset.bin")
conn.sendall(b"x" * 1000000)
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
try:
    print("REPLY", ftp.getresp())
except ftplib.Error as e:
    print("REPLY", e)
"#;
        let out = python(script, &[&server.port().to_string()], CLIENT_TIMEOUT)
            .ok("python reset")
            .stdout;
        assert!(out.contains("REPLY 426 "), "{out}");
        nothing_kept(&server, "py-reset.bin");
    }

    #[test]
    fn missing_close_notify_is_accepted_by_default() {
        let server = TestServer::start();
        let mut c = server.tls_login(ALICE);
        let body = pseudo_random(BIG, 83);
        let data = start_upload(&mut c, "lax.bin", &body);
        data.sock.shutdown(std::net::Shutdown::Write).unwrap(); // FIN, no close_notify
        let r = c.reply();
        assert!(r.starts_with("226 "), "{r}");
        assert_eq!(sha256_file(&server.storage("alice/lax.bin")), sha256(&body));
    }

    #[test]
    fn strict_eof_refuses_an_upload_without_close_notify() {
        let server = TestServer::start_with(|s| s.tls_strict_eof = true);
        let mut c = server.tls_login(ALICE);
        let body = pseudo_random(BIG, 84);
        let data = start_upload(&mut c, "strict.bin", &body);
        data.sock.shutdown(std::net::Shutdown::Write).unwrap();
        let r = c.reply();
        assert!(r.starts_with("426 "), "{r}");
        drop(data);
        nothing_kept(&server, "strict.bin");
        // With close_notify the same upload is fine.
        let (_, done) = c.upload("STOR strict.bin", &body);
        assert!(done.starts_with("226 "), "{done}");
        assert_eq!(
            sha256_file(&server.storage("alice/strict.bin")),
            sha256(&body)
        );
    }
}
