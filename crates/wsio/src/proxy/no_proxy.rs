//! The hosts that bypass the proxy: `no_proxy`'s rules.

use std::net::IpAddr;

/// Hosts reached directly, not through the proxy: the value of `no_proxy` / `NO_PROXY`, read
/// as curl reads it, with ports and IPv6 ranges besides.
///
/// A comma- or space-separated list whose entries are:
/// - `*` alone: every host.
/// - a host name: that host and every name under it (`example.com` matches `example.com` and
///   `ws.example.com`, not `badexample.com`); a leading `.` or `*.` changes nothing. Names are
///   compared without case and without a trailing dot, and never resolved: `localhost` does
///   not match `127.0.0.1`.
/// - an IP address (IPv6 with or without brackets): that address, when the URL names it.
/// - a range in CIDR notation (`10.0.0.0/8`, `fd00::/8`): the addresses in it.
/// - any of these followed by `:port` (IPv6 in brackets, `[::1]:8080`): only that port.
///
/// An entry that is none of these (`10.0.0.0/40`) matches nothing.
///
/// ```
/// use wsio::proxy::NoProxy;
///
/// let no_proxy = NoProxy::parse("localhost, .internal, 10.0.0.0/8, [::1]:9001");
/// assert!(no_proxy.matches("localhost", 80));
/// assert!(no_proxy.matches("chat.internal", 443));
/// assert!(no_proxy.matches("10.1.2.3", 80));
/// assert!(no_proxy.matches("::1", 9001));
/// assert!(!no_proxy.matches("::1", 9002));
/// assert!(!no_proxy.matches("example.com", 443));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    everything: bool,
    rules: Vec<Rule>,
}

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    host: HostRule,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    /// A host name and the names under it: lowercase, without leading or trailing dots.
    Name(String),
    /// An address range: the address and how many leading bits must agree (all of them for a
    /// single address).
    Range(IpAddr, u8),
}

impl NoProxy {
    /// Reads a `no_proxy` list. Never fails: an entry that is not understood matches nothing.
    pub fn parse(list: &str) -> Self {
        let mut no_proxy = NoProxy::default();
        for entry in list.split([',', ' ', '\t']).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.everything = true;
            } else if let Some(rule) = Rule::parse(entry) {
                no_proxy.rules.push(rule);
            }
        }
        no_proxy
    }

    /// Whether a connection to `host` (as a [`WsUrl`](crate::proto::WsUrl) gives it:
    /// IPv6 without brackets) and `port` goes direct.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.everything {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let address = host.parse::<IpAddr>().ok();
        self.rules.iter().any(|rule| {
            rule.port.is_none_or(|p| p == port)
                && match (&rule.host, address) {
                    (HostRule::Range(network, bits), Some(address)) => {
                        in_range(address, *network, *bits)
                    }
                    (HostRule::Name(name), None) => {
                        host == *name
                            || host
                                .strip_suffix(name.as_str())
                                .is_some_and(|head| head.ends_with('.'))
                    }
                    _ => false,
                }
        })
    }

    /// Whether the list is empty: nothing bypasses the proxy.
    pub fn is_empty(&self) -> bool {
        !self.everything && self.rules.is_empty()
    }
}

impl Rule {
    fn parse(entry: &str) -> Option<Rule> {
        let (host, port) = split_port(entry)?;
        let host = host.trim_start_matches("*.").trim_matches('.');
        if host.is_empty() {
            return None;
        }
        let host = match host.split_once('/') {
            Some((address, bits)) => {
                let address: IpAddr = address.parse().ok()?;
                let bits: u8 = bits.parse().ok()?;
                if bits > max_bits(address) {
                    return None;
                }
                HostRule::Range(address, bits)
            }
            None => match host.parse::<IpAddr>() {
                Ok(address) => HostRule::Range(address, max_bits(address)),
                Err(_) => HostRule::Name(host.to_ascii_lowercase()),
            },
        };
        Some(Rule { host, port })
    }
}

