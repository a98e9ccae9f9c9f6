//! permessage-deflate's price and gain: 16 KiB JSON messages (16 different ones, in turn) sent
//! by a client connection and received by a server connection, in memory, uncompressed and
//! compressed at levels 1, 6 and 9 (context takeover, 15 window bits). Throughput counts the
//! uncompressed bytes; the bytes on the wire for one round of the 16 are printed per level.
//!
//! ```sh
//! cargo bench -p wsio-proto --features deflate --bench deflate
//! ```

use std::hint::black_box;
use std::time::Instant;

use bytes::Buf;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsio_proto::deflate::DeflateConfig;
use wsio_proto::handshake::encode_response_head;
use wsio_proto::{ClientHandshake, Config, Connection, Event, ServerHandshake};

/// About 16 KiB of JSON records, the kind of message compression is for; `seed` makes each
/// message different.
fn message(seed: usize) -> String {
    let mut json = String::from("[");
    let mut i = seed * 1000;
    while json.len() < 16 * 1024 - 100 {
        json.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"score\":{},\"active\":{}}},",
            i % 97,
            (i * 7919) % 1000,
            i % 3 == 0
        ));
        i += 1;
    }
    json.push_str("{}]");
    json
}

/// A client and a server connection whose handshake agreed what `config` offers and accepts.
fn pair(config: Config) -> (Connection, Connection) {
    let mut client =
        ClientHandshake::new(&"ws://localhost/".parse().unwrap()).config(config.clone());
    let incoming = ServerHandshake::new()
        .receive(&client.encode_request())
        .unwrap()
        .unwrap();
    let offer = incoming.validate().unwrap();
    let (response, server) = offer
        .accept_connection(None, config, &incoming.leftover)
        .unwrap();
    let accepted = client
        .receive(&encode_response_head(&response))
        .unwrap()
        .unwrap();
    (accepted.connection, server)
}

/// Sends `text` from `client` to `server`, received at `now`; returns the bytes that crossed
/// the wire.
fn round(client: &mut Connection, server: &mut Connection, now: Instant, text: &str) -> usize {
    client.send_text(text).unwrap();
    let out = client.poll_transmit();
    let wire = out.copy_to_bytes(out.remaining());
    server.receive(now, &wire);
    match server.poll_event(now) {
        Some(Event::Message(message)) => {
            black_box(message);
        }
        other => panic!("{other:?}"),
    }
    wire.len()
}

fn deflate(c: &mut Criterion) {
    let texts: Vec<String> = (0..16).map(message).collect();
    let mut group = c.benchmark_group("deflate_16KiB_json");
    group.throughput(Throughput::Bytes(texts[0].len() as u64));
    let cases = [
        ("uncompressed", None),
        ("level", Some(1)),
        ("level", Some(6)),
        ("level", Some(9)),
    ];
    for (name, level) in cases {
        let config =
            Config::default().deflate(level.map(|level| DeflateConfig::default().level(level)));
        let (mut client, mut server) = pair(config);
        // No timer is set, so one instant serves every round.
        let now = Instant::now();
        let json: usize = texts.iter().map(String::len).sum();
        let wire: usize = texts
            .iter()
            .map(|text| round(&mut client, &mut server, now, text))
            .sum();
        eprintln!("{name} {level:?}: {json} bytes of JSON, {wire} bytes on the wire");
        let id = match level {
            Some(level) => BenchmarkId::new(name, level),
            None => BenchmarkId::from_parameter(name),
        };
        let mut next = texts.iter().cycle();
        group.bench_function(id, |b| {
            b.iter(|| round(&mut client, &mut server, now, next.next().unwrap()));
        });
    }
    group.finish();
}

criterion_group!(benches, deflate);
criterion_main!(benches);
