//! OTLP export to a real third-party receiver: a server built from OpenTelemetry's official
//! `opentelemetry-proto` Python package with grpcio (`tests/python/otlp_receiver.py`).
//! `cargo xtask test` makes the venv and sets `SENSOR_TEST_PYTHON`.
use std::time::Duration;

use sensor_proto::v1::EventKind;
use sensor_tests::{
    cgroup::TestCgroup,
    pki::{Ca, Files},
    python::{Receiver, attr, python},
    ready,
    runc::{Container, kube_ids},
    sensor::{Sensor, free_loopback_port},
    subscriber::{Subscriber, arg, flagged, header},
    trigger,
};
use serde_json::Value;

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
/// Long enough for the exporter's backoff (at most about 10 s between tries) to come round.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(40);

fn flagged_in(r: &Value, cgroup_id: u64) -> bool {
    r["event_name"] == "sensor.flagged_syscall"
        && attr(r, "sensor.cgroup.id").as_u64() == Some(cgroup_id)
}

fn lost(records: &[Value], reason: &str) -> u64 {
    records
        .iter()
        .filter(|r| r["event_name"] == "sensor.lost" && attr(r, "sensor.lost.reason") == reason)
        .map(|r| attr(r, "sensor.lost.count").as_u64().unwrap_or(0))
        .sum()
}

/// `sensor.export.seq` of every record: 1, 2, 3, ... with no gap and no repeat.
fn assert_consecutive(records: &[Value]) {
    let seqs: Vec<u64> = records
        .iter()
        .map(|r| {
            attr(r, "sensor.export.seq")
                .as_u64()
                .expect("sensor.export.seq")
        })
        .collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "export sequence numbers");
}

#[tokio::test]
async fn the_flagged_calls_of_a_runc_container_arrive_with_their_attributes() {
    if !ready() {
        return;
    }
    let Some(python) = python() else { return };
    let mut rx = Receiver::start(&python, 0, &[]);
    let sensor = Sensor::start(&[
        "--no-cri",
        "--node-name",
        "otlp-test-node",
        "--otlp-endpoint",
        &rx.url(),
        "--otlp-header",
        "authorization=Bearer t0ken",
        "--otlp-flush-ms",
        "20",
    ])
    .await;
    let (pod_uid, id) = kube_ids(0x0e1);
    let c = Container::new(
        &format!("sensor-e2e-otlp-{}", std::process::id()),
        &format!("/kubepods/besteffort/pod{pod_uid}/{id}"),
        "mount -t tmpfs shm /mnt && umount /mnt",
    );
    let cgroup_id = c.cgroup_id();
    let mut sub =
        Subscriber::for_cgroup(&sensor.addr, cgroup_id, &[EventKind::FlaggedSyscall]).await;
    let out = c.run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = sub
        .expect_event("the tmpfs mount over gRPC", |ev| {
            flagged(ev).is_some_and(|s| s.name == "mount")
                && arg(ev, "target") == Some(("/mnt", false))
        })
        .await;

    let is_mount = |r: &Value| {
        flagged_in(r, cgroup_id)
            && attr(r, "sensor.syscall") == "mount"
            && attr(r, "sensor.arg.target") == "/mnt"
    };
    rx.until("the tmpfs mount over OTLP", EXPORT_TIMEOUT, |rs| {
        rs.iter().any(is_mount)
    });
    let r = rx
        .records
        .iter()
        .find(|r| is_mount(r))
        .expect("found")
        .clone();
    let h = header(&ev);
    // The same event as the gRPC subscriber's, named the same way.
    assert_eq!(attr(&r, "sensor.seq").as_u64(), Some(h.seq), "{r:#}");
    assert_eq!(
        attr(&r, "sensor.instance_id"),
        h.sensor_instance_id.as_str()
    );
    assert_eq!(attr(&r, "container.id"), id.as_str());
    assert_eq!(attr(&r, "k8s.pod.uid"), pod_uid.as_str());
    assert_eq!(attr(&r, "process.pid").as_u64(), Some(u64::from(h.pid)));
    assert_eq!(attr(&r, "process.executable.name"), "mount");
    assert_eq!(attr(&r, "sensor.outcome"), "succeeded");
    assert_eq!(attr(&r, "sensor.arg.fstype"), "tmpfs");
    assert_eq!(attr(&r, "sensor.syscall.abi"), "x86_64");
    let severity = flagged(&ev).expect("flagged").severity;
    let (number, text) = match sensor_proto::v1::Severity::try_from(severity) {
        Ok(sensor_proto::v1::Severity::Low) => (9, "low"),
        Ok(sensor_proto::v1::Severity::Medium) => (13, "medium"),
        Ok(sensor_proto::v1::Severity::High) => (17, "high"),
        Ok(sensor_proto::v1::Severity::Critical) => (21, "critical"),
        other => panic!("mount has no severity: {other:?}"),
    };
    assert_eq!(
        (r["severity_number"].as_u64(), r["severity_text"].as_str()),
        (Some(number), Some(text))
    );
    assert!(
        r["body"].as_str().is_some_and(|b| b.contains("mount")),
        "{r:#}"
    );
    assert_eq!(r["resource"]["host.name"], "otlp-test-node");
    assert_eq!(r["resource"]["service.name"], "sensor");
    assert_eq!(r["headers"]["authorization"], "Bearer t0ken");

    // Execs go too (by default), with the exec's own command line; forks do not.
    rx.until("the container's mount exec", EXPORT_TIMEOUT, |rs| {
        rs.iter().any(|r| {
            r["event_name"] == "sensor.exec"
                && attr(r, "container.id") == id.as_str()
                && attr(r, "process.command_line") == "mount -t tmpfs shm /mnt"
        })
    });
    assert!(!rx.records.iter().any(|r| r["event_name"] == "sensor.fork"));
    assert_consecutive(&rx.records);
    assert_eq!(
        sensor.metric("sensor_export_lost_total{reason=\"queue_full\"}"),
        0
    );
}

