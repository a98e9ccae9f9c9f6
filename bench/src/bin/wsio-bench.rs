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
//! the TCP ceiling), in either mode. Scenarios:
//!
//! 1. 64 connections, 16 messages of 32 bytes in flight each: messages/s;
//! 2. the same with 16 KiB messages: messages/s;
//! 3. one connection streaming 1 MiB binary messages (4 in flight): MB/s, beside plain TCP;
//! 4. server memory per idle connection, 5,000 connections open: KiB (VmRSS after minus before);
//! 5. each library's client, 64 connections of 16 × 32 bytes, against the benchmark's own
//!    minimal echo server: messages/s (plain: each message sent on its own; batched: the 16
//!    fed and flushed once);
//! 6. permessage-deflate: 64 connections × 16 in flight × 4 KiB of JSON-like text, compressed
//!    both ways, wsio against Node's `ws` (none of the Rust peers here is built with it; needs
//!    `node` and `scripts/setup-peers.sh`): messages/s.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use clap::Parser;
use wsio_bench::{Lib, Mode};

/// Runs the benchmark scenarios and prints the comparison table.
#[derive(Parser)]
struct Args {
    /// Rounds; each figure is the median over them.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds each throughput run measures (after the generator's half-second warm-up).
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Only these scenarios (1-6), comma-separated.
    #[arg(long, value_delimiter = ',')]
    only: Vec<u32>,
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

/// One scenario: what it measures and how.
struct Scenario {
    number: u32,
    title: &'static str,
    unit: &'static str,
    /// Lower figures are better (memory).
    lower_is_better: bool,
    /// The entries compared: servers, or clients for scenario 5.
    entries: Vec<Entry>,
}

/// Each scenario's figures for each entry, one a round.
type Figures = BTreeMap<(u32, Entry), Vec<f64>>;

struct Runner {
    args: Args,
    bin: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let bin = std::env::current_exe()?
        .parent()
        .ok_or("the runner has no directory")?
        .to_path_buf();
    let pin = !args.no_pin && Command::new("taskset").arg("-V").output().is_ok();
    if !pin {
        eprintln!("not pinning: taskset is missing or --no-pin was given");
    }
    let runner = Runner {
        args: Args {
            no_pin: !pin,
            ..args
        },
        bin,
    };
    let scenarios: Vec<Scenario> = [
        Scenario {
            number: 1,
            title: "64 conns × 16 in flight × 32 B",
            unit: "msg/s",
            lower_is_better: false,
            entries: entries(&LIBS),
        },
        Scenario {
            number: 2,
            title: "64 conns × 16 in flight × 16 KiB",
            unit: "msg/s",
            lower_is_better: false,
            entries: entries(&LIBS),
        },
        Scenario {
            number: 3,
            title: "1 conn streaming 1 MiB messages",
            unit: "MB/s",
            lower_is_better: false,
            entries: entries(&[LIBS.as_slice(), &[Lib::Tcp]].concat()),
        },
        Scenario {
            number: 4,
            title: "server RSS per idle conn (5,000)",
            unit: "KiB",
            lower_is_better: true,
            entries: entries(&LIBS),
        },
        Scenario {
            number: 5,
            title: "clients, 64 × 16 × 32 B vs one server",
            unit: "msg/s",
            lower_is_better: false,
            entries: entries(&LIBS),
        },
        Scenario {
            number: 6,
            title: "deflate, 64 × 16 × 4 KiB JSON",
            unit: "msg/s",
            lower_is_better: false,
            entries: entries(&[Lib::Wsio, Lib::NodeWs]),
        },
    ]
    .into_iter()
    .filter(|s| runner.args.only.is_empty() || runner.args.only.contains(&s.number))
    .filter(|s| {
        let runnable = s.number != 6 || node_ws_available();
        if !runnable {
            eprintln!("scenario 6 skipped: no `node`, or no `ws` (run scripts/setup-peers.sh)");
        }
        runnable
    })
    .collect();

    let mut figures: Figures = BTreeMap::new();
    for round in 0..runner.args.rounds {
        for scenario in &scenarios {
            // Interleaved: each round starts with a different entry.
            let n = scenario.entries.len();
            for i in 0..n {
                let entry = scenario.entries[(i + round) % n];
                let figure = runner.measure(scenario.number, entry)?;
                eprintln!(
                    "round {} scenario {} {:<22} {:>12.1} {}",
                    round + 1,
                    scenario.number,
                    entry.label(),
                    figure,
                    scenario.unit
                );
                figures
                    .entry((scenario.number, entry))
                    .or_default()
                    .push(figure);
            }
        }
    }
    print_table(&scenarios, &figures);
    Ok(())
}

impl Runner {
    /// `program` (a path, or a name looked up on the `PATH`), pinned to `cpu` unless pinning is
    /// off.
    fn command(&self, cpu: u32, program: impl AsRef<std::ffi::OsStr>) -> Command {
        if self.args.no_pin {
            Command::new(program)
        } else {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(program);
            command
        }
    }

