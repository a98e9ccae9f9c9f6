//! `wsio bench` against `wsio serve` on loopback: the JSON summary, the text summary, and
//! errors counted by kind.

mod support;

use support::{Served, closed_port, run};

fn json(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let output = run(args, b"");
    let summary = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {output:?}"));
    (output.code(), summary)
}

#[test]
fn a_counted_run_echoes_every_message_and_reports_json() {
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    let args = [
        "bench",
        &url,
        "-c",
        "3",
        "-n",
        "1000",
        "--in-flight",
        "4",
        "-s",
        "100",
        "--json",
    ];
    let (code, summary) = json(&args);
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["connections_opened"], 3);
    assert_eq!(summary["messages_sent"], 1000);
    assert_eq!(summary["messages_received"], 1000);
    assert_eq!(summary["bytes_received"], 100_000);
    assert_eq!(summary["errors"], serde_json::json!({}));
    let latency = &summary["latency_us"];
    let (p50, p99, max) = (
        latency["p50"].as_u64(),
        latency["p99"].as_u64(),
        latency["max"].as_u64(),
    );
    assert!(p50 > Some(0) && p50 <= p99 && p99 <= max, "{latency}");
    assert!(summary["messages_per_second"].as_f64() > Some(0.0));

    let (code, summary) = json(&[&args[..], &["--binary"]].concat());
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["binary"], true);
    assert_eq!(summary["messages_received"], 1000);
}

/// With `--http2`, the WebSockets are streams of one HTTP/2 connection to `wsio serve`,
/// compressed or not.
#[test]
fn many_websockets_over_one_http2_connection() {
    let served = Served::start(&["-v"]);
    let url = format!("{}/echo", served.url);
    let args = ["bench", &url, "--http2", "-c", "16", "-n", "3200", "--json"];
    for extra in [&[][..], &["--deflate"][..]] {
        let (code, summary) = json(&[&args[..], extra].concat());
        assert_eq!(code, Some(0), "{summary}");
        assert_eq!(summary["connections_opened"], 16);
        assert_eq!(summary["messages_received"], 3200);
        assert_eq!(summary["errors"], serde_json::json!({}));
    }
    // Nothing listening: no HTTP/2 connection, every WebSocket counted as failed, exit 3.
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let (code, summary) = json(&["bench", &url, "--http2", "-c", "2", "-n", "1", "--json"]);
    assert_eq!(code, Some(3), "{summary}");
    assert_eq!(summary["errors"]["io"], 2, "{summary}");
}

#[test]
fn a_timed_run_prints_a_summary_for_people() {
    let served = Served::start(&[]);
    let output = run(
        &[
            "bench",
            &format!("{}/echo", served.url),
            "-c",
            "2",
            "-d",
            "0.3",
        ],
        b"",
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
    let text = output.stdout_text();
    for needle in [
        "2 of 2 opened",
        "messages/s",
        "B/s",
        "p50",
        "p90",
        "p99",
        "max",
        "errors       none",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    // No progress bar when stderr is not a terminal.
    assert_eq!(output.stderr, "");
}

#[test]
fn errors_are_counted_by_kind() {
    // Nothing listens: every connection fails.
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let (code, summary) = json(&["bench", &url, "-c", "2", "-n", "10", "--json"]);
    assert_eq!(code, Some(3));
    assert_eq!(summary["errors"], serde_json::json!({"io": 2}));

    // The chat room answers with a welcome, not an echo.
    let served = Served::start(&[]);
    let url = format!("{}/chat", served.url);
    let (code, summary) = json(&["bench", &url, "-c", "1", "-n", "5", "--json"]);
    assert_eq!(code, Some(1));
    assert_eq!(summary["errors"], serde_json::json!({"mismatch": 1}));
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["bench", "ws://127.0.0.1:1/", "-c", "0"][..],
        &["bench", "ws://127.0.0.1:1/", "-n", "5", "-d", "1"],
        &["bench", "ws://127.0.0.1:1/", "-s", "999999999999"],
        &["bench", "ws://127.0.0.1:1/", "--timeout", "0"],
    ] {
        assert_eq!(run(args, b"").code(), Some(2), "{args:?}");
    }
}

#[test]
fn deflate_is_offered_and_the_agreement_reported() {
    // `wsio serve` accepts compression by default.
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    let args = [
        "bench", &url, "-c", "2", "-n", "200", "-s", "1000", "--json",
    ];
    let (code, summary) = json(&[&args[..], &["--deflate"]].concat());
    assert_eq!(code, Some(0), "{summary}");
    let compression = summary["compression"].as_str().unwrap_or_default();
    assert!(compression.starts_with("permessage-deflate"), "{summary}");
    assert_eq!(summary["connections_opened"], 2);
    assert_eq!(summary["messages_received"], 200);
    assert_eq!(summary["bytes_received"], 200_000);
    assert_eq!(summary["errors"], serde_json::json!({}));

    let (code, summary) = json(&args);
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["compression"], serde_json::Value::Null);

    let output = run(&[&args[..4], &["-d", "0.3", "--deflate"]].concat(), b"");
    assert_eq!(output.code(), Some(0), "{output:?}");
    let text = output.stdout_text();
    assert!(text.contains("compression  permessage-deflate"), "{text}");
}

#[test]
fn a_server_that_declines_deflate_fails_the_run() {
    let served = Served::start(&["--no-deflate"]);
    let url = format!("{}/echo", served.url);
    let output = run(
        &["bench", &url, "-c", "2", "-n", "10", "--deflate", "--json"],
        b"",
    );
    assert_eq!(output.code(), Some(3), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["compression"], serde_json::Value::Null);
    assert_eq!(summary["connections_opened"], 0);
    assert_eq!(
        summary["errors"],
        serde_json::json!({"deflate_declined": 2})
    );
    assert!(
        output.stderr.contains("declined permessage-deflate"),
        "{output:?}"
    );
}
