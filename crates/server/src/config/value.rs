//! Option values as Asterisk writes them: booleans, numbers, lists,
//! addresses. Each parser returns a message fit to follow
//! "file:line: option: ".

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// `yes/no`, `true/false`, `on/off`, `1/0` (Asterisk's `ast_true`/`ast_false`).
pub fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "t" | "1" | "on" => Ok(true),
        "no" | "false" | "n" | "f" | "0" | "off" => Ok(false),
        _ => Err(format!("{v:?} is not yes or no")),
    }
}

/// A list of web origins (RFC 6454: `scheme://host[:port]`, nothing
/// after), lowercased.
pub fn origins(v: &str) -> Result<Vec<String>, String> {
    let items = list(v);
    if items.is_empty() {
        return Err("no origin given".into());
    }
    items
        .into_iter()
        .map(|o| {
            let (scheme, rest) = o
                .split_once("://")
                .ok_or_else(|| format!("{o:?} is not an origin (scheme://host[:port])"))?;
            let well_formed = !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
                && !rest.contains(['/', '?', '#', '@', ' ']);
            if !well_formed {
                return Err(format!("{o:?} is not an origin (scheme://host[:port])"));
            }
            Ok(o.to_ascii_lowercase())
        })
        .collect()
}

/// A node's name: 1 to 64 letters, digits, `.`, `-` or `_`, so that it
/// can stand in a URI parameter or a log line as it is.
pub fn node_id(v: &str) -> Result<String, String> {
    let fits = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if fits {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "{v:?} is not a node id (1 to 64 letters, digits, '.', '-' or '_')"
        ))
    }
}

/// Where other nodes reach a node: a `sip:` URI naming an IP address
/// and port (no user), perhaps with `;transport=udp|tcp|tls`, so that it
/// is reached without DNS.
pub fn node_address(v: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{v:?} is not a node address (sip:IP:PORT, perhaps with ;transport=udp, tcp or tls)"
        )
    };
    let uri = sipjet_core::message::Uri::parse(v).map_err(|_| bad())?;
    let sip = uri.as_sip().ok_or_else(bad)?;
    let transport_ok = sip
        .params
        .value("transport")
        .is_none_or(|t| ["udp", "tcp", "tls"].contains(&t.to_ascii_lowercase().as_str()));
    if sip.user.is_some() || sip.host.ip().is_none() || sip.port.is_none() || !transport_ok {
        return Err(bad());
    }
    sipjet_core::literal_destination(v).ok_or_else(bad)?;
    Ok(v.to_owned())
}

/// The secret nodes share: at least 16 characters, so that it is not
/// guessed.
pub fn cluster_secret(v: &str) -> Result<String, String> {
    if v.len() < 16 {
        return Err("cluster_secret must be at least 16 characters long".into());
    }
    Ok(v.to_owned())
}

/// An unsigned number within `min..=max`.
pub fn number(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = v.parse().map_err(|_| format!("{v:?} is not a number"))?;
    if n < min || n > max {
        return Err(format!("{n} is outside {min}..={max}"));
    }
    Ok(n)
}

/// Seconds as a duration, within `min..=max` seconds.
pub fn seconds(v: &str, min: u64, max: u64) -> Result<Duration, String> {
    number(v, min, max).map(Duration::from_secs)
}

/// Milliseconds as a duration, within `min..=max` milliseconds.
pub fn millis(v: &str, min: u64, max: u64) -> Result<Duration, String> {
    number(v, min, max).map(Duration::from_millis)
}

/// A comma-separated list, items trimmed, empty items dropped.
pub fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `bind =` of a transport: `addr`, `addr:port`, `[v6]:port`, `v6`;
/// the port defaults to `default_port` (0.0.0.0 with no address).
pub fn bind_address(v: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = v.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    Err(format!("{v:?} is not an IP address with an optional port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("off"), Ok(false));
        assert!(boolean("maybe").unwrap_err().contains("\"maybe\""));
        assert_eq!(number("5", 1, 10), Ok(5));
        assert_eq!(number("50", 1, 10), Err("50 is outside 1..=10".into()));
        assert!(number("-1", 0, 10).is_err());
        assert_eq!(list(" a, b,,c "), ["a", "b", "c"]);
        assert_eq!(
            bind_address("0.0.0.0", 5060).unwrap(),
            "0.0.0.0:5060".parse().unwrap()
        );
        assert_eq!(
            bind_address("127.0.0.1:5070", 5060).unwrap(),
            "127.0.0.1:5070".parse().unwrap()
        );
        assert_eq!(
            bind_address("[::1]:5061", 5060).unwrap(),
            "[::1]:5061".parse().unwrap()
        );
        assert_eq!(
            bind_address("::", 5060).unwrap(),
            "[::]:5060".parse().unwrap()
        );
        assert!(bind_address("example.com:5060", 5060).is_err());
    }
}
