//! Command by command: exact reply bytes over a raw control connection, and the same commands
//! through suppaftp, an FTP client we did not write.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use suppaftp::FtpError;
use suppaftp::types::{FileType, FormatControl};

use crate::support::{
    ADMIN, ALICE, Raw, TestServer, accept_within, dir_names, pasv_port, place, place_dir,
};

/// 2020-01-02 03:04:05 UTC: old enough that `ls -l` shows the year.
const FIXED_MTIME: u64 = 1_577_934_245;
const FIXED_TIMEVAL: &str = "20200102030405";

/// Writes `rel` under server_storage/ with the fixed mtime, owned by alice and private, as
/// if she had uploaded it to her home.
fn put(server: &TestServer, rel: &str, body: &[u8]) {
    put_as(server, rel, body, "alice", false);
}

/// Writes `rel` with the fixed mtime and records `owner` and visibility.
fn put_as(server: &TestServer, rel: &str, body: &[u8], owner: &str, public: bool) {
    let path = server.storage(rel);
    place(server, rel, body, owner, public);
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(FIXED_MTIME))
        .unwrap();
}

fn unique(server: &TestServer, rel: &str) -> String {
    let meta = std::fs::metadata(server.storage(rel)).unwrap();
    format!("{:x}U{:x}", meta.dev(), meta.ino())
}

/// The status code of a suppaftp error that carries a server reply.
fn code(err: FtpError) -> u32 {
    match err {
        FtpError::UnexpectedResponse(r) => r.status.code(),
        other => panic!("expected a server reply, got {other:?}"),
    }
}

#[test]
fn greeting_user_pass_and_retry_on_same_connection() {
    let server = TestServer::start();
    let mut raw = Raw::connect(server.addr);
    assert_eq!(raw.reply(), "220 ferroftp ready.\r\n");
    assert_eq!(raw.cmd("PASS alice-pw"), "503 Login with USER first.\r\n");
    assert_eq!(
        raw.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
    assert_eq!(raw.cmd("PASS wrong"), "530 Login incorrect.\r\n");
    // After a failure the dialogue starts over: PASS alone is out of sequence again.
    assert_eq!(raw.cmd("PASS alice-pw"), "503 Login with USER first.\r\n");
    assert_eq!(
        raw.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Login successful.\r\n");
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Already logged in.\r\n");
    assert_eq!(raw.cmd("USER bob"), "530 Can't change to another user.\r\n");
    assert_eq!(
        raw.cmd("PWD"),
        "257 \"/alice\" is the current directory.\r\n"
    );
    // Verbs are case-insensitive.
    assert_eq!(raw.cmd("noop"), "200 NOOP ok.\r\n");

    let mut ftp = suppaftp::FtpStream::connect(server.addr).unwrap();
    assert_eq!(ftp.get_welcome_msg(), Some("220 ferroftp ready."));
    assert_eq!(code(ftp.login("alice", "nope").unwrap_err()), 530);
    ftp.login("alice", "alice-pw").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/alice");
}

#[test]
fn acct_rein_syst_noop() {
    let server = TestServer::start();
    let mut raw = server.raw();
    assert_eq!(raw.cmd("SYST"), "215 UNIX Type: L8\r\n");
    assert_eq!(raw.cmd("ACCT x"), "202 ACCT not needed.\r\n");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("ACCT billing"), "202 ACCT not needed.\r\n");
    assert_eq!(
        raw.cmd("CWD /Public"),
        "250 Directory successfully changed.\r\n"
    );
    assert_eq!(raw.cmd("REIN"), "220 Ready for new user.\r\n");
    assert_eq!(raw.cmd("PWD"), "530 Please login with USER and PASS.\r\n");
    assert_eq!(raw.cmd("USER bob"), "331 Please specify the password.\r\n");
    assert_eq!(raw.cmd("PASS bob-pw"), "230 Login successful.\r\n");
    assert_eq!(raw.cmd("PWD"), "257 \"/bob\" is the current directory.\r\n");

    let mut ftp = server.ftp(ALICE);
    ftp.noop().unwrap();
    let syst = ftp
        .custom_command("SYST", &[suppaftp::Status::Name])
        .unwrap();
    assert_eq!(syst.as_string().unwrap(), "215 UNIX Type: L8");
}

/// The FEAT list (RFC 2389): every body line starts with a space. AUTH TLS / PBSZ / PROT join
/// the list once FTPS lands (SPEC: FEAT advertises them).
#[test]
fn feat_is_multi_line_and_exact() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let feat = raw.cmd("FEAT");
    let lines: Vec<&str> = feat.split_inclusive("\r\n").collect();
    assert_eq!(lines.first(), Some(&"211-Features:\r\n"), "{feat}");
    assert_eq!(lines.last(), Some(&"211 End\r\n"), "{feat}");
    let body: Vec<&str> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| {
            assert!(l.starts_with(' ') && l.ends_with("\r\n"), "FEAT line {l:?}");
            l[1..].trim_end_matches("\r\n")
        })
        .filter(|l| !matches!(*l, "AUTH TLS" | "PBSZ" | "PROT"))
        .collect();
    assert_eq!(
        body,
        [
            "EPRT",
            "EPSV",
            "MDTM",
            "MFMT",
            "MLST type*;size*;modify*;perm*;unique*;UNIX.owner*;",
            "PASV",
            "REST STREAM",
            "SIZE",
            "TVFS",
            "UTF8",
        ]
    );

    let mut ftp = server.ftp(ALICE);
    let features = ftp.feat().unwrap();
    for f in ["EPSV", "MDTM", "SIZE", "UTF8", "REST", "MLST"] {
        assert!(features.contains_key(f), "suppaftp sees {f}: {features:?}");
    }
    assert_eq!(features["REST"].as_deref(), Some("STREAM"));
}

