//! The real peers from other ecosystems, Python's `websockets` and Node's `ws`: their programs
//! in `tests/peers/`, installed by `scripts/setup-peers.sh` (a venv in `.venv`, `npm ci` in
//! `tests/peers`), and the scripted client both peers run against a wsio echo server.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;
use wsio::Message;

/// A real peer library, with the interpreter that runs its programs.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// Python's `websockets`, from the venv `.venv`.
    Python,
    /// Node's `ws`, from `tests/peers/node_modules`, run by `node` from the `PATH`.
    Node,
}

impl Peer {
    /// A command that runs this peer's echo server (`server`) or scripted client (`!server`),
    /// after checking that the peer is installed. `deflate` turns permessage-deflate on in the
    /// peer (`PEER_DEFLATE`, read by each peer program).
    pub fn command(self, server: bool, deflate: Option<&str>) -> Command {
        let root = workspace_root();
        let peers = root.join("tests/peers");
        let (interpreter, script) = match (self, server) {
            (Peer::Python, true) => (python(&root, "websockets"), "py_echo_server.py"),
            (Peer::Python, false) => (python(&root, "websockets"), "py_client.py"),
            (Peer::Node, true) => (node(&peers), "node_echo_server.js"),
            (Peer::Node, false) => (node(&peers), "node_client.js"),
        };
        let mut command = Command::new(interpreter);
        command
            .arg(peers.join(script))
            .current_dir(&peers)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(deflate) = deflate {
            command.env("PEER_DEFLATE", deflate);
        }
        command
    }
}

pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.ancestors().nth(2).unwrap().to_path_buf()
}

const SETUP_HINT: &str = "run `bash scripts/setup-peers.sh` from the workspace root first";

/// The venv's Python, which must be able to import `module`.
pub fn python(root: &Path, module: &str) -> PathBuf {
    let python = root.join(".venv/bin/python");
    let imports = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        imports,
        "Python peer missing: {} cannot import `{module}`; {SETUP_HINT}",
        python.display()
    );
    python
}

/// Asserts that a peer's scripted client (`who`) printed exactly the `expected` lines and
/// exited successfully; the failure message shows all it printed.
fn assert_script_passed(who: &str, output: &std::process::Output, expected: &[&str]) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!(
        "{who}, {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{report}");
    assert!(output.status.success(), "{report}");
}

/// `node` from the `PATH`, with `ws` installed in `tests/peers/node_modules`.
fn node(peers: &Path) -> PathBuf {
    let runs = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        runs,
        "Node peer missing: no `node` on the PATH; {SETUP_HINT}"
    );
    let ws = peers.join("node_modules/ws/package.json");
    assert!(
        ws.is_file(),
        "Node peer missing: {} does not exist; {SETUP_HINT}",
        ws.display()
    );
    PathBuf::from("node")
}

impl Peer {
    /// Runs this peer's scripted client (`py_client.py`, `node_client.js`) against the echo
    /// server at `url`, which must follow [`close_command`], and asserts that every check of
    /// the script passed: text, non-ASCII text, binary, 16 MiB, fragments, ping, its close
    /// 4001 answered, and on a second connection the server's close 4003 "wsio says bye".
    /// With `deflate`, the client offers permessage-deflate (the value says which offer) and
    /// checks that the server agreed.
    pub async fn run_client(self, url: &str, deflate: Option<&str>) {
        let output = self
            .command(false, deflate)
            .arg(url)
            .output()
            .await
            .unwrap();
        let compression = deflate.map(|_| r#"{"check":"compression","ok":true}"#);
        let expected_lines = compression.into_iter().chain([
            r#"{"check":"text","ok":true}"#,
            r#"{"check":"text_non_ascii","ok":true}"#,
            r#"{"check":"binary","ok":true}"#,
            r#"{"check":"binary_16_mib","ok":true}"#,
            r#"{"check":"fragmented_text","ok":true}"#,
            r#"{"check":"fragmented_binary","ok":true}"#,
            r#"{"check":"ping","ok":true}"#,
            r#"{"check":"close","code":4001,"reason":""}"#,
            r#"{"check":"server_close","code":4003,"reason":"wsio says bye"}"#,
        ]);
        let expected: Vec<&str> = expected_lines.collect();
        assert_script_passed(&format!("{self:?} client"), &output, &expected);
    }
}

/// The code and reason of a text message `close:CODE:REASON`, the command that asks an echo
/// server to close.
pub fn close_command(message: &Message) -> Option<(u16, String)> {
    let Message::Text(text) = message else {
        return None;
    };
    let (code, reason) = text.as_str().strip_prefix("close:")?.split_once(':')?;
    Some((code.parse().ok()?, reason.to_owned()))
}

/// Runs `tests/peers/py_h2_client.py`, a WebSocket client over HTTP/2 on Python's `h2`,
/// against the echo server at `url` (`http://` in cleartext, `https://` with ALPN `h2`), and
/// asserts every check of its script passed: the server allows extended CONNECT, two
/// WebSockets on one connection, each echoing text, 76 KiB of binary and a fragmented text
/// message, and answering a close.
pub async fn run_h2_client(url: &str) {
    let root = workspace_root();
    let output = Command::new(python(&root, "h2"))
        .arg(root.join("tests/peers/py_h2_client.py"))
        .arg(url)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stream = [
        r#"{"check":"text","ok":true}"#,
        r#"{"check":"binary","ok":true}"#,
        r#"{"check":"fragmented","ok":true}"#,
    ];
    let expected: Vec<&str> = [r#"{"check":"settings","ok":true}"#]
        .into_iter()
        .chain([r#"{"check":"open","ok":true}"#; 2])
        .chain(stream)
        .chain(stream)
        .chain([r#"{"check":"close","ok":true}"#; 2])
        .collect();
    assert_script_passed("h2 client", &output, &expected);
}
