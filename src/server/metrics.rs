//! Prometheus metrics (SPEC "Logs": `metrics_listen`, off by default): counters the sessions
//! bump as things happen, gauges read from the live state at each scrape, and the tiny HTTP
//! endpoint that serves them at `/metrics` in the OpenMetrics text format (prometheus-client,
//! the Prometheus project's Rust client, does the encoding).

use std::net::SocketAddr;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::server::xferlog::Direction;

/// Label sets are a few short pairs; a transfer end or a login allocates one, a scrape reads.
type Labels = Vec<(&'static str, String)>;

/// The `Content-Type` Prometheus asks for with OpenMetrics text.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric the server exports, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: Counter,
    refused: Family<Labels, Counter>,
    logins: Family<Labels, Counter>,
    transfer_bytes: Family<Labels, Counter>,
    transfer_files: Family<Labels, Counter>,
    transfer_errors: Family<Labels, Counter>,
    sessions_open: Gauge,
    blocked_ips: Gauge,
    workers_busy: Gauge,
    workers_started: Gauge,
    workers_max: Gauge,
}

/// The gauges' values, read from the server's state when a scrape comes in.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub sessions_open: usize,
    pub blocked_ips: usize,
    pub workers_started: usize,
    pub workers_max: usize,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("ferroftp"),
            connections: Counter::default(),
            refused: Family::default(),
            logins: Family::default(),
            transfer_bytes: Family::default(),
            transfer_files: Family::default(),
            transfer_errors: Family::default(),
            sessions_open: Gauge::default(),
            blocked_ips: Gauge::default(),
            workers_busy: Gauge::default(),
            workers_started: Gauge::default(),
            workers_max: Gauge::default(),
        };
        m.register_counters();
        m.register_gauges();
        m
    }

    fn register_counters(&mut self) {
        let r = &mut self.registry;
        r.register(
            "connections",
            "Connections given a session",
            self.connections.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused at once, by reason",
            self.refused.clone(),
        );
        r.register(
            "logins",
            "Login attempts, by result (ok, failed)",
            self.logins.clone(),
        );
        r.register(
            "transfer_bytes",
            "Bytes moved by RETR/STOR/APPE/STOU, by direction (in, out)",
            self.transfer_bytes.clone(),
        );
        r.register(
            "transfer_files",
            "Files transferred completely, by direction (in, out)",
            self.transfer_files.clone(),
        );
        r.register(
            "transfer_errors",
            "Transfer commands that failed, by reply code",
            self.transfer_errors.clone(),
        );
    }

    fn register_gauges(&mut self) {
        let r = &mut self.registry;
        r.register(
            "sessions_open",
            "Control connections being served",
            self.sessions_open.clone(),
        );
        r.register(
            "blocked_ips",
            "Client addresses blocked after failed logins",
            self.blocked_ips.clone(),
        );
        r.register(
            "workers_busy",
            "Worker threads serving a session",
            self.workers_busy.clone(),
        );
        r.register(
            "workers_started",
            "Worker threads started (they stay for the next session)",
            self.workers_started.clone(),
        );
        r.register(
            "workers_max",
            "Most worker threads (max_sessions)",
            self.workers_max.clone(),
        );
    }

    pub fn connection(&self) {
        self.connections.inc();
    }

    /// A connection refused before it got a session; `reason` is a short word.
    pub fn refused(&self, reason: &'static str) {
        self.refused
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    pub fn login(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.logins
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
    }

    /// A transfer that moved `bytes` (complete or not).
    pub fn transfer(&self, direction: Direction, bytes: u64, complete: bool) {
        let label = vec![("direction", direction_label(direction).to_owned())];
        self.transfer_bytes.get_or_create(&label).inc_by(bytes);
        if complete {
            self.transfer_files.get_or_create(&label).inc();
        }
    }

    /// A transfer command answered with a 4xx/5xx reply.
    pub fn transfer_error(&self, code: u16) {
        self.transfer_errors
            .get_or_create(&vec![("code", code.to_string())])
            .inc();
    }

    /// The text a scrape gets, with the gauges set from `live`.
    pub fn render(&self, live: Live) -> String {
        let gauge = |g: &Gauge, v: usize| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        gauge(&self.sessions_open, live.sessions_open);
        gauge(
            &self.workers_busy,
            live.sessions_open.min(live.workers_started),
        );
        gauge(&self.blocked_ips, live.blocked_ips);
        gauge(&self.workers_started, live.workers_started);
        gauge(&self.workers_max, live.workers_max);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            log::error!("cannot encode the metrics: {e}");
        }
        out
    }
}

