//! Who gets in, and how: mTLS with an allow list, the unix socket, the stream limit, and
//! resuming a subscription from the replay buffer.
use sensor_proto::v1::{
    GetEventsRequest, LossReason, StatusRequest, get_events_response::Item,
    sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::{ScratchDir, TestCgroup},
    pki::{Ca, Files, tls_client, tls_handshake},
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, flagged, flagged_in, header},
    trigger,
};
use tonic::Code;

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

#[tokio::test]
async fn mtls_admits_only_allowed_clients_of_the_right_ca() {
    if !ready() {
        return;
    }
    let (ca, stranger_ca) = (Ca::new("sensor test CA"), Ca::new("some other CA"));
    let files = Files::new();
    let server = ca.issue("sensor", true, &[]);
    let allowed = ca.issue("collector-a", false, &["collector-a.example"]);
    let not_listed = ca.issue("collector-b", false, &[]);
    let wrong_ca = stranger_ca.issue("collector-a", false, &[]);
    // An email name that a bare entry's glob would match: bare entries are CN or DNS only.
    let by_email = ca.issue("intruder", false, &["email:collector-a@evil.example"]);
    let ops = ca.issue("ops-tool", false, &["email:ops@example.com"]);
    let mut args = files.mtls_args(&server, &ca);
    args.extend(
        [
            "--no-cri",
            "--client-allow",
            "collector-a*,email:ops@example.com",
        ]
        .map(String::from),
    );
    let sensor = Sensor::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let status = |id| {
        let (addr, ca) = (sensor.addr.clone(), ca.pem.clone());
        async move {
            let mut client = tls_client(&addr, &ca, id).await?;
            client
                .status(StatusRequest {})
                .await
                .map(|r| r.into_inner())
        }
    };
    // The TLS layer itself refuses a client without a certificate, and one of another CA.
    let handshake = |id| tls_handshake(&sensor.addr, &ca.pem, id);
    let no_cert = handshake(None)
        .await
        .expect_err("a client without a certificate got in");
    assert!(
        no_cert.contains("AlertReceived(CertificateRequired)"),
        "{no_cert}"
    );
    let foreign = handshake(Some(&wrong_ca))
        .await
        .expect_err("a foreign CA's client got in");
    assert!(foreign.contains("AlertReceived(UnknownCA)"), "{foreign}");
    handshake(Some(&allowed))
        .await
        .expect("the allowed client's handshake");
    // And gRPC calls over such connections fail.
    status(None)
        .await
        .expect_err("no client certificate was accepted");
    status(Some(&wrong_ca))
        .await
        .expect_err("a foreign CA's client was accepted");
    let refused = status(Some(&not_listed))
        .await
        .expect_err("an unlisted client was accepted");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("collector-b"),
        "{}",
        refused.message()
    );
    let refused = status(Some(&by_email))
        .await
        .expect_err("an email SAN matched a bare entry");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    status(Some(&ops))
        .await
        .expect("a typed email entry admits its email name");
    let ok = status(Some(&allowed))
        .await
        .expect("the allowed client was refused");
    assert!(!ok.programs.is_empty());

    // Plain text on the TLS port gets nowhere either.
    let plain = SensorServiceClient::connect(sensor.addr.clone()).await;
    if let Ok(mut c) = plain {
        assert!(
            c.status(StatusRequest {}).await.is_err(),
            "plain text was served"
        );
    }
}

#[tokio::test]
async fn the_unix_socket_is_private_and_serves_the_api() {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    if !ready() {
        return;
    }
    let dir = ScratchDir::new("sock");
    let socket = dir.path().join("sensor.sock");
    let sensor = Sensor::start(&["--no-cri", "--grpc-unix", socket.to_str().unwrap()]).await;
    let meta = std::fs::metadata(&socket).expect("the socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let status = sensor_tests::sensor::status_over_unix(&socket);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    let status = sensor.terminate(std::time::Duration::from_secs(10));
    assert!(status.success());
    assert!(!socket.exists(), "the socket was left behind");
}

#[tokio::test]
async fn streams_beyond_the_limit_are_refused_with_resource_exhausted() {
    if !ready() {
        return;
    }
    // The terminal view is off (--quiet): both permits are for gRPC streams.
    let sensor = Sensor::start(&["--no-cri", "--max-subscribers", "2"]).await;
    let _a = Subscriber::connect(&sensor.addr, GetEventsRequest::default())
        .await
        .expect("1st");
    let _b = Subscriber::connect(&sensor.addr, GetEventsRequest::default())
        .await
        .expect("2nd");
    let third = Subscriber::connect(&sensor.addr, GetEventsRequest::default()).await;
    let e = third.err().expect("a third stream was accepted");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("--max-subscribers"), "{}", e.message());
    let bad = GetEventsRequest {
        syscalls: vec!["no_such_call".into()],
        ..Default::default()
    };
    drop(_a);
    let e = Subscriber::connect(&sensor.addr, bad)
        .await
        .err()
        .expect("a bad filter was accepted");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("syscalls:"), "{}", e.message());
}

#[tokio::test]
async fn a_resumed_subscription_gets_what_it_missed_exactly_once() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("resume");
    let sensor = Sensor::start(&["--no-cri"]).await;
    let request = flagged_in(cg.id());
    let umount = |ev: &sensor_proto::v1::Event| flagged(ev).is_some_and(|s| s.name == "umount2");
    let mut first = Subscriber::connect(&sensor.addr, request.clone())
        .await
        .expect("subscribe");
    trigger(TRIGGER, &cg, &["umount-storm", "1"]);
    let seen = first.expect_event("the first call", umount).await;
    let (last_seq, instance) = (header(&seen).seq, header(&seen).sensor_instance_id.clone());
    drop(first);

    // Missed while disconnected.
    trigger(TRIGGER, &cg, &["umount-storm", "3"]);
    // A live subscriber tells us when they have been published.
    let mut live = Subscriber::connect(&sensor.addr, request.clone())
        .await
        .expect("live");
    trigger(TRIGGER, &cg, &["umount-storm", "1"]);
    let marker = header(&live.expect_event("the marker", umount).await).seq;

    let resumed = GetEventsRequest {
        resume_after_seq: last_seq,
        resume_instance_id: instance,
        ..request
    };
    let mut sub = Subscriber::connect(&sensor.addr, resumed)
        .await
        .expect("resume");
    let mut got = Vec::new();
    while got.last().is_none_or(|&s| s < marker) {
        let msg = sub
            .next_within(EVENT_TIMEOUT)
            .await
            .expect("replay stalled");
        match msg.item {
            Some(Item::Event(ev)) => got.push(header(&ev).seq),
            Some(Item::Lost(l)) => {
                assert_ne!(
                    l.reason,
                    LossReason::ReplayExpired as i32,
                    "the buffer lost them"
                )
            }
            None => {}
        }
    }
    assert_eq!(
        got.len(),
        4,
        "three missed calls and the marker, once each: {got:?}"
    );
    assert!(
        got.windows(2).all(|w| w[0] < w[1]) && got[0] > last_seq,
        "{got:?}"
    );
}
