//! Runs every case of an Autobahn fuzzing server against wsio's client, then asks the server
//! to write its reports.
//!
//! ```sh
//! cargo run --release -p wsio --example autobahn_client -- ws://127.0.0.1:9001 [--deflate]
//! ```
//!
//! `--deflate` offers permessage-deflate on every case.

use futures_util::StreamExt;
use wsio::{ClientBuilder, DeflateConfig, Message};

const AGENT: &str = "wsio";

#[tokio::main(flavor = "current_thread")]
async fn main() -> wsio::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let deflate = args.any(|arg| arg == "--deflate");
    let count = case_count(&base).await?;
    eprintln!("running {count} cases");
    for case in 1..=count {
        if let Err(error) = run_case(
            &format!("{base}/runCase?case={case}&agent={AGENT}"),
            deflate,
        )
        .await
        {
            eprintln!("case {case}: {error}");
        }
    }
    let (mut ws, _) = wsio::connect(&format!("{base}/updateReports?agent={AGENT}")).await?;
    ws.close(wsio::CloseCode::NORMAL, "").await?;
    Ok(())
}

async fn case_count(base: &str) -> wsio::Result<u32> {
    let (mut ws, _) = wsio::connect(&format!("{base}/getCaseCount")).await?;
    let mut count = 0;
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message? {
            count = text.parse().unwrap_or(0);
        }
    }
    Ok(count)
}

/// Echoes every message until the server closes.
async fn run_case(url: &str, deflate: bool) -> wsio::Result<()> {
    let mut builder = ClientBuilder::new(url)?.max_frame_size(64 << 20);
    if deflate {
        builder = builder.deflate(DeflateConfig::default());
    }
    let (mut ws, _) = builder.connect().await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
