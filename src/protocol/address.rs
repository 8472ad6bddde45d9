//! Host-port encodings of PORT/PASV (RFC 959) and EPRT/EPSV (RFC 2428), IPv4 and IPv6.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::protocol::command::ParseError;

/// `h1,h2,h3,h4,p1,p2` → address.
pub fn parse_port(arg: &str) -> Result<SocketAddr, ParseError> {
    let mut nums = [0u8; 6];
    let mut parts = arg.trim().split(',');
    for slot in nums.iter_mut() {
        *slot = parts
            .next()
            .and_then(|p| p.trim().parse().ok())
            .ok_or(ParseError::BadArgument)?;
    }
    if parts.next().is_some() {
        return Err(ParseError::BadArgument);
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    let port = u16::from(nums[4]) << 8 | u16::from(nums[5]);
    Ok(SocketAddr::new(IpAddr::V4(ip), port))
}

/// `<d>proto<d>addr<d>port<d>` → address; the delimiter is the first character.
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
    let arg = arg.trim();
    let delim = arg.chars().next().ok_or(ParseError::BadArgument)?;
    if !(33..=126).contains(&(delim as u32)) {
        return Err(ParseError::BadArgument);
    }
    let fields: Vec<&str> = arg.split(delim).collect();
    // "" proto addr port ""
    if fields.len() != 5 || !fields[0].is_empty() || !fields[4].is_empty() {
        return Err(ParseError::BadArgument);
    }
    let port: u16 = fields[3].parse().map_err(|_| ParseError::BadArgument)?;
    let ip: IpAddr = match fields[1] {
        "1" => IpAddr::V4(fields[2].parse().map_err(|_| ParseError::BadArgument)?),
        "2" => IpAddr::V6(fields[2].parse().map_err(|_| ParseError::BadArgument)?),
        _ => return Err(ParseError::UnsupportedParameter),
    };
    Ok(SocketAddr::new(ip, port))
}

/// The text of a `227` reply: `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn pasv_text(ip: Ipv4Addr, port: u16) -> String {
    let o = ip.octets();
    format!(
        "Entering Passive Mode ({},{},{},{},{},{}).",
        o[0],
        o[1],
        o[2],
        o[3],
        port >> 8,
        port & 0xFF
    )
}

/// The text of a `229` reply: `Entering Extended Passive Mode (|||port|).`
pub fn epsv_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|).")
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) compare as their IPv4 form.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// `ADDR` or `ADDR/BITS` (IPv4 or IPv6); an IPv4-mapped IPv6 address counts as its IPv4 one.
pub fn parse_net(spec: &str) -> Option<ipnet::IpNet> {
    let net = match spec.split_once('/') {
        Some(_) => spec.parse::<ipnet::IpNet>().ok()?,
        None => ipnet::IpNet::from(spec.parse::<IpAddr>().ok()?),
    };
    let addr = canonical(net.addr());
    let bits = if addr.is_ipv4() && net.addr().is_ipv6() {
        net.prefix_len().checked_sub(96)?
    } else {
        net.prefix_len()
    };
    ipnet::IpNet::new(addr, bits).ok().map(|n| n.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_round_trip() {
        let a = parse_port("127,0,0,1,200,10").unwrap();
        assert_eq!(a, "127.0.0.1:51210".parse().unwrap());
        assert_eq!(
            pasv_text(Ipv4Addr::LOCALHOST, 51210),
            "Entering Passive Mode (127,0,0,1,200,10)."
        );
        assert!(parse_port("127,0,0,1,256,1").is_err());
        assert!(parse_port("127,0,0,1,2").is_err());
        assert!(parse_port("127,0,0,1,2,3,4").is_err());
    }

    #[test]
    fn eprt_v4_v6() {
        assert_eq!(
            parse_eprt("|1|127.0.0.1|6446|").unwrap(),
            "127.0.0.1:6446".parse().unwrap()
        );
        assert_eq!(
            parse_eprt("|2|::1|6446|").unwrap(),
            "[::1]:6446".parse().unwrap()
        );
        assert_eq!(
            parse_eprt("!2!::1!6446!").unwrap(),
            "[::1]:6446".parse().unwrap()
        );
        assert_eq!(parse_eprt("|3|x|1|"), Err(ParseError::UnsupportedParameter));
        assert!(parse_eprt("|1|::1|1|").is_err());
        assert!(parse_eprt("|1|127.0.0.1|70000|").is_err());
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(canonical(mapped), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