#[test]
fn opts_utf8_and_mlst() {
    let server = TestServer::start();
    put(&server, "alice/f.txt", b"hello");
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("OPTS UTF8 ON"), "200 Always in UTF8 mode.\r\n");
    assert_eq!(
        raw.cmd("OPTS UTF8 OFF"),
        "504 UTF8 cannot be turned off.\r\n"
    );
    assert_eq!(raw.cmd("OPTS NOSUCH"), "501 Option not understood.\r\n");
    assert_eq!(raw.cmd("OPTS"), "501 OPTS needs an argument.\r\n");
    assert_eq!(
        raw.cmd("OPTS MLST size;Type;bogus;"),
        "200 MLST OPTS type;size;\r\n"
    );
    assert!(
        raw.cmd("FEAT")
            .contains("\r\n MLST type*;size*;modify;perm;unique;UNIX.owner;\r\n")
    );
    assert_eq!(
        raw.cmd("MLST f.txt"),
        "250-Listing /alice/f.txt\r\n type=file;size=5; /alice/f.txt\r\n250 End\r\n"
    );
    let (_, body, _) = raw.listing("MLSD");
    assert_eq!(body, "type=file;size=5; f.txt\r\n");

    let mut ftp = server.ftp(ALICE);
    ftp.opts("UTF8", Some("ON")).unwrap();
    ftp.opts("MLST", Some("type;")).unwrap();
    assert_eq!(ftp.mlst(Some("f.txt")).unwrap(), "type=file; /alice/f.txt");
    assert_eq!(code(ftp.opts("UTF8", Some("OFF")).unwrap_err()), 504);
}

#[test]
fn help_lists_verbs_in_multi_line_form() {
    let server = TestServer::start();
    let mut raw = server.raw();
    let help = raw.cmd("HELP");
    let lines: Vec<&str> = help.split_inclusive("\r\n").collect();
    assert_eq!(lines[0], "214-The following commands are recognized:\r\n");
    assert_eq!(*lines.last().unwrap(), "214 Help OK.\r\n");
    let verbs: Vec<&str> = lines[1..lines.len() - 1]
        .iter()
        .inspect(|l| assert!(l.starts_with(' '), "HELP body line {l:?}"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    for v in [
        "USER", "PASS", "QUIT", "SYST", "FEAT", "OPTS", "HELP", "STAT", "NOOP", "PWD", "CWD",
        "CDUP", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "REST", "RETR", "STOR",
        "STOU", "APPE", "ABOR", "LIST", "NLST", "MLSD", "MLST", "DELE", "MKD", "RMD", "RNFR",
        "RNTO", "SIZE", "MDTM", "MFMT", "SITE",
    ] {
        assert!(verbs.contains(&v), "HELP lacks {v}: {help}");
    }
    assert_eq!(raw.cmd("HELP retr"), "214 RETR is supported.\r\n");
    assert_eq!(raw.cmd("HELP FROB"), "501 Unknown command FROB.\r\n");
}

#[test]
fn stat_without_and_with_path() {
    let server = TestServer::start();
    put(&server, "alice/f.txt", b"hello");
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd("STAT"),
        "211-ferroftp status:\r\n Connected to 127.0.0.1\r\n Not logged in\r\n TYPE: ASCII\r\n \
         Session timeout in seconds is 300\r\n No data connection\r\n211 End of status\r\n"
    );
    assert_eq!(
        raw.cmd("STAT f.txt"),
        "530 Please login with USER and PASS.\r\n"
    );
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    assert_eq!(
        raw.cmd("STAT"),
        "211-ferroftp status:\r\n Connected to 127.0.0.1\r\n Logged in as alice\r\n TYPE: BINARY\r\n \
         Session timeout in seconds is 300\r\n No data connection\r\n211 End of status\r\n"
    );
    assert_eq!(
        raw.cmd("STAT f.txt"),
        "213-Status of f.txt:\r\n -rw-------   1 alice    ftp                 5 Jan  2  2020 f.txt\r\n\
         213 End of status\r\n"
    );
    assert_eq!(raw.cmd("STAT nope"), "550 No such file or directory.\r\n");
}

#[test]
fn type_mode_stru() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("TYPE A"), "200 Switching to ASCII mode.\r\n");
    assert_eq!(raw.cmd("TYPE A N"), "200 Switching to ASCII mode.\r\n");
    assert_eq!(raw.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    assert_eq!(raw.cmd("TYPE L 8"), "200 Switching to Binary mode.\r\n");
    assert_eq!(
        raw.cmd("TYPE E"),
        "504 Command not implemented for that parameter.\r\n"
    );
    assert_eq!(
        raw.cmd("TYPE A T"),
        "504 Command not implemented for that parameter.\r\n"
    );
    assert_eq!(
        raw.cmd("TYPE Q"),
        "501 Syntax error in parameters or arguments.\r\n"
    );
    assert_eq!(raw.cmd("TYPE"), "501 TYPE needs an argument.\r\n");
    assert_eq!(raw.cmd("MODE S"), "200 Mode set to S.\r\n");
    assert_eq!(raw.cmd("MODE B"), "504 Only MODE S is supported.\r\n");
    assert_eq!(raw.cmd("MODE C"), "504 Only MODE S is supported.\r\n");
    assert_eq!(raw.cmd("MODE X"), "501 Unknown mode.\r\n");
    assert_eq!(raw.cmd("STRU F"), "200 Structure set to F.\r\n");
    assert_eq!(raw.cmd("STRU R"), "504 Only STRU F is supported.\r\n");
    assert_eq!(raw.cmd("STRU P"), "504 Only STRU F is supported.\r\n");
    assert_eq!(raw.cmd("STRU X"), "501 Unknown structure.\r\n");
    assert_eq!(raw.cmd("ALLO 100"), "202 ALLO not needed.\r\n");

    let mut ftp = server.ftp(ALICE);
    ftp.transfer_type(FileType::Ascii(FormatControl::Default))
        .unwrap();
    ftp.transfer_type(FileType::Image).unwrap();
    let err = ftp
        .transfer_type(FileType::Ebcdic(FormatControl::Default))
        .unwrap_err();
    assert_eq!(code(err), 504);
}

