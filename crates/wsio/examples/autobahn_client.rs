//! Runs every case of an Autobahn fuzzing server against wsio's client, then asks the server
//! to write its reports.
//!
//! ```sh
//! cargo run --release -p wsio --example autobahn_client -- ws://127.0.0.1:9001
//! ```

use futures_util::StreamExt;
use wsio::{ClientBuilder, Message};

const AGENT: &str = "wsio";

#[tokio::main(flavor = "current_thread")]
async fn main() -> wsio::Result<()> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let count = case_count(&base).await?;
    eprintln!("running {count} cases");
    for case in 1..=count {
        if let Err(error) = run_case(&format!("{base}/runCase?case={case}&agent={AGENT}")).await {
            eprintln!("case {case}: {error}");
        }
    }
    let (mut ws, _) = wsio::connect(&format!("{base}/updateReports?agent={AGENT}")).await?;
    ws.close(wsio::CloseCode::NORMAL, "").await?;
    while ws.next().await.is_some() {}
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
async fn run_case(url: &str) -> wsio::Result<()> {
    let (mut ws, _) = ClientBuilder::new(url)?
        .max_frame_size(64 << 20)
        .connect()
        .await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
