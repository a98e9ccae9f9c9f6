//! Real proxies for the tests, each started on 127.0.0.1 with a configuration of its own and
//! killed when dropped: tinyproxy (HTTP CONNECT), microsocks (SOCKS5), haproxy (TLS in front
//! of tinyproxy; a load balancer sending the PROXY protocol, or spreading connections over
//! several servers), nginx (a reverse proxy); and a tap that records what a client sends on
//! its way to a proxy. `scripts/setup-proxies.sh` installs the programs.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A proxy program running on 127.0.0.1.
pub struct Running {
    pub port: u16,
    child: Child,
    dir: PathBuf,
    program: &'static str,
}

impl Running {
    /// Starts `program` with `args`, after writing each of `files` (name, content) into a
    /// scratch directory whose path replaces `{dir}` in both, and waits until `port` takes
    /// connections.
    fn start(
        program: &'static str,
        name: &str,
        port: u16,
        files: &[(&str, String)],
        args: &[&str],
    ) -> Running {
        assert!(
            std::path::Path::new(program).exists(),
            "{program} is missing: run scripts/setup-proxies.sh"
        );
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("proxy-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_text = dir.to_str().unwrap().to_owned();
        for (file, content) in files {
            std::fs::write(dir.join(file), content.replace("{dir}", &dir_text)).unwrap();
        }
        let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &dir_text)).collect();
        let child = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let running = Running {
            port,
            child,
            dir,
            program,
        };
        running.wait_until_listening();
        running
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {}",
                self.program,
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the program now, with SIGKILL (the connections through it break): a proxy that
    /// goes away. Only for programs without worker processes (tinyproxy, microsocks).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The proxy's URL with `scheme`, and `user:password@` if given.
    pub fn url(&self, scheme: &str, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => {
                format!("{scheme}://{user}:{password}@127.0.0.1:{}", self.port)
            }
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }
}

impl Drop for Running {
    /// Stops the program as its service would be stopped (SIGTERM), so that it takes its
    /// worker processes with it (nginx's and Dante's outlive a SIGKILLed parent); SIGKILL if
    /// it is not gone within five seconds.
    fn drop(&mut self) {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while terminated && Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port with nothing listening on it, for now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// tinyproxy on `port` (a free one if `None`): with Basic authentication if `credentials`,
/// and tunnels only to `connect_ports` if any are given (others get 403).
pub fn tinyproxy(
    port: Option<u16>,
    credentials: Option<(&str, &str)>,
    connect_ports: &[u16],
) -> Running {
    let port = port.unwrap_or_else(free_port);
    let mut config = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 200\nLogLevel Critical\n\
         Allow 127.0.0.1\nDisableViaHeader Yes\n"
    );
    if let Some((user, password)) = credentials {
        config.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    for allowed in connect_ports {
        config.push_str(&format!("ConnectPort {allowed}\n"));
    }
    Running::start(
        "/usr/bin/tinyproxy",
        "tinyproxy",
        port,
        &[("tinyproxy.conf", config)],
        &["-d", "-c", "{dir}/tinyproxy.conf"],
    )
}

/// microsocks, a SOCKS5 proxy, on `port` (a free one if `None`): asking for a user name and
/// password if `credentials`.
pub fn microsocks(port: Option<u16>, credentials: Option<(&str, &str)>) -> Running {
    let port = port.unwrap_or_else(free_port);
    let port_text = port.to_string();
    let mut args = vec!["-i", "127.0.0.1", "-p", &port_text];
    if let Some((user, password)) = credentials {
        args.extend(["-u", user, "-P", password]);
    }
    Running::start("/usr/bin/microsocks", "microsocks", port, &[], &args)
}

/// Dante, a SOCKS4 and SOCKS5 server, on a free port, without authentication. (Dante 1.4
/// takes SOCKS4a's host names as the address 0.0.0.x, so SOCKS4a is not tried with it.)
pub fn dante() -> Running {
    let port = free_port();
    let config = format!(
        "logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
         clientmethod: none\nsocksmethod: none\n\
         user.privileged: root\nuser.unprivileged: nobody\n\
         client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n\
         socks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  protocol: tcp\n}}\n"
    );
    Running::start(
        "/usr/sbin/danted",
        "dante",
        port,
        &[("danted.conf", config)],
        &["-f", "{dir}/danted.conf", "-N", "1"],
    )
}