#[test]
fn pwd_cwd_cdup_and_x_variants() {
    let server = TestServer::start();
    std::fs::create_dir(server.storage("alice/sub")).unwrap();
    put(&server, "alice/f.txt", b"x");
    let mut raw = server.login(ALICE);
    assert_eq!(
        raw.cmd("XPWD"),
        "257 \"/alice\" is the current directory.\r\n"
    );
    assert_eq!(
        raw.cmd("CWD sub"),
        "250 Directory successfully changed.\r\n"
    );
    assert_eq!(
        raw.cmd("PWD"),
        "257 \"/alice/sub\" is the current directory.\r\n"
    );
    assert_eq!(raw.cmd("CDUP"), "250 Directory successfully changed.\r\n");
    assert_eq!(
        raw.cmd("PWD"),
        "257 \"/alice\" is the current directory.\r\n"
    );
    assert_eq!(
        raw.cmd("XCWD /Public"),
        "250 Directory successfully changed.\r\n"
    );
    assert_eq!(
        raw.cmd("PWD"),
        "257 \"/Public\" is the current directory.\r\n"
    );
    assert_eq!(raw.cmd("XCUP"), "250 Directory successfully changed.\r\n");
    assert_eq!(raw.cmd("PWD"), "257 \"/\" is the current directory.\r\n");
    // CDUP at the root stays at the root.
    assert_eq!(raw.cmd("CDUP"), "250 Directory successfully changed.\r\n");
    assert_eq!(raw.cmd("PWD"), "257 \"/\" is the current directory.\r\n");
    assert_eq!(
        raw.cmd("CWD alice/./sub/"),
        "250 Directory successfully changed.\r\n"
    );
    assert_eq!(
        raw.cmd("PWD"),
        "257 \"/alice/sub\" is the current directory.\r\n"
    );
    assert_eq!(raw.cmd("CWD /nope"), "550 No such file or directory.\r\n");
    assert_eq!(raw.cmd("CWD /alice/f.txt"), "550 Not a directory.\r\n");
    assert_eq!(raw.cmd("CWD"), "501 CWD needs an argument.\r\n");
    assert_eq!(
        raw.cmd("PWD"),
        "257 \"/alice/sub\" is the current directory.\r\n"
    );

    let mut ftp = server.ftp(ALICE);
    assert_eq!(ftp.pwd().unwrap(), "/alice");
    ftp.cwd("sub").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/alice/sub");
    ftp.cdup().unwrap();
    ftp.cdup().unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");
    ftp.cdup().unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");
    assert_eq!(code(ftp.cwd("/bob").unwrap_err()), 550);
}

#[test]
fn mkd_rmd_with_quotes_and_x_variants() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("MKD d1"), "257 \"/alice/d1\" created.\r\n");
    assert!(server.storage("alice/d1").is_dir());
    assert_eq!(raw.cmd("XMKD /alice/d2"), "257 \"/alice/d2\" created.\r\n");
    // RFC 959 appendix II: an embedded quote is doubled.
    assert_eq!(
        raw.cmd("MKD say \"hi\""),
        "257 \"/alice/say \"\"hi\"\"\" created.\r\n"
    );
    assert!(server.storage("alice/say \"hi\"").is_dir());
    assert_eq!(raw.cmd("MKD d1"), "550 File exists.\r\n");
    assert_eq!(
        raw.cmd("MKD nope/deeper"),
        "550 No such file or directory.\r\n"
    );
    assert_eq!(raw.cmd("MKD"), "501 MKD needs an argument.\r\n");
    std::fs::write(server.storage("alice/d1/f"), b"x").unwrap();
    assert_eq!(raw.cmd("RMD d1"), "550 Directory not empty.\r\n");
    assert!(server.storage("alice/d1/f").exists());
    assert_eq!(
        raw.cmd("RMD d2"),
        "250 Remove directory operation successful.\r\n"
    );
    assert_eq!(
        raw.cmd("XRMD say \"hi\""),
        "250 Remove directory operation successful.\r\n"
    );
    assert_eq!(raw.cmd("RMD d1/f"), "550 Not a directory.\r\n");
    assert_eq!(raw.cmd("RMD gone"), "550 No such file or directory.\r\n");
    // A user cannot remove or create top-level directories (homes, Public).
    assert_eq!(raw.cmd("RMD /alice"), "550 Permission denied.\r\n");
    assert_eq!(raw.cmd("MKD /newtop"), "550 No such file or directory.\r\n");
    assert!(!server.storage("newtop").exists());

    let mut ftp = server.ftp(ALICE);
    ftp.mkdir("via-suppaftp").unwrap();
    assert!(server.storage("alice/via-suppaftp").is_dir());
    ftp.rmdir("via-suppaftp").unwrap();
    assert!(!server.storage("alice/via-suppaftp").exists());
    assert_eq!(code(ftp.rmdir("d1").unwrap_err()), 550);
}

