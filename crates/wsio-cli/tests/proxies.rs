//! `wsio connect` and `wsio bench` through real proxies on 127.0.0.1 (tinyproxy, microsocks,
//! started here and stopped when dropped), chosen by `--proxy` or by the environment, and
//! `--no-proxy`; `wsio serve` behind haproxy (`--proxy-protocol`) and nginx.
//! `scripts/setup-proxies.sh` installs the proxies.

#[path = "../../wsio/tests/support/proxies.rs"]
mod proxy_programs;
mod support;

use std::io::Write;
use std::process::Stdio;

use proxy_programs::{free_port, haproxy_sending, microsocks, nginx_in_front_of, tinyproxy};
use support::{Output, Served, finish, run};

/// Runs `wsio ARGS` with the environment variables `vars` and `input` on stdin.
fn run_with_env(vars: &[(&str, &str)], args: &[&str], input: &[u8]) -> Output {
    let mut child = support::wsio()
        .envs(vars.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    finish(child)
}

#[test]
fn connect_goes_through_the_proxy_it_is_given_and_keeps_its_password_to_itself() {
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    let proxy = tinyproxy(None, Some(("alice", "s3cret")), &[]);
    let socks = microsocks(None, Some(("bob", "pw")));
    for proxy_url in [
        proxy.url("http", Some(("alice", "s3cret"))),
        socks.url("socks5h", Some(("bob", "pw"))),
    ] {
        let output = run(&["connect", "--proxy", &proxy_url, &url], b"through");
        assert_eq!(output.code(), Some(0), "{proxy_url}: {output:?}");
        assert_eq!(output.stdout_text(), "through\n");
    }

    let wrong = proxy.url("http", Some(("alice", "hunter2")));
    let output = run(&["connect", "-v", "--proxy", &wrong, &url], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");
    assert!(
        output.stderr.contains("requires authentication"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("hunter2"), "{}", output.stderr);

    let output = run(&["connect", "--proxy", "gopher://u:hunter2@h", &url], b"");
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(!output.stderr.contains("hunter2"), "{}", output.stderr);
}

#[test]
fn the_environment_picks_the_proxy_unless_no_proxy_says_otherwise() {
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    let socks = microsocks(None, None);
    let socks_url = socks.url("socks5", None);
    let dead = format!("http://127.0.0.1:{}", free_port());

    // all_proxy leads to the SOCKS proxy.
    let output = run_with_env(&[("all_proxy", &socks_url)], &["connect", &url], b"env");
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text(), "env\n");
    // http_proxy names a proxy that is not there: the connection fails, naming it.
    let output = run_with_env(&[("http_proxy", &dead)], &["connect", &url], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");
    assert!(output.stderr.contains(&dead), "{}", output.stderr);
    // ...unless --no-proxy, or no_proxy matches the host.
    let output = run_with_env(
        &[("http_proxy", &dead)],
        &["connect", "--no-proxy", &url],
        b"direct",
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
    assert_eq!(output.stdout_text(), "direct\n");
    let output = run_with_env(
        &[("http_proxy", &dead), ("no_proxy", "localhost,127.0.0.1")],
        &["connect", &url],
        b"bypassed",
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
    // HTTP_PROXY in capitals is not read (see `Proxies::from_env`).
    let output = run_with_env(&[("HTTP_PROXY", &dead)], &["connect", &url], b"ignored");
    assert_eq!(output.code(), Some(0), "{output:?}");
    // --proxy wins over the environment.
    let output = run_with_env(
        &[("http_proxy", &dead)],
        &["connect", "--proxy", &socks_url, &url],
        b"flag",
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
}

#[test]
fn bench_runs_through_a_proxy() {
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    let proxy = tinyproxy(None, Some(("carol", "pw")), &[]);
    let output = run(
        &[
            "bench",
            &url,
            "--proxy",
            &proxy.url("http", Some(("carol", "pw"))),
            "-c",
            "4",
            "-n",
            "50",
            "--json",
        ],
        b"",
    );
    assert_eq!(output.code(), Some(0), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["connections_opened"], 4, "{summary}");
    assert_eq!(summary["messages_received"], 50, "{summary}");
    assert_eq!(summary["errors"], serde_json::json!({}), "{summary}");
}

#[test]
fn bench_counts_what_the_proxy_refused() {
    let served = Served::start(&[]);
    let url = format!("{}/echo", served.url);
    let proxy = tinyproxy(None, Some(("carol", "pw")), &[]);
    let wrong = proxy.url("http", Some(("carol", "hunter2")));
    let output = run(
        &[
            "bench", &url, "--proxy", &wrong, "-c", "2", "-n", "2", "--json",
        ],
        b"",
    );
    assert_eq!(output.code(), Some(3), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["errors"]["proxy"], 2, "{summary}");
    assert!(!output.stderr.contains("hunter2"), "{}", output.stderr);
}

/// `wsio serve` behind a load balancer and a reverse proxy: a line, a 16 MiB message and the
/// close all go through `url`.
fn served_through(url: &str) {
    let output = run(&["connect", url], b"behind");
    assert_eq!(output.code(), Some(0), "{url}: {output:?}");
    assert_eq!(output.stdout_text(), "behind\n");
    assert!(output.stderr.contains("closed: 1000"), "{}", output.stderr);
    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 241) as u8).collect();
    let output = run(
        &["connect", "--binary", "--one-message", "--raw", url],
        &big,
    );
    assert_eq!(output.code(), Some(0), "{url}: {}", output.stderr);
    assert!(
        output.stdout == big,
        "{url}: the 16 MiB message came back changed"
    );
}

#[test]
fn serve_with_proxy_protocol_behind_haproxy() {
    let served = Served::start(&["--proxy-protocol", "-v"]);
    let port: u16 = served.addr().rsplit(':').next().unwrap().parse().unwrap();
    for send in ["send-proxy", "send-proxy-v2"] {
        let balancer = haproxy_sending(port, send);
        served_through(&format!("ws://127.0.0.1:{}/echo", balancer.port));
    }
    // Straight to the server, without a header: closed unanswered.
    let output = run(&["connect", &format!("{}/echo", served.url)], b"");
    assert_eq!(output.code(), Some(3), "{output:?}");
}

#[test]
fn serve_behind_nginx() {
    let served = Served::start(&[]);
    let port: u16 = served.addr().rsplit(':').next().unwrap().parse().unwrap();
    let nginx = nginx_in_front_of(port);
    served_through(&format!("ws://127.0.0.1:{}/echo", nginx.port));
}
