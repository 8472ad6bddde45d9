//! The accept loop of one listener: admission (IP block, per-IP and total limits) and hand-off
//! to the pool. Refusals are written without blocking: a peer that never reads cannot stall it.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use crate::server::pool::Pool;
use crate::server::{Job, Shared};
use crate::server::{admission, net};

/// How long the acceptor waits for a worker when all `max_sessions` are started and busy
/// though admission found a place (an evicted or finishing session's worker is moments from
/// its next job).
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the acceptor wakes to check for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(250);

pub fn run(listener: TcpListener, implicit_tls: bool, shared: &Arc<Shared>, jobs: &Pool<Job>) {
    while !shared.shutdown.is_triggered() {
        match net::wait_readable(listener.as_fd(), ACCEPT_POLL) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                log::error!("accept poll failed: {e}");
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        }
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nonblocking(false) {
                        log::warn!("dropping connection from {peer}: {e}");
                        continue;
                    }
                    hand_off(stream, implicit_tls, shared, jobs);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::error!("accept failed: {e}");
                    std::thread::sleep(ACCEPT_POLL);
                    break;
                }
            }
        }
    }
}

fn hand_off(stream: TcpStream, implicit_tls: bool, shared: &Arc<Shared>, jobs: &Pool<Job>) {
    let Ok(peer) = stream.peer_addr() else { return };
    // The header itself is read by the worker: a slow proxy must not stall this loop.
    let proxied = shared.expects_proxy_header(peer.ip());
    match shared.admit(peer.ip(), &stream, proxied) {
        Ok(permit) => {
            shared.metrics.connection();
            let job = Job {
                stream,
                implicit_tls,
                proxied,
                permit,
            };
            if let Err(job) = jobs.submit(job, HANDOFF_TIMEOUT) {
                log::warn!("no worker took the connection from {peer}");
                shared.metrics.refused("no_worker");
                refuse(&job.stream, "421 Too many connections.\r\n");
            }
        }
        Err(reply) => {
            log::info!("refused {peer}: {}", reply.trim_end());
            shared.metrics.refused(admission::refusal_reason(reply));
            refuse(&stream, reply);
        }
    }
}

pub(super) fn refuse(stream: &TcpStream, reply: &str) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write(reply.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