#[test]
fn dele_rnfr_rnto() {
    let server = TestServer::start();
    put(&server, "alice/a.txt", b"a");
    put(&server, "alice/b.txt", b"b");
    place_dir(&server, "alice/dir", "alice", false);
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("RNTO x"), "503 RNFR required first.\r\n");
    assert_eq!(
        raw.cmd("RNFR missing"),
        "550 No such file or directory.\r\n"
    );
    assert_eq!(raw.cmd("RNFR a.txt"), "350 Ready for RNTO.\r\n");
    assert_eq!(raw.cmd("RNTO b.txt"), "550 File exists.\r\n");
    assert_eq!(std::fs::read(server.storage("alice/b.txt")).unwrap(), b"b");
    // RNFR is consumed by the next command, whatever it is.
    assert_eq!(raw.cmd("RNFR a.txt"), "350 Ready for RNTO.\r\n");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert_eq!(raw.cmd("RNTO c.txt"), "503 RNFR required first.\r\n");
    assert_eq!(raw.cmd("RNFR a.txt"), "350 Ready for RNTO.\r\n");
    assert_eq!(raw.cmd("RNTO dir/c.txt"), "250 Rename successful.\r\n");
    assert!(!server.storage("alice/a.txt").exists());
    assert_eq!(
        std::fs::read(server.storage("alice/dir/c.txt")).unwrap(),
        b"a"
    );
    assert_eq!(raw.cmd("RNFR dir"), "350 Ready for RNTO.\r\n");
    assert_eq!(
        raw.cmd("RNTO dir/inner"),
        "550 No such file or directory.\r\n"
    );
    assert_eq!(
        raw.cmd("DELE b.txt"),
        "250 Delete operation successful.\r\n"
    );
    assert!(!server.storage("alice/b.txt").exists());
    assert_eq!(raw.cmd("DELE b.txt"), "550 No such file or directory.\r\n");
    assert_eq!(raw.cmd("DELE dir"), "550 Not a plain file.\r\n");
    assert_eq!(raw.cmd("DELE"), "501 DELE needs an argument.\r\n");

    let mut ftp = server.ftp(ALICE);
    ftp.rename("dir/c.txt", "moved.txt").unwrap();
    assert!(server.storage("alice/moved.txt").is_file());
    ftp.rm("moved.txt").unwrap();
    assert!(!server.storage("alice/moved.txt").exists());
    assert_eq!(code(ftp.rm("moved.txt").unwrap_err()), 550);
    put(&server, "alice/p.txt", b"p");
    put(&server, "alice/q.txt", b"q");
    assert_eq!(code(ftp.rename("p.txt", "q.txt").unwrap_err()), 550);

    // A file placed on disk with no record belongs to nobody: alice may read it, but only an
    // admin may delete or rename it.
    std::fs::write(server.storage("alice/unowned.txt"), b"u").unwrap();
    assert_eq!(raw.cmd("DELE unowned.txt"), "550 Permission denied.\r\n");
    assert_eq!(raw.cmd("RNFR unowned.txt"), "350 Ready for RNTO.\r\n");
    assert_eq!(raw.cmd("RNTO u2.txt"), "550 Permission denied.\r\n");
    assert_eq!(raw.cmd("SIZE unowned.txt"), "213 1\r\n");
    assert!(server.storage("alice/unowned.txt").is_file());
    let mut admin = server.login(ADMIN);
    assert_eq!(
        admin.cmd("DELE /alice/unowned.txt"),
        "250 Delete operation successful.\r\n"
    );
    assert!(!server.storage("alice/unowned.txt").exists());
}

#[test]
fn size_mdtm_mfmt() {
    let server = TestServer::start();
    put(&server, "alice/f.txt", b"hello");
    std::fs::create_dir(server.storage("alice/dir")).unwrap();
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("SIZE f.txt"), "213 5\r\n");
    assert_eq!(raw.cmd("SIZE dir"), "550 Not a plain file.\r\n");
    assert_eq!(raw.cmd("SIZE nope"), "550 No such file or directory.\r\n");
    assert_eq!(raw.cmd("MDTM f.txt"), format!("213 {FIXED_TIMEVAL}\r\n"));
    assert_eq!(raw.cmd("MDTM nope"), "550 No such file or directory.\r\n");
    assert_eq!(
        raw.cmd("MFMT 20210304050607 f.txt"),
        "213 Modify=20210304050607; /alice/f.txt\r\n"
    );
    assert_eq!(raw.cmd("MDTM f.txt"), "213 20210304050607\r\n");
    let mtime = std::fs::metadata(server.storage("alice/f.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_614_834_367)
    );
    assert_eq!(
        raw.cmd("MFMT 2021 f.txt"),
        "501 Syntax error in parameters or arguments.\r\n"
    );
    assert_eq!(
        raw.cmd("MFMT 20211399000000 f.txt"),
        "501 Bad time value.\r\n"
    );
    assert_eq!(
        raw.cmd("MFMT 20210304050607 nope"),
        "550 No such file or directory.\r\n"
    );

    let mut ftp = server.ftp(ALICE);
    assert_eq!(ftp.size("f.txt").unwrap(), 5);
    let when = ftp.mdtm("f.txt").unwrap();
    assert_eq!(when.to_string(), "2021-03-04 05:06:07");
    assert_eq!(code(ftp.size("dir").unwrap_err()), 550);
}

