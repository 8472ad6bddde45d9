//! `web_allowed_servers`: which FTP hosts and ports the web client may connect to. A page that
//! opens FTP connections for anyone is otherwise an SSRF and port-scanning proxy.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;

use crate::protocol::address::{canonical, parse_net};

/// One allowlist entry: an address or CIDR block (or `localhost`/`this machine`), and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    net: Net,
    ports: Vec<RangeInclusive<u16>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Net {
    Cidr(ipnet::IpNet),
    /// Any address of this machine (loopback and its interfaces).
    ThisMachine,
}

/// Default ports: unprivileged ones and the FTP port.
fn default_ports() -> Vec<RangeInclusive<u16>> {
    vec![1024..=65535, 21..=21]
}

#[derive(Debug, thiserror::Error)]
#[error(
    "web_allowed_servers: {0:?} is not ADDR[/BITS][:PORTS], [IPv6][/BITS][:PORTS] or localhost"
)]
pub struct RuleError(String);

impl Rule {
    /// `127.0.0.1`, `192.168.1.0/24:21,2121`, `[::1]:1024-65535`, `localhost`, `this`.
    pub fn parse(spec: &str) -> Result<Rule, RuleError> {
        let err = || RuleError(spec.to_owned());
        let spec = spec.trim();
        let (host, ports) = split_ports(spec).ok_or_else(err)?;
        let ports = match ports {
            None => default_ports(),
            Some(p) => parse_ports(p).ok_or_else(err)?,
        };
        let net = match host {
            "localhost" | "this" | "self" => Net::ThisMachine,
            _ => Net::Cidr(parse_net(host).ok_or_else(err)?),
        };
        Ok(Rule { net, ports })
    }

    fn allows(&self, addr: SocketAddr, local: &[IpAddr]) -> bool {
        let ip = canonical(addr.ip());
        let net_ok = match &self.net {
            Net::ThisMachine => ip.is_loopback() || local.contains(&ip),
            Net::Cidr(net) => net.contains(&ip),
        };
        net_ok && self.ports.iter().any(|r| r.contains(&addr.port()))
    }
}

/// The rules in force.
#[derive(Debug, Clone)]
pub struct Allowlist {
    rules: Vec<Rule>,
    local: Vec<IpAddr>,
}

impl Allowlist {
    /// Default: this machine (127.0.0.1, ::1, localhost, its own addresses), ports 1024-65535
    /// and 21.
    pub fn this_machine(local: Vec<IpAddr>) -> Allowlist {
        Allowlist {
            rules: vec![Rule {
                net: Net::ThisMachine,
                ports: default_ports(),
            }],
            local,
        }
    }

    pub fn new(rules: Vec<Rule>, local: Vec<IpAddr>) -> Allowlist {
        Allowlist { rules, local }
    }

    /// Resolves `host` once and returns the first allowed address. SECURITY: the caller
    /// connects to exactly this address, so a DNS answer that changes between check and
    /// connect (rebinding) cannot redirect the connection. Every resolved address must be
    /// allowed, so a name cannot smuggle in a forbidden one.
    pub fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} has no address"));
        }
        if let Some(bad) = addrs
            .iter()
            .find(|a| !self.rules.iter().any(|r| r.allows(**a, &self.local)))
        {
            return Err(format!(
                "{} is not an allowed server (web_allowed_servers)",
                bad
            ));
        }
        Ok(addrs[0])
    }
}

fn split_ports(spec: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = spec.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let (host, tail) = match tail.strip_prefix('/') {
            Some(t) => {
                let end = t.find(':').unwrap_or(t.len());
                (&spec[1..1 + host.len() + 1 + end], &t[end..])
            }
            None => (host, tail),
        };
        return match tail.strip_prefix(':') {
            Some(p) => Some((host, Some(p))),
            None if tail.is_empty() => Some((host, None)),
            None => None,
        };
    }
    if spec.matches(':').count() > 1 {
        return Some((spec, None));
    }
    match spec.split_once(':') {
        Some((h, p)) => Some((h, Some(p))),
        None => Some((spec, None)),
    }
}

fn parse_ports(s: &str) -> Option<Vec<RangeInclusive<u16>>> {
    s.split(',')
        .map(|p| match p.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
                (lo <= hi).then_some(lo..=hi)
            }
            None => p.trim().parse().ok().map(|v| v..=v),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_this_machine_unprivileged_and_21() {
        let local = vec!["192.168.1.5".parse().unwrap()];
        let a = Allowlist::this_machine(local);
        assert!(a.resolve("127.0.0.1", 2121).is_ok());
        assert!(a.resolve("localhost", 21).is_ok());
        assert!(a.resolve("::1", 5550).is_ok());
        assert!(a.resolve("192.168.1.5", 5550).is_ok());
        assert!(a.resolve("127.0.0.1", 22).is_err(), "ssh port is not FTP");
        assert!(a.resolve("192.168.1.6", 21).is_err());
        assert!(a.resolve("10.0.0.1", 21).is_err());
    }

    #[test]
    fn cidr_and_port_rules() {
        let r = Rule::parse("192.168.1.0/24:21,2100-2200").unwrap();
        assert!(r.allows(sa("192.168.1.77:2150"), &[]));
        assert!(!r.allows(sa("192.168.2.77:2150"), &[]));
        assert!(!r.allows(sa("192.168.1.77:80"), &[]));
        let r6 = Rule::parse("[fd00::/8]:21").unwrap();
        assert!(r6.allows(sa("[fd12::1]:21"), &[]));
        assert!(Rule::parse("[::1]").unwrap().allows(sa("[::1]:5000"), &[]));
        assert!(Rule::parse("1.2.3.4/33").is_err());
        assert!(Rule::parse("nope").is_err());
        assert!(Rule::parse("1.2.3.4:99999").is_err());
    }
}
