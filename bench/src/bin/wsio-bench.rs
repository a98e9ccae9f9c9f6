//! The benchmark runner: every scenario against every server, interleaved, several rounds,
//! and a table of medians with each figure as a ratio to the best peer.
//!
//! ```sh
//! cargo build --release -p wsio-bench && target/release/wsio-bench
//! ```
//!
//! Servers run pinned to CPU 0 and the load generator to CPU 1 (through `taskset`, when it is
//! there). Every library runs in each mode it has (see `Lib::modes`): `plain`, one send per
//! message, in a column named after the library (`tungstenite`); and `batched`, messages fed
//! while more are at hand and flushed once none is, in a column with `+batch`
//! (`tungstenite+batch`). fastwebsockets cannot batch and has only its plain column. Each
//! ratio is to the best peer at its best: the best figure over every library but wsio (and
//! the TCP ceiling), in either mode; where lower is better (memory, latency), a ratio below
//! 1× is better. Scenarios:
//!
//! 1. 64 connections, 16 messages of 32 bytes in flight each: messages/s;
//! 2. the same with 16 KiB messages: messages/s;
//! 3. one connection streaming 1 MiB binary messages (4 in flight): MB/s, beside plain TCP;
//! 4. server memory per idle connection, 5,000 connections open: KiB (VmRSS after minus before);
//! 5. each library's client, 64 connections of 16 × 32 bytes, against the benchmark's own
//!    minimal echo server: messages/s (plain: each message sent on its own; batched: the 16
//!    fed and flushed once);
//! 6. permessage-deflate: 64 connections × 16 in flight × 4 KiB of JSON-like text, compressed
//!    both ways: messages/s. wsio, yawc, sockudo-ws, and Node's `ws` (`bench/ws_echo.js`,
//!    left out without `node` and the `ws` of `scripts/setup-peers.sh`). tokio-tungstenite
//!    0.30, fastwebsockets 0.10 and tokio-websockets 0.13 cannot: they do not implement
//!    permessage-deflate;
//! 7. fan-out: one publisher and 1,000 subscribers on a broadcast server (`--fanout`; see
//!    `wsio_bench::broadcast`), which sends every message to every connection, the publisher
//!    included; 64-byte messages carrying their send time, 16 publications in flight (counted
//!    by the publisher's own copies): (a) deliveries/s, the subscribers' receipts, and (b) the
//!    p99 of their latency, ms. Every library, once, at its best: the broadcast servers feed
//!    every waiting message and flush once (columns `+batch`), except fastwebsockets, which
//!    writes each frame as it goes (its plain column);
//! 8. `wss://`: scenarios 1 and 2 over TLS (rustls with the ring provider on both sides, a
//!    self-signed certificate made at the start of the run): (a) 32 B, (b) 16 KiB, messages/s.
//!    Every library, each handed the server's tokio-rustls stream; the generator decrypts and
//!    encrypts too, at about the server's cost per byte, so it bounds the figures sooner;
//! 9. latency at a fixed rate: 64 connections, 32 B, at a total rate of half the slowest
//!    library's best in scenario 1 of the same run (`--rate` overrides it): the round trip's
//!    (a) p50 and (b) p99, µs. Every library in every mode.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use wsio_bench::processes::{Fields, Launcher, first_line, listening};
use wsio_bench::{BoxError, Lib, Mode, median};

/// Runs the benchmark scenarios and prints the comparison table.
#[derive(Parser)]
struct Args {
    /// Rounds; each figure is the median over them.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds each throughput run measures (after the generator's half-second warm-up).
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Only these scenarios (1-9), comma-separated. Scenario 9 runs scenario 1 too, for its
    /// rate, unless `--rate` is given.
    #[arg(long, value_delimiter = ',')]
    only: Vec<u32>,
    /// Scenario 9's total rate, messages/s over its 64 connections; by default half the
    /// slowest library's best in scenario 1 (medians of the rounds so far).
    #[arg(long)]
    rate: Option<f64>,
    /// Idle connections for scenario 4.
    #[arg(long, default_value_t = 5000)]
    idle_connections: usize,
    /// Do not pin the server and the generator to CPUs.
    #[arg(long)]
    no_pin: bool,
}

/// The libraries compared; wsio first.
const LIBS: [Lib; 6] = [
    Lib::Wsio,
    Lib::Tungstenite,
    Lib::Fastwebsockets,
    Lib::TokioWebsockets,
    Lib::Yawc,
    Lib::SockudoWs,
];

/// One column of the table: a library driven in one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    lib: Lib,
    mode: Mode,
}