/// Splits an entry's port off: `host:port`, `[v6]:port`, `[v6]`; an IPv6 address or range
/// without brackets has none. `None` for a port that is not a number.
fn split_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(bracketed) = entry.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            after => Some((host, Some(after.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((entry, None)),
    }
}

fn max_bits(address: IpAddr) -> u8 {
    if address.is_ipv4() { 32 } else { 128 }
}

/// Whether `address` is within `network/bits`. An IPv4 address and an IPv4-mapped IPv6
/// address (`::ffff:10.0.0.1`) are the same address.
fn in_range(address: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (network, bits) = match network {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) if bits >= 96 => (IpAddr::V4(v4), bits - 96),
            _ => (network, bits),
        },
        v4 => (v4, bits),
    };
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::NoProxy;

    #[test]
    fn no_proxy_matches_as_documented() {
        // (list, host, port, goes direct)
        let cases: &[(&str, &str, u16, bool)] = &[
            ("", "example.com", 80, false),
            ("*", "example.com", 80, true),
            ("*", "10.0.0.1", 443, true),
            ("example.com", "example.com", 80, true),
            ("example.com", "EXAMPLE.com", 80, true),
            ("example.com", "example.com.", 80, true),
            ("example.com", "ws.example.com", 80, true),
            ("example.com", "a.b.example.com", 80, true),
            ("example.com", "badexample.com", 80, false),
            ("example.com", "example.org", 80, false),
            (".example.com", "example.com", 80, true),
            (".example.com", "ws.example.com", 80, true),
            ("*.example.com", "ws.example.com", 80, true),
            ("example.com.", "ws.example.com", 80, true),
            ("ws.example.com", "example.com", 80, false),
            ("localhost", "localhost", 9001, true),
            ("localhost", "127.0.0.1", 9001, false),
            ("127.0.0.1", "127.0.0.1", 9001, true),
            ("127.0.0.1", "127.0.0.2", 9001, false),
            ("127.0.0.1", "localhost", 9001, false),
            ("10.0.0.0/8", "10.200.3.4", 80, true),
            ("10.0.0.0/8", "11.0.0.1", 80, false),
            ("192.168.1.0/24", "192.168.1.255", 80, true),
            ("192.168.1.0/24", "192.168.2.1", 80, false),
            ("0.0.0.0/0", "8.8.8.8", 80, true),
            ("0.0.0.0/0", "::1", 80, false),
            ("10.0.0.0/33", "10.0.0.1", 80, false),
            ("10.0.0.0/x", "10.0.0.1", 80, false),
            ("::1", "::1", 80, true),
            ("[::1]", "::1", 80, true),
            ("::1", "::2", 80, false),
            ("fd00::/8", "fd12:3456::1", 80, true),
            ("fd00::/8", "fe80::1", 80, false),
            ("::ffff:10.0.0.0/104", "10.1.1.1", 80, true),
            ("10.0.0.0/8", "::ffff:10.1.1.1", 80, true),
            ("example.com:8080", "example.com", 8080, true),
            ("example.com:8080", "example.com", 80, false),
            ("example.com:8080", "ws.example.com", 8080, true),
            ("127.0.0.1:9001", "127.0.0.1", 9001, true),
            ("127.0.0.1:9001", "127.0.0.1", 9002, false),
            ("[::1]:9001", "::1", 9001, true),
            ("[::1]:9001", "::1", 9002, false),
            ("10.0.0.0/8:443", "10.0.0.1", 443, true),
            ("10.0.0.0/8:443", "10.0.0.1", 80, false),
            ("example.com:http", "example.com", 80, false),
            ("a.test, b.test", "b.test", 80, true),
            ("a.test,b.test", "b.test", 80, true),
            (" a.test ,\tb.test ", "b.test", 80, true),
            ("a.test,,", "a.test", 80, true),
            ("a.test", "b.test", 80, false),
            (".", "example.com", 80, false),
        ];
        for &(list, host, port, direct) in cases {
            assert_eq!(
                NoProxy::parse(list).matches(host, port),
                direct,
                "no_proxy={list:?} host={host} port={port}"
            );
        }
    }

    #[test]
    fn an_empty_list_is_empty() {
        assert!(NoProxy::parse(" , ").is_empty());
        assert!(!NoProxy::parse("*").is_empty());
        assert!(!NoProxy::parse("a").is_empty());
    }
}
