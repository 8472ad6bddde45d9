//! A real Garage cluster for the S3 back-end's tests: three nodes on 127.0.0.21-23 (free
//! ports), replication factor 3, a bucket and a key made with Garage's own CLI, as
//! "Running several nodes" in the README sets it up. Garage is an external test service
//! (`cargo install --locked garage`, which scripts/test.sh does when it is missing); the
//! project does not link it. Every node is killed on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Garage {
    nodes: Vec<Option<Child>>,
    configs: Vec<PathBuf>,
    /// The S3 API of each node.
    pub s3: Vec<SocketAddr>,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
    _dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let installed = home.join(".cargo/bin/garage");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("garage")
    }
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the Garage CLI against the node of `config`; its stdout.
fn cli(config: &Path, args: &[&str]) -> String {
    try_cli(config, args).unwrap_or_else(|e| panic!("garage {args:?}: {e}"))
}

/// The value after `label` in the CLI's `Label:   value` output.
fn field(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {label:?} in {output}"))
}

impl Garage {
    pub fn start() -> Garage {
        let dir = tempfile::tempdir().unwrap();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).unwrap();
        let rpc_secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let mut configs = Vec::new();
        let mut s3 = Vec::new();
        let mut nodes = Vec::new();
        for i in 1..=3 {
            let ip = format!("127.0.0.2{i}");
            let (rpc, api, admin) = (free_port(&ip), free_port(&ip), free_port(&ip));
            let node_dir = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let config = node_dir.join("garage.toml");
            std::fs::write(
                &config,
                format!(
                    "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                     replication_factor = 3\nrpc_bind_addr = \"{ip}:{rpc}\"\n\
                     rpc_public_addr = \"{ip}:{rpc}\"\nrpc_secret = \"{rpc_secret}\"\n\
                     [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"{ip}:{api}\"\n\
                     root_domain = \".s3.garage.localhost\"\n\
                     [admin]\napi_bind_addr = \"{ip}:{admin}\"\n",
                    d = node_dir.display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(node_dir.join("log")).unwrap();
            let child = Command::new(binary())
                .arg("-c")
                .arg(&config)
                .arg("server")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("garage server");
            nodes.push(Some(child));
            configs.push(config);
            s3.push(format!("{ip}:{api}").parse().unwrap());
        }
        let mut garage = Garage {
            nodes,
            configs,
            s3,
            bucket: "ferroftp".into(),
            key_id: String::new(),
            secret: String::new(),
            _dir: dir,
        };
        garage.form_cluster();
        garage
    }

    /// Connects the nodes, gives each a role, makes the bucket and the key.
    fn form_cluster(&mut self) {
        let first = self.configs[0].clone();
        let ids: Vec<String> = self
            .configs
            .iter()
            .map(|c| {
                retry(|| try_cli(c, &["node", "id", "-q"]))
                    .trim()
                    .to_owned()
            })
            .collect();
        for id in &ids[1..] {
            retry(|| try_cli(&first, &["node", "connect", id]));
        }
        for id in &ids {
            let short = &id[..16];
            retry(|| {
                try_cli(
                    &first,
                    &["layout", "assign", "-z", "dc1", "-c", "1G", short],
                )
            });
        }
        cli(&first, &["layout", "apply", "--version", "1"]);
        let key = cli(&first, &["key", "create", "ferroftp-test"]);
        self.key_id = field(&key, "Key ID:");
        self.secret = field(&key, "Secret key:");
        cli(&first, &["bucket", "create", &self.bucket]);
        cli(
            &first,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                &self.bucket,
                "--key",
                "ferroftp-test",
            ],
        );
        for addr in &self.s3 {
            wait_listening(*addr);
        }
    }

    /// The ferroftp.toml lines of a node on this cluster, through S3 node `via`.
    pub fn config(&self, via: usize, prefix: &str) -> String {
        format!(
            "storage = \"s3\"\ns3_endpoint = \"http://{}\"\ns3_bucket = \"{}\"\ns3_region = \"garage\"\n\
             s3_prefix = \"{prefix}\"\ns3_access_key_id = \"{}\"\ns3_secret_access_key = \"{}\"\n",
            self.s3[via], self.bucket, self.key_id, self.secret
        )
    }

    /// kill -9 of node `i` (0-based).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The CLI's stdout, or what it said on failure.
fn try_cli(config: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(binary())
        .arg("-c")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{e} (cargo install --locked garage; scripts/test.sh does it)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Retries a CLI call while the nodes start (at most 30 s).
fn retry(mut call: impl FnMut() -> Result<String, String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match call() {
            Ok(out) => return out,
            Err(e) if Instant::now() >= deadline => panic!("garage: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "garage S3 API not on {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
