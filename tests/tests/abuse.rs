//! Clients that misbehave: bytes that are not gRPC, and 500 event streams at once. The sensor
//! refuses what is over its limit with RESOURCE_EXHAUSTED and keeps serving everyone else.
use std::{
    io::{Read as _, Write as _},
    time::Duration,
};

use sensor_proto::v1::{
    GetEventsRequest, StatusRequest, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{ready, sensor::Sensor};
use tonic::{Code, transport::Endpoint};

const MAX: usize = 64;
const STREAMS: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_500_streams_do_not_take_it_down() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri", "--max-subscribers", &MAX.to_string()]).await;
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
