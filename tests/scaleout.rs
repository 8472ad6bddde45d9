//! Scale-out on real parts: the S3 back-end on a three-node Garage cluster (replication
//! factor 3), the core command set on it, and two ferroftp nodes on one bucket behind
//! Debian's HAProxy (`send-proxy-v2`), with a Garage node killed mid-way.

use std::io::{Read, Write};
use std::net::SocketAddr;

use ferroftp::config::StorageChoice;

use crate::support::*;

fn s3_settings(garage: &Garage, prefix: &str) -> StorageChoice {
    StorageChoice::S3 {
        endpoint: ferroftp::storage::s3::Endpoint {
            url: format!("http://{}", garage.s3[0]),
            bucket: garage.bucket.clone(),
            region: "garage".into(),
            access_key: garage.key_id.clone(),
            secret_key: garage.secret.clone(),
        },
        prefix: prefix.into(),
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn names(listing: &str) -> Vec<String> {
    let mut names: Vec<String> = listing
        .lines()
        .filter_map(|l| l.rsplit(' ').next().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn the_core_command_set_works_on_the_s3_back_end() {
    let garage = &Garage::start();
    let server = TestServer::start_with(|s| s.storage = s3_settings(garage, "core"));
    let mut alice = server.login(ALICE);
    assert_eq!(alice.cmd("TYPE I"), "200 Switching to Binary mode.\r\n");
    assert_eq!(alice.cmd("MKD docs"), "257 \"/alice/docs\" created.\r\n");
    assert_eq!(alice.cmd("MKD docs").split(' ').next(), Some("550"));
    assert!(alice.cmd("CWD docs").starts_with("250 "));
    // Nothing goes into a directory that does not exist (it would have no owner).
    assert_eq!(alice.cmd("MKD a/b/c"), "550 No such file or directory.\r\n");
    assert_eq!(
        alice.upload("STOR missing/x.txt", b"x").0,
        "550 No such file or directory.\r\n"
    );

    // A file above one part (multipart) and a small one (one PUT).
    let big = pattern(9 * 1024 * 1024 + 123, 1);
    assert_eq!(
        alice.upload("STOR big.bin", &big).1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(
        alice.upload("STOR small.txt", b"hello\n").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(alice.cmd("SIZE big.bin"), format!("213 {}\r\n", big.len()));
    let (_, back, done) = alice.download("RETR big.bin");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert!(back == big, "byte-exact multipart round trip");

    // REST + RETR is a ranged GET; REST + STOR and APPE rebuild the object.
    let (_, tail, _) = rest_retr(&mut alice, 1_000_000, "RETR big.bin");
    assert_eq!(tail.len(), big.len() - 1_000_000, "REST + RETR");
    assert!(tail == big[1_000_000..], "REST + RETR");
    assert_eq!(
        rest_stor(&mut alice, 3, "STOR small.txt", b"LO!\n").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(
        alice.upload("APPE small.txt", b"more\n").1,
        "226 Transfer complete.\r\n"
    );
    assert_eq!(alice.download("RETR small.txt").1, b"helLO!\nmore\n");

    // LIST and MLSD show owner and visibility from the objects' metadata.
    let (_, list, _) = alice.listing("LIST");
    assert_eq!(names(&list), ["big.bin", "small.txt"]);
    assert!(list.contains("-rw-------   1 alice"), "{list}");
    let (_, mlsd, _) = alice.listing("MLSD");
    assert!(mlsd.contains("UNIX.owner=alice;"), "{mlsd}");
    assert!(mlsd.contains(&format!("size={};", big.len())), "{mlsd}");

    // MDTM / MFMT.
    assert_eq!(
        alice.cmd("MFMT 20200102030405 small.txt"),
        "213 Modify=20200102030405; /alice/docs/small.txt\r\n"
    );
    assert_eq!(alice.cmd("MDTM small.txt"), "213 20200102030405\r\n");

    // RNFR/RNTO of a file and of a directory (copy + delete), records kept.
    assert!(alice.cmd("RNFR small.txt").starts_with("350 "));
    assert_eq!(alice.cmd("RNTO renamed.txt"), "250 Rename successful.\r\n");
    assert_eq!(alice.cmd("MDTM renamed.txt"), "213 20200102030405\r\n");
    assert!(alice.cmd("CWD /alice").starts_with("250 "));
    assert!(alice.cmd("RNFR docs").starts_with("350 "));
    assert_eq!(alice.cmd("RNTO papers"), "250 Rename successful.\r\n");
    let (_, list, _) = alice.listing("LIST papers");
    assert_eq!(names(&list), ["big.bin", "renamed.txt"]);
    assert!(alice.cmd("CWD docs").starts_with("550 "));

    // Bob sees neither alice's home nor, through Public, her private file.
    assert_eq!(
        alice.upload("STOR /Public/shared.txt", b"for all").1,
        "226 Transfer complete.\r\n"
    );
    assert!(
        alice
            .cmd("SITE VISIBILITY private /Public/shared.txt")
            .starts_with("200 ")
    );
    let mut bob = server.login(BOB);
    assert_eq!(
        bob.cmd("SIZE /Public/shared.txt"),
        "550 No such file or directory.\r\n"
    );
    let (_, public, _) = bob.listing("LIST /Public");
    assert!(!public.contains("shared.txt"), "{public}");
    assert!(
        alice
            .cmd("SITE VISIBILITY public /Public/shared.txt")
            .starts_with("200 ")
    );
    assert_eq!(bob.cmd("SIZE /Public/shared.txt"), "213 7\r\n");
    assert_eq!(
        bob.cmd("DELE /Public/shared.txt"),
        "550 Permission denied.\r\n"
    );

    // DELE and RMD.
    assert_eq!(alice.cmd("RMD papers"), "550 Directory not empty.\r\n");
    assert_eq!(
        alice.cmd("DELE papers/big.bin"),
        "250 Delete operation successful.\r\n"
    );
    assert_eq!(
        alice.cmd("DELE papers/renamed.txt"),
        "250 Delete operation successful.\r\n"
    );
    assert_eq!(
        alice.cmd("RMD papers"),
        "250 Remove directory operation successful.\r\n"
    );
    assert_eq!(
        alice.cmd("DELE /Public/shared.txt"),
        "250 Delete operation successful.\r\n"
    );
    let (_, list, _) = alice.listing("LIST");
    assert_eq!(list, "");
}

#[test]
fn a_failed_upload_leaves_no_object() {
    let garage = &Garage::start();
    let server = TestServer::start_with(|s| s.storage = s3_settings(garage, "aborts"));
    let mut alice = server.login(ALICE);
    alice.cmd("TYPE I");
    // ABOR after one part went to the store: the multipart upload is aborted.
    let mut data = alice.epsv();
    assert!(alice.cmd("STOR cut.bin").starts_with("150 "));
    data.write_all(&pattern(9 * 1024 * 1024, 2)).unwrap();
    alice.send("ABOR");
    drop(data);
    let first = alice.reply();
    assert!(
        first.starts_with("426 ") || first.starts_with("226 "),
        "{first}"
    );
    if first.starts_with("426 ") {
        assert!(alice.reply().starts_with("226 "));
    }
    assert_eq!(
        alice.cmd("SIZE cut.bin"),
        "550 No such file or directory.\r\n"
    );
    let (_, list, _) = alice.listing("LIST");
    assert_eq!(list, "", "nothing half-written under the name");
}

#[test]
fn a_file_made_private_while_it_is_replaced_stays_private() {
    let garage = &Garage::start();
    let server = TestServer::start_with(|s| s.storage = s3_settings(garage, "replace"));
    let mut alice = server.login(ALICE);
    let mut owner = server.login(ALICE);
    let mut bob = server.login(BOB);
    alice.cmd("TYPE I");
    // One PUT (small) and a multipart upload (a part sent before the change): the small one
    // is replaced and keeps the new visibility; Garage drops a multipart upload when its
    // object is written meanwhile, so the big one is refused and the old file stays.
    for (name, first, rest) in [("small.txt", 10, 10), ("big.bin", 9 * 1024 * 1024, 1000)] {
        let path = format!("/Public/{name}");
        let old = pattern(first, 3);
        assert_eq!(
            alice.upload(&format!("STOR {path}"), &old).1,
            "226 Transfer complete.\r\n"
        );
        assert_eq!(bob.cmd(&format!("SIZE {path}")), format!("213 {first}\r\n"));
        let new = pattern(first + rest, 4);
        let mut data = alice.epsv();
        assert!(alice.cmd(&format!("STOR {path}")).starts_with("150 "));
        data.write_all(&new[..first]).unwrap();
        data.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(
            owner
                .cmd(&format!("SITE VISIBILITY private {path}"))
                .starts_with("200 ")
        );
        let _ = data.write_all(&new[first..]);
        drop(data);
        let (reply, kept) = if first < 8 * 1024 * 1024 {
            ("226 Transfer complete.\r\n", new.clone())
        } else {
            (
                "451 Upload not kept: the file was changed while it was sent; try again.\r\n",
                old,
            )
        };
        assert_eq!(alice.reply(), reply, "{name}");
        let got = alice.download(&format!("RETR {path}")).1;
        assert!(
            got == kept,
            "{name}: {} bytes, not the kept file",
            got.len()
        );
        assert_eq!(
            bob.cmd(&format!("SIZE {path}")),
            "550 No such file or directory.\r\n",
            "{name}: the file kept the visibility set during the upload"
        );
        let (_, list, _) = bob.listing("LIST /Public");
        assert!(!list.contains(name), "{list}");
        let (_, list, _) = alice.listing(&format!("LIST {path}"));
        assert!(list.starts_with("-rw-------   1 alice"), "{list}");
    }
    // A public multipart file replaced with nothing changed meanwhile stays public (its
    // parts went up private; the finished object takes the file's record).
    assert!(
        owner
            .cmd("SITE VISIBILITY public /Public/big.bin")
            .starts_with("200 ")
    );
    let new = pattern(9 * 1024 * 1024 + 7, 5);
    assert_eq!(
        alice.upload("STOR /Public/big.bin", &new).1,
        "226 Transfer complete.\r\n"
    );
    bob.cmd("TYPE I");
    let got = bob.download("RETR /Public/big.bin").1;
    assert!(got == new, "bob read {} bytes, not the new file", got.len());
}

/// A node at `ip` on `garage`'s bucket, behind the test's HAProxy; `users` are added with
/// `ferroftp user add` on its instance before it starts (they reach the bucket at once).
fn node_instance(
    garage: &Garage,
    ip: &str,
    users: &[(&str, &str)],
) -> (tempfile::TempDir, Served, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ferroftp.toml"),
        format!(
            "bcrypt_cost = 4\nproxy_protocol = true\nmax_login_failures = 2\npasv_address = \"{ip}\"\n{}",
            garage.config(0, "cluster")
        ),
    )
    .unwrap();
    for user in users {
        user_add(dir.path(), *user);
    }
    let mut node = Served::start(dir.path(), &["--listen", &format!("{ip}:0")]);
    let addr = listening(node.lines_until("listening on").last().unwrap());
    (dir, node, addr)
}

/// Logs in through the proxy from `client`; returns the session and the node's address
/// that PASV names.
fn through(proxy: SocketAddr, client: &str, user: (&str, &str)) -> Raw {
    let mut raw = Raw::connect_from(client, proxy);
    assert!(raw.reply().starts_with("220 "));
    raw.cmd(&format!("USER {}", user.0));
    assert_eq!(
        raw.cmd(&format!("PASS {}", user.1)),
        "230 Login successful.\r\n"
    );
    raw.cmd("TYPE I");
    raw
}

fn pasv_data(raw: &mut Raw, client: &str) -> std::net::TcpStream {
    let reply = raw.cmd("PASV");
    let inner = &reply[reply.find('(').unwrap() + 1..reply.find(')').unwrap()];
    let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
    let ip = std::net::Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    let stream = connect_from(
        client.parse().unwrap(),
        SocketAddr::from((ip, n[4] * 256 + n[5])),
    )
    .unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream
}

fn put(raw: &mut Raw, client: &str, name: &str, body: &[u8]) -> String {
    let mut data = pasv_data(raw, client);
    let opening = raw.cmd(&format!("STOR {name}"));
    assert!(opening.starts_with("150 "), "{opening}");
    data.write_all(body).unwrap();
    drop(data);
    raw.reply()
}

fn get(raw: &mut Raw, client: &str, name: &str) -> (String, Vec<u8>) {
    let mut data = pasv_data(raw, client);
    let opening = raw.cmd(&format!("RETR {name}"));
    if !opening.starts_with("150 ") {
        return (opening, Vec::new());
    }
    let mut body = Vec::new();
    data.read_to_end(&mut body).unwrap();
    (raw.reply(), body)
}

/// Round robin: the next connection through the proxy goes to the other node. Returns the
/// node's address as PASV names it.
fn node_of(raw: &mut Raw) -> String {
    let reply = raw.cmd("PASV");
    let inner = &reply[reply.find('(').unwrap() + 1..reply.find(')').unwrap()];
    inner.split(',').take(4).collect::<Vec<_>>().join(".")
}

/// carol's account edited in the bucket (as by another node) keeps her session on node 2;
/// deleted and made again there (a new creation id, and node 2 never sees the deletion) it
/// ends the session. A deletion and re-creation on node 1 gives the account a new id.
fn account_remade_elsewhere_ends_its_sessions(
    garage: &Garage,
    (dir1, dir2): (&std::path::Path, &std::path::Path),
    session: &mut Raw,
) {
    use ferroftp::storage::s3::client::Client;
    let StorageChoice::S3 { endpoint, .. } = s3_settings(garage, "cluster") else {
        unreachable!()
    };
    let bucket = Client::new(&endpoint).unwrap();
    let key = "cluster/_ferroftp/accounts/carol";
    let created_of = || {
        let (body, created) = bucket.get_small(key, 4096, "x-amz-meta-created").unwrap();
        (
            String::from_utf8(body).unwrap(),
            created.expect("a creation id"),
        )
    };
    let (body, created) = created_of();
    let grants = body.lines().nth(1).unwrap_or("").to_owned();
    let node2_credentials = dir2.join("data/credentials.txt");
    let put_carol = |created: &str| {
        let hash = bcrypt::hash("carol-pw", 4).unwrap();
        let body = format!("carol:{hash}:user:active\n{grants}\n");
        let meta = vec![("x-amz-meta-created", created.to_owned())];
        bucket.put_with(key, body.as_bytes(), meta).unwrap();
        assert!(
            wait_until(std::time::Duration::from_secs(3), || {
                std::fs::read_to_string(&node2_credentials)
                    .unwrap()
                    .contains(&hash)
            }),
            "node 2 took the edit"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    put_carol(&created);
    assert_eq!(
        session.cmd("NOOP"),
        "200 NOOP ok.\r\n",
        "an edit keeps the session"
    );
    put_carol("made-again");
    assert_eq!(session.cmd("NOOP"), "421 Account disabled.\r\n");

    run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .args(["user", "del", "carol", "--dir"])
            .arg(dir1),
    );
    user_add(dir1, ("carol", "carol-pw"));
    let (_, again) = created_of();
    assert!(again != created && again != "made-again", "{again}");
}

#[test]
fn two_nodes_on_one_bucket_behind_haproxy() {
    let mut garage = Garage::start();
    // Node 2 has no account of its own: it takes node 1's from the bucket.
    let (dir1, node1, addr1) = node_instance(&garage, "127.0.0.11", &[ALICE, BOB]);
    let (_dir2, node2, addr2) = node_instance(&garage, "127.0.0.12", &[]);
    let proxy = Haproxy::start("127.0.0.10", &[addr1, addr2]);

    // Two sessions land on the two nodes (round robin); alice uploads through one and reads
    // the same bytes through the other.
    let mut first = through(proxy.addr, "127.0.0.5", ALICE);
    let on_first = node_of(&mut first);
    // Grants came along with the accounts: the root shows the same on either node.
    let root = {
        let mut data = pasv_data(&mut first, "127.0.0.5");
        first.cmd("LIST /");
        let mut text = String::new();
        data.read_to_string(&mut text).unwrap();
        assert_eq!(first.reply(), "226 Directory send OK.\r\n");
        text
    };
    assert_eq!(names(&root), ["Public", "alice"], "{root}");
    let mut second = (0..8)
        .map(|_| through(proxy.addr, "127.0.0.5", ALICE))
        .find_map(|mut s| (node_of(&mut s) != on_first).then_some(s))
        .expect("the proxy spreads sessions over both nodes");
    let body = pattern(12 * 1024 * 1024, 3);
    assert_eq!(
        put(&mut first, "127.0.0.5", "shared.bin", &body),
        "226 Transfer complete.\r\n"
    );
    let (done, back) = get(&mut second, "127.0.0.5", "shared.bin");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert!(back == body, "byte-exact through the other node");

    // Bob sees alice's private file on neither node.
    for _ in 0..2 {
        let mut bob = through(proxy.addr, "127.0.0.6", BOB);
        assert_eq!(
            bob.cmd("SIZE /alice/shared.bin"),
            "550 No such file or directory.\r\n"
        );
        let (_, root) = {
            let mut data = pasv_data(&mut bob, "127.0.0.6");
            bob.cmd("LIST /");
            let mut text = String::new();
            data.read_to_string(&mut text).unwrap();
            (bob.reply(), text)
        };
        assert!(!root.contains("alice"), "{root}");
    }

    // A ban through the proxy names the real client. Failure counters are per node: two
    // failures on each (round robin) block the address on both.
    for _ in 0..4 {
        let mut bad = Raw::connect_from("127.0.0.7", proxy.addr);
        assert!(bad.reply().starts_with("220 "));
        bad.cmd("USER alice");
        assert_eq!(bad.cmd("PASS wrong"), "530 Login incorrect.\r\n");
    }
    let mut banned = Raw::connect_from("127.0.0.7", proxy.addr);
    assert_eq!(
        banned.reply(),
        "421 Too many failed logins from your address; try again later.\r\n"
    );
    assert!(
        through(proxy.addr, "127.0.0.8", BOB)
            .cmd("NOOP")
            .starts_with("200 ")
    );
    let logs = format!("{}{}", node1.stderr(), node2.stderr());
    assert!(
        logs.contains("login failed: user=alice ip=127.0.0.7"),
        "{logs}"
    );
    assert!(logs.contains("blocking ip=127.0.0.7 "), "{logs}");
    assert!(
        !logs.contains("ip=127.0.0.10"),
        "the proxy is named nowhere"
    );

    // `ferroftp user add` on node 1's instance: carol logs in on node 2 within 2 s.
    let carol = ("carol", "carol-pw");
    user_add(dir1.path(), carol);
    let added = std::time::Instant::now();
    // Each try from its own address: a refused try counts as a failed login (2 block).
    let mut attempt = 30;
    let on_node2 = loop {
        attempt += 1;
        assert!(
            added.elapsed() < std::time::Duration::from_secs(2),
            "carol could not log in on node 2 within 2 s"
        );
        let mut raw = Raw::connect_from(&format!("127.0.0.{attempt}"), proxy.addr);
        assert!(raw.reply().starts_with("220 "));
        raw.cmd("USER carol");
        let answer = raw.cmd("PASS carol-pw");
        if answer.starts_with("230 ") && node_of(&mut raw) == "127.0.0.12" {
            break (added.elapsed(), raw);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (on_node2, mut carol_on_2) = on_node2;
    eprintln!("carol logged in on node 2 {on_node2:?} after user add on node 1");
    account_remade_elsewhere_ends_its_sessions(
        &garage,
        (dir1.path(), _dir2.path()),
        &mut carol_on_2,
    );

    // One Garage node killed mid-way: with two of three replicas left, transfers go on.
    garage.kill(2);
    let more = pattern(3 * 1024 * 1024, 4);
    assert_eq!(
        put(&mut first, "127.0.0.5", "after.bin", &more),
        "226 Transfer complete.\r\n"
    );
    let (done, back) = get(&mut second, "127.0.0.5", "after.bin");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert!(back == more);
    let (done, back) = get(&mut second, "127.0.0.5", "shared.bin");
    assert_eq!(done, "226 Transfer complete.\r\n");
    assert!(back == body);
}