fn direction_label(direction: Direction) -> &'static str {
    match direction {
        Direction::Incoming => "in",
        Direction::Outgoing => "out",
    }
}

/// The `/metrics` endpoint, bound (so a taken port stops the start) but not yet serving.
pub struct Endpoint {
    http: tiny_http::Server,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.local_addr())
            .finish()
    }
}

impl Endpoint {
    pub fn bind(addr: SocketAddr) -> std::io::Result<Endpoint> {
        let listener = std::net::TcpListener::bind(addr)?;
        let http = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Endpoint { http })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.http.server_addr().to_ip()
    }

    /// Answers scrapes until `stop` says so: `GET /metrics` gets the metrics, anything else
    /// 404. One request at a time: a scrape is small, and a slow client only delays scrapes.
    pub fn serve(self, metrics: &Metrics, live: &dyn Fn() -> Live, stop: &dyn Fn() -> bool) {
        while !stop() {
            let request = match self.http.recv_timeout(Duration::from_millis(500)) {
                Ok(Some(request)) => request,
                Ok(None) => continue,
                Err(e) => {
                    log::warn!("metrics endpoint: {e}");
                    continue;
                }
            };
            let response = if request.method() == &tiny_http::Method::Get
                && request.url().split('?').next() == Some("/metrics")
            {
                (200, metrics.render(live()), CONTENT_TYPE)
            } else {
                let body = "Not found: the metrics are at /metrics\n".to_owned();
                (404, body, "text/plain; charset=utf-8")
            };
            let (status, body, kind) = response;
            let mut response = tiny_http::Response::from_string(body).with_status_code(status);
            if let Some(h) = content_type(kind) {
                response.add_header(h);
            }
            if let Err(e) = request.respond(response) {
                log::debug!("metrics response: {e}");
            }
        }
    }
}

/// A `Content-Type` header; None would only mean a malformed literal (then none is sent).
fn content_type(value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes("Content-Type", value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_render_in_openmetrics_text() {
        let m = Metrics::new();
        m.connection();
        m.login(true);
        m.login(false);
        m.login(false);
        m.transfer(Direction::Incoming, 4096, true);
        m.transfer(Direction::Outgoing, 10, false);
        m.transfer_error(550);
        m.refused("blocked");
        let text = m.render(Live {
            sessions_open: 3,
            blocked_ips: 1,
            workers_started: 4,
            workers_max: 256,
        });
        for line in [
            "ferroftp_connections_total 1",
            "ferroftp_logins_total{result=\"ok\"} 1",
            "ferroftp_logins_total{result=\"failed\"} 2",
            "ferroftp_transfer_bytes_total{direction=\"in\"} 4096",
            "ferroftp_transfer_bytes_total{direction=\"out\"} 10",
            "ferroftp_transfer_files_total{direction=\"in\"} 1",
            "ferroftp_transfer_errors_total{code=\"550\"} 1",
            "ferroftp_connections_refused_total{reason=\"blocked\"} 1",
            "ferroftp_sessions_open 3",
            "ferroftp_blocked_ips 1",
            "ferroftp_workers_busy 3",
            "ferroftp_workers_started 4",
            "ferroftp_workers_max 256",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(
            !text.contains("transfer_files_total{direction=\"out\"}"),
            "{text}"
        );
    }
}