/// haproxy on a free port, taking TLS with the certificate and key in `pem` (one file, as
/// haproxy wants it) and passing the plaintext on to 127.0.0.1:`backend`: an `https://`
/// proxy when the backend is tinyproxy.
pub fn tls_in_front_of(backend: u16, pem: String) -> Running {
    let port = free_port();
    let config = format!(
        "global\n  maxconn 200\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
         frontend tls\n  bind 127.0.0.1:{port} ssl crt {{dir}}/proxy.pem\n  default_backend plain\n\
         backend plain\n  server backend 127.0.0.1:{backend}\n"
    );
    Running::start(
        "/usr/sbin/haproxy",
        "haproxy-tls",
        port,
        &[("haproxy.cfg", config), ("proxy.pem", pem)],
        &["-db", "-f", "{dir}/haproxy.cfg"],
    )
}

/// haproxy on a free port as a TCP load balancer in front of 127.0.0.1:`backend`, writing a
/// PROXY protocol header before each connection's bytes: `send` is `send-proxy` (version 1)
/// or `send-proxy-v2`.
pub fn haproxy_sending(backend: u16, send: &str) -> Running {
    let port = free_port();
    let config = format!(
        "global\n  maxconn 200\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
         frontend balancer\n  bind 127.0.0.1:{port}\n  default_backend servers\n\
         backend servers\n  server wsio 127.0.0.1:{backend} {send}\n"
    );
    Running::start(
        "/usr/sbin/haproxy",
        "haproxy-proxy-protocol",
        port,
        &[("haproxy.cfg", config)],
        &["-db", "-f", "{dir}/haproxy.cfg"],
    )
}

/// haproxy on a free port balancing HTTP, WebSocket upgrades included, over 127.0.0.1's
/// `backends` in turn (round robin, no sticky sessions), each checked every 200 ms; a
/// connection refused by a backend is tried on another.
pub fn haproxy_balancing(backends: &[u16]) -> Running {
    let port = free_port();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, backend)| {
            format!("  server node{i} 127.0.0.1:{backend} check inter 200ms fall 1 rise 1\n")
        })
        .collect();
    let config = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  \
         timeout tunnel 1h\n  option redispatch\n  retries 3\n\
         frontend balancer\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\
         backend nodes\n  balance roundrobin\n{servers}"
    );
    Running::start(
        "/usr/sbin/haproxy",
        "haproxy-balancing",
        port,
        &[("haproxy.cfg", config)],
        &["-db", "-f", "{dir}/haproxy.cfg"],
    )
}

/// nginx on a free port as a reverse proxy to 127.0.0.1:`backend` that passes WebSocket
/// upgrades on and names the client in `X-Forwarded-For` and `Forwarded`.
pub fn nginx_in_front_of(backend: u16) -> Running {
    let port = free_port();
    let config = format!(
        "daemon off;\nworker_processes 1;\npid {{dir}}/nginx.pid;\nerror_log {{dir}}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n\
           client_body_temp_path {{dir}}/body;\n  proxy_temp_path {{dir}}/proxy;\n\
           fastcgi_temp_path {{dir}}/fastcgi;\n  uwsgi_temp_path {{dir}}/uwsgi;\n  scgi_temp_path {{dir}}/scgi;\n\
           map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n\
             location / {{\n      proxy_pass http://127.0.0.1:{backend};\n      proxy_http_version 1.1;\n\
               proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection $connection_upgrade;\n\
               proxy_set_header Host $host;\n\
               proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
               proxy_set_header Forwarded \"for=$remote_addr:$remote_port\";\n\
               proxy_read_timeout 60s;\n    }}\n  }}\n}}\n"
    );
    Running::start(
        "/usr/sbin/nginx",
        "nginx",
        port,
        &[("nginx.conf", config)],
        &[
            "-p",
            "{dir}",
            "-c",
            "{dir}/nginx.conf",
            "-e",
            "{dir}/error.log",
        ],
    )
}

/// A TCP relay on 127.0.0.1 to `target` that keeps a copy of every byte clients send through
/// it: put between a client and its proxy, it shows what the proxy receives.
pub struct Tap {
    pub addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    pub async fn new(target: u16) -> Tap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut upstream_read, mut upstream_write) = upstream.into_split();
                    let up = async {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            let n = client_read.read(&mut buf).await.unwrap_or(0);
                            if n == 0 {
                                let _ = upstream_write.shutdown().await;
                                return;
                            }
                            record.lock().unwrap().extend_from_slice(&buf[..n]);
                            if upstream_write.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut upstream_read, &mut client_write);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Tap { addr, sent }
    }

    /// Whether the bytes sent so far contain `needle`.
    pub fn saw(&self, needle: &[u8]) -> bool {
        let sent = self.sent.lock().unwrap();
        sent.windows(needle.len()).any(|window| window == needle)
    }

    /// How many bytes went through, client to proxy.
    pub fn sent_len(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}
