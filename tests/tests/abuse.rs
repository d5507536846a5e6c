//! Clients that misbehave: bytes that are not gRPC, 500 event streams at once, requests faster
//! than their rate. The sensor refuses what is over a limit with RESOURCE_EXHAUSTED and keeps
//! serving everyone else.
use std::{
    io::{Read as _, Write as _},
    time::{Duration, Instant},
};

use sensor_proto::v1::{
    GetEventsRequest, StatusRequest, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    cgroup::ScratchDir,
    pki::{Ca, Files, tls_client},
    ready,
    sensor::Sensor,
};
use tonic::{Code, transport::Endpoint};

const MAX: usize = 64;
const STREAMS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_500_streams_do_not_take_it_down() {
    if !ready() {
        return;
    }
    // The request rate is not what this test is about (500 requests from one address).
    let sensor = Sensor::start(&[
        "--no-cri",
        "--max-subscribers",
        &MAX.to_string(),
        "--max-requests-per-second",
        "0",
    ])
    .await;
    let tcp = sensor.addr.trim_start_matches("http://").to_owned();

    // Not gRPC: an HTTP/1 request, random bytes, an HTTP/2 preface with a broken frame.
    let payloads: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[0xff; 4096],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\xff\xff\xff\xff\xff\xff",
    ];
    for payload in payloads {
        let mut s = std::net::TcpStream::connect(&tcp).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(payload);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink); // the server answers with an error or closes
    }

    // 500 streams over 10 connections.
    let mut channels = Vec::new();
    for _ in 0..10 {
        let ch = Endpoint::from_shared(sensor.addr.clone())
            .unwrap()
            .connect()
            .await
            .expect("connect");
        channels.push(ch);
    }
    let calls = (0..STREAMS).map(|i| {
        let mut client = SensorServiceClient::new(channels[i % channels.len()].clone());
        async move {
            client
                .get_events(GetEventsRequest::default())
                .await
                .map(|r| r.into_inner())
        }
    });
    let results = futures_join_all(calls).await;
    let (mut open, mut refused) = (Vec::new(), 0);
    for r in results {
        match r {
            Ok(stream) => open.push(stream),
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                refused += 1;
            }
        }
    }
    assert_eq!((open.len(), refused), (MAX, STREAMS - MAX));

    // Everyone else is still served.
    let mut client = SensorServiceClient::new(channels[0].clone());
    let status = client
        .status(StatusRequest {})
        .await
        .expect("Status under load")
        .into_inner();
    assert_eq!(status.subscribers as usize, MAX);
    assert_eq!(
        status.counters["sensor_api_refused_total{reason=streams}"] as usize,
        STREAMS - MAX
    );

    // Streams that end give their place back.
    drop(open);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match client.get_events(GetEventsRequest::default()).await {
            Ok(_) => break,
            Err(e) if e.code() == Code::ResourceExhausted => {
                assert!(tokio::time::Instant::now() < deadline, "no place came back");
                // Places come back as the server notices closed streams: nothing to await.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(sensor.log_text().contains("sensor ready"));
}

const RATE: u32 = 5;
const BURST: u32 = 10;
const CALLS: u32 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_a_clients_rate_are_refused_and_others_are_served() {
    if !ready() {
        return;
    }
    let ca = Ca::new("sensor test CA");
    let files = Files::new();
    let server = ca.issue("sensor", true, &[]);
    let (greedy, other) = (
        ca.issue("collector-greedy", false, &[]),
        ca.issue("collector-other", false, &[]),
    );
    let dir = ScratchDir::new("rate");
    let socket = dir.path().join("sensor.sock");
    let mut args = files.mtls_args(&server, &ca);
    args.extend(
        [
            "--no-cri",
            "--grpc-unix",
            socket.to_str().unwrap(),
            "--max-requests-per-second",
            &RATE.to_string(),
            "--request-burst",
            &BURST.to_string(),
        ]
        .map(String::from),
    );
    let sensor = Sensor::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;

    // One client asks as fast as it can.
    let mut client = tls_client(&sensor.addr, &ca.pem, Some(&greedy))
        .await
        .expect("connect");
    let started = Instant::now();
    let (mut served, mut refused) = (0u32, Vec::new());
    for _ in 0..CALLS {
        match client.status(StatusRequest {}).await {
            Ok(_) => served += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                refused.push(e);
            }
        }
    }
    // The burst, plus what the rate gave back while it asked (and one for rounding).
    let refilled = (started.elapsed().as_secs_f64() * f64::from(RATE)).ceil() as u32;
    assert!(
        (BURST..=BURST + refilled + 1).contains(&served),
        "served {served} of {CALLS} (burst {BURST}, {refilled} refilled)"
    );
    assert_eq!(served + refused.len() as u32, CALLS);
    let msg = refused.first().expect("nothing was refused").message();
    assert!(
        msg.contains("client cn:collector-greedy") && msg.contains("--max-requests-per-second"),
        "{msg}"
    );

    // Another client from the same address, with its own certificate, has its own budget.
    let mut other = tls_client(&sensor.addr, &ca.pem, Some(&other))
        .await
        .expect("connect");
    let status = other
        .status(StatusRequest {})
        .await
        .expect("another client is served")
        .into_inner();
    assert_eq!(
        status.counters["sensor_api_refused_total{reason=rate}"],
        refused.len() as u64
    );
    // So does a local user on the unix socket.
    let status = sensor_tests::sensor::status_over_unix(&socket);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));

    // The greedy client is served again once its budget refills.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.status(StatusRequest {}).await {
            Ok(_) => break,
            Err(e) if e.code() == Code::ResourceExhausted => {
                assert!(Instant::now() < deadline, "never served again: {e:?}");
                // The refusal says when to come back; waiting for that is the test.
                tokio::time::sleep(Duration::from_millis(1000 / u64::from(RATE))).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// Runs every future at once and collects their outputs, in order.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}
