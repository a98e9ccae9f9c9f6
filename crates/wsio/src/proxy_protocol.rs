//! The PROXY protocol, versions 1 and 2, as HAProxy specifies and sends it: the header a load
//! balancer writes before the client's bytes to say whom the connection is from.
//!
//! A server told to trust it ([`ServerBuilder::proxy_protocol`](crate::ServerBuilder::proxy_protocol),
//! `blocking::ServerBuilder::proxy_protocol`, `wsio serve --proxy-protocol`) reads the header
//! first on every connection (before TLS) and refuses, by closing it, a connection without a
//! valid one. Only turn it on when every connection comes through a load balancer that sends
//! the header: anyone who can reach the port directly can write one and claim any address.
//!
//! The header is read without reading past its end: version 2 in two reads (its fixed part,
//! then the length it gives), version 1 in reads no longer than the shortest rest of a valid
//! line, so nothing of the client's is taken.
//!
//! ```
//! use wsio::proxy_protocol::{ProxyHeader, read_header};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut stream: &[u8] = b"PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\nGET / HTTP/1.1\r\n";
//! let header = read_header(&mut stream, 8 << 10).await?;
//! assert_eq!(header.source, Some("203.0.113.7:51234".parse()?));
//! assert_eq!(stream, b"GET / HTTP/1.1\r\n");
//! # Ok(()) }
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The first 12 bytes of a version 2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The fixed part of a version 2 header: signature, version and command, family, length.
const V2_FIXED: usize = 16;
/// The longest version 1 line, CRLF included (the specification's limit).
const V1_MAX: usize = 107;
/// The shortest complete version 1 line: `PROXY UNKNOWN\r\n`.
const V1_MIN: usize = 15;
/// How much is read before the version is known: less than the shortest header of either.
pub(crate) const PREFIX: usize = 8;

/// What a PROXY protocol header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyHeader {
    /// The client's address as the load balancer saw it; `None` when the header gives none
    /// (version 1 `UNKNOWN`, version 2 `LOCAL` such as a health check, or an address family
    /// other than TCP over IPv4 or IPv6), when the connection's own peer address is what there
    /// is to know.
    pub source: Option<SocketAddr>,
    /// The address the client connected to, at the load balancer; `None` when `source` is.
    pub destination: Option<SocketAddr>,
}

/// Why a connection's PROXY protocol header was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyProtocolError {
    /// The connection does not start with a PROXY protocol header (of either version).
    #[error("the connection does not start with a PROXY protocol header")]
    Missing,
    /// The header is malformed: says how.
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    /// The connection failed or ended before the header did.
    #[error("I/O error reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a PROXY protocol header (version 1 or 2) from the start of `io`, and nothing after
/// it. A version 2 header longer than `max_len` bytes (its TLVs included) is refused as
/// malformed before it is read; the servers pass their
/// [`max_handshake_size`](crate::Config::max_handshake_size).
pub async fn read_header<R>(io: &mut R, max_len: usize) -> Result<ProxyHeader, ProxyProtocolError>
where
    R: AsyncRead + Unpin,
{
    let mut header = Vec::with_capacity(64);
    let mut wanted = PREFIX;
    loop {
        let start = header.len();
        header.resize(start + wanted, 0);
        io.read_exact(&mut header[start..]).await?;
        match next(&header, max_len)? {
            Step::Read(more) => wanted = more,
            Step::Done(parsed) => return Ok(parsed),
        }
    }
}

/// What the bytes read so far call for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Read exactly this many more bytes: never more than the header still has.
    Read(usize),
    /// The header is complete.
    Done(ProxyHeader),
}

/// Looks at the header read so far (at least [`PREFIX`] bytes, as `Step`s asked): how many
/// more bytes to read, or the header, which may be `max_len` bytes long. The blocking and
/// async front-ends read by it.
pub(crate) fn next(read: &[u8], max_len: usize) -> Result<Step, ProxyProtocolError> {
    if read.starts_with(&V2_SIGNATURE[..PREFIX]) {
        return next_v2(read, max_len);
    }
    if read.starts_with(b"PROXY ") {
        return next_v1(read);
    }
    Err(ProxyProtocolError::Missing)
}

