//! `wsio serve --cluster URL`: the chat room's hub joined to the other nodes' through Redis or
//! NATS, and the broker connection's state on stdout.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use wsio::proto::Backoff;
use wsio_hub::nats::NatsBackplane;
use wsio_hub::redis::RedisBackplane;
use wsio_hub::{Backplane, BackplaneState, Hub};

/// The broker a cluster meets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broker {
    Redis,
    Nats,
}

/// A `--cluster` URL: `redis://[:PASSWORD@]HOST:PORT[/DB]` or `nats://[USER:PASSWORD@]HOST:PORT`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Cluster {
    broker: Broker,
    url: String,
}

impl Cluster {
    /// Reads a `--cluster` value. The error does not repeat the value, which may hold a
    /// password.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let broker = if url.starts_with("redis://") {
            Broker::Redis
        } else if url.starts_with("nats://") {
            Broker::Nats
        } else {
            return Err(
                "--cluster takes redis://HOST:PORT or nats://HOST:PORT (rediss:// and tls:// \
                 are not supported)"
                    .to_owned(),
            );
        };
        let host = without_scheme_and_credentials(url);
        if host.is_empty() || host.starts_with(['/', ':']) {
            return Err("--cluster: the URL names no host".to_owned());
        }
        Ok(Cluster {
            broker,
            url: url.to_owned(),
        })
    }

    /// Joins `hub` to the other nodes' through the broker, reconnecting after [`backoff`]'s
    /// delays whenever the broker is away.
    pub(crate) fn join(&self, hub: &Hub) -> Result<Backplane, String> {
        let backoff = backoff();
        let attached = match self.broker {
            Broker::Redis => RedisBackplane::new(&self.url)
                .map_err(|error| format!("--cluster: {error}"))?
                .backoff(backoff)
                .attach(hub),
            Broker::Nats => NatsBackplane::new(&self.url).backoff(backoff).attach(hub),
        };
        attached.map_err(|error| error.to_string())
    }
}

/// The cluster's delays between attempts to reach the broker: from 250 ms, doubling, at most
/// 5 s, with up to 250 ms of jitter so that the nodes of a cluster do not all come back at
/// once.
fn backoff() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(250))
        .max(Duration::from_secs(5))
        .jitter(Duration::from_millis(250))
}

/// `scheme://HOST:PORT...` without its credentials: what may be shown.
impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.broker {
            Broker::Redis => "redis",
            Broker::Nats => "nats",
        };
        write!(
            f,
            "{scheme}://{}",
            without_scheme_and_credentials(&self.url)
        )
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cluster({self})")
    }
}

fn without_scheme_and_credentials(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    }
}

/// Prints the broker connection's state on stdout as it changes: `cluster: connected`, and
/// `cluster: disconnected; reconnecting` while the broker is away.
pub(crate) fn report(backplane: &Backplane) {
    let mut changes = backplane.state_changes();
    tokio::spawn(async move {
        let mut shown = None;
        loop {
            let state = *changes.borrow_and_update();
            let line = match state {
                BackplaneState::Connected => Some("cluster: connected"),
                BackplaneState::Disconnected => Some("cluster: disconnected; reconnecting"),
                _ => None,
            };
            if let Some(line) = line.filter(|_| shown != Some(state)) {
                shown = Some(state);
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    });
}

/// A name for a node that was given none: `node-` and four random hexadecimal digits.
pub(crate) fn random_node_name() -> String {
    let [a, b, ..] = wsio::proto::random_mask();
    format!("node-{a:02x}{b:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_read_and_shown_without_credentials() {
        let redis = Cluster::parse("redis://:hunter2@127.0.0.1:6379/2").unwrap();
        assert_eq!(redis.broker, Broker::Redis);
        assert_eq!(redis.to_string(), "redis://127.0.0.1:6379/2");
        assert!(!format!("{redis:?}").contains("hunter2"));
        let nats = Cluster::parse("nats://me:hunter2@[::1]:4222").unwrap();
        assert_eq!(nats.broker, Broker::Nats);
        assert_eq!(nats.to_string(), "nats://[::1]:4222");
        assert_eq!(
            Cluster::parse("nats://localhost:4222").unwrap().to_string(),
            "nats://localhost:4222"
        );
        for bad in [
            "localhost:6379",
            "rediss://:hunter2@localhost",
            "http://localhost",
            "redis://",
            "nats://:4222",
        ] {
            let error = Cluster::parse(bad).unwrap_err();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn random_node_names_are_valid_names() {
        let name = random_node_name();
        assert!(wsio_cli::room::valid_name(&name), "{name}");
        assert_eq!(name.len(), "node-".len() + 4);
    }
}
