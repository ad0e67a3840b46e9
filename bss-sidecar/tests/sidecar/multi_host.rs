//! A database URL that lists several hosts, as clients of a failover
//! cluster list them: the replication source streams from the first host
//! that lets it, here after one that refuses connections.

use std::str::FromStr;
use std::time::Duration;

use crate::support::*;
use bss_tests::redis_server::RedisServer;

#[test]
fn the_source_streams_from_the_first_host_that_lets_it_after_one_that_is_down() {
    let devdb = tokio_postgres::Config::from_str(&bss_tests::database_url()).unwrap();
    let host = match &devdb.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("the devdb is on TCP, not {other:?}"),
    };
    let port = devdb.get_ports()[0];
    let user = devdb.get_user().unwrap();
    let dbname = devdb.get_dbname().unwrap_or(user);
    // A port nothing listens on: its connection is refused.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!(
        "host=127.0.0.1,{host} port={down},{port} user={user} dbname={dbname} \
         target_session_attrs=read-write"
    );

    let redis_server = RedisServer::start();
    let slot = Slot::new("multihost");
    let spool = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start_with_url(
        &SidecarArgs {
            spool_dir: &spool.path().join("spool"),
            slot: &slot.name,
            kafka_brokers: None,
            redis_url: Some(&redis_server.url()),
            spool_max_events: None,
            config: None,
        },
        &url,
    );
    let streamed_from = format!("{host}:{port}");
    let log = std::fs::read_to_string(&sidecar.log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("replication streaming") && l.contains(&streamed_from)),
        "no 'replication streaming' from {streamed_from}; log:\n{}",
        sidecar.log_tail()
    );

    let stream = format!("{}-1", bss_tests::unique("mh").replace(['-', '_'], ""));
    append_range(&mut bss_tests::session(), &stream, 1, 20);
    let mut redis = redis::Client::open(redis_server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    sidecar.wait_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        |_| format!("{stream} not at version 20 in Redis after 60 s"),
        |_| {
            let v: Option<i64> = redis::cmd("HGET")
                .arg(format!("bss:agg:{stream}"))
                .arg("version")
                .query(&mut redis)
                .unwrap();
            v == Some(20)
        },
    );
    assert!(sidecar.stop().success());
}
