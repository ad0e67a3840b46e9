//! The command line as chaos/run.sh uses it: `serve` as its own process,
//! the client subcommands against its control socket, their exit codes,
//! and the socket file's life.

use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{connect, round_trip, EchoServer};
use bss_tests::process::{free_port, wait_for_port, ChildGuard};

const BIN: &str = env!("CARGO_BIN_EXE_bss-faultproxy");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run bss-faultproxy")
}

fn serve(listen_port: u16, upstream: &str, control: &Path) -> ChildGuard {
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{listen_port}")])
        .args(["--upstream", upstream, "--name", "pg", "--control"])
        .arg(control)
        .env("BSS_LOG", "info")
        .stdout(Stdio::null())
        .spawn()
        .expect("start bss-faultproxy serve");
    ChildGuard::new("bss-faultproxy", child)
}

fn exit_within(proxy: &mut ChildGuard, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = proxy.child.try_wait().expect("poll the proxy") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn control_arg(control: &Path) -> &str {
    control.to_str().expect("a UTF-8 temporary path")
}

#[test]
fn a_client_subcommand_against_a_missing_socket_exits_2_with_a_message() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("nobody.sock");
    for args in [
        vec!["status", "--control", control_arg(&missing)],
        vec!["stall", "--control", control_arg(&missing)],
        vec!["latency", "--control", control_arg(&missing), "--ms", "5"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cannot reach") && stderr.contains("nobody.sock"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn serve_takes_the_subcommands_and_removes_its_socket_on_sigterm() {
    let echo = EchoServer::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let control = dir.path().join("pg.sock");
    // A stale socket file, as a killed proxy leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&control).expect("bind a socket"));
    assert!(control.exists());
    let port = free_port();
    let mut proxy = serve(port, &echo.addr.to_string(), &control);
    wait_for_port(port, "bss-faultproxy", Duration::from_secs(10));
    let c = control_arg(&control);

    let set = run(&[
        "latency",
        "--control",
        c,
        "--ms",
        "100",
        "--jitter-ms",
        "10",
        "--direction",
        "upstream",
    ]);
    assert!(set.status.success(), "{set:?}");
    let mut client = connect(([127, 0, 0, 1], port).into());
    let took = round_trip(&mut client, b"ping");
    assert!(took >= Duration::from_millis(90), "{took:?}");

    let out = run(&["status", "--control", c]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 status");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("JSON status");
    assert_eq!(status["name"], "pg");
    assert_eq!(status["toxics"]["latency"]["ms"], 100);
    assert_eq!(status["toxics"]["latency"]["jitter_ms"], 10);
    assert_eq!(status["toxics"]["latency"]["direction"], "upstream");
    // wait_for_port's probe was the first.
    assert_eq!(status["connections_accepted"], 2);
    assert_eq!(status["connections_open"], 1);
    assert_eq!(status["bytes_upstream"], 4);
    assert_eq!(status["bytes_downstream"], 4);

    for (args, fault) in [
        (vec!["stall"], "stall"),
        (vec!["blackhole"], "blackhole"),
        (vec!["reset"], "reset"),
    ] {
        let mut args = args;
        args.extend(["--control", c]);
        assert!(run(&args).status.success(), "{args:?}");
        let out = run(&["status", "--control", c]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
        assert_eq!(status["toxics"]["fault"], fault);
    }
    assert!(
        run(&["bandwidth", "--control", c, "--kbytes-per-second", "10"])
            .status
            .success()
    );
    let zero = run(&["bandwidth", "--control", c, "--kbytes-per-second", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{zero:?}");
    assert!(run(&["clear", "--control", c]).status.success());
    let out = run(&["status", "--control", c]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(status["toxics"]["latency"], serde_json::Value::Null);
    assert_eq!(status["toxics"]["bandwidth"], serde_json::Value::Null);
    assert_eq!(status["toxics"]["fault"], serde_json::Value::Null);

    let killed = Command::new("kill")
        .args(["-TERM", &proxy.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let exited = exit_within(&mut proxy, Duration::from_secs(10));
    assert!(exited.success(), "{exited:?}");
    assert!(!control.exists(), "the control socket outlived the proxy");
}

#[test]
fn serve_refuses_to_remove_a_control_path_that_is_not_a_socket() {
    let echo = EchoServer::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let control = dir.path().join("not-a-socket");
    std::fs::write(&control, "keep me").expect("write a file");
    let mut proxy = serve(free_port(), &echo.addr.to_string(), &control);
    let exited = exit_within(&mut proxy, Duration::from_secs(10));
    assert!(!exited.success());
    assert_eq!(
        std::fs::read_to_string(&control).expect("the file is still there"),
        "keep me"
    );
}
