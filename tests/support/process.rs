//! Processes the tests run: external clients with a time limit (`Ran`), Python scripts,
//! `ferroftp serve` as a child (`Served`), and a pyftpdlib server (`PyFtpd`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::*;

/// Runs an external command, failing the test with its output if it does not succeed.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (the README test command installs it)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What an external command did within its time limit.
#[derive(Debug)]
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn ok(self, what: &str) -> Ran {
        assert!(
            self.success(),
            "{what} failed: {}\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `cmd` with stdin closed; a command still running after `secs` is killed and the
/// test fails with what it printed, so a hung client never hangs the test run.
pub fn run_with_timeout(cmd: &mut std::process::Command, secs: u64) -> Ran {
    run_with_input(cmd, None, secs)
}

/// As [`run_with_timeout`], writing `input` (if any) to the command's stdin, then closing it.
pub fn run_with_input(cmd: &mut std::process::Command, input: Option<&[u8]>, secs: u64) -> Ran {
    use std::process::Stdio;
    use std::time::Instant;

    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (the README test command installs it)")
    });
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {secs} s, killed\nstdout: {}\nstderr: {}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Runs a Python 3 script (written to a temp file) with `args` under a time limit.
pub fn python(script: &str, args: &[&str], secs: u64) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.py");
    std::fs::write(&path, script).unwrap();
    run_with_timeout(
        std::process::Command::new("python3").arg(&path).args(args),
        secs,
    )
}

/// A `ferroftp serve` child process: its stdout lines arrive on a channel, its stderr is
/// collected for failure messages, and Drop kills it so no test leaves a server behind.
pub struct Served {
    pub child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Served {
    pub fn start(dir: &Path, args: &[&str]) -> Served {
        Served::start_with_env(dir, args, &[])
    }

    /// As [`Served::start`], with extra environment variables (e.g. `RUST_LOG`).
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .arg("serve")
            .arg("--dir")
            .arg(dir)
            .args(args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn ferroftp serve");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Served {
            child,
            lines,
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, waiting at most 15 s.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(15)) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("no stdout line within 15 s; stderr:\n{}", self.stderr())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!(
                "serve closed stdout ({:?}); stderr:\n{}",
                self.child.try_wait(),
                self.stderr()
            ),
        }
    }

    /// Reads stdout up to and including the line that starts with `prefix`.
    pub fn lines_until(&mut self, prefix: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..64 {
            let line = self.line();
            let done = line.starts_with(prefix);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("no {prefix:?} line in {seen:?}");
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// SIGKILL, as a crash or power cut would end it; waits for it to be gone.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({signal})");
    }

    /// Waits at most `secs` for the process to exit.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve still running {secs} s after SIGTERM; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `listening on ADDR:PORT` → the address (port not 0).
pub fn listening(line: &str) -> SocketAddr {
    let addr: SocketAddr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_ne!(addr.port(), 0, "{line}");
    addr
}

/// pyftpdlib (an FTP server we did not write) on 127.0.0.1:0 serving `root` to
/// tester/tester-pw with every permission; killed on drop.
pub struct PyFtpd {
    child: std::process::Child,
    pub port: u16,
}

impl Drop for PyFtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PYFTPD_PY: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.ERROR)
authorizer = DummyAuthorizer()
authorizer.add_user("tester", "tester-pw", sys.argv[1], perm="elradfmwMT")
FTPHandler.authorizer = authorizer
server = FTPServer(("127.0.0.1", 0), FTPHandler)
print(server.address[1], flush=True)
server.serve_forever()
"#;

impl PyFtpd {
    /// The account pyftpdlib serves.
    pub const USER: (&'static str, &'static str) = ("tester", "tester-pw");

    /// Starts it; its script is written into `script_dir`.
    pub fn start(root: &Path, script_dir: &Path) -> PyFtpd {
        PyFtpd::start_with(root, script_dir, "")
    }

    /// Starts it with `handler` (Python, run before the server starts: it may replace
    /// `FTPHandler` methods to make a hostile server).
    pub fn start_with(root: &Path, script_dir: &Path, handler: &str) -> PyFtpd {
        use std::process::{Command, Stdio};
        let script = script_dir.join("pyftpd.py");
        let code = PYFTPD_PY.replace(
            "FTPHandler.authorizer = authorizer",
            &format!("{handler}\nFTPHandler.authorizer = authorizer"),
        );
        std::fs::write(&script, code).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (the README test command installs pyftpdlib)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20));
        let mut server = PyFtpd { child, port: 0 };
        server.port = line
            .ok()
            .and_then(|l| l.trim().parse().ok())
            .expect("pyftpdlib printed its port (pip install pyftpdlib)");
        server
    }
}

/// `ferroftp user add NAME --password-stdin --dir DIR`, which must succeed.
pub fn user_add(dir: &Path, (name, password): (&str, &str)) {
    run_with_input(
        std::process::Command::new(env!("CARGO_BIN_EXE_ferroftp"))
            .args(["user", "add", name, "--password-stdin", "--dir"])
            .arg(dir),
        Some(format!("{password}\n").as_bytes()),
        30,
    )
    .ok("user add");
}
