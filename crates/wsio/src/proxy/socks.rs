//! SOCKS tunnels (SOCKS5 of RFC 1928 with RFC 1929's passwords, SOCKS4 and SOCKS4a), through
//! the `tokio-socks` crate.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_socks::tcp::{Socks4Stream, Socks5Stream};
use tokio_socks::{Error as Socks, TargetAddr};

use super::error::{ProxyError, SocksFailure};
use super::proxy_url::{Proxy, ProxyScheme};
use super::tunnel::{Target, lost};
use crate::error::Result;

/// Asks the SOCKS `proxy`, at the other end of `io`, for a tunnel to `target`.
pub(super) async fn connect<S>(io: &mut S, proxy: &Proxy, target: Target<'_>) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = match target {
        Target::Name(host, port) => TargetAddr::Domain(host.into(), port),
        Target::Address(address) => TargetAddr::Ip(address),
    };
    let outcome = match (proxy.scheme(), proxy.user_and_password()) {
        (ProxyScheme::Socks4 | ProxyScheme::Socks4a, None) => {
            Socks4Stream::connect_with_socket(io, target)
                .await
                .map(drop)
        }
        (ProxyScheme::Socks4 | ProxyScheme::Socks4a, Some((user, _))) => {
            Socks4Stream::connect_with_userid_and_socket(io, target, user)
                .await
                .map(drop)
        }
        (_, None) => Socks5Stream::connect_with_socket(io, target)
            .await
            .map(drop),
        (_, Some((user, password))) => {
            Socks5Stream::connect_with_password_and_socket(io, target, user, password)
                .await
                .map(drop)
        }
    };
    outcome.map_err(|error| convert(proxy, error))?;
    tracing::debug!(%proxy, "tunnel open");
    Ok(())
}

/// `tokio-socks`'s error as this crate's.
fn convert(proxy: &Proxy, error: Socks) -> crate::Error {
    let failure = match error {
        Socks::Io(error) => return lost(proxy, error),
        Socks::InvalidResponseVersion
        | Socks::InvalidReservedByte
        | Socks::UnknownAddressType
        | Socks::UnknownAuthMethod
        | Socks::ParseError(_)
        | Socks::ProxyServerUnreachable => {
            return ProxyError::InvalidResponse {
                proxy: proxy.to_string(),
                what: "its reply is not SOCKS",
            }
            .into();
        }
        Socks::GeneralSocksServerFailure => SocksFailure::GeneralFailure,
        Socks::ConnectionNotAllowedByRuleset => SocksFailure::NotAllowed,
        Socks::NetworkUnreachable => SocksFailure::NetworkUnreachable,
        Socks::HostUnreachable => SocksFailure::HostUnreachable,
        Socks::ConnectionRefused => SocksFailure::ConnectionRefused,
        Socks::TtlExpired => SocksFailure::TtlExpired,
        Socks::CommandNotSupported => SocksFailure::CommandNotSupported,
        Socks::AddressTypeNotSupported | Socks::InvalidTargetAddress(_) => {
            SocksFailure::AddressTypeNotSupported
        }
        Socks::UnknownError => SocksFailure::Rejected,
        Socks::NoAcceptableAuthMethods | Socks::AuthorizationRequired => {
            SocksFailure::NoAcceptableMethod
        }
        Socks::PasswordAuthFailure(_)
        | Socks::IdentdAuthFailure
        | Socks::InvalidUserIdAuthFailure => SocksFailure::AuthenticationFailed,
        Socks::InvalidAuthValues(_) => SocksFailure::InvalidCredentials,
    };
    ProxyError::Socks {
        proxy: proxy.to_string(),
        failure,
    }
    .into()
}