#[test]
fn mlst_and_mlsd_facts() {
    let server = TestServer::start();
    put(&server, "alice/f.txt", b"hello");
    std::fs::create_dir(server.storage("alice/dir")).unwrap();
    let dir_file = std::fs::File::open(server.storage("alice/dir")).unwrap();
    dir_file
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(FIXED_MTIME))
        .unwrap();
    put(&server, "alice/.hidden", b"");
    let f_unique = unique(&server, "alice/f.txt");
    let d_unique = unique(&server, "alice/dir");
    let h_unique = unique(&server, "alice/.hidden");
    let mut raw = server.login(ALICE);
    let file_facts = format!(
        "type=file;size=5;modify={FIXED_TIMEVAL};perm=adfrw;unique={f_unique};UNIX.owner=alice;"
    );
    assert_eq!(
        raw.cmd("MLST f.txt"),
        format!("250-Listing /alice/f.txt\r\n {file_facts} /alice/f.txt\r\n250 End\r\n")
    );
    assert_eq!(raw.cmd("MLST nope"), "550 No such file or directory.\r\n");
    let (opening, body, done) = raw.listing("MLSD");
    assert_eq!(opening, "150 Here comes the directory listing.\r\n");
    assert_eq!(done, "226 Directory send OK.\r\n");
    assert_eq!(
        body,
        format!(
            "type=file;size=0;modify={FIXED_TIMEVAL};perm=adfrw;unique={h_unique};UNIX.owner=alice; .hidden\r\n\
             type=dir;size=4096;modify={FIXED_TIMEVAL};perm=celm;unique={d_unique};UNIX.owner=nobody; dir\r\n\
             {file_facts} f.txt\r\n"
        )
    );
    assert_eq!(raw.cmd("EPSV").get(..4), Some("229 "));
    assert_eq!(raw.cmd("MLSD f.txt"), "501 MLSD needs a directory.\r\n");

    let mut ftp = server.ftp(ALICE);
    assert_eq!(
        ftp.mlst(Some("f.txt")).unwrap(),
        format!("{file_facts} /alice/f.txt")
    );
    let lines = ftp.mlsd(None).unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[2], format!("{file_facts} f.txt"));
}

#[test]
fn list_is_ls_style_and_accepts_flags() {
    let server = TestServer::start();
    put(&server, "alice/f.txt", b"hello");
    put_as(&server, "alice/.dot", b"12", "alice", true);
    std::fs::create_dir(server.storage("alice/dir")).unwrap();
    std::fs::File::open(server.storage("alice/dir"))
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(FIXED_MTIME))
        .unwrap();
    let mut raw = server.login(ALICE);
    // A directory placed on disk with no record belongs to nobody; f.txt is alice's private
    // file, .dot her public one.
    let dir_line = "drwxr-xr-x   2 nobody   ftp              4096 Jan  2  2020 dir\r\n";
    let file_line = "-rw-------   1 alice    ftp                 5 Jan  2  2020 f.txt\r\n";
    let dot_line = "-rw-r--r--   1 alice    ftp                 2 Jan  2  2020 .dot\r\n";
    let (opening, body, done) = raw.listing("LIST");
    assert_eq!(opening, "150 Here comes the directory listing.\r\n");
    assert_eq!(body, format!("{dir_line}{file_line}"));
    assert_eq!(done, "226 Directory send OK.\r\n");
    let (_, body, _) = raw.listing("LIST -la");
    assert_eq!(body, format!("{dot_line}{dir_line}{file_line}"));
    let (_, body, _) = raw.listing("LIST -l /alice/dir");
    assert_eq!(body, "");
    let (_, body, _) = raw.listing("LIST f.txt");
    assert_eq!(body, file_line);
    let (opening, _, _) = raw.listing("LIST /nope");
    assert_eq!(opening, "550 No such file or directory.\r\n");
    // The root shows Public and the user's own home only.
    let (_, body, _) = raw.listing("NLST /");
    assert_eq!(body, "Public\r\nalice\r\n");

    let mut ftp = server.ftp(ALICE);
    let lines = ftp.list(None).unwrap();
    assert_eq!(
        lines,
        [dir_line.trim_end(), file_line.trim_end()],
        "suppaftp LIST"
    );
    let parsed: suppaftp::list::File = lines[1].parse().unwrap();
    assert_eq!(parsed.name(), "f.txt");
    assert_eq!(parsed.size(), 5);
    assert!(parsed.is_file());
}

#[test]
fn nlst_names_only() {
    let server = TestServer::start();
    put(&server, "alice/b.txt", b"");
    put(&server, "alice/a.txt", b"");
    put(&server, "alice/.hidden", b"");
    let mut raw = server.login(ALICE);
    let (opening, body, done) = raw.listing("NLST");
    assert_eq!(opening, "150 Here comes the directory listing.\r\n");
    assert_eq!(body, "a.txt\r\nb.txt\r\n");
    assert_eq!(done, "226 Directory send OK.\r\n");
    let (_, body, _) = raw.listing("NLST -a");
    assert_eq!(body, ".hidden\r\na.txt\r\nb.txt\r\n");
    let mut ftp = server.ftp(ALICE);
    assert_eq!(ftp.nlst(None).unwrap(), ["a.txt", "b.txt"]);
    // Admins see every top-level directory.
    let mut admin = server.ftp(ADMIN);
    assert_eq!(
        admin.nlst(Some("/")).unwrap(),
        ["Public", "admin", "alice", "bob"]
    );
}

#[test]
fn pasv_reply_format_and_port_range() {
    let server = TestServer::start_with(|s| s.pasv_ports = Some(42100..=42110));
    put(&server, "alice/f.txt", b"hello");
    let mut raw = server.login(ALICE);
    for _ in 0..5 {
        let (reply, mut data) = raw.pasv();
        let port = pasv_port(&reply);
        assert_eq!(
            reply,
            format!(
                "227 Entering Passive Mode (127,0,0,1,{},{}).\r\n",
                port >> 8,
                port & 0xff
            )
        );
        assert!((42100..=42110).contains(&port), "port {port}");
        assert_eq!(
            raw.cmd("RETR f.txt"),
            "150 Opening ASCII mode data connection for /alice/f.txt (5 bytes).\r\n"
        );
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).unwrap();
        assert_eq!(buf, b"hello");
        assert_eq!(raw.reply(), "226 Transfer complete.\r\n");
    }
    let mut ftp = server.ftp(ALICE);
    ftp.set_mode(suppaftp::Mode::Passive);
    assert_eq!(ftp.retr_as_buffer("f.txt").unwrap().into_inner(), b"hello");
}

