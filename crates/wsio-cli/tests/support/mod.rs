//! Running the `wsio` binary in tests: with input, within a time limit, and `wsio serve` in the
//! background until the test drops it.

#![allow(dead_code, unreachable_pub)] // Each test file uses a part of this.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long any one command may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The proxy environment variables `wsio` reads.
pub const PROXY_VARIABLES: [&str; 7] = [
    "http_proxy",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The `wsio` binary, with colour and logging left to their defaults, and no proxy from the
/// environment the tests run in.
pub fn wsio() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wsio"));
    command.env_remove("RUST_LOG").env_remove("NO_COLOR");
    for variable in PROXY_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// What a finished command gave.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }
}

/// Runs `wsio ARGS` with `input` on stdin (then closed), and waits for it, at most [`LIMIT`].
pub fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = spawn(args);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // A command that exits without reading its input closes the pipe: not the test's concern.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = finish(child);
    writer.join().unwrap();
    output
}

/// Starts `wsio ARGS` with stdin, stdout and stderr piped.
pub fn spawn(args: &[&str]) -> Child {
    wsio()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a started command (stdout and stderr piped) at most [`LIMIT`], killing it after.
pub fn finish(mut child: Child) -> Output {
    // A test that read stdout itself took it.
    let stdout = child.stdout.take().map(read_all);
    let stderr = read_all(child.stderr.take().unwrap());
    let status = wait(&mut child, LIMIT);
    Output {
        status,
        stdout: stdout.map_or_else(Vec::new, |stdout| stdout.join().unwrap()),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
    }
}

fn read_all(mut from: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for the child at most `limit`; kills it and fails the test after that.
pub fn wait(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wsio did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a signal (`INT`, `TERM`) to a child process of the test.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Reads a child's stdout line by line on a thread, so that tests can wait for a line with a
/// time limit.
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    pub fn new(stdout: ChildStdout) -> Self {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    /// The next line, failing the test if none comes within [`LIMIT`].
    pub fn next(&self) -> String {
        self.0.recv_timeout(LIMIT).expect("a line from wsio")
    }

    /// Reads lines until one equals `wanted`; fails the test after [`LIMIT`].
    pub fn until(&self, wanted: &str) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line == wanted => return,
                Ok(_) => {}
                Err(_) => panic!("no line {wanted:?} from wsio"),
            }
        }
    }
}

/// `wsio serve` on a free loopback port, stopped (killed) when dropped.
pub struct Served {
    pub child: Child,
    /// `ws://127.0.0.1:PORT` (or `wss://`), from the server's first line.
    pub url: String,
    pub lines: Lines,
}

impl Served {
    pub fn start(extra: &[&str]) -> Self {
        let mut child = spawn(&[&["serve", "--addr", "127.0.0.1:0"], extra].concat());
        let lines = Lines::new(child.stdout.take().unwrap());
        let first = lines.next();
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Served { child, url, lines }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url.split_once("://").unwrap().1
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A self-signed certificate for `localhost` and its key, written as PEM files in a directory
/// named `name` under the tests' scratch directory; returns their paths.
pub fn pem_certificate(name: &str) -> (String, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.key_pair.serialize_pem()).unwrap();
    let path = |path: std::path::PathBuf| path.to_str().unwrap().to_owned();
    (path(cert), path(key))
}