    /// Starts a server, with permessage-deflate if `deflate`; returns it and its address.
    fn server(
        &self,
        Entry { lib, mode }: Entry,
        deflate: bool,
    ) -> Result<(Child, String), Box<dyn std::error::Error>> {
        let mut command = match lib {
            Lib::NodeWs => {
                let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
                let mut command = self.command(0, "node");
                command
                    .arg(bench.join("ws_echo.js"))
                    .env("NODE_PATH", bench.join("../tests/peers/node_modules"));
                command
            }
            _ => {
                let mut command = self.command(0, self.bin.join("wsio-bench-server"));
                command.args(["--lib", lib.name(), "--mode", mode.name()]);
                if deflate {
                    command.arg("--deflate");
                }
                command
            }
        };
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let line = first_line(child.stdout.take().ok_or("no stdout")?)?;
        let addr = line
            .strip_prefix("listening ")
            .ok_or_else(|| format!("unexpected server output: {line}"))?
            .to_string();
        Ok((child, addr))
    }

    /// Runs the generator; returns its messages/s and MB/s.
    fn load(&self, addr: &str, extra: &[&str]) -> Result<(f64, f64), Box<dyn std::error::Error>> {
        let output = self
            .command(1, self.bin.join("wsio-bench-load"))
            .args(["--addr", addr, "--duration"])
            .arg(self.args.duration.to_string())
            .args(extra)
            .stderr(Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let field = |name: &str| -> Option<f64> {
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        match (field("msgs_per_sec"), field("mb_per_sec")) {
            (Some(msgs), Some(mb)) => Ok((msgs, mb)),
            _ => Err(format!("the generator failed: {text}").into()),
        }
    }

    fn measure(&self, scenario: u32, entry: Entry) -> Result<f64, Box<dyn std::error::Error>> {
        let Entry { lib, mode } = entry;
        let server = if scenario == 5 {
            Entry {
                lib: Lib::Raw,
                mode: Mode::Plain,
            }
        } else {
            entry
        };
        let (mut server, addr) = self.server(server, scenario == 6)?;
        let result = match scenario {
            1 => self.load(&addr, &["--size", "32"]).map(|(msgs, _)| msgs),
            2 => self.load(&addr, &["--size", "16384"]).map(|(msgs, _)| msgs),
            3 => {
                let mut extra = vec!["--connections", "1", "--inflight", "4", "--size", "1048576"];
                if lib == Lib::Tcp {
                    extra.push("--no-handshake");
                }
                self.load(&addr, &extra).map(|(_, mb)| mb)
            }
            4 => self.idle_memory(&server, &addr),
            5 => self
                .load(
                    &addr,
                    &[
                        "--size",
                        "32",
                        "--client",
                        lib.name(),
                        "--mode",
                        mode.name(),
                    ],
                )
                .map(|(msgs, _)| msgs),
            6 => self
                .load(&addr, &["--size", "4096", "--deflate"])
                .map(|(msgs, _)| msgs),
            _ => Err(format!("no scenario {scenario}").into()),
        };
        let _ = server.kill();
        let _ = server.wait();
        result
    }

    /// KiB of server memory per idle connection.
    fn idle_memory(&self, server: &Child, addr: &str) -> Result<f64, Box<dyn std::error::Error>> {
        // `taskset` execs the server, so the child's pid is the server's.
        let pid = server.id();
        std::thread::sleep(Duration::from_millis(200));
        let before = rss_kib(pid)?;
        let count = self.args.idle_connections;
        let mut generator = self
            .command(1, self.bin.join("wsio-bench-load"))
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

/// Whether Node and its `ws` package are there for scenario 6.
fn node_ws_available() -> bool {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/node_modules/ws");
    modules.is_dir() && Command::new("node").arg("--version").output().is_ok()
}

fn first_line(stdout: ChildStdout) -> std::io::Result<String> {
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// A process's resident memory in KiB, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> Result<f64, Box<dyn std::error::Error>> {
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

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
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
        let medians: Vec<(Entry, f64)> = scenario
            .entries
            .iter()
            .filter_map(|&entry| Some((entry, median(figures.get(&(scenario.number, entry))?))))
            .collect();
        // The best peer at its best: over every peer and mode.
        let peers = medians
            .iter()
            .filter(|(entry, _)| entry.is_peer())
            .map(|&(_, v)| v);
        let best = best(peers, scenario.lower_is_better);
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
            scenario.number,
            scenario.title,
            scenario.unit,
            cells.join(" | ")
        );
    }
    println!();
    println!(
        "Each figure is a median; in brackets its ratio to the best peer at its best, over every \
         peer and mode (for KiB, lower is better)."
    );
    println!();
    // The load of a shared machine can change between rounds: the ratio within each round
    // shows how far the medians can be trusted.
    for scenario in scenarios {
        let rounds = |entry: &Entry| figures.get(&(scenario.number, *entry));
        let tcp = scenario
            .entries
            .iter()
            .find(|entry| entry.lib == Lib::Tcp)
            .and_then(rounds);
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
                    let best = best(peers, scenario.lower_is_better);
                    let tcp = tcp
                        .and_then(|tcp| tcp.get(round))
                        .map_or(String::new(), |tcp| {
                            format!(", {:.0}% of tcp", 100.0 * figure / tcp)
                        });
                    format!("{:.2}×{tcp}", figure / best)
                })
                .collect();
            println!(
                "- scenario {}, {} ÷ best peer in each round: {}",
                scenario.number,
                wsio.label(),
                ratios.join("; ")
            );
        }
    }
}
