//! What operators and tools see: gRPC health, server reflection (v1 and v1alpha), the Status
//! RPC, and Prometheus metrics whose values match what the test caused. (Alone in its test
//! binary: the flagged-event counts are node-wide.)
use sensor_proto::v1::{StatusRequest, sensor_service_client::SensorServiceClient};
use sensor_tests::{
    cgroup::TestCgroup,
    ready,
    sensor::{Sensor, http_get, sample},
    subscriber::{Subscriber, flagged, flagged_in},
    trigger,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn scrape(sensor: &Sensor) -> String {
    let (code, body) = http_get(&sensor.metrics, "/metrics").expect("scrape /metrics");
    assert_eq!(code, 200, "{body}");
    body
}

async fn channel(addr: String) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(addr)
        .expect("address")
        .connect()
        .await
        .expect("connect")
}

macro_rules! list_services {
    ($module:path, $addr:expr) => {{
        use $module as r;
        let mut client =
            r::server_reflection_client::ServerReflectionClient::new(channel($addr).await);
        let request = r::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(r::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection call")
            .into_inner();
        let msg = responses
            .message()
            .await
            .expect("reflection answer")
            .expect("one message");
        match msg.message_response {
            Some(r::server_reflection_response::MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("not a service list: {other:?}"),
        }
    }};
}

#[tokio::test]
async fn health_reflection_status_and_metrics_tell_the_truth() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("ops");
    let sensor = Sensor::start(&["--no-cri"]).await;
    assert_eq!(
        http_get(&sensor.metrics, "/healthz").expect("healthz").0,
        200
    );
    assert_eq!(http_get(&sensor.metrics, "/readyz").expect("readyz").0, 200);

    let mut health = HealthClient::new(channel(sensor.addr.clone()).await);
    for service in ["", "sensor.v1.SensorService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
    for services in [
        list_services!(tonic_reflection::pb::v1, sensor.addr.clone()),
        list_services!(tonic_reflection::pb::v1alpha, sensor.addr.clone()),
    ] {
        assert!(
            services.iter().any(|s| s == "sensor.v1.SensorService"),
            "{services:?}"
        );
        assert!(
            services.iter().any(|s| s == "grpc.health.v1.Health"),
            "{services:?}"
        );
    }

    // Metrics move by exactly what we cause.
    let flagged_series = "sensor_events_total{kind=\"flagged_syscall\"}";
    let before = sample(&scrape(&sensor), flagged_series);
    let request = flagged_in(cg.id());
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");
    const CALLS: u64 = 7;
    trigger(TRIGGER, &cg, &["umount-storm", &CALLS.to_string()]);
    for _ in 0..CALLS {
        sub.expect_event("a flagged umount2", |ev| {
            flagged(ev).is_some_and(|s| s.name == "umount2")
        })
        .await;
    }
    let body = scrape(&sensor);
    assert_eq!(sample(&body, flagged_series) - before, CALLS, "{body}");
    assert!(sample(&body, "sensor_subscribers") >= 1);
    assert_eq!(sample(&body, "sensor_ready"), 1);
    assert_eq!(
        sample(
            &body,
            "sensor_events_lost_total{reason=\"subscriber_queue\"}"
        ),
        0
    );
    assert!(
        body.contains("sensor_map_capacity{map=\"LEARNED\"}"),
        "{body}"
    );

    // Status says the same.
    let mut client = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("client");
    let status = client
        .status(StatusRequest {})
        .await
        .expect("Status")
        .into_inner();
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    // What is attached, as it is: every entry-side program once, and the per-syscall exit
    // program once with the number of syscall exits it is on (execve, execveat and the
    // forbidden calls this kernel has exit tracepoints for).
    let entry_side = sensor_common::PROGRAMS.iter().filter(|p| !p.exit_side);
    assert_eq!(
        status.programs.len(),
        entry_side.clone().count() + 1,
        "{:?}",
        status.programs
    );
    for p in entry_side {
        assert!(
            status
                .programs
                .iter()
                .any(|s| s.starts_with(&format!("{}: ", p.name))),
            "{} is not said to be attached: {:?}",
            p.name,
            status.programs
        );
    }
    let exits: u32 = status
        .programs
        .iter()
        .find_map(|s| {
            s.strip_prefix("sys_exit_call: tracepoint/syscalls/sys_exit_* (")?
                .strip_suffix(" syscalls)")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no per-syscall exit entry: {:?}", status.programs));
    assert!(exits > 2, "{:?}", status.programs);
    assert!(status.subscribers >= 1);
    assert!(
        status.kernel.starts_with(|c: char| c.is_ascii_digit()),
        "{}",
        status.kernel
    );
    let counted = status.counters["sensor_events_total{kind=flagged_syscall}"];
    assert_eq!(counted - before, CALLS);
    // The settings in effect: the defaults of what this sensor was not given, and what it was.
    let setting = |name: &str| status.settings.get(name).map(String::as_str);
    let default_delay = sensor_common::LAZY_WAKE_NS_DEFAULT / 1_000_000;
    assert_eq!(
        setting("process-event-delay-ms"),
        Some(default_delay.to_string().as_str()),
        "{:?}",
        status.settings
    );
    assert_eq!(setting("exit-hook"), Some("per-syscall"));
    assert_eq!(setting("policy"), Some("built-in"));
    assert_eq!(setting("cri-socket"), Some("off (--no-cri)"));
    let workers: usize = setting("worker-threads")
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{:?}", status.settings));
    assert!(workers >= 1, "{:?}", status.settings);
}
