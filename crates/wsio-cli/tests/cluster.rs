//! `wsio serve --cluster`: several nodes on loopback joined through a real `redis-server` or
//! `nats-server` (started and stopped here; `scripts/setup-brokers.sh` installs them) are one
//! chat room. Members on different nodes see each other's lines, in order per sender and
//! once; a node killed with SIGKILL does not stop the others; a restarted broker is rejoined;
//! a thousand members over two nodes get every line of a burst; behind haproxy balancing
//! without sticky sessions, the members of a killed node come back through another.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wsio::{Message, blocking};

#[path = "../../wsio-hub/tests/support/brokers.rs"]
mod brokers;
#[path = "../../wsio/tests/support/proxies.rs"]
mod proxies;
mod support;

use brokers::{Broker, Kind, free_port};
use support::{LIMIT, Served, run};

type Member = blocking::WebSocket<blocking::Stream>;

/// `wsio serve --cluster` named `name`, once it is connected to the broker.
fn node(kind: Kind, port: u16, name: &str) -> Served {
    let url = kind.url(port);
    let mut served = Served::start(&["--cluster", &url, "--node", name]);
    // Its log goes to the test's output (shown when the test fails), and never fills the pipe.
    let stderr = served.child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
            let Ok(line) = line else { return };
            eprintln!("{line}");
        }
    });
    assert!(served.lines.next().starts_with("chat page: "));
    assert_eq!(
        served.lines.next(),
        format!("cluster: node {name} through {url}")
    );
    served.lines.until("cluster: connected");
    served
}

/// A member of the room on `node`, past its welcome: its nickname.
fn join(node: &Served) -> (Member, String) {
    join_at(&node.url)
}

