//! The hub without a broker: local fan-out, the slow-subscriber policies, and the counts,
//! over real wsio connections on in-memory pipes where a connection matters.

use std::time::Duration;

use tokio::io::DuplexStream;
use wsio::proto::Role;
use wsio::{CloseCode, Config, Message, PreparedMessage, WebSocket};
use wsio_hub::{Hub, Lagged, SlowSubscribers};

const LIMIT: Duration = Duration::from_secs(20);

fn text(message: &PreparedMessage) -> String {
    match message.message() {
        Message::Text(text) => text.to_string(),
        other => panic!("not text: {other:?}"),
    }
}

/// A server-side socket and the client at the other end of an in-memory pipe of `buffer`
/// bytes.
fn pair(buffer: usize) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(buffer);
    let config = Config::default();
    (
        WebSocket::from_raw(a, Role::Server, &config, Default::default()),
        WebSocket::from_raw(b, Role::Client, &config, Default::default()),
    )
}

#[tokio::test]
async fn a_publish_reaches_every_subscriber_of_its_topic_and_no_other() {
    let hub = Hub::new();
    let mut subscribers: Vec<_> = (0..3).map(|_| hub.subscriber()).collect();
    for subscriber in &mut subscribers {
        assert!(subscriber.subscribe("news"));
        assert!(!subscriber.subscribe("news"));
    }
    let mut other = hub.subscriber();
    other.subscribe("sport");
    assert_eq!(hub.subscribers("news"), 3);
    assert_eq!(hub.publish("news", PreparedMessage::text("one")), 3);
    assert_eq!(hub.publish("news", PreparedMessage::text("two")), 3);
    assert_eq!(hub.publish("weather", PreparedMessage::text("nobody")), 0);
    for subscriber in &mut subscribers {
        assert_eq!(text(&subscriber.recv().await.unwrap()), "one");
        assert_eq!(text(&subscriber.recv().await.unwrap()), "two");
        assert!(subscriber.try_recv().is_none());
    }
    assert!(other.try_recv().is_none());
    let stats = hub.stats();
    assert_eq!((stats.topics, stats.subscriptions), (2, 4));
    assert_eq!((stats.published, stats.delivered), (3, 6));

    // Leaving: by unsubscribing, or by dropping the subscriber.
    assert!(subscribers[0].unsubscribe("news"));
    assert!(!subscribers[0].unsubscribe("news"));
    subscribers.truncate(1);
    assert_eq!(hub.subscribers("news"), 0);
    drop(other);
    assert_eq!(hub.stats().topics, 0);
}

#[tokio::test]
async fn past_its_backlog_a_subscriber_is_closed_and_frees_what_it_held() {
    let hub = Hub::builder().backlog(4).build();
    let mut slow = hub.subscriber();
    let mut quick = hub.subscriber();
    slow.subscribe("t");
    quick.subscribe("t");
    for i in 0..4 {
        assert_eq!(hub.publish("t", PreparedMessage::text(i.to_string())), 2);
        quick.recv().await.unwrap();
    }
    // The fifth finds the slow one full: it is closed, the quick one is not held back.
    assert_eq!(hub.publish("t", PreparedMessage::text("4")), 1);
    assert_eq!(hub.publish("t", PreparedMessage::text("5")), 1);
    assert_eq!(slow.recv().await.unwrap_err(), Lagged { missed: 6 });
    assert_eq!(text(&quick.recv().await.unwrap()), "4");
    assert_eq!(hub.stats().closed, 1);
}

#[tokio::test]
async fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
    let hub = Hub::builder()
        .backlog(3)
        .slow_subscribers(SlowSubscribers::DropOldest)
        .build();
    let mut subscriber = hub.subscriber();
    subscriber.subscribe("prices");
    for i in 0..10 {
        assert_eq!(
            hub.publish("prices", PreparedMessage::text(i.to_string())),
            1
        );
    }
    let kept: Vec<String> = (0..3)
        .map(|_| text(&subscriber.try_recv().unwrap().unwrap()))
        .collect();
    assert_eq!(kept, ["7", "8", "9"]);
    assert_eq!(subscriber.dropped(), 7);
    assert_eq!(hub.stats().dropped, 7);
}

#[tokio::test]
async fn forward_writes_what_is_published_in_order() {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::new();
        let mut clients = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (server, client) = pair(1 << 16);
            let mut subscriber = hub.subscriber();
            subscriber.subscribe("room");
            let (mut read, write) = server.split();
            tasks.push(tokio::spawn(subscriber.forward(write)));
            tokio::spawn(async move { while read.recv().await.is_some() {} });
            clients.push(client);
        }
        for i in 0..100 {
            assert_eq!(
                hub.publish("room", PreparedMessage::text(format!("line {i}"))),
                10
            );
        }
        for client in &mut clients {
            for i in 0..100 {
                assert_eq!(
                    client.recv().await.unwrap().unwrap(),
                    Message::text(format!("line {i}"))
                );
            }
        }
        // A client that goes: its forwarder ends, and it leaves the topic.
        let gone = clients.pop().unwrap();
        drop(gone);
        hub.publish("room", PreparedMessage::text("after"));
        tokio::time::timeout(Duration::from_secs(5), tasks.pop().unwrap())
            .await
            .expect("the forwarder ends with its connection")
            .unwrap();
        assert_eq!(hub.subscribers("room"), 9);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1013_and_others_go_on() {
    tokio::time::timeout(LIMIT, async {
        let hub = Hub::builder().backlog(16).build();
        let connect = || {
            // A pipe of 4 KiB: a client that does not read stops its forwarder's flush soon.
            let (server, client) = pair(4096);
            let mut subscriber = hub.subscriber();
            subscriber.subscribe("feed");
            let (mut read, write) = server.split();
            let forwarding = tokio::spawn(subscriber.forward(write));
            tokio::spawn(async move { while read.recv().await.is_some() {} });
            (client, forwarding)
        };
        let (mut sleeper, forwarding) = connect();
        let (mut reader, _) = connect();
        let reading = tokio::spawn(async move {
            let mut got = 0;
            while let Some(Ok(message)) = reader.recv().await {
                if message.is_data() {
                    got += 1;
                }
                if got == 200 {
                    return got;
                }
            }
            got
        });
        for i in 0..200 {
            hub.publish("feed", PreparedMessage::binary(vec![i as u8; 1024]));
            tokio::task::yield_now().await;
        }
        assert_eq!(
            reading.await.unwrap(),
            200,
            "the reading client got everything"
        );
        // The sleeper wakes up: what fitted in the pipe, then the close.
        let mut data = 0;
        let close = loop {
            match sleeper.recv().await {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => data += 1,
                other => panic!("{other:?}"),
            }
        };
        let frame = close.expect("a close frame");
        assert_eq!(frame.code, CloseCode::TRY_AGAIN_LATER);
        assert!(data < 200, "{data}");
        forwarding.await.unwrap();
        assert_eq!(hub.stats().closed, 1);
        assert_eq!(hub.subscribers("feed"), 1);
    })
    .await
    .unwrap();
}
