//! The hub benchmark: fan-out to 1,000 subscribers through `wsio-hub`, on one node and on two
//! nodes joined through Redis and through NATS, beside wsio's broadcast server of scenario 7
//! (a tokio broadcast channel, no hub) for reference.
//!
//! ```sh
//! cargo build --release -p wsio-bench && target/release/wsio-bench-hub
//! ```
//!
//! Each case is the generator's fan-out (`wsio-bench-load --fanout 1000 --inflight 16 --size
//! 64`): one publisher keeps 16 stamped 64-byte messages in flight, counted by its own copies
//! coming back from the node it is connected to; the subscribers, spread over the nodes in
//! turn, only read. Every server sends every message to every client. Figures: deliveries/s
//! (the subscribers' receipts), and the p50 and p99 of the delivery latency, ms, from the
//! publisher's write to a subscriber's read. With two nodes, the second node's subscribers
//! get each message through the broker, so their latency includes the hop.
//!
//! The servers and the brokers (`redis-server`, `nats-server`, started here on 127.0.0.1 and
//! stopped at the end; `scripts/setup-brokers.sh` installs them) run pinned to CPU 0, the
//! generator to CPU 1 (through `taskset`, when it is there): two nodes share one core, as one
//! node has it alone. The cases run interleaved, `--rounds` times; the table has the medians.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use wsio_bench::processes::{Fields, Launcher, listening};
use wsio_bench::{BoxError, median};

/// Runs the hub's fan-out cases and prints their table.
#[derive(Parser)]
struct Args {
    /// Rounds; each figure is the median over them.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds each case measures (after the generator's half-second warm-up).
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Subscribers, spread over the nodes.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Do not pin the servers and the generator to CPUs.
    #[arg(long)]
    no_pin: bool,
}

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// One case: how many nodes, serving what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// wsio's broadcast server (scenario 7's), one node.
    Broadcast,
    /// The hub, one node.
    Hub,
    /// The hub, two nodes through Redis.
    Redis,
    /// The hub, two nodes through NATS.
    Nats,
}

impl Case {
    const ALL: [Case; 4] = [Case::Broadcast, Case::Hub, Case::Redis, Case::Nats];

    fn title(self) -> &'static str {
        match self {
            Case::Broadcast => "broadcast server, 1 node (no hub)",
            Case::Hub => "hub, 1 node",
            Case::Redis => "hub, 2 nodes through Redis",
            Case::Nats => "hub, 2 nodes through NATS",
        }
    }
}

/// A process of the run, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A case's figures: deliveries/s, p50 ms, p99 ms.
type Figures = [f64; 3];

struct Runner {
    args: Args,
    launcher: Launcher,
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let launcher = Launcher::new(args.no_pin)?;
    let runner = Runner { args, launcher };
    let cases: Vec<Case> = Case::ALL
        .into_iter()
        .filter(|case| match case {
            Case::Redis => present(REDIS_SERVER),
            Case::Nats => present(NATS_SERVER),
            _ => true,
        })
        .collect();
    let redis = match cases.contains(&Case::Redis) {
        true => Some(runner.broker(Case::Redis)?),
        false => None,
    };
    let nats = match cases.contains(&Case::Nats) {
        true => Some(runner.broker(Case::Nats)?),
        false => None,
    };
    let mut figures: Vec<(Case, Vec<Figures>)> = cases.iter().map(|&c| (c, Vec::new())).collect();
    for round in 0..runner.args.rounds {
        for i in 0..cases.len() {
            // Interleaved: each round starts with a different case.
            let case = cases[(i + round) % cases.len()];
            let cluster = match case {
                Case::Redis => redis.as_ref().map(|(_, url)| url.as_str()),
                Case::Nats => nats.as_ref().map(|(_, url)| url.as_str()),
                _ => None,
            };
            let measured = runner.measure(case, cluster)?;
            eprintln!(
                "round {} {:<36} {:>10.0} deliv/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
                round + 1,
                case.title(),
                measured[0],
                measured[1],
                measured[2]
            );
            if let Some((_, rounds)) = figures.iter_mut().find(|(c, _)| *c == case) {
                rounds.push(measured);
            }
        }
    }
    print_table(&figures, runner.args.subscribers);
    Ok(())
}