fn next_v2(read: &[u8], max_len: usize) -> Result<Step, ProxyProtocolError> {
    if read.len() < V2_FIXED {
        return Ok(Step::Read(V2_FIXED - read.len()));
    }
    if &read[..12] != V2_SIGNATURE {
        return Err(ProxyProtocolError::Missing);
    }
    let length = usize::from(u16::from_be_bytes([read[14], read[15]]));
    if V2_FIXED + length > max_len {
        return Err(ProxyProtocolError::Malformed(
            "longer than the handshake limit",
        ));
    }
    let have = read.len() - V2_FIXED;
    if have < length {
        return Ok(Step::Read(length - have));
    }
    parse_v2(read[12], read[13], &read[V2_FIXED..]).map(Step::Done)
}

/// Parses the rest of a version 2 header: its version and command byte, family byte, and the
/// `length` bytes after them (addresses, then TLVs, which are skipped).
fn parse_v2(
    version_command: u8,
    family: u8,
    body: &[u8],
) -> Result<ProxyHeader, ProxyProtocolError> {
    let malformed = ProxyProtocolError::Malformed;
    if version_command >> 4 != 2 {
        return Err(malformed("version 2 signature with another version"));
    }
    let local = ProxyHeader {
        source: None,
        destination: None,
    };
    match version_command & 0x0f {
        // LOCAL: the load balancer's own connection (a health check); addresses are ignored.
        0 => return Ok(local),
        1 => {}
        _ => return Err(malformed("unknown command")),
    }
    let (source, destination) = match family {
        // TCP over IPv4: two addresses, two ports.
        0x11 => {
            let body = body
                .get(..12)
                .ok_or(malformed("too short for IPv4 addresses"))?;
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    body[at],
                    body[at + 1],
                    body[at + 2],
                    body[at + 3],
                ))
            };
            let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
            (
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            )
        }
        // TCP over IPv6.
        0x21 => {
            let body = body
                .get(..36)
                .ok_or(malformed("too short for IPv6 addresses"))?;
            let ip = |at: usize| {
                let octets: [u8; 16] = body[at..at + 16].try_into().expect("16 bytes");
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
            (
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            )
        }
        // Unspecified, UDP, or Unix sockets: nothing a TCP address can hold.
        0x00 | 0x12 | 0x22 | 0x31 | 0x32 => return Ok(local),
        _ => return Err(malformed("unknown address family")),
    };
    Ok(ProxyHeader {
        source: Some(source),
        destination: Some(destination),
    })
}

fn next_v1(read: &[u8]) -> Result<Step, ProxyProtocolError> {
    if let Some(end) = read.windows(2).position(|w| w == b"\r\n") {
        if end + 2 != read.len() {
            // Reads never go past the first CRLF; this one came early.
            return Err(ProxyProtocolError::Malformed("line ends early"));
        }
        return parse_v1(&read[..end]).map(Step::Done);
    }
    if read.len() >= V1_MAX {
        return Err(ProxyProtocolError::Malformed("line longer than 107 bytes"));
    }
    if read.len() < V1_MIN {
        return Ok(Step::Read(V1_MIN - read.len()));
    }
    if read.ends_with(b"\r") {
        // The line's end, or a stray CR: one byte tells which.
        return Ok(Step::Read(1));
    }
    let fields = &read[6..];
    let more = if fields.starts_with(b"TCP4 ") || fields.starts_with(b"TCP6 ") {
        // `TCP4 src dst sport dport\r\n`: each field not begun needs a space and a character,
        // a field just begun (after its space) one character, and the line its CRLF.
        let spaces = fields.iter().filter(|&&b| b == b' ').count();
        if spaces > 4 {
            return Err(ProxyProtocolError::Malformed("too many fields"));
        }
        let just_begun = usize::from(fields.ends_with(b" "));
        (4 - spaces) * 2 + just_begun + 2
    } else if fields.starts_with(b"UNKNOWN") {
        // Anything may follow `UNKNOWN` up to the CRLF.
        2
    } else {
        return Err(ProxyProtocolError::Malformed("unknown protocol"));
    };
    Ok(Step::Read(more.min(V1_MAX - read.len())))
}