#[tokio::test]
async fn an_endpoint_down_then_back_gets_the_loss_in_band_and_in_the_metric() {
    if !ready() {
        return;
    }
    let Some(python) = python() else { return };
    let cg = TestCgroup::new("otlp-down");
    let port = free_loopback_port();
    let url = format!("http://127.0.0.1:{port}");
    let sensor = Sensor::start(&[
        "--no-cri",
        "--otlp-endpoint",
        &url,
        "--otlp-kind",
        "flagged",
        "--otlp-cgroup",
        &cg.id().to_string(),
        "--otlp-queue",
        "16",
        "--otlp-flush-ms",
        "0",
    ])
    .await;
    const CALLS: u64 = 300;
    trigger(TRIGGER, &cg, &["umount-storm", &CALLS.to_string()]);
    sensor_tests::until("the exporter to have tried and failed", || async {
        sensor.metric("sensor_export_retries_total") > 0
    })
    .await;

    let mut rx = Receiver::start(&python, port, &[]);
    let lost_now = |rs: &[Value]| lost(rs, "queue_full");
    let ours = |rs: &[Value]| rs.iter().filter(|r| flagged_in(r, cg.id())).count() as u64;
    rx.until(
        "every call exported or announced lost",
        EXPORT_TIMEOUT,
        |rs| ours(rs) + lost_now(rs) >= CALLS,
    );
    let (got, gone) = (ours(&rx.records), lost_now(&rx.records));
    assert!(
        gone > 0 && got > 0,
        "exported {got}, lost {gone}: {:#?}\n{}",
        rx.records,
        sensor.log_text()
    );
    // Exactly: the queue holds only what the filter keeps.
    assert_eq!(got + gone, CALLS, "exported {got}, lost {gone}");
    assert_eq!(
        sensor.metric("sensor_export_lost_total{reason=\"queue_full\"}"),
        gone,
        "the metric and the in-band notices agree"
    );
    let mut seqs: Vec<u64> = rx
        .records
        .iter()
        .filter(|r| flagged_in(r, cg.id()))
        .map(|r| attr(r, "sensor.seq").as_u64().expect("seq"))
        .collect();
    seqs.dedup();
    assert_eq!(seqs.len() as u64, got, "no event twice, in order");
    assert_consecutive(&rx.records);
}

