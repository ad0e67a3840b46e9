//! The proxy's behaviour under each toxic, through a proxy served by the
//! library in-process, in front of an echo server, with blocking clients.
//! Delays are asserted tightly from below and loosely from above, so a
//! loaded machine cannot fail a correct proxy.

use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{
    connect, nothing_arrives_within, pattern, read_exactly, round_trip, EchoServer, RunningProxy,
};
use bss_faultproxy::protocol::Request;
use bss_faultproxy::toxics::{Bandwidth, Fault, Latency, LatencyDirection};

fn latency(ms: u64, direction: LatencyDirection) -> Request {
    Request::Latency(Latency {
        ms,
        jitter_ms: 0,
        direction,
    })
}

/// The fastest of a few round trips of a small message.
fn fastest_round_trip(stream: &mut std::net::TcpStream) -> Duration {
    (0..5)
        .map(|_| round_trip(stream, b"ping"))
        .min()
        .unwrap_or_default()
}

#[test]
fn bytes_pass_unchanged_both_ways() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    let sent = pattern(4 * 1024 * 1024, 22);
    let mut writer = client.try_clone().expect("clone the client");
    let to_send = sent.clone();
    let writing = thread::spawn(move || {
        // Uneven writes, so chunk edges fall anywhere.
        for piece in to_send.chunks(7919) {
            writer.write_all(piece).expect("write through the proxy");
        }
        writer
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
    });
    let mut received = Vec::with_capacity(sent.len());
    client
        .read_to_end(&mut received)
        .expect("read the echo to its end");
    writing.join().expect("the writer finished");
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the echo differs from what was sent");
    let status = proxy.status();
    assert_eq!(status.counters.bytes_upstream, sent.len() as u64);
    assert_eq!(status.counters.bytes_downstream, sent.len() as u64);
}

#[test]
fn many_connections_at_once_each_get_their_own_bytes_back() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let clients: Vec<_> = (0..50u64)
        .map(|i| {
            let mut client = proxy.connect();
            thread::spawn(move || {
                let sent = pattern(64 * 1024, i);
                let mut writer = client.try_clone().expect("clone the client");
                let to_send = sent.clone();
                let writing = thread::spawn(move || writer.write_all(&to_send));
                let received = read_exactly(&mut client, sent.len());
                writing
                    .join()
                    .expect("the writer finished")
                    .expect("write through the proxy");
                received == sent
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        assert!(
            client.join().expect("the client finished"),
            "connection {i} got other bytes"
        );
    }
    assert_eq!(proxy.status().counters.connections_accepted, 50);
}

#[test]
fn latency_adds_its_delay_to_each_direction_and_clear_removes_it() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    round_trip(&mut client, b"warm up");

    proxy.set(latency(200, LatencyDirection::Both));
    let both = round_trip(&mut client, b"ping");
    assert!(
        both >= Duration::from_millis(400),
        "{both:?} with 200 ms each way"
    );
    assert!(both < Duration::from_secs(5), "{both:?}");

    proxy.set(latency(200, LatencyDirection::Upstream));
    let one_way = round_trip(&mut client, b"ping");
    assert!(one_way >= Duration::from_millis(200), "{one_way:?}");
    assert!(
        one_way < Duration::from_millis(400),
        "{one_way:?} with 200 ms one way"
    );

    proxy.set(Request::Clear);
    let cleared = fastest_round_trip(&mut client);
    assert!(
        cleared < Duration::from_millis(50),
        "{cleared:?} after clear"
    );
}

#[test]
fn latency_applies_to_a_connection_opened_after_it_was_set() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    proxy.set(latency(150, LatencyDirection::Downstream));
    let mut client = proxy.connect();
    let took = round_trip(&mut client, b"ping");
    assert!(took >= Duration::from_millis(150), "{took:?}");
}