impl Entry {
    /// The column's name: the library's, with `+batch` for the batched mode.
    fn label(self) -> String {
        match self.mode {
            Mode::Plain => self.lib.name().to_string(),
            Mode::Batched => format!("{}+batch", self.lib.name()),
        }
    }

    /// Whether this is one of the peers wsio is compared with: not wsio, and not the TCP
    /// ceiling.
    fn is_peer(self) -> bool {
        !matches!(self.lib, Lib::Wsio | Lib::Tcp)
    }
}

/// Every library of `libs` in every mode it has, in that order.
fn entries(libs: &[Lib]) -> Vec<Entry> {
    libs.iter()
        .flat_map(|&lib| lib.modes().iter().map(move |&mode| Entry { lib, mode }))
        .collect()
}

/// One figure a scenario reports for each entry: a row of the table.
struct Row {
    title: &'static str,
    unit: &'static str,
    /// Lower figures are better (memory, latency).
    lower_is_better: bool,
}

impl Row {
    /// A row where higher figures are better.
    fn higher(title: &'static str, unit: &'static str) -> Row {
        Row {
            title,
            unit,
            lower_is_better: false,
        }
    }

    /// A row where lower figures are better.
    fn lower(title: &'static str, unit: &'static str) -> Row {
        Row {
            title,
            unit,
            lower_is_better: true,
        }
    }
}

/// One scenario: what it measures and how.
struct Scenario {
    number: u32,
    /// What it reports: one figure per row for each entry, all from the same runs.
    rows: Vec<Row>,
    /// The entries compared: servers, or clients for scenario 5.
    entries: Vec<Entry>,
}

impl Scenario {
    /// A scenario with one row.
    fn single(number: u32, row: Row, entries: Vec<Entry>) -> Scenario {
        Scenario {
            number,
            rows: vec![row],
            entries,
        }
    }

    /// The name of row `row` in the table: the scenario's number, with a letter when it has
    /// several rows (`8a`, `8b`).
    fn row_name(&self, row: usize) -> String {
        if self.rows.len() == 1 {
            self.number.to_string()
        } else {
            format!("{}{}", self.number, char::from(b'a' + row as u8))
        }
    }
}

/// Each scenario's figures for each row and entry, one a round.
type Figures = BTreeMap<(u32, usize, Entry), Vec<f64>>;

struct Runner {
    args: Args,
    launcher: Launcher,
    /// The directory of the `wss://` certificate (scenario 8), made at the start of the run.
    tls_dir: TlsDir,
}

/// The directory of the `wss://` certificate, removed with the runner however the run ends.
struct TlsDir(PathBuf);