#[tokio::test]
async fn an_endpoint_that_hangs_does_not_slow_the_grpc_subscribers() {
    if !ready() {
        return;
    }
    let Some(python) = python() else { return };
    let cg = TestCgroup::new("otlp-slow");
    let mut rx = Receiver::start(&python, 0, &["--hold"]);
    let sensor = Sensor::start(&[
        "--no-cri",
        "--otlp-endpoint",
        &rx.url(),
        "--otlp-kind",
        "flagged",
        "--otlp-cgroup",
        &cg.id().to_string(),
        "--otlp-timeout-seconds",
        "300",
    ])
    .await;
    let mut sub = Subscriber::for_cgroup(&sensor.addr, cg.id(), &[EventKind::FlaggedSyscall]).await;
    const CALLS: usize = 200;
    trigger(TRIGGER, &cg, &["umount-storm", &CALLS.to_string()]);
    for i in 0..CALLS {
        sub.expect_event(&format!("umount2 #{i} over gRPC"), |ev| {
            flagged(ev).is_some_and(|s| s.name == "umount2")
        })
        .await;
    }
    rx.poll();
    assert!(
        rx.records.is_empty(),
        "the endpoint was holding every export, yet received {:?}",
        rx.records
    );

    rx.release();
    rx.until(
        "every call, once the endpoint answers",
        EXPORT_TIMEOUT,
        |rs| rs.iter().filter(|r| flagged_in(r, cg.id())).count() >= CALLS,
    );
    assert_eq!(
        rx.records
            .iter()
            .filter(|r| r["event_name"] == "sensor.lost")
            .count(),
        0
    );
    assert_eq!(
        sensor.metric("sensor_export_lost_total{reason=\"queue_full\"}"),
        0
    );
}

#[tokio::test]
async fn export_over_mutual_tls_reaches_a_receiver_that_requires_client_certificates() {
    if !ready() {
        return;
    }
    let Some(python) = python() else { return };
    let ca = Ca::new("otlp-test-ca");
    let files = Files::new();
    let server = ca.issue("collector", true, &[]);
    let client = ca.issue("sensor-node-1", false, &[]);
    let mut rx = Receiver::start(
        &python,
        0,
        &[
            "--tls",
            &files.write("collector.pem", &server.cert),
            &files.write("collector.key", &server.key),
            &files.write("ca.pem", &ca.pem),
        ],
    );
    let cg = TestCgroup::new("otlp-mtls");
    let url = format!("https://127.0.0.1:{}", rx.port);
    let sensor = Sensor::start(&[
        "--no-cri",
        "--otlp-endpoint",
        &url,
        "--otlp-ca",
        &files.write("ca.pem", &ca.pem),
        "--otlp-client-cert",
        &files.write("client.pem", &client.cert),
        "--otlp-client-key",
        &files.write("client.key", &client.key),
        "--otlp-kind",
        "flagged",
        "--otlp-cgroup",
        &cg.id().to_string(),
    ])
    .await;
    trigger(TRIGGER, &cg, &["umount-storm", "3"]);
    rx.until("three calls over mutual TLS", EXPORT_TIMEOUT, |rs| {
        rs.iter().filter(|r| flagged_in(r, cg.id())).count() >= 3
    });
    let received = rx.records.len() as u64;
    sensor_tests::until("the sensor to count what the receiver took", || async {
        sensor.metric("sensor_export_records_total") == received
    })
    .await;
}

#[tokio::test]
async fn batches_given_up_after_their_retries_are_announced_and_leave_no_numbering_gap() {
    if !ready() {
        return;
    }
    let Some(python) = python() else { return };
    let cg = TestCgroup::new("otlp-giveup");
    let port = free_loopback_port();
    let sensor = Sensor::start(&[
        "--no-cri",
        "--otlp-endpoint",
        &format!("http://127.0.0.1:{port}"),
        "--otlp-kind",
        "flagged",
        "--otlp-cgroup",
        &cg.id().to_string(),
        "--otlp-retry-seconds",
        "1",
    ])
    .await;
    trigger(TRIGGER, &cg, &["umount-storm", "20"]);
    let given_up = "sensor_export_lost_total{reason=\"endpoint_unavailable\"}";
    sensor_tests::until("every batch given up", || async {
        sensor.metric(given_up) >= 20
    })
    .await;

    let mut rx = Receiver::start(&python, port, &[]);
    trigger(TRIGGER, &cg, &["umount-storm", "5"]);
    rx.until(
        "the notice and the five calls made since",
        EXPORT_TIMEOUT,
        |rs| {
            lost(rs, "endpoint_unavailable") >= 20
                && rs.iter().filter(|r| flagged_in(r, cg.id())).count() >= 5
        },
    );
    assert_eq!(lost(&rx.records, "endpoint_unavailable"), 20);
    assert_eq!(sensor.metric(given_up), 20);
    assert_eq!(
        rx.records.iter().filter(|r| flagged_in(r, cg.id())).count(),
        5
    );
    assert_consecutive(&rx.records);
}