#[test]
fn jitter_spreads_the_latency_of_each_chunk() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    proxy.set(Request::Latency(Latency {
        ms: 100,
        jitter_ms: 100,
        direction: LatencyDirection::Upstream,
    }));
    let trips: Vec<Duration> = (0..20).map(|_| round_trip(&mut client, b"ping")).collect();
    let (fastest, slowest) = (
        trips.iter().min().copied().unwrap_or_default(),
        trips.iter().max().copied().unwrap_or_default(),
    );
    // Drawn uniformly from [0, 200] ms, 20 delays all above 95 ms or all
    // within 30 ms of each other are a one-in-a-million chance.
    assert!(fastest < Duration::from_millis(95), "{trips:?}");
    assert!(slowest - fastest > Duration::from_millis(30), "{trips:?}");
}

#[test]
fn latency_does_not_serialize_pipelined_chunks() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    round_trip(&mut client, b"warm up");
    proxy.set(latency(200, LatencyDirection::Both));
    let start = Instant::now();
    let mut writer = client.try_clone().expect("clone the client");
    let writing = thread::spawn(move || {
        for i in 0..20u8 {
            writer.write_all(&[i; 100]).expect("write a chunk");
            // Apart enough that each is its own chunk in the proxy.
            thread::sleep(Duration::from_millis(5));
        }
    });
    let echoed = read_exactly(&mut client, 2000);
    let took = start.elapsed();
    writing.join().expect("the writer finished");
    let expected: Vec<u8> = (0..20u8).flat_map(|i| [i; 100]).collect();
    assert_eq!(echoed, expected, "the chunks come back whole and in order");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    // Serialized, 20 chunks at 200 ms each way would take 8 s.
    assert!(took < Duration::from_millis(2000), "{took:?} for 20 chunks");
}

#[test]
fn stall_holds_bytes_and_clear_delivers_them_in_order() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    round_trip(&mut client, b"warm up");

    proxy.set(Request::Stall);
    let sent = pattern(256 * 1024, 7);
    let mut writer = client.try_clone().expect("clone the client");
    let to_send = sent.clone();
    let writing = thread::spawn(move || {
        for piece in to_send.chunks(1000) {
            writer.write_all(piece).expect("write through the proxy");
        }
    });
    assert!(
        nothing_arrives_within(&mut client, Duration::from_millis(500)),
        "bytes came back through a stall"
    );
    // A connection opened during the stall is accepted and stalled too.
    let mut late = proxy.connect();
    late.write_all(b"late")
        .expect("write on the late connection");
    assert!(nothing_arrives_within(
        &mut late,
        Duration::from_millis(300)
    ));
    assert_eq!(proxy.status().counters.connections_open, 2);

    proxy.set(Request::Clear);
    let received = read_exactly(&mut client, sent.len());
    writing.join().expect("the writer finished");
    assert!(received == sent, "the held bytes differ from what was sent");
    assert_eq!(read_exactly(&mut late, 4), b"late");
}

#[test]
fn blackhole_drops_bytes_for_good() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    round_trip(&mut client, b"warm up");

    proxy.set(Request::Blackhole);
    client
        .write_all(b"swallowed")
        .expect("write into the blackhole");
    assert!(nothing_arrives_within(
        &mut client,
        Duration::from_millis(500)
    ));
    let status = proxy.status();
    assert_eq!(status.toxics.fault, Some(Fault::Blackhole));
    assert_eq!(status.counters.bytes_dropped, "swallowed".len() as u64);

    proxy.set(Request::Clear);
    // Only what is sent after the clear comes back.
    round_trip(&mut client, b"after");
    assert!(nothing_arrives_within(
        &mut client,
        Duration::from_millis(200)
    ));
}

/// The proxy closes with SO_LINGER 0, so the peer reads ECONNRESET, not
/// the EOF of an orderly close.
fn assert_reset(stream: &mut std::net::TcpStream, what: &str) {
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("{what}: expected ECONNRESET, got {other:?}"),
    }
}

#[test]
fn reset_resets_open_connections_and_new_ones_until_clear() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut open = proxy.connect();
    round_trip(&mut open, b"warm up");

    proxy.set(Request::Reset);
    assert_reset(&mut open, "the open connection");
    let mut new = proxy.connect();
    assert_reset(&mut new, "a connection opened during the reset");
    let status = proxy.status_once(|s| s.counters.connections_open == 0);
    assert_eq!(status.counters.connections_reset, 2);
    assert_eq!(status.counters.connections_open, 0);

    proxy.set(Request::Clear);
    let mut after = proxy.connect();
    round_trip(&mut after, b"after the clear");
}