impl Drop for TlsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let launcher = Launcher::new(args.no_pin)?;
    let tls_dir =
        TlsDir(std::env::temp_dir().join(format!("wsio-bench-tls-{}", std::process::id())));
    let runner = Runner {
        args,
        launcher,
        tls_dir,
    };
    let node_ws = node_ws_available();
    let scenarios: Vec<Scenario> = [
        Scenario::single(
            1,
            Row::higher("64 conns × 16 in flight × 32 B", "msg/s"),
            entries(&LIBS),
        ),
        Scenario::single(
            2,
            Row::higher("64 conns × 16 in flight × 16 KiB", "msg/s"),
            entries(&LIBS),
        ),
        Scenario::single(
            3,
            Row::higher("1 conn streaming 1 MiB messages", "MB/s"),
            entries(&[LIBS.as_slice(), &[Lib::Tcp]].concat()),
        ),
        Scenario::single(
            4,
            Row::lower("server RSS per idle conn (5,000)", "KiB"),
            entries(&LIBS),
        ),
        Scenario::single(
            5,
            Row::higher("clients, 64 × 16 × 32 B vs one server", "msg/s"),
            entries(&LIBS),
        ),
        Scenario::single(
            6,
            Row::higher("deflate, 64 × 16 × 4 KiB JSON", "msg/s"),
            deflate_entries(node_ws),
        ),
        Scenario {
            number: 7,
            rows: vec![
                Row::higher("fan-out, 1 publisher → 1,000 subscribers", "deliv/s"),
                Row::lower("fan-out, p99 delivery latency", "ms"),
            ],
            entries: best_entries(&LIBS),
        },
        Scenario {
            number: 8,
            rows: vec![
                Row::higher("wss://, 64 × 16 × 32 B", "msg/s"),
                Row::higher("wss://, 64 × 16 × 16 KiB", "msg/s"),
            ],
            entries: entries(&LIBS),
        },
        Scenario {
            number: 9,
            rows: vec![
                Row::lower("64 conns × 32 B at a fixed rate: p50 RTT", "µs"),
                Row::lower("64 conns × 32 B at a fixed rate: p99 RTT", "µs"),
            ],
            entries: entries(&LIBS),
        },
    ]
    .into_iter()
    .filter(|s| runner.selected(s.number))
    .collect();
    if scenarios.iter().any(|s| s.number == 6) && !node_ws {
        eprintln!("scenario 6 without Node's `ws`: no `node`, or no `ws` (scripts/setup-peers.sh)");
    }
    if scenarios.iter().any(|s| s.number == 8) {
        wsio_bench::tls::generate(&runner.tls_dir.0).map_err(|e| e.to_string())?;
    }

    let mut figures: Figures = BTreeMap::new();
    for round in 0..runner.args.rounds {
        for scenario in &scenarios {
            let rate = if scenario.number == 9 {
                let rate = match runner.args.rate {
                    Some(rate) => rate,
                    None => half_the_slowest(&figures)?,
                };
                eprintln!("round {} scenario 9 at {rate:.0} msg/s in all", round + 1);
                Some(rate)
            } else {
                None
            };
            // Interleaved: each round starts with a different entry.
            let n = scenario.entries.len();
            for i in 0..n {
                let entry = scenario.entries[(i + round) % n];
                let measured = runner.measure(scenario.number, entry, rate)?;
                for (row, figure) in measured.into_iter().enumerate() {
                    eprintln!(
                        "round {} scenario {:<2} {:<22} {:>12.1} {}",
                        round + 1,
                        scenario.row_name(row),
                        entry.label(),
                        figure,
                        scenario.rows[row].unit
                    );
                    figures
                        .entry((scenario.number, row, entry))
                        .or_default()
                        .push(figure);
                }
            }
        }
    }
    print_table(&scenarios, &figures);
    Ok(())
}

/// The entries of scenario 6: the libraries built here with permessage-deflate, in every
/// mode, and Node's `ws` if `node_ws`.
fn deflate_entries(node_ws: bool) -> Vec<Entry> {
    let mut libs: Vec<Lib> = LIBS.into_iter().filter(|lib| lib.deflates()).collect();
    if node_ws {
        libs.push(Lib::NodeWs);
    }
    entries(&libs)
}

/// Every library of `libs` once, at its best: in its batched mode where it has one.
fn best_entries(libs: &[Lib]) -> Vec<Entry> {
    libs.iter()
        .map(|&lib| Entry {
            lib,
            mode: *lib.modes().last().expect("every library has a mode"),
        })
        .collect()
}

impl Runner {
    /// Whether scenario `number` runs: all do by default; with `--only`, those it names, and
    /// scenario 1 when scenario 9 needs its figures for a rate.
    fn selected(&self, number: u32) -> bool {
        let only = &self.args.only;
        only.is_empty()
            || only.contains(&number)
            || (number == 1 && only.contains(&9) && self.args.rate.is_none())
    }

    /// Starts a server, with `flags` (`--deflate`, `--tls DIR`, `--fanout`); returns it and
    /// its address.
    fn server(
        &self,
        Entry { lib, mode }: Entry,
        flags: &[&std::ffi::OsStr],
    ) -> Result<(Child, String), BoxError> {
        let mut command = match lib {
            Lib::NodeWs => {
                let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
                let mut command = self.launcher.command(0, "node");
                command
                    .arg(bench.join("ws_echo.js"))
                    .env("NODE_PATH", bench.join("../tests/peers/node_modules"));
                command
            }
            _ => {
                let mut command = self.launcher.binary(0, "wsio-bench-server");
                command.args(["--lib", lib.name(), "--mode", mode.name()]);
                command.args(flags);
                command
            }
        };
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let addr = listening(&mut child)?;
        Ok((child, addr))
    }

