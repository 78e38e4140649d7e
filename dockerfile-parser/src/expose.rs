//! `EXPOSE` port specs: `80`, `80/udp`, `8000-8002/tcp`, normalized to one `port/proto`
//! per port as Docker does.
//!
//! Docker also accepts, and ignores, a `[ip:][host_port:]` prefix (a `docker run -p`
//! form); it is validated the same way here.

use std::net::IpAddr;

/// Why a port spec is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port `{spec}`: {reason}")]
pub struct ExposeError {
    spec: String,
    reason: String,
}

/// Expands one port spec into `port/proto` entries, lowercasing the protocol.
///
/// # Errors
/// A missing or non-numeric port, a port above 65535, a reversed range, a protocol other
/// than `tcp`, `udp` or `sctp`, or an invalid IP address or host port.
pub(crate) fn parse_port(spec: &str) -> Result<Vec<String>, ExposeError> {
    let error = |reason: String| ExposeError {
        spec: spec.to_owned(),
        reason,
    };
    // `[ip:][host_port:]container_port`, where the IP may itself hold colons.
    let mut parts = spec.rsplitn(3, ':');
    let container = parts.next().unwrap_or_default();
    let host_port = parts.next().unwrap_or_default();
    let ip = parts.next().unwrap_or_default();
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(error("no port specified".to_owned()));
    }
    let proto = proto.to_ascii_lowercase();
    let proto = match proto.as_str() {
        "" => "tcp",
        "tcp" | "udp" | "sctp" => &proto,
        _ => return Err(error(format!("invalid protocol `{proto}`"))),
    };
    if !ip.is_empty() {
        let bare = match ip.strip_prefix('[') {
            Some(inner) => inner
                .strip_suffix(']')
                .ok_or_else(|| error(format!("invalid IP address `{ip}`")))?,
            None => ip,
        };
        if !bare.is_empty() && bare.parse::<IpAddr>().is_err() {
            return Err(error(format!("invalid IP address `{ip}`")));
        }
    }
    let (start, end) = port_range(port).map_err(error)?;
    if !host_port.is_empty() {
        let (host_start, host_end) = port_range(host_port).map_err(error)?;
        if end - start != host_end - host_start && end != start {
            return Err(error(format!(
                "the container port range `{port}` and the host port range `{host_port}` differ in size"
            )));
        }
    }
    Ok((start..=end)
        .map(|port| format!("{port}/{proto}"))
        .collect())
}

/// `N` or `N-M`, each in 0–65535, `M` not below `N`.
fn port_range(text: &str) -> Result<(u32, u32), String> {
    let (start, end) = match text.split_once('-') {
        Some((start, end)) => (start, Some(end)),
        None => (text, None),
    };
    let start_port = port_number(start)?;
    match end {
        None => Ok((start_port, start_port)),
        Some(end) if end == start => Ok((start_port, start_port)),
        Some(end) => {
            let end_port = port_number(end)?;
            if end_port < start_port {
                return Err(format!("invalid port range `{text}`"));
            }
            Ok((start_port, end_port))
        }
    }
}

/// A decimal port number in 0–65535 (Go's `ParseInt`, so a sign is allowed).
fn port_number(text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("empty port number".to_owned());
    }
    let number: i64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a port number"))?;
    u32::try_from(number)
        .ok()
        .filter(|&port| port <= 65535)
        .ok_or_else(|| format!("port `{text}` is out of range (0–65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(spec: &str) -> Vec<String> {
        parse_port(spec).unwrap()
    }

    #[test]
    fn ports_get_a_protocol() {
        assert_eq!(ports("80"), ["80/tcp"]);
        assert_eq!(ports("53/udp"), ["53/udp"]);
        assert_eq!(ports("53/UDP"), ["53/udp"]);
        assert_eq!(ports("9/sctp"), ["9/sctp"]);
        assert_eq!(ports("0"), ["0/tcp"]);
        assert_eq!(ports("+80"), ["80/tcp"]);
    }

    #[test]
    fn ranges_expand_to_each_port() {
        assert_eq!(ports("8000-8002/tcp"), ["8000/tcp", "8001/tcp", "8002/tcp"]);
        assert_eq!(ports("7-7/udp"), ["7/udp"]);
        assert_eq!(ports("65535"), ["65535/tcp"]);
    }

    #[test]
    fn host_parts_are_validated_and_dropped() {
        assert_eq!(ports("8080:80"), ["80/tcp"]);
        assert_eq!(ports("127.0.0.1:8080:80/udp"), ["80/udp"]);
        assert_eq!(ports("[::1]:8080:80"), ["80/tcp"]);
        assert_eq!(ports("::1:8080:80"), ["80/tcp"]);
        assert_eq!(ports("8000-8001:80-81"), ["80/tcp", "81/tcp"]);
        assert_eq!(ports("8000-8009:80"), ["80/tcp"]);
    }

    #[test]
    fn invalid_specs_are_errors() {
        let error = |spec: &str| parse_port(spec).unwrap_err().to_string();
        assert_eq!(error("/tcp"), "invalid port `/tcp`: no port specified");
        assert_eq!(
            error("80/http"),
            "invalid port `80/http`: invalid protocol `http`"
        );
        assert_eq!(
            error("80/tcp/x"),
            "invalid port `80/tcp/x`: invalid protocol `tcp/x`"
        );
        assert_eq!(
            error("http"),
            "invalid port `http`: `http` is not a port number"
        );
        assert_eq!(
            error("65536"),
            "invalid port `65536`: port `65536` is out of range (0–65535)"
        );
        assert_eq!(error("-1"), "invalid port `-1`: empty port number");
        assert_eq!(
            error("90-80"),
            "invalid port `90-80`: invalid port range `90-80`"
        );
        assert_eq!(error("80-"), "invalid port `80-`: empty port number");
        assert_eq!(
            error("1.2.3:80:80"),
            "invalid port `1.2.3:80:80`: invalid IP address `1.2.3`"
        );
        assert_eq!(
            error("8000-8001:80-82"),
            "invalid port `8000-8001:80-82`: the container port range `80-82` and the host port range `8000-8001` differ in size"
        );
        assert!(parse_port("x:80").is_err());
        assert!(parse_port("").is_err());
    }
}
