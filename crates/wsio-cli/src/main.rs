//! `wsio`: a WebSocket client (`connect`), a chat and echo server (`serve`) and a load
//! generator (`bench`), built on the wsio library.

mod bench;
mod client_options;
mod cluster;
mod connect;
mod exit;
mod input;
mod output;
mod serve;
mod signal;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::exit::Exit;

/// A WebSocket client, server and load generator.
#[derive(Debug, Parser)]
#[command(name = "wsio", version, propagate_version = true)]
struct Cli {
    /// Log more: -v for each connection, -vv for debugging, -vvv for everything. RUST_LOG,
    /// when set, chooses instead (for example RUST_LOG=wsio=debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Connect(connect::Args),
    Serve(serve::Args),
    Bench(bench::Args),
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            output::error(format_args!("cannot start the runtime: {error}"));
            std::process::exit(Exit::Failed.code());
        }
    };
    let exit = runtime.block_on(async {
        match cli.command {
            Command::Connect(args) => connect::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Bench(args) => bench::run(args).await,
        }
    });
    // Do not wait for tasks that are still blocked, such as the thread reading stdin.
    runtime.shutdown_background();
    std::process::exit(exit.code());
}

/// Logs to stderr: warnings by default, more with each `-v`, or as `RUST_LOG` says.
fn init_logging(verbose: u8) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(output::colour_on_stderr())
        .init();
}