/// Parses a version 1 line without its CRLF.
fn parse_v1(line: &[u8]) -> Result<ProxyHeader, ProxyProtocolError> {
    let malformed = ProxyProtocolError::Malformed;
    let line = std::str::from_utf8(line).map_err(|_| malformed("not ASCII"))?;
    let mut fields = line.split(' ');
    let _proxy = fields.next();
    let protocol = fields.next().ok_or(malformed("no protocol"))?;
    if protocol == "UNKNOWN" {
        return Ok(ProxyHeader {
            source: None,
            destination: None,
        });
    }
    let mut field = |what| fields.next().ok_or(malformed(what));
    let (source, destination) = (field("no source")?, field("no destination")?);
    let (source_port, destination_port) = (field("no source port")?, field("no destination port")?);
    if fields.next().is_some() {
        return Err(malformed("too many fields"));
    }
    let address = |text: &str| -> Result<IpAddr, ProxyProtocolError> {
        match protocol {
            "TCP4" => text.parse::<Ipv4Addr>().map(IpAddr::V4),
            "TCP6" => text.parse::<Ipv6Addr>().map(IpAddr::V6),
            _ => return Err(malformed("unknown protocol")),
        }
        .map_err(|_| malformed("an address does not parse"))
    };
    let port = |text: &str| -> Result<u16, ProxyProtocolError> {
        // Decimal without leading zeros or signs, as the specification writes it.
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        text.parse()
            .ok()
            .filter(|_| canonical)
            .ok_or(malformed("a port does not parse"))
    };
    Ok(ProxyHeader {
        source: Some(SocketAddr::new(address(source)?, port(source_port)?)),
        destination: Some(SocketAddr::new(
            address(destination)?,
            port(destination_port)?,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `bytes` as `read_header` does, one step at a time, checking that no step asks
    /// for more than the header has: the header, and what is left.
    fn read(bytes: &[u8]) -> (Result<ProxyHeader, ProxyProtocolError>, &[u8]) {
        let mut taken = PREFIX.min(bytes.len());
        loop {
            if taken > bytes.len() {
                return (
                    Err(ProxyProtocolError::Io(
                        std::io::ErrorKind::UnexpectedEof.into(),
                    )),
                    &[],
                );
            }
            match next(&bytes[..taken], 1024) {
                Ok(Step::Read(more)) => taken += more,
                Ok(Step::Done(header)) => return (Ok(header), &bytes[taken..]),
                Err(error) => return (Err(error), &bytes[taken..]),
            }
        }
    }

    fn addr(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&(body.len() as u16).to_be_bytes());
        header.extend_from_slice(body);
        header
    }

    #[test]
    fn version_1_lines_give_addresses_and_leave_the_rest() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            (
                "PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n",
                Some("203.0.113.7:51234"),
                Some("192.0.2.1:443"),
            ),
            (
                "PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n",
                Some("1.1.1.1:1"),
                Some("2.2.2.2:2"),
            ),
            (
                "PROXY TCP6 2001:db8::7 ::1 65535 8080\r\n",
                Some("[2001:db8::7]:65535"),
                Some("[::1]:8080"),
            ),
            ("PROXY TCP6 :: :: 0 0\r\n", Some("[::]:0"), Some("[::]:0")),
            ("PROXY UNKNOWN\r\n", None, None),
            ("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\n", None, None),
        ];
        for &(line, source, destination) in cases {
            for rest in [&b""[..], b"G", b"GET / HTTP/1.1\r\n\r\n", b"\r\n"] {
                let bytes = [line.as_bytes(), rest].concat();
                let (header, left) = read(&bytes);
                let header = header.unwrap_or_else(|e| panic!("{line:?}: {e}"));
                assert_eq!(header.source, source.and_then(addr), "{line:?}");
                assert_eq!(header.destination, destination.and_then(addr), "{line:?}");
                assert_eq!(left, rest, "{line:?}");
            }
        }
    }

    #[test]
    fn bad_version_1_lines_are_refused() {
        for line in [
            "GET / HTTP/1.1\r\n\r\n",
            "PROXY TCP5 1.1.1.1 2.2.2.2 1 2\r\n",
            "PROXY TCP4 1.1.1.1 2.2.2.2 1\r\n",
            "PROXY TCP4 1.1.1.1 2.2.2.2 1 2 3\r\n",
            "PROXY TCP4 ::1 2.2.2.2 1 2\r\n",
            "PROXY TCP6 1.1.1.1 ::1 1 2\r\n",
            "PROXY TCP4 1.1.1.1 2.2.2.2 65536 2\r\n",
            "PROXY TCP4 1.1.1.1 2.2.2.2 01 2\r\n",
            "PROXY TCP4 1.1.1.1 2.2.2.2 +1 2\r\n",
            "PROXY TCP4 1.1.1.1  2.2.2.2 1 2\r\n",
            "PROXY TCP4 1.1.1.1\r\n 2.2.2.2 1 2\r\n",
            "PROXY TCP4 1.1.1.1 2.2.2.2 1 2\n\r\n",
        ] {
            let (header, _) = read(line.as_bytes());
            assert!(header.is_err(), "{line:?} gave {header:?}");
        }
        let long = format!("PROXY UNKNOWN {}\r\n", "x".repeat(100));
        assert!(matches!(
            read(long.as_bytes()).0,
            Err(ProxyProtocolError::Malformed(_))
        ));
        assert!(matches!(
            read(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc").0,
            Err(ProxyProtocolError::Missing)
        ));
    }

    #[test]
    fn version_2_headers_give_addresses_skip_tlvs_and_leave_the_rest() {
        let mut ipv4 = vec![203, 0, 113, 7, 192, 0, 2, 1];
        ipv4.extend_from_slice(&51234u16.to_be_bytes());
        ipv4.extend_from_slice(&443u16.to_be_bytes());
        let mut with_tlv = ipv4.clone();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x03, b'a', b'b', b'c']);
        let mut ipv6 = [0u8; 36];
        ipv6[15] = 1;
        ipv6[16] = 0x20;
        ipv6[17] = 0x01;
        ipv6[32..34].copy_from_slice(&4000u16.to_be_bytes());
        ipv6[34..36].copy_from_slice(&443u16.to_be_bytes());
        let cases = [
            (
                v2(1, 0x11, &ipv4),
                addr("203.0.113.7:51234"),
                addr("192.0.2.1:443"),
            ),
            (
                v2(1, 0x11, &with_tlv),
                addr("203.0.113.7:51234"),
                addr("192.0.2.1:443"),
            ),
            (v2(1, 0x21, &ipv6), addr("[::1]:4000"), addr("[2001::]:443")),
            (v2(0, 0x11, &ipv4), None, None),
            (v2(0, 0x00, &[]), None, None),
            (v2(1, 0x31, &[0u8; 216]), None, None),
        ];
        for (bytes, source, destination) in cases {
            let bytes = [&bytes[..], b"GET /"].concat();
            let (header, left) = read(&bytes);
            let header = header.unwrap();
            assert_eq!((header.source, header.destination), (source, destination));
            assert_eq!(left, b"GET /");
        }
    }

    #[test]
    fn bad_version_2_headers_are_refused() {
        let mut wrong_version = v2(1, 0x11, &[0; 12]);
        wrong_version[12] = 0x11;
        let mut wrong_signature = v2(1, 0x11, &[0; 12]);
        wrong_signature[11] = b'X';
        for bytes in [
            v2(1, 0x11, &[0; 11]),
            v2(1, 0x21, &[0; 35]),
            v2(2, 0x11, &[0; 12]),
            v2(1, 0x41, &[0; 12]),
            v2(1, 0x11, &[0; 1009]),
            wrong_version,
            wrong_signature,
        ] {
            assert!(read(&bytes).0.is_err(), "{bytes:?}");
        }
        // Cut short: the reader waits for bytes that never come.
        let cut = v2(1, 0x11, &[0; 12]);
        assert!(matches!(read(&cut[..20]).0, Err(ProxyProtocolError::Io(_))));
    }

    #[test]
    fn arbitrary_bytes_end_in_a_header_or_an_error_and_never_read_far() {
        // Valid beginnings, cut and changed at random: the reader must stop within the
        // longest header it allows, whatever comes.
        let starts: [&[u8]; 4] = [
            b"PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n",
            b"PROXY TCP6 2001:db8::7 ::1 65535 8080\r\n",
            b"PROXY UNKNOWN\r\n",
            &v2(1, 0x11, &[1; 12]),
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = starts[random() as usize % starts.len()].to_vec();
            for _ in 0..random() % 4 {
                let at = random() as usize % bytes.len();
                bytes[at] = random() as u8;
            }
            bytes.truncate(random() as usize % (bytes.len() + 1));
            bytes.extend((0..random() % 64).map(|_| random() as u8));
            let (_, left) = read(&bytes);
            let taken = bytes.len() - left.len();
            assert!(taken <= 1024, "{bytes:?}");
            if bytes.starts_with(b"PROXY ") {
                assert!(taken <= V1_MAX, "{bytes:?}");
            }
        }
    }

    #[tokio::test]
    async fn the_async_reader_takes_the_header_and_nothing_more() {
        let bytes = b"PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\nhello";
        let mut stream = &bytes[..];
        let header = read_header(&mut stream, 1024).await.unwrap();
        assert_eq!(header.source, addr("10.0.0.1:1000"));
        assert_eq!(stream, b"hello");
        let mut stream = &b"PROXY TCP4 10.0"[..];
        assert!(matches!(
            read_header(&mut stream, 1024).await,
            Err(ProxyProtocolError::Io(_))
        ));
    }
}
