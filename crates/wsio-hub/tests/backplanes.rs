//! Hubs joined through real brokers on 127.0.0.1, `redis-server` and `nats-server` (started
//! and stopped here; `scripts/setup-brokers.sh` installs them): a publish on one node reaches
//! the subscribers of every node once, and the nodes reconnect and resubscribe when the broker
//! comes back.
#![cfg(all(feature = "redis", feature = "nats"))]

mod support;

use std::time::Duration;

use support::brokers::{Broker, Kind, free_port};
use wsio::proto::Backoff;
use wsio::{Message, PreparedMessage};
use wsio_hub::nats::NatsBackplane;
use wsio_hub::redis::RedisBackplane;
use wsio_hub::{Backplane, BackplaneState, Hub, Subscriber};

const LIMIT: Duration = Duration::from_secs(30);

/// A node: a hub joined to the broker at `port`, quick to reconnect.
async fn node(kind: Kind, port: u16) -> (Hub, Backplane) {
    let hub = Hub::new();
    let backoff = Backoff::default()
        .initial(Duration::from_millis(50))
        .max(Duration::from_millis(200));
    let backplane = match kind {
        Kind::Redis => RedisBackplane::new(&kind.url(port))
            .unwrap()
            .backoff(backoff)
            .attach(&hub),
        Kind::Nats => NatsBackplane::new(&kind.url(port))
            .backoff(backoff)
            .attach(&hub),
    }
    .unwrap();
    backplane.wait_for(BackplaneState::Connected).await;
    (hub, backplane)
}

fn subscribed(hub: &Hub, topic: &str) -> Subscriber {
    let mut subscriber = hub.subscriber();
    subscriber.subscribe(topic);
    subscriber
}

async fn next_text(subscriber: &mut Subscriber) -> String {
    let message = tokio::time::timeout(Duration::from_secs(5), subscriber.recv())
        .await
        .expect("a message in time")
        .unwrap();
    text_of(&message)
}

fn text_of(message: &PreparedMessage) -> String {
    match message.message() {
        Message::Text(text) => text.to_string(),
        other => panic!("{other:?}"),
    }
}

/// Waits a moment and says whether anything more arrived.
async fn nothing_more(subscriber: &mut Subscriber) -> bool {
    tokio::time::sleep(Duration::from_millis(200)).await;
    subscriber.try_recv().is_none()
}

/// Three nodes: each sender's lines arrive once and in order on every node.
async fn every_node_once(kind: Kind) {
    tokio::time::timeout(LIMIT, async {
        let port = free_port();
        let _broker = Broker::start(kind, port);
        let nodes = [
            node(kind, port).await,
            node(kind, port).await,
            node(kind, port).await,
        ];
        let mut subscribers: Vec<Subscriber> = nodes
            .iter()
            .map(|(hub, _)| subscribed(hub, "room"))
            .collect();
        let mut elsewhere = subscribed(&nodes[1].0, "other-room");
        for (from, (hub, _)) in nodes.iter().enumerate() {
            for i in 0..3 {
                hub.publish("room", PreparedMessage::text(format!("{from}:{i}")));
            }
        }
        // Each sender's lines arrive in order, once, on every node (its own included).
        for (on, subscriber) in subscribers.iter_mut().enumerate() {
            let mut got: Vec<String> = Vec::new();
            for _ in 0..9 {
                match tokio::time::timeout(Duration::from_secs(5), subscriber.recv()).await {
                    Ok(message) => got.push(text_of(&message.unwrap())),
                    Err(_) => panic!("{kind:?}: node {on} got only {got:?}"),
                }
            }
            for from in 0..3 {
                let theirs: Vec<&String> = got
                    .iter()
                    .filter(|line| line.starts_with(&format!("{from}:")))
                    .collect();
                assert_eq!(
                    theirs,
                    [
                        &format!("{from}:0"),
                        &format!("{from}:1"),
                        &format!("{from}:2")
                    ]
                );
            }
            assert!(nothing_more(subscriber).await, "a message came twice");
        }
        assert!(elsewhere.try_recv().is_none());
        // Binary crosses too.
        nodes[2]
            .0
            .publish("room", PreparedMessage::binary(vec![0u8, 255, 7]));
        let message = subscribers[0].recv().await.unwrap();
        assert_eq!(message.message(), Message::binary(vec![0u8, 255, 7]));
    })
    .await
    .unwrap();
}

