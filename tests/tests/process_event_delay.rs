//! `--process-event-delay-ms`: the kernel lets a process event wake the reader at most once
//! per that interval, and the reader drains again that long after it read one. Set long, the
//! two must still agree: every exec of a burst arrives, and so does one made after a pause
//! shorter than the interval (it wakes nobody: only the reader's own drain finds it).
use sensor_proto::v1::{EventKind, StatusRequest, sensor_service_client::SensorServiceClient};
use sensor_tests::{
    cgroup::TestCgroup,
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, exec},
    trigger,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const BURST: usize = 20;

/// The first argument of an exec event, if it has one.
fn first_arg(ev: &sensor_proto::v1::Event) -> Option<&[u8]> {
    exec(ev)?.argv.get(1).map(Vec::as_slice)
}

#[tokio::test]
async fn a_long_process_event_delay_still_delivers_every_exec() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("event-delay");
    let sensor = Sensor::start(&["--no-cri", "--process-event-delay-ms", "1000"]).await;
    let mut sub = Subscriber::for_cgroup(&sensor.addr, cg.id(), &[EventKind::Exec]).await;
    let true_bin = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("true");
    // The pause is the workload's shape: the last exec comes 300 ms after the burst, inside
    // the interval that the burst's first exec opened.
    let script = format!(
        "i=0; while [ $i -lt {BURST} ]; do {true_bin} burst; i=$((i+1)); done; sleep 0.3; {true_bin} last"
    );
    trigger(TRIGGER, &cg, &["exec", "/bin/sh", "-c", &script]);
    sub.expect_event("the exec after the pause", |ev| {
        first_arg(ev) == Some(b"last".as_slice())
    })
    .await;
    let burst = sub
        .events()
        .filter(|ev| first_arg(ev) == Some(b"burst".as_slice()))
        .count();
    assert_eq!(
        burst, BURST,
        "execs of the burst delivered: {:#?}",
        sub.seen
    );
    // `sensor status` says which delay is in effect.
    let status = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("client")
        .status(StatusRequest {})
        .await
        .expect("Status")
        .into_inner();
    assert_eq!(
        status
            .settings
            .get("process-event-delay-ms")
            .map(String::as_str),
        Some("1000"),
        "{:?}",
        status.settings
    );
}
