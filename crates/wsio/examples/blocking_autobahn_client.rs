//! Runs every case of an Autobahn fuzzing server against wsio's blocking client, then asks
//! the server to write its reports.
//!
//! ```sh
//! cargo run --release -p wsio --example blocking_autobahn_client -- ws://127.0.0.1:9001 [--deflate]
//! ```
//!
//! `--deflate` offers permessage-deflate on every case.

use wsio::{ClientBuilder, DeflateConfig, Message};

const AGENT: &str = "wsio-blocking";

fn main() -> wsio::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let deflate = args.any(|arg| arg == "--deflate");
    let count = case_count(&base)?;
    eprintln!("running {count} cases");
    for case in 1..=count {
        if let Err(error) = run_case(
            &format!("{base}/runCase?case={case}&agent={AGENT}"),
            deflate,
        ) {
            eprintln!("case {case}: {error}");
        }
    }
    let (mut ws, _) = wsio::blocking::connect(&format!("{base}/updateReports?agent={AGENT}"))?;
    ws.close(wsio::CloseCode::NORMAL, "")?;
    Ok(())
}

fn case_count(base: &str) -> wsio::Result<u32> {
    let (mut ws, _) = wsio::blocking::connect(&format!("{base}/getCaseCount"))?;
    let mut count = 0;
    loop {
        match ws.recv() {
            Ok(Message::Text(text)) => count = text.parse().unwrap_or(0),
            Ok(Message::Close(_)) => continue,
            Ok(_) => {}
            Err(_) => return Ok(count),
        }
    }
}

/// Echoes every message until the connection ends.
fn run_case(url: &str, deflate: bool) -> wsio::Result<()> {
    let mut builder = ClientBuilder::new(url)?.max_frame_size(64 << 20);
    if deflate {
        builder = builder.deflate(DeflateConfig::default());
    }
    let (mut ws, _) = builder.connect_blocking()?;
    loop {
        match ws.recv() {
            Ok(message) if message.is_data() => ws.send(message)?,
            Ok(_) => {}
            // The end of the connection, or why it failed.
            Err(error) => {
                return match error {
                    wsio::Error::Send(_) => Ok(()),
                    other => Err(other),
                };
            }
        }
    }
}