fn text(ws: &mut Member) -> String {
    match ws.recv().unwrap() {
        Message::Text(text) => text.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Whether `line` is the news that someone joined. Such news may come late: a member can
/// join one node before the broker has brought it the news of an earlier join on another.
fn is_join(line: &str) -> bool {
    line.starts_with("* ") && line.ends_with(" joined")
}

/// The next line that is not a join notice.
fn said(ws: &mut Member) -> String {
    loop {
        let line = text(ws);
        if !is_join(&line) {
            return line;
        }
    }
}

/// Reads until the news that `nick` joined, past the news of other joins only.
fn joined(ws: &mut Member, nick: &str) {
    let wanted = format!("* {nick} joined");
    loop {
        let line = text(ws);
        if line == wanted {
            return;
        }
        assert!(is_join(&line), "{line:?} before {wanted:?}");
    }
}

/// Reads lines until one equals `wanted`: the lines before it, join notices left out.
fn until(ws: &mut Member, wanted: &str) -> Vec<String> {
    let mut before = Vec::new();
    loop {
        let line = said(ws);
        if line == wanted {
            return before;
        }
        before.push(line);
    }
}

/// Three nodes: every member sees every member's lines, once and in order per sender, the
/// nodes' join notices and renames; then one node is killed and the other two go on; then
/// one is stopped, and its members' leaving is told on the last.
fn one_room(kind: Kind) {
    let port = free_port();
    let _broker = Broker::start(kind, port);
    let nodes = [
        node(kind, port, "a"),
        node(kind, port, "b"),
        node(kind, port, "c"),
    ];
    let mut members: Vec<(Member, String)> = Vec::new();
    for node in &nodes {
        let (member, nick) = join(node);
        // Everyone already in the room hears of the newcomer, on whichever node.
        for (earlier, _) in &mut members {
            joined(earlier, &nick);
        }
        members.push((member, nick));
    }
    assert_eq!(members[1].1, "guest-1@b");
    members[0].0.send_text("/nick ana").unwrap();
    for (member, _) in &mut members {
        assert_eq!(said(member), "* guest-1@a is now ana");
    }
    // Each member says ten lines at once; every member gets all thirty, each sender's in
    // order, none twice.
    for (member, _) in &mut members {
        for i in 0..10 {
            member.send_text(format!("line {i}")).unwrap();
        }
    }
    let senders = ["ana", "guest-1@b", "guest-1@c"];
    for (member, nick) in &mut members {
        let lines: Vec<String> = (0..30).map(|_| said(member)).collect();
        for sender in senders {
            let theirs: Vec<&str> = lines
                .iter()
                .filter_map(|line| line.strip_prefix(&format!("{sender}: ")))
                .collect();
            let expected: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
            assert_eq!(theirs, expected, "{kind:?}: {nick} got {lines:?}");
        }
    }

    // Node c killed: its member's connection ends; a and b go on as one room. (A killed node
    // tells nobody: the departure of its members is not announced.)
    let [a, b, mut c] = nodes;
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    assert!(members[2].0.recv().is_err());
    members[0].0.send_text("still here").unwrap();
    assert_eq!(said(&mut members[1].0), "ana: still here");
    assert_eq!(said(&mut members[0].0), "ana: still here");
    let (mut dan, dan_nick) = join(&b);
    joined(&mut members[0].0, &dan_nick);
    dan.send_text("hi").unwrap();
    assert_eq!(said(&mut members[0].0), format!("{dan_nick}: hi"));

    // Node b stopped with SIGTERM: its members are closed with 1001 and their leaving, sent
    // to the broker before the node exits, reaches node a.
    let mut b = b;
    support::signal(&b.child, "TERM");
    assert!(support::wait(&mut b.child, LIMIT).success());
    let mut left = [said(&mut members[0].0), said(&mut members[0].0)];
    left.sort();
    let mut expected = [format!("* {dan_nick} left"), "* guest-1@b left".to_owned()];
    expected.sort();
    assert_eq!(left, expected, "{kind:?}");
    drop(a);
}

#[test]
fn three_nodes_through_redis_are_one_room() {
    one_room(Kind::Redis);
}

#[test]
fn three_nodes_through_nats_are_one_room() {
    one_room(Kind::Nats);
}

/// The broker killed and started again mid-run: each node goes on serving its own members,
/// says so on stdout, reconnects and subscribes again; lines said meanwhile reach the
/// sender's node and, at most once, perhaps the others. The test prints what was lost.
fn broker_restart(kind: Kind) {
    let port = free_port();
    let broker = Broker::start(kind, port);
    let a = node(kind, port, "a");
    let b = node(kind, port, "b");
    let (mut ana, ana_nick) = join(&a);
    let (mut bob, bob_nick) = join(&b);
    joined(&mut ana, &bob_nick);

    drop(broker);
    for node in [&a, &b] {
        node.lines.until("cluster: disconnected; reconnecting");
    }
    let during: Vec<String> = (0..5).map(|i| format!("during {i}")).collect();
    for line in &during {
        ana.send_text(line.as_str()).unwrap();
    }
    // The sender's own node still relays to its members.
    for line in &during {
        assert_eq!(said(&mut ana), format!("{ana_nick}: {line}"));
    }

    let _broker = Broker::start(kind, port);
    for node in [&a, &b] {
        node.lines.until("cluster: connected");
    }
    ana.send_text("after").unwrap();
    let before = until(&mut bob, &format!("{ana_nick}: after"));
    // What did reach b from the outage came in order, once, and nothing else came.
    let reached: Vec<&str> = before
        .iter()
        .map(|line| {
            line.strip_prefix(&format!("{ana_nick}: "))
                .unwrap_or_else(|| panic!("{line}"))
        })
        .collect();
    let mut expected = during.iter().map(String::as_str);
    for line in &reached {
        assert!(expected.any(|sent| sent == *line), "{reached:?}");
    }
    println!(
        "{kind:?}: of {} lines said on node a while the broker was away, node b got {} and \
         lost {}: {reached:?}",
        during.len(),
        reached.len(),
        during.len() - reached.len()
    );
    bob.send_text("back").unwrap();
    assert_eq!(
        until(&mut ana, &format!("{bob_nick}: back")),
        [format!("{ana_nick}: after")]
    );
}

#[test]
fn the_nodes_rejoin_when_redis_restarts() {
    broker_restart(Kind::Redis);
}

#[test]
fn the_nodes_rejoin_when_nats_restarts() {
    broker_restart(Kind::Nats);
}

/// How many members, and how many lines in the burst.
const MEMBERS: usize = 1000;
const BURST: usize = 100;

/// A thousand members, half on each of two nodes joined through `kind`, each get every one of
/// a burst of lines said on one node, in order.
async fn a_burst_reaches_a_thousand(kind: Kind) {
    raise_open_files_limit();
    let port = free_port();
    let _broker = Broker::start(kind, port);
    let nodes = [node(kind, port, "a"), node(kind, port, "b")];
    let received = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut members = Vec::new();
    // Joined a few at a time: each join is news to everyone already in the room.
    for i in 0..MEMBERS {
        let url = format!("{}/chat", nodes[i % 2].url);
        let (ws, _) = wsio::connect(&url).await.unwrap();
        members.push(tokio::spawn(member(ws, received.clone(), finished.clone())));
        if i % 50 == 49 {
            quiet(&received).await;
        }
    }
    quiet(&received).await;
    let (mut sender, _) = wsio::connect(&format!("{}/chat", nodes[0].url))
        .await
        .unwrap();
    sender.send_text("/nick sender").await.unwrap();
    let started = Instant::now();
    for i in 0..BURST {
        sender.send_text(format!("burst {i}")).await.unwrap();
    }
    // Each member stays until all are done: its leaving would be news to the others.
    let mut done = Vec::new();
    for member in members {
        let member = tokio::time::timeout(LIMIT, member)
            .await
            .expect("every member gets the burst in time")
            .unwrap();
        done.push(member);
    }
    println!(
        "{kind:?}: {BURST} lines to {MEMBERS} members over two nodes in {:?}",
        started.elapsed()
    );
    assert_eq!(finished.load(Ordering::Relaxed), MEMBERS);
}

/// Raises this process's limit on open files to its hard limit: the members' thousand
/// connections may pass a soft limit of 1,024.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    // Where raising is refused, the old limit stands, and the test says what failed.
    let _ = setrlimit(Resource::Nofile, limit);
}

/// A member: reads until it has had the whole burst, checking its order; counts what it reads.
/// Returns its connection, still open.
async fn member(
    mut ws: wsio::WebSocket<wsio::Transport>,
    received: Arc<AtomicU64>,
    finished: Arc<AtomicUsize>,
) -> wsio::WebSocket<wsio::Transport> {
    let mut next = 0;
    let mut mine = 0;
    while next < BURST {
        let message = ws.recv().await.expect("open").expect("no error");
        received.fetch_add(1, Ordering::Relaxed);
        mine += 1;
        let Message::Text(text) = message else {
            panic!("{message:?} after {mine} lines, {next} of the burst")
        };
        if let Some(i) = text.strip_prefix("sender: burst ") {
            assert_eq!(i, next.to_string(), "a line lost or out of order");
            next += 1;
        }
    }
    finished.fetch_add(1, Ordering::Relaxed);
    ws
}

/// Waits until the members have read nothing for 200 ms: the room's news has been delivered.
async fn quiet(received: &AtomicU64) {
    let deadline = Instant::now() + LIMIT;
    let mut seen = received.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = received.load(Ordering::Relaxed);
        if now == seen {
            return;
        }
        assert!(Instant::now() < deadline, "the room never went quiet");
        seen = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_a_thousand_members_over_two_nodes_through_redis() {
    a_burst_reaches_a_thousand(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_a_thousand_members_over_two_nodes_through_nats() {
    a_burst_reaches_a_thousand(Kind::Nats).await;
}

#[test]
fn bad_cluster_arguments_are_refused_without_echoing_a_password() {
    for args in [
        &["serve", "--cluster", "rediss://:hunter2@127.0.0.1:1"][..],
        &["serve", "--cluster", "127.0.0.1:6379"],
        &[
            "serve",
            "--cluster",
            "redis://127.0.0.1:1",
            "--node",
            "no spaces",
        ],
        &["serve", "--node", "lonely"],
    ] {
        let output = run(args, b"");
        assert_eq!(output.code(), Some(2), "{args:?}: {}", output.stderr);
        assert!(!output.stderr.contains("hunter2"), "{}", output.stderr);
    }
}

/// A node whose broker is not there yet serves its own members, and joins the others once
/// the broker comes.
#[test]
fn a_node_started_before_its_broker_joins_it_when_it_comes() {
    let port = free_port();
    let url = Kind::Redis.url(port);
    let a = Served::start(&["--cluster", &url, "--node", "a"]);
    a.lines.until("cluster: disconnected; reconnecting");
    let (mut ana, ana_nick) = join(&a);
    ana.send_text("alone").unwrap();
    assert_eq!(said(&mut ana), format!("{ana_nick}: alone"));
    let _broker = Broker::start(Kind::Redis, port);
    a.lines.until("cluster: connected");
    let b = node(Kind::Redis, port, "b");
    let (mut bob, bob_nick) = join(&b);
    joined(&mut ana, &bob_nick);
    bob.send_text("hello a").unwrap();
    assert_eq!(said(&mut ana), "guest-1@b: hello a");
}

/// The nodes behind haproxy, round robin, no sticky sessions (as `docs/clusters.md` sets it
/// up): members land on either node and talk as one room; when a node is killed, its members
/// reconnect through the balancer, land on the other node, and are back in the room.
#[test]
fn behind_a_load_balancer_the_members_of_a_killed_node_come_back_through_another() {
    let port = free_port();
    let _broker = Broker::start(Kind::Redis, port);
    let mut nodes = [node(Kind::Redis, port, "a"), node(Kind::Redis, port, "b")];
    let ports = nodes.each_ref().map(|node| {
        node.addr()
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .unwrap()
    });
    let balancer = proxies::haproxy_balancing(&ports);
    let through = format!("ws://127.0.0.1:{}", balancer.port);
    let on_node = |nick: &str| nick.rsplit_once('@').unwrap().1.to_owned();
    let (mut first, first_nick) = join_at(&through);
    let (mut second, second_nick) = join_at(&through);
    assert_ne!(on_node(&first_nick), on_node(&second_nick), "round robin");
    joined(&mut first, &second_nick);
    second.send_text("across the balancer").unwrap();
    for member in [&mut first, &mut second] {
        assert_eq!(said(member), format!("{second_nick}: across the balancer"));
    }

    // Kill the node of the first member: the second stays; the first comes back on the
    // second's node, through the balancer, and is heard.
    let (survivor, dead) = if on_node(&first_nick) == "a" {
        (1, 0)
    } else {
        (0, 1)
    };
    nodes[dead].child.kill().unwrap();
    nodes[dead].child.wait().unwrap();
    assert!(first.recv().is_err());
    let (mut back, back_nick) = join_at(&through);
    assert_eq!(on_node(&back_nick), ["a", "b"][survivor]);
    joined(&mut second, &back_nick);
    back.send_text("back again").unwrap();
    assert_eq!(said(&mut second), format!("{back_nick}: back again"));
}

/// A member of the room reached at `url` (`ws://HOST:PORT`), past its welcome: its nickname.
fn join_at(url: &str) -> (Member, String) {
    let (mut ws, _) = blocking::connect(&format!("{url}/chat")).unwrap();
    ws.set_read_timeout(Some(LIMIT));
    let welcome = text(&mut ws);
    let nick = welcome
        .strip_prefix("* welcome, ")
        .and_then(|rest| rest.split_once(": you are on node "))
        .map(|(nick, _)| nick.to_owned())
        .unwrap_or_else(|| panic!("{welcome}"));
    joined(&mut ws, &nick);
    (ws, nick)
}
