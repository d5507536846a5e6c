//! A collector built with another gRPC implementation: Python grpcio, its stubs generated from
//! proto/ by grpcio-tools at test time. It subscribes with filters and gets exactly the
//! matching events. `cargo xtask test` makes the venv and sets `SENSOR_TEST_PYTHON`.
use std::{
    process::{Command, Stdio},
    time::Duration,
};

use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::{ScratchDir, TestCgroup},
    python::python,
    ready,
    sensor::Sensor,
    trigger,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

#[tokio::test]
async fn a_python_grpcio_collector_gets_exactly_the_matching_events() {
    if !ready() {
        return;
    }
    let Some(python) = python() else { return };
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let stubs = ScratchDir::new("pystubs");
    let generated = Command::new(&python)
        .args([
            "-m",
            "grpc_tools.protoc",
            "-I",
            &format!("{root}/proto/proto"),
        ])
        .arg(format!("--python_out={}", stubs.as_str()))
        .arg(format!("--grpc_python_out={}", stubs.as_str()))
        .arg(format!("{root}/proto/proto/sensor/v1/sensor.proto"))
        .output()
        .expect("run grpc_tools.protoc");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );

    let cg = TestCgroup::new("interop");
    let target = ScratchDir::new("mnt");
    let sensor = Sensor::start(&["--no-cri"]).await;
    let mut client = Command::new(&python)
        .arg(format!("{root}/tests/python/subscribe.py"))
        .args([
            stubs.as_str(),
            sensor.addr.trim_start_matches("http://"),
            "2",
        ])
        .arg(cg.id().to_string())
        .arg("mount")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python collector");
    let lines = sensor_tests::lines_of(client.stdout.take().expect("stdout"));
    let next = |what: &str| {
        lines
            .recv_timeout(EVENT_TIMEOUT)
            .unwrap_or_else(|_| panic!("the Python collector printed no {what}"))
    };
    assert_eq!(next("READY"), "READY");

    // A mount, two umount2 calls the syscall filter leaves out, another mount.
    let first = trigger(TRIGGER, &cg, &["mount-fail", target.as_str()]);
    trigger(TRIGGER, &cg, &["umount-storm", "2"]);
    let second = trigger(TRIGGER, &cg, &["mount-fail", target.as_str()]);
    let events: Vec<serde_json::Value> = (0..2)
        .map(|_| serde_json::from_str(&next("event")).expect("a JSON line"))
        .collect();
    for (ev, pid) in events.iter().zip([first, second]) {
        assert_eq!(ev["syscall"], "mount", "{events:?}");
        assert_eq!(ev["pid"], pid, "{events:?}");
        assert_eq!(ev["cgroup_id"], cg.id(), "{events:?}");
        assert_eq!(ev["errno"], "ENODEV", "{events:?}");
    }
    let status = client.wait().expect("wait for the collector");
    assert!(status.success(), "the Python collector failed: {status}");
    assert!(
        lines.recv_timeout(Duration::from_millis(1)).is_err(),
        "more lines after exit"
    );
}