fn present(program: &str) -> bool {
    let there = Path::new(program).exists();
    if !there {
        eprintln!("{program} is missing (scripts/setup-brokers.sh): its case is left out");
    }
    there
}

impl Runner {
    /// Starts the broker of `case` on a free loopback port: the process and its URL.
    fn broker(&self, case: Case) -> Result<(Process, String), BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
            .to_string();
        let (mut command, url) = match case {
            Case::Redis => {
                let mut command = self.launcher.command(0, REDIS_SERVER);
                command.args(["--port", &port, "--bind", "127.0.0.1"]);
                command.args(["--save", "", "--appendonly", "no"]);
                (command, format!("redis://127.0.0.1:{port}"))
            }
            _ => {
                let mut command = self.launcher.command(0, NATS_SERVER);
                command.args(["-a", "127.0.0.1", "-p", &port]);
                (command, format!("nats://127.0.0.1:{port}"))
            }
        };
        let process = Process(
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
            if Instant::now() > deadline {
                return Err(format!("the broker for {url} did not listen").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok((process, url))
    }

    /// A fan-out server: the broadcast server, or a hub node joined through `cluster`.
    fn server(&self, case: Case, cluster: Option<&str>) -> Result<(Process, String), BoxError> {
        let mut command = self.launcher.binary(0, "wsio-bench-server");
        command.args(["--lib", "wsio"]);
        match case {
            Case::Broadcast => command.arg("--fanout"),
            _ => command.arg("--hub"),
        };
        if let Some(url) = cluster {
            command.args(["--cluster", url]);
        }
        let mut process = Process(command.stdout(Stdio::piped()).spawn()?);
        let addr = listening(&mut process.0)?;
        Ok((process, addr))
    }

    /// Runs one case: its figures.
    fn measure(&self, case: Case, cluster: Option<&str>) -> Result<Figures, BoxError> {
        let nodes = if cluster.is_some() { 2 } else { 1 };
        let servers = (0..nodes)
            .map(|_| self.server(case, cluster))
            .collect::<Result<Vec<_>, _>>()?;
        let mut load = self.launcher.binary(1, "wsio-bench-load");
        load.args(["--addr", &servers[0].1, "--duration"])
            .arg(self.args.duration.to_string())
            .args(["--fanout", &self.args.subscribers.to_string()])
            .args(["--inflight", "16", "--size", "64"]);
        for (_, addr) in &servers[1..] {
            load.args(["--also", addr]);
        }
        let output = load.stderr(Stdio::inherit()).output()?;
        drop(servers);
        let fields = Fields(String::from_utf8_lossy(&output.stdout).into_owned());
        let [rate, p50_us, p99_us] = fields.get(&["deliveries_per_sec", "p50_us", "p99_us"])?[..]
        else {
            unreachable!("three fields asked, three given")
        };
        Ok([rate, p50_us / 1000.0, p99_us / 1000.0])
    }
}

/// Prints the medians, and each case's deliveries as a ratio to the broadcast server's.
fn print_table(figures: &[(Case, Vec<Figures>)], subscribers: usize) {
    let medians: Vec<(Case, Figures)> = figures
        .iter()
        .filter(|(_, rounds)| !rounds.is_empty())
        .map(|(case, rounds)| {
            let column = |i: usize| median(&rounds.iter().map(|f| f[i]).collect::<Vec<_>>());
            (*case, [column(0), column(1), column(2)])
        })
        .collect();
    let reference = medians
        .iter()
        .find(|(case, _)| *case == Case::Broadcast)
        .map(|(_, f)| f[0]);
    println!("fan-out to {subscribers} subscribers, 64 B, 16 in flight (medians)");
    println!(
        "{:<36} {:>12} {:>10} {:>10} {:>12}",
        "case", "deliv/s", "p50 ms", "p99 ms", "vs broadcast"
    );
    for (case, [rate, p50, p99]) in medians {
        let ratio = reference.map_or("-".to_string(), |r| format!("{:.2}×", rate / r));
        println!(
            "{:<36} {:>12.0} {:>10.2} {:>10.2} {:>12}",
            case.title(),
            rate,
            p50,
            p99,
            ratio
        );
    }
}
