//! Debian's HAProxy as the tests' load balancer: TCP mode, round robin, a PROXY protocol v2
//! header to every backend (`send-proxy-v2`), as "Running several nodes" in the README sets
//! it up. Killed on drop.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct Haproxy {
    child: std::process::Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Where Debian installs it (root's PATH has /usr/sbin; a user's may not).
fn binary() -> &'static str {
    if Path::new("/usr/sbin/haproxy").exists() {
        "/usr/sbin/haproxy"
    } else {
        "haproxy"
    }
}

impl Haproxy {
    /// HAProxy on `ip` (a free port) in front of `backends`.
    pub fn start(ip: &str, backends: &[SocketAddr]) -> Haproxy {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(ip.is_loopback(), "tests listen on loopback addresses only");
        let port = TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::new(ip, port);
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("    server node{} {b} send-proxy-v2\n", i + 1))
            .collect();
        let config = format!(
            "global\n    maxconn 4096\n\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n\
             frontend ftp\n    bind {addr}\n    default_backend nodes\n\
             backend nodes\n    balance roundrobin\n{servers}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = std::process::Command::new(binary())
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("haproxy (Debian's haproxy package; scripts/test.sh installs it)");
        let proxy = Haproxy {
            child,
            addr,
            _dir: dir,
        };
        proxy.wait_listening();
        proxy
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
