//! Real brokers for the tests, `redis-server` and `nats-server` (Debian's, installed by
//! `scripts/setup-brokers.sh`), each on 127.0.0.1 on a port of the test's choosing, keeping
//! nothing on disk, and killed when the test drops it. Shared by the hub's tests and the
//! `wsio serve --cluster` tests.

#![allow(dead_code, unreachable_pub)] // Each test file uses a part of this.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Redis,
    Nats,
}

impl Kind {
    /// The URL of this kind of broker on 127.0.0.1:`port`.
    pub fn url(self, port: u16) -> String {
        match self {
            Kind::Redis => format!("redis://127.0.0.1:{port}"),
            Kind::Nats => format!("nats://127.0.0.1:{port}"),
        }
    }
}

/// A broker on 127.0.0.1, killed when dropped.
pub struct Broker(Child);

impl Broker {
    /// Starts a broker on 127.0.0.1:`port` and waits until it listens.
    pub fn start(kind: Kind, port: u16) -> Broker {
        let port_text = port.to_string();
        let (program, args): (&str, Vec<&str>) = match kind {
            Kind::Redis => (
                "/usr/bin/redis-server",
                vec![
                    "--port",
                    &port_text,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            ),
            Kind::Nats => (
                "/usr/sbin/nats-server",
                vec!["-a", "127.0.0.1", "-p", &port_text],
            ),
        };
        assert!(
            std::path::Path::new(program).exists(),
            "{program} is missing: run scripts/setup-brokers.sh"
        );
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{program} did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker(child)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