    /// Runs the generator; returns the fields of its `result` line.
    fn load(&self, addr: &str, extra: &[&std::ffi::OsStr]) -> Result<Fields, BoxError> {
        let output = self
            .launcher
            .binary(1, "wsio-bench-load")
            .args(["--addr", addr, "--duration"])
            .arg(self.args.duration.to_string())
            .args(extra)
            .stderr(Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !text.starts_with("result ") {
            return Err(format!("the generator failed: {text}").into());
        }
        Ok(Fields(text))
    }

    /// Measures one entry in one scenario: a figure for each of the scenario's rows. `rate`
    /// is scenario 9's.
    fn measure(
        &self,
        scenario: u32,
        entry: Entry,
        rate: Option<f64>,
    ) -> Result<Vec<f64>, BoxError> {
        let Entry { lib, mode } = entry;
        let server = if scenario == 5 {
            Entry {
                lib: Lib::Raw,
                mode: Mode::Plain,
            }
        } else {
            entry
        };
        let tls = ["--tls".as_ref(), self.tls_dir.0.as_os_str()];
        let flags: &[&std::ffi::OsStr] = match scenario {
            6 => &["--deflate".as_ref()],
            7 => &["--fanout".as_ref()],
            8 => &tls,
            _ => &[],
        };
        let (mut server, addr) = self.server(server, flags)?;
        let load = |extra: &[&str]| {
            let extra: Vec<&std::ffi::OsStr> = extra.iter().map(|s| s.as_ref()).collect();
            self.load(&addr, &extra)
        };
        let result = match scenario {
            1 => load(&["--size", "32"]).and_then(|f| f.get(&["msgs_per_sec"])),
            2 => load(&["--size", "16384"]).and_then(|f| f.get(&["msgs_per_sec"])),
            3 => {
                let mut extra = vec!["--connections", "1", "--inflight", "4", "--size", "1048576"];
                if lib == Lib::Tcp {
                    extra.push("--no-handshake");
                }
                load(&extra).and_then(|f| f.get(&["mb_per_sec"]))
            }
            4 => self.idle_memory(&server, &addr).map(|kib| vec![kib]),
            5 => load(&[
                "--size",
                "32",
                "--client",
                lib.name(),
                "--mode",
                mode.name(),
            ])
            .and_then(|f| f.get(&["msgs_per_sec"])),
            6 => load(&["--size", "4096", "--deflate"]).and_then(|f| f.get(&["msgs_per_sec"])),
            7 => load(&["--fanout", "1000", "--inflight", "16", "--size", "64"]).and_then(|f| {
                let [deliveries, p99_us] = f.get(&["deliveries_per_sec", "p99_us"])?[..] else {
                    unreachable!("two fields asked, two given")
                };
                Ok(vec![deliveries, p99_us / 1000.0])
            }),
            8 => [32, 16384]
                .iter()
                .map(|size| {
                    let size = size.to_string();
                    let mut extra = vec!["--size".as_ref(), size.as_ref()];
                    extra.extend(tls);
                    Ok(self.load(&addr, &extra)?.get(&["msgs_per_sec"])?[0])
                })
                .collect(),
            9 => {
                let rate = rate.ok_or("scenario 9 has no rate")?.to_string();
                load(&["--size", "32", "--rate", &rate]).and_then(|f| f.get(&["p50_us", "p99_us"]))
            }
            _ => Err(format!("no scenario {scenario}").into()),
        };
        let _ = server.kill();
        let _ = server.wait();
        result
    }

    /// KiB of server memory per idle connection.
    fn idle_memory(&self, server: &Child, addr: &str) -> Result<f64, BoxError> {
        // `taskset` execs the server, so the child's pid is the server's.
        let pid = server.id();
        std::thread::sleep(Duration::from_millis(200));
        let before = rss_kib(pid)?;
        let count = self.args.idle_connections;
        let mut generator = self
            .launcher
            .binary(1, "wsio-bench-load")
            .args(["--addr", addr, "--idle", "--connections"])
            .arg(count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let line = first_line(generator.stdout.take().ok_or("no stdout")?)?;
        let result = if line == format!("ready {count}") {
            // Let the server finish setting up the last connections.
            std::thread::sleep(Duration::from_millis(500));
            Ok((rss_kib(pid)? - before) / count as f64)
        } else {
            Err(format!("the generator failed: {line}").into())
        };
        drop(generator.stdin.take());
        let _ = generator.wait();
        result
    }
}

/// Scenario 9's default rate: half the maximum of the slowest library in scenario 1, each
/// library at its best (its better mode), from the medians of the rounds so far.
fn half_the_slowest(figures: &Figures) -> Result<f64, BoxError> {
    let slowest = LIBS
        .iter()
        .map(|&lib| {
            figures
                .iter()
                .filter(|((scenario, _, entry), _)| *scenario == 1 && entry.lib == lib)
                .map(|(_, rounds)| median(rounds))
                .fold(0.0, f64::max)
        })
        .fold(f64::INFINITY, f64::min);
    if slowest.is_finite() && slowest > 0.0 {
        Ok(slowest / 2.0)
    } else {
        Err("scenario 9 needs scenario 1's figures, or --rate".into())
    }
}

/// Whether Node and its `ws` package are there for scenario 6.
fn node_ws_available() -> bool {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/node_modules/ws");
    modules.is_dir() && Command::new("node").arg("--version").output().is_ok()
}

/// A process's resident memory in KiB, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> Result<f64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .ok_or("no VmRSS")?;
    Ok(kib)
}

fn format_figure(value: f64) -> String {
    if value >= 10_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The best of the peers' figures: the highest, or the lowest where lower is better.
fn best(figures: impl Iterator<Item = f64>, lower_is_better: bool) -> f64 {
    if lower_is_better {
        figures.fold(f64::INFINITY, f64::min)
    } else {
        figures.fold(0.0, f64::max)
    }
}

fn print_table(scenarios: &[Scenario], figures: &Figures) {
    // Every entry of any scenario, in the order they first appear.
    let mut columns: Vec<Entry> = Vec::new();
    for entry in scenarios.iter().flat_map(|s| &s.entries) {
        if !columns.contains(entry) {
            columns.push(*entry);
        }
    }
    let names: Vec<String> = columns.iter().map(|entry| entry.label()).collect();
    println!("| scenario | unit | {} |", names.join(" | "));
    println!("| --- | --- |{}", " --- |".repeat(columns.len()));
    for scenario in scenarios {
        for (row_index, row) in scenario.rows.iter().enumerate() {
            let key = |entry: Entry| (scenario.number, row_index, entry);
            let medians: Vec<(Entry, f64)> = scenario
                .entries
                .iter()
                .filter_map(|&entry| Some((entry, median(figures.get(&key(entry))?))))
                .collect();
            // The best peer at its best: over every peer and mode.
            let peers = medians
                .iter()
                .filter(|(entry, _)| entry.is_peer())
                .map(|&(_, v)| v);
            let best = best(peers, row.lower_is_better);
            let cell = |entry: Entry| {
                medians
                    .iter()
                    .find(|(e, _)| *e == entry)
                    .map_or("–".to_string(), |&(_, v)| {
                        format!("{} ({:.2}×)", format_figure(v), v / best)
                    })
            };
            let cells: Vec<String> = columns.iter().map(|&entry| cell(entry)).collect();
            println!(
                "| {}. {} | {} | {} |",
                scenario.row_name(row_index),
                row.title,
                row.unit,
                cells.join(" | ")
            );
        }
    }
    println!();
    println!(
        "Each figure is a median; in brackets its ratio to the best peer at its best, over every \
         peer and mode (for KiB, ms and µs, lower is better: there a ratio below 1× is better)."
    );
    println!();
    // The load of a shared machine can change between rounds: the ratio within each round
    // shows how far the medians can be trusted.
    for scenario in scenarios {
        for (row_index, row) in scenario.rows.iter().enumerate() {
            print_round_ratios(scenario, row_index, row, figures);
        }
    }
}

/// The line of per-round ratios of wsio (each of its modes) to the best peer, for one row.
fn print_round_ratios(scenario: &Scenario, row_index: usize, row: &Row, figures: &Figures) {
    let rounds = |entry: &Entry| figures.get(&(scenario.number, row_index, *entry));
    let tcp = scenario
        .entries
        .iter()
        .find(|entry| entry.lib == Lib::Tcp)
        .and_then(rounds);
    let direction = if row.lower_is_better {
        " (lower is better: below 1× wsio is ahead)"
    } else {
        ""
    };
    for wsio in scenario
        .entries
        .iter()
        .filter(|entry| entry.lib == Lib::Wsio)
    {
        let Some(wsio_rounds) = rounds(wsio) else {
            continue;
        };
        let ratios: Vec<String> = wsio_rounds
            .iter()
            .enumerate()
            .map(|(round, &figure)| {
                let peers = scenario
                    .entries
                    .iter()
                    .filter(|entry| entry.is_peer())
                    .filter_map(|entry| rounds(entry)?.get(round).copied());
                let best = best(peers, row.lower_is_better);
                let tcp = tcp
                    .and_then(|tcp| tcp.get(round))
                    .map_or(String::new(), |tcp| {
                        format!(", {:.0}% of tcp", 100.0 * figure / tcp)
                    });
                format!("{:.2}×{tcp}", figure / best)
            })
            .collect();
        println!(
            "- scenario {}, {} ÷ best peer in each round{direction}: {}",
            scenario.row_name(row_index),
            wsio.label(),
            ratios.join("; ")
        );
    }
}
