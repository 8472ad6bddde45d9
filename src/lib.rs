//! ferroftp: an FTP/FTPS server for the LAN, in one binary. The map:
//!
//! - [`cli`]: the command line (`serve`, `user …`) — the front door.
//! - [`client`]: `ferroftp client`, the terminal FTP/FTPS client, and the connection
//!   layer it shares with the web client.
//! - [`config`]: `ferroftp.toml` overlaid by flags → `Settings`.
//! - [`instance`]: the paths under `--dir` (data/, server_storage/, certs/).
//! - [`limits`]: every named limit and timeout.
//! - [`logging`]: the process logger, which keeps library chatter (and its secrets) out.
//! - [`secret`]: `Password`, a secret that never prints itself.
//! - [`server`]: acceptor, bounded worker pool, sessions and their commands.
//! - [`protocol`]: the wire format only (commands, replies, addresses, listings, ASCII).
//! - [`auth`]: accounts in `data/credentials.txt`, passwords, brute-force throttle.
//! - [`storage`]: the only code that resolves paths and touches `server_storage/`.
//! - [`tls`]: the certificate (loaded or generated) and per-session rustls configs.
//! - [`web`]: `ferroftp web`, the browser client to FTP/FTPS servers.

pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod instance;
pub mod limits;
pub mod logging;
pub mod protocol;
pub mod secret;
pub mod server;
pub mod storage;
pub mod tls;
pub mod web;