#[test]
fn epsv_and_epsv_all() {
    let server = TestServer::start();
    put(&server, "alice/f.txt", b"hello");
    let mut raw = server.login(ALICE);
    let r = raw.cmd("EPSV");
    let port: u16 = r
        .strip_prefix("229 Entering Extended Passive Mode (|||")
        .and_then(|s| s.strip_suffix("|).\r\n"))
        .unwrap_or_else(|| panic!("EPSV: {r}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    assert!(raw.cmd("EPSV 1").starts_with("229 "));
    assert_eq!(
        raw.cmd("EPSV 2"),
        "522 Network protocol not supported, use (1).\r\n"
    );
    assert_eq!(raw.cmd("EPSV 7"), "501 Unknown network protocol.\r\n");
    assert_eq!(raw.cmd("EPSV ALL"), "200 EPSV ALL ok.\r\n");
    assert_eq!(raw.cmd("PASV"), "503 EPSV ALL in effect; use EPSV.\r\n");
    assert_eq!(
        raw.cmd("PORT 127,0,0,1,200,0"),
        "503 EPSV ALL in effect; use EPSV.\r\n"
    );
    assert_eq!(
        raw.cmd("EPRT |1|127.0.0.1|51200|"),
        "503 EPSV ALL in effect; use EPSV.\r\n"
    );
    let (opening, data, done) = raw.download("RETR f.txt");
    assert!(opening.starts_with("150 "));
    assert_eq!(data, b"hello");
    assert_eq!(done, "226 Transfer complete.\r\n");

    let mut ftp = server.ftp(ALICE);
    ftp.set_mode(suppaftp::Mode::ExtendedPassive);
    assert_eq!(ftp.retr_as_buffer("f.txt").unwrap().into_inner(), b"hello");
}

/// Active mode: the server connects to a listener of this test.
fn active_download(raw: &mut Raw, port_cmd: &str, listener: &TcpListener) {
    assert_eq!(
        raw.cmd(port_cmd),
        "200 PORT command successful. Consider using PASV.\r\n"
    );
    assert_eq!(
        raw.cmd("RETR f.txt"),
        "150 Opening BINARY mode data connection for /alice/f.txt (5 bytes).\r\n"
    );
    let (mut data, from) = accept_within(listener, Duration::from_secs(10));
    assert_eq!(from.ip().to_string(), "127.0.0.1");
    let mut buf = Vec::new();
    data.read_to_end(&mut buf).unwrap();
    assert_eq!(buf, b"hello");
    assert_eq!(raw.reply(), "226 Transfer complete.\r\n");
}

#[test]
fn port_and_eprt_active_mode() {
    let server = TestServer::start();
    put(&server, "alice/f.txt", b"hello");
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    active_download(
        &mut raw,
        &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
        &listener,
    );
    active_download(&mut raw, &format!("EPRT |1|127.0.0.1|{port}|"), &listener);
    assert_eq!(
        raw.cmd("PORT 127,0,0,1,300,1"),
        "501 Syntax error in parameters or arguments.\r\n"
    );
    assert_eq!(
        raw.cmd("EPRT |3|x|1|"),
        "504 Command not implemented for that parameter.\r\n"
    );

    let mut ftp = suppaftp::FtpStream::connect(server.addr)
        .unwrap()
        .active_mode(Duration::from_secs(10));
    ftp.login("alice", "alice-pw").unwrap();
    ftp.transfer_type(FileType::Binary).unwrap();
    assert_eq!(ftp.retr_as_buffer("f.txt").unwrap().into_inner(), b"hello");
    assert_eq!(ftp.nlst(None).unwrap(), ["f.txt"]);
}

/// SECURITY (RFC 2577): PORT/EPRT only back to the control peer, on ports >= 1024.
#[test]
fn port_bounce_is_refused() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    for cmd in [
        "PORT 127,0,0,2,200,0",
        "PORT 10,0,0,1,200,0",
        "PORT 127,0,0,1,0,21",
        "PORT 127,0,0,1,3,255",
        "EPRT |1|127.0.0.2|51200|",
        "EPRT |1|127.0.0.1|25|",
        "EPRT |2|::1|51200|",
    ] {
        assert_eq!(raw.cmd(cmd), "504 Illegal PORT command.\r\n", "{cmd}");
    }
    // Nothing was planned: a transfer now has no data connection.
    assert_eq!(raw.cmd("LIST"), "425 Use PORT or PASV first.\r\n");
    let mut ftp = server.ftp(ALICE);
    let err = ftp.eprt("127.0.0.1:21".parse().unwrap()).unwrap_err();
    assert_eq!(code(err), 504);
}

#[test]
fn site_help_and_unknown_commands() {
    let server = TestServer::start();
    let mut raw = server.raw();
    assert_eq!(raw.cmd("FROB x"), "500 Unknown command FROB.\r\n");
    let mut raw = server.login(ALICE);
    let help = raw.cmd("SITE HELP");
    assert!(help.starts_with("214") && help.ends_with("\r\n"), "{help}");
    assert!(help.contains("HELP"), "{help}");
    assert_eq!(raw.cmd("SITE FROB"), "500 Unknown SITE command FROB.\r\n");
    assert_eq!(raw.cmd("SITE"), "501 SITE needs an argument.\r\n");
    assert_eq!(raw.cmd("XYZZY"), "500 Unknown command XYZZY.\r\n");
    assert_eq!(raw.cmd(""), "500 Syntax error, command unrecognized.\r\n");

    let mut ftp = server.ftp(ALICE);
    let err = ftp
        .custom_command("XYZZY", &[suppaftp::Status::CommandOk])
        .unwrap_err();
    assert_eq!(code(err), 500);
    let r = ftp
        .custom_command("SITE HELP", &[suppaftp::Status::Help])
        .unwrap();
    assert_eq!(r.status.code(), 214);
}

#[test]
fn commands_before_login_answer_530() {
    let server = TestServer::start();
    std::fs::write(server.storage("alice/f.txt"), b"x").unwrap();
    let mut raw = server.raw();
    for cmd in [
        "PWD",
        "CWD /alice",
        "CDUP",
        "LIST",
        "NLST",
        "MLSD",
        "MLST f.txt",
        "RETR /alice/f.txt",
        "STOR x",
        "STOU",
        "APPE x",
        "DELE /alice/f.txt",
        "MKD /alice/d",
        "RMD /alice",
        "RNFR /alice/f.txt",
        "RNTO x",
        "SIZE /alice/f.txt",
        "MDTM /alice/f.txt",
        "MFMT 20200101000000 /alice/f.txt",
        "PASV",
        "EPSV",
        "PORT 127,0,0,1,200,0",
        "TYPE I",
        "MODE S",
        "STRU F",
        "REST 0",
        "ALLO 1",
        "SITE HELP",
        "STAT /alice",
    ] {
        assert_eq!(
            raw.cmd(cmd),
            "530 Please login with USER and PASS.\r\n",
            "{cmd}"
        );
    }
    assert!(server.storage("alice/f.txt").exists());
    assert!(!server.storage("alice/d").exists());
    // The session is still usable.
    assert_eq!(
        raw.cmd("USER alice"),
        "331 Please specify the password.\r\n"
    );
    assert_eq!(raw.cmd("PASS alice-pw"), "230 Login successful.\r\n");
}

/// limits::MAX_COMMAND_LINE: 4096 bytes with CRLF; longer answers 500 and the session goes on.
#[test]
fn over_long_line_answers_500_and_session_continues() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    // Exactly at the limit: "NOOP " + filler + CRLF = 4096 bytes.
    let at_limit = format!("NOOP {}", "x".repeat(4096 - 5 - 2));
    assert_eq!(raw.cmd(&at_limit), "200 NOOP ok.\r\n");
    let over = format!("NOOP {}", "x".repeat(4096 - 5 - 2 + 1));
    assert_eq!(raw.cmd(&over), "500 Command line too long.\r\n");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    // A much longer line, and a long line followed by a command in the same packet.
    let huge = format!("RETR {}\r\nPWD\r\n", "y".repeat(100_000));
    raw.send_bytes(huge.as_bytes());
    assert_eq!(raw.reply(), "500 Command line too long.\r\n");
    assert_eq!(raw.reply(), "257 \"/alice\" is the current directory.\r\n");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
}