/// The broker killed and started again: the nodes reconnect and subscribe again.
async fn broker_restart(kind: Kind) {
    tokio::time::timeout(LIMIT, async {
        let port = free_port();
        let broker = Broker::start(kind, port);
        let (a, backplane_a) = node(kind, port).await;
        let (b, backplane_b) = node(kind, port).await;
        let mut on_b = subscribed(&b, "feed");
        a.publish("feed", PreparedMessage::text("before"));
        assert_eq!(next_text(&mut on_b).await, "before");

        drop(broker);
        backplane_a.wait_for(BackplaneState::Disconnected).await;
        backplane_b.wait_for(BackplaneState::Disconnected).await;
        // Published while the broker is away: node A's own subscribers still get it; it waits in A's
        // queue and goes out once A is back, so B gets it only if B subscribed again first.
        let mut on_a = subscribed(&a, "feed");
        a.publish("feed", PreparedMessage::text("during"));
        assert_eq!(next_text(&mut on_a).await, "during");

        let _broker = Broker::start(kind, port);
        backplane_a.wait_for(BackplaneState::Connected).await;
        backplane_b.wait_for(BackplaneState::Connected).await;
        // Both subscribed again: what is published now reaches B.
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.publish("feed", PreparedMessage::text("after"));
        let mut got = vec![next_text(&mut on_b).await];
        if got[0] == "during" {
            got.push(next_text(&mut on_b).await);
        }
        assert_eq!(got.last().unwrap(), "after");
        println!(
            "{kind:?}: lost while the broker was away: {}",
            if got.len() == 2 {
                "nothing (the queued message went out after B resubscribed)"
            } else {
                "\"during\", for node B"
            }
        );
        assert!(nothing_more(&mut on_b).await);
        assert_eq!(a.stats().backplane_dropped, 0);
        backplane_a.stop();
        backplane_a.wait_for(BackplaneState::Stopped).await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn through_redis_a_publish_reaches_every_node_once() {
    every_node_once(Kind::Redis).await;
}

#[tokio::test]
async fn through_nats_a_publish_reaches_every_node_once() {
    every_node_once(Kind::Nats).await;
}

#[tokio::test]
async fn the_nodes_reconnect_and_resubscribe_when_redis_comes_back() {
    broker_restart(Kind::Redis).await;
}

#[tokio::test]
async fn the_nodes_reconnect_and_resubscribe_when_nats_comes_back() {
    broker_restart(Kind::Nats).await;
}

/// What a node publishes just before its backplane is stopped still reaches the others:
/// stopping sends what waits for the broker first.
async fn stop_sends_what_waits(kind: Kind) {
    tokio::time::timeout(LIMIT, async {
        let port = free_port();
        let _broker = Broker::start(kind, port);
        let (a, backplane_a) = node(kind, port).await;
        let (b, _backplane_b) = node(kind, port).await;
        let mut on_b = subscribed(&b, "last-words");
        for i in 0..1000 {
            a.publish("last-words", PreparedMessage::text(format!("{i}")));
        }
        backplane_a.stop();
        backplane_a.wait_for(BackplaneState::Stopped).await;
        for i in 0..1000 {
            assert_eq!(next_text(&mut on_b).await, format!("{i}"), "{kind:?}");
        }
        assert_eq!(a.stats().backplane_dropped, 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stopped_redis_backplane_sends_what_waits_first() {
    stop_sends_what_waits(Kind::Redis).await;
}

#[tokio::test]
async fn a_stopped_nats_backplane_sends_what_waits_first() {
    stop_sends_what_waits(Kind::Nats).await;
}
