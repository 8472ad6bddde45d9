//! The README's client command lines (curl, wget, rclone, ncftpget) work as written, against
//! a real server: only the host, the ports and the password are filled in.

use std::path::Path;
use std::process::Command;

use crate::support::{ALICE, TestServer, place, run_with_timeout};

/// Every `` `curl …` ``, `` `wget …` ``, `` `rclone …` `` and `` `ncftpget …` `` in README.md.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    readme
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            ["curl ", "wget ", "rclone ", "ncftpget "]
                .iter()
                .any(|tool| span.starts_with(tool))
        })
        .map(str::to_owned)
        .collect()
}

/// The command with this test's server filled in for the README's example host and ports.
fn filled_in(command: &str, port: u16, implicit_port: u16) -> String {
    let password = ALICE.1;
    let mut line = command
        .replace("192.168.1.20", "127.0.0.1")
        .replace(":5550", &format!(":{port}"))
        .replace("-P 5550", &format!("-P {port}"))
        .replace("port=5550", &format!("port={port}"))
        .replace(":9900", &format!(":{implicit_port}"))
        .replace("--ask-password", &format!("--password={password}"))
        .replace("'PASSWORD'", &format!("'{password}'"));
    if line.starts_with("curl ") {
        line = line.replace("-u alice ", &format!("-u alice:{password} "));
    }
    if line.starts_with("ncftpget ") {
        line = line.replace("-u alice ", &format!("-u alice -p {password} "));
    }
    line
}

fn run_in(dir: &Path, line: &str) -> crate::support::Ran {
    run_with_timeout(
        Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(dir)
            .env("HOME", dir)
            .env("RCLONE_CONFIG", dir.join("rclone.conf")),
        60,
    )
}

#[test]
fn every_client_command_line_in_the_readme_works() {
    let (server, implicit) = TestServer::start_tls(|_| {});
    place(&server, "alice/file.txt", b"alice's file\n", "alice", false);
    std::fs::create_dir(server.storage("alice/d")).unwrap();
    for name in ["f00.bin", "f01.bin", "f011.bin", "g.bin"] {
        place(
            &server,
            &format!("alice/d/{name}"),
            name.as_bytes(),
            "alice",
            false,
        );
    }
    place(&server, "Public/shared.txt", b"for all\n", "admin", true);
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("photos")).unwrap();
    for i in 0..3 {
        std::fs::write(work.path().join(format!("photos/p{i}.jpg")), [i; 1000]).unwrap();
    }
    let commands = readme_commands();
    assert!(commands.len() >= 9, "{commands:?}");
    for command in &commands {
        let line = filled_in(command, server.port(), implicit.port());
        let ran = run_in(work.path(), &line);
        assert!(
            ran.success(),
            "README: {command}\nran: {line}\n{}{}",
            ran.stdout,
            ran.stderr
        );
        if command.contains("%2FPublic") {
            assert!(
                ran.stdout.contains("shared.txt"),
                "{command}: {}",
                ran.stdout
            );
        }
    }
    // What they did: downloads, an upload into the home, a synced tree, wildcard matches.
    assert_eq!(
        std::fs::read(work.path().join("file.txt")).unwrap(),
        b"alice's file\n"
    );
    assert!(server.storage("alice/file.txt").exists());
    for i in 0..3 {
        assert!(server.storage(&format!("alice/photos/p{i}.jpg")).exists());
    }
    assert_eq!(
        std::fs::read(work.path().join("f01.bin")).unwrap(),
        b"f01.bin"
    );
    assert_eq!(
        std::fs::read(work.path().join("f011.bin")).unwrap(),
        b"f011.bin"
    );
    assert!(!work.path().join("f00.bin").exists());
}