#[test]
fn quit_closes_the_connection() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.\r\n");
    assert!(raw.at_eof());
    let mut raw = server.raw();
    assert_eq!(raw.cmd("QUIT"), "221 Goodbye.\r\n");
    assert!(raw.at_eof());
    let mut ftp = server.ftp(ALICE);
    ftp.quit().unwrap();
}

#[test]
fn utf8_file_names_round_trip() {
    let server = TestServer::start();
    let name = "résumé ✓.txt";
    let dir = "dossier été";
    let body = "ça marche ✓\n".as_bytes();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    assert_eq!(
        raw.cmd(&format!("MKD {dir}")),
        format!("257 \"/alice/{dir}\" created.\r\n")
    );
    assert_eq!(
        raw.cmd(&format!("CWD {dir}")),
        "250 Directory successfully changed.\r\n"
    );
    assert_eq!(
        raw.cmd("PWD"),
        format!("257 \"/alice/{dir}\" is the current directory.\r\n")
    );
    let (opening, done) = raw.upload(&format!("STOR {name}"), body);
    assert_eq!(
        opening,
        format!("150 Opening BINARY mode data connection for /alice/{dir}/{name}.\r\n")
    );
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert_eq!(
        std::fs::read(server.storage(&format!("alice/{dir}/{name}"))).unwrap(),
        body
    );
    let (_, listing, _) = raw.listing("NLST");
    assert_eq!(listing, format!("{name}\r\n"));
    assert_eq!(
        raw.cmd(&format!("SIZE {name}")),
        format!("213 {}\r\n", body.len())
    );
    let (_, data, _) = raw.download(&format!("RETR {name}"));
    assert_eq!(data, body);

    let mut ftp = server.ftp(ALICE);
    ftp.cwd(dir).unwrap();
    assert_eq!(ftp.nlst(None).unwrap(), [name]);
    assert_eq!(ftp.retr_as_buffer(name).unwrap().into_inner(), body);
    let other = "Ünïcødé 日本.bin";
    ftp.put_file(other, &mut &b"123"[..]).unwrap();
    assert_eq!(
        std::fs::read(server.storage(&format!("alice/{dir}/{other}"))).unwrap(),
        b"123"
    );
}

/// A file name with CR/LF (or any control character) must not forge a reply or log line:
/// such names are refused as paths (550), nothing is created, and the session goes on.
#[test]
fn crlf_in_names_cannot_inject_replies() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    for line in [
        &b"MKD a\rb\r\n"[..],
        b"MKD tab\there\r\n",
        b"RNFR x\x1b[2Jy\r\n",
    ] {
        raw.send_bytes(line);
        assert_eq!(
            raw.reply(),
            "550 No such file or directory.\r\n",
            "{line:?}"
        );
    }
    // A name that merely looks like a reply is an ordinary name.
    assert_eq!(
        raw.cmd("MKD 257 forged"),
        "257 \"/alice/257 forged\" created.\r\n"
    );
    let (opening, _) = raw.upload("STOR evil\rname", b"x");
    assert_eq!(opening, "550 No such file or directory.\r\n");
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert_eq!(dir_names(&server.storage("alice")), ["257 forged"]);
}