#[test]
fn bandwidth_limits_a_transfer_to_about_the_rate() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    round_trip(&mut client, b"warm up");
    proxy.set(Request::Bandwidth(Bandwidth {
        kbytes_per_second: 500,
    }));
    let sent = pattern(1_000_000, 3);
    let start = Instant::now();
    let mut writer = client.try_clone().expect("clone the client");
    let to_send = sent.clone();
    let writing = thread::spawn(move || writer.write_all(&to_send).expect("write 1 MB"));
    let received = read_exactly(&mut client, sent.len());
    let took = start.elapsed();
    writing.join().expect("the writer finished");
    assert!(received == sent);
    // 1 MB at 500 kB/s is 2 s; the last 100 ms slice is not waited for.
    assert!(took >= Duration::from_millis(1800), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    proxy.set(Request::Clear);
    let start = Instant::now();
    let writing = {
        let mut writer = client.try_clone().expect("clone the client");
        let to_send = sent.clone();
        thread::spawn(move || writer.write_all(&to_send).expect("write 1 MB"))
    };
    read_exactly(&mut client, sent.len());
    writing.join().expect("the writer finished");
    assert!(
        start.elapsed() < Duration::from_millis(1800),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn latency_and_bandwidth_combine() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let mut client = proxy.connect();
    proxy.set(latency(100, LatencyDirection::Upstream));
    let status = proxy.set(Request::Bandwidth(Bandwidth {
        kbytes_per_second: 1000,
    }));
    assert!(status.toxics.latency.is_some() && status.toxics.bandwidth.is_some());
    let took = round_trip(&mut client, b"ping");
    assert!(took >= Duration::from_millis(100), "{took:?}");
}

#[test]
fn faults_replace_each_other() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    proxy.set(latency(10, LatencyDirection::Both));
    proxy.set(Request::Stall);
    let status = proxy.set(Request::Blackhole);
    assert_eq!(status.toxics.fault, Some(Fault::Blackhole));
    assert!(
        status.toxics.latency.is_some(),
        "a fault leaves the latency"
    );
    let status = proxy.set(Request::Clear);
    assert_eq!(status.toxics, Default::default());
}

#[test]
fn the_upstream_being_down_closes_the_client_and_not_the_proxy() {
    let port = bss_tests::process::free_port();
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let proxy = RunningProxy::start(upstream);
    let mut client = proxy.connect();
    assert!(
        crate::support::ends(&mut client),
        "the client's connection was not closed"
    );
    let status = proxy.status();
    assert_eq!(status.counters.upstream_connect_failures, 1);

    let _echo = EchoServer::on(port);
    let mut client = connect(proxy.addr);
    round_trip(&mut client, b"the upstream is back");
}

#[test]
fn status_reports_connections_and_bytes() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    for _ in 0..2 {
        let mut gone = proxy.connect();
        round_trip(&mut gone, b"12345");
    }
    let mut open = proxy.connect();
    round_trip(&mut open, b"1234567890");
    // The closed connections end in the proxy a moment after the client.
    let status = proxy.status_once(|s| s.counters.connections_open == 1);
    assert_eq!(status.name, "test");
    assert_eq!(status.counters.connections_accepted, 3);
    assert_eq!(status.counters.connections_open, 1);
    assert_eq!(status.counters.bytes_upstream, 20);
    assert_eq!(status.counters.bytes_downstream, 20);
}

#[test]
fn a_bandwidth_of_zero_is_refused_and_changes_nothing() {
    let echo = EchoServer::start();
    let proxy = RunningProxy::start(echo.addr);
    let refused = bss_faultproxy::client::request(
        &proxy.control,
        &Request::Bandwidth(Bandwidth {
            kbytes_per_second: 0,
        }),
    );
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(proxy.status().toxics.bandwidth, None);
}
