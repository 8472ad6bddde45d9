//! Running ferroftp as a packaged service: `--version` everywhere, the man pages and shell
//! completions generated from the real command line (and kept in `contrib/`), and the systemd
//! unit as `systemd-analyze verify` judges it. The Debian package itself is built by
//! `scripts/test.sh` (`scripts/check-package.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use ferroftp::cli::Cli;

use crate::support::run_with_timeout;

/// Set to 1 to rewrite `contrib/man` and `contrib/completions` from the current command line.
const REGENERATE: &str = "FERROFTP_REGENERATE";

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib")
}

#[test]
fn every_subcommand_answers_version() {
    let version = env!("CARGO_PKG_VERSION");
    for args in [
        vec![],
        vec!["serve"],
        vec!["user"],
        vec!["user", "add"],
        vec!["user", "del"],
        vec!["user", "ban"],
        vec!["user", "unban"],
        vec!["user", "passwd"],
        vec!["user", "list"],
        vec!["client"],
        vec!["web"],
        vec!["unblock"],
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferroftp"));
        cmd.args(&args).arg("--version");
        let ran = run_with_timeout(&mut cmd, 30).ok(&format!("{args:?} --version"));
        let name = std::iter::once("ferroftp")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join("-");
        assert_eq!(ran.stdout, format!("{name} {version}\n"), "{args:?}");
    }
}

/// What `contrib/` should hold: a man page per command and subcommand, and completions for
/// bash, zsh and fish, each generated from `Cli`.
fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut cmd = Cli::command();
    cmd.build();
    man_pages(&cmd, "ferroftp", &mut files);
    for (shell, name) in [
        (clap_complete::Shell::Bash, "ferroftp.bash"),
        (clap_complete::Shell::Zsh, "_ferroftp"),
        (clap_complete::Shell::Fish, "ferroftp.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "ferroftp", &mut out);
        files.push((contrib().join("completions").join(name), out));
    }
    files
}

fn man_pages(cmd: &clap::Command, name: &str, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    let mut out = Vec::new();
    // Built subcommands display as `ferroftp-user-add`, the name their page takes.
    clap_mangen::Man::new(cmd.clone()).render(&mut out).unwrap();
    files.push((contrib().join("man").join(format!("{name}.1")), out));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        man_pages(sub, &format!("{name}-{}", sub.get_name()), files);
    }
}

#[test]
fn man_pages_and_completions_match_the_command_line() {
    let files = generated();
    assert!(files.len() >= 10, "{} files", files.len());
    if std::env::var(REGENERATE).is_ok_and(|v| v == "1") {
        for (path, contents) in &files {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
    }
    for (path, contents) in &files {
        let committed = std::fs::read(path).unwrap_or_default();
        assert!(
            committed == *contents,
            "{} is not what the command line generates; run \
             {REGENERATE}=1 cargo test --test integration packaging",
            path.display()
        );
    }
    let main_page = String::from_utf8(files[0].1.clone()).unwrap();
    for word in ["serve", "user", "client", "web"] {
        assert!(main_page.contains(word), "ferroftp.1 names {word}");
    }
}

/// The shipped unit, with ExecStart pointed at the binary under test, passes
/// `systemd-analyze verify`, and keeps the hardening the README promises.
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(contrib().join("ferroftp.service")).unwrap();
    for line in [
        "User=ferroftp",
        "StateDirectory=ferroftp",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ExecStart=/usr/bin/ferroftp serve --dir /var/lib/ferroftp",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit has {line}");
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("ferroftp.service");
    let local = unit.replace("/usr/bin/ferroftp", env!("CARGO_BIN_EXE_ferroftp"));
    std::fs::write(&copy, local).unwrap();
    let ran = run_with_timeout(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&copy),
        60,
    );
    assert!(ran.success(), "systemd-analyze verify: {ran:?}");
    assert_eq!(ran.stderr, "", "no warnings: {ran:?}");
}