/// SPEC (LIST, Access model): the owner column shows the uploader, and a new upload outside
/// `Public/` is private (`-rw-------`); inside `Public/` it is public. MLSx give `UNIX.owner`.
#[test]
fn list_shows_owner_and_visibility_of_uploads() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    raw.cmd("TYPE I");
    assert_eq!(
        raw.upload("STOR mine.txt", b"abc").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(
        raw.upload("STOR /Public/shared.txt", b"abc").1,
        "226 Transfer complete.\r\n"
    );
    let (_, body, _) = raw.listing("LIST mine.txt");
    assert!(
        body.starts_with("-rw-------   1 alice    ftp                 3 "),
        "LIST of a private upload: {body:?}"
    );
    let (_, body, _) = raw.listing("LIST /Public/shared.txt");
    assert!(
        body.starts_with("-rw-r--r--   1 alice    ftp                 3 "),
        "LIST of a public upload: {body:?}"
    );
    let mlst = raw.cmd("MLST mine.txt");
    assert!(
        mlst.contains(";UNIX.owner=alice; /alice/mine.txt\r\n"),
        "{mlst}"
    );
}

/// Nothing a peer sends may panic: 3,000 pseudo-random lines (verbs, arguments, raw bytes,
/// Telnet IACs) on one session, logged in, then the session and the server still answer.
#[test]
fn random_command_lines_never_break_the_session() {
    let server = TestServer::start();
    let mut raw = server.login(ALICE);
    let verbs: &[&[u8]] = &[
        b"CWD",
        b"MKD",
        b"RMD",
        b"DELE",
        b"SIZE",
        b"MDTM",
        b"MLST",
        b"RNFR",
        b"RNTO",
        b"REST",
        b"TYPE",
        b"MODE",
        b"STRU",
        b"PORT",
        b"EPRT",
        b"OPTS",
        b"SITE",
        b"SITE CHMOD",
        b"SITE VISIBILITY",
        b"MFMT",
        b"HELP",
        b"STAT",
        b"ALLO",
        b"PROT",
        b"PBSZ",
        b"ACCT",
        b"\xff\xf4\xff\xf2ABOR",
        b"XYZZY",
    ];
    let noise = crate::support::pseudo_random(3000 * 24, 99);
    for (i, chunk) in noise.chunks(24).enumerate() {
        let mut line = verbs[i % verbs.len()].to_vec();
        line.push(b' ');
        // Keep the line on one line: no CR/LF inside it.
        line.extend(
            chunk
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b'x' } else { b }),
        );
        line.extend_from_slice(b"\r\n");
        raw.send_bytes(&line);
        let reply = raw.reply();
        let code: u16 = reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        assert!((200..600).contains(&code), "line {i}: {reply:?}");
    }
    assert_eq!(raw.cmd("NOOP"), "200 NOOP ok.\r\n");
    assert!(server.raw().cmd("NOOP").starts_with("200 "));
}

/// NLST and LIST take shell wildcards in the last component (`mget f00*.bin` in tnftp,
/// `ncftpget '/alice/d/f01*.bin'`), as vsftpd does.
#[test]
fn nlst_and_list_expand_wildcards_in_the_last_component() {
    let server = TestServer::start();
    std::fs::create_dir(server.storage("alice/d")).unwrap();
    for name in [
        "f00.bin",
        "f01.bin",
        "f02.txt",
        "g.bin",
        ".f0hidden",
        "[x].txt",
    ] {
        std::fs::write(server.storage(&format!("alice/d/{name}")), name).unwrap();
    }
    crate::support::place(&server, "Public/f0bob.bin", b"secret", "bob", false);
    crate::support::place(&server, "Public/f0pub.bin", b"open", "bob", true);
    let mut raw = server.login(ALICE);
    let nlst = |raw: &mut crate::support::Raw, arg: &str| {
        let (opening, body, done) = raw.listing(&format!("NLST {arg}"));
        if !opening.starts_with("150") {
            return opening;
        }
        assert_eq!(done, "226 Directory send OK.\r\n");
        body
    };
    assert_eq!(nlst(&mut raw, "d/f0*.bin"), "d/f00.bin\r\nd/f01.bin\r\n");
    assert_eq!(nlst(&mut raw, "/alice/d/f01*.bin"), "/alice/d/f01.bin\r\n");
    assert_eq!(
        nlst(&mut raw, "d/f0?.*"),
        "d/f00.bin\r\nd/f01.bin\r\nd/f02.txt\r\n"
    );
    assert_eq!(
        nlst(&mut raw, "d/[fg]*.bin"),
        "d/f00.bin\r\nd/f01.bin\r\nd/g.bin\r\n"
    );
    // Dot files only for a pattern that starts with a dot; an existing name is literal.
    assert_eq!(
        nlst(&mut raw, "d/*hidden"),
        "550 No such file or directory.\r\n"
    );
    assert_eq!(nlst(&mut raw, "d/.f0*"), "d/.f0hidden\r\n");
    assert_eq!(nlst(&mut raw, "d/[x].txt"), "[x].txt\r\n");
    // Others' private files never match; no match is 550.
    assert_eq!(nlst(&mut raw, "/Public/f0*"), "/Public/f0pub.bin\r\n");
    assert_eq!(
        nlst(&mut raw, "d/zz*"),
        "550 No such file or directory.\r\n"
    );
    // Wildcards in a directory part are not expanded.
    assert_eq!(
        nlst(&mut raw, "d*/f00.bin"),
        "550 No such file or directory.\r\n"
    );
    let (_, listing, _) = raw.listing("LIST d/f0*.bin");
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(
        lines[0].ends_with(" d/f00.bin") && lines[1].ends_with(" d/f01.bin"),
        "{listing}"
    );
}
