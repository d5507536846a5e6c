//! Certificates rotate in place, as cert-manager rotates a Secret's files: new connections get
//! the new certificate and the new client CA, a stream opened before goes on, a rotation that
//! would not work (a certificate with the old key) is refused and the old one stays. The
//! metrics and probes are served over HTTPS with the same certificate.
use std::path::Path;

use sensor_proto::v1::get_events_response::Item;
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::TestCgroup,
    pki::{Ca, Files, Issued, https_get, tls_client, tls_handshake},
    ready,
    sensor::{Sensor, sample},
    subscriber::{flagged, flagged_in},
    trigger, until,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

/// Replaces `path` the way a Secret volume does: the new file appears whole, at once.
fn replace(path: &str, pem: &str) {
    let tmp = format!("{path}.new");
    std::fs::write(&tmp, pem).expect("write");
    std::fs::rename(&tmp, path).expect("rename into place");
}

async fn reloads(metrics: &str, ca: &str, result: &str) -> u64 {
    let (_, body) = https_get(metrics, ca, "/metrics").await.unwrap_or_default();
    sample(
        &body,
        &format!("sensor_tls_reloads_total{{result=\"{result}\"}}"),
    )
}

#[tokio::test]
async fn certificates_rotate_without_dropping_streams() {
    if !ready() {
        return;
    }
    let (old_ca, new_ca) = (Ca::new("CA of January"), Ca::new("CA of April"));
    let files = Files::new();
    let (old_server, old_client) = (
        old_ca.issue("sensor", true, &[]),
        old_ca.issue("collector", false, &[]),
    );
    let (new_server, new_client) = (
        new_ca.issue("sensor", true, &[]),
        new_ca.issue("collector", false, &[]),
    );
    let mut args = files.mtls_args(&old_server, &old_ca);
    args.extend(["--no-cri", "--metrics-tls"].map(String::from));
    let (cert, key, ca) = (args[1].clone(), args[3].clone(), args[5].clone());
    let sensor = Sensor::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    until("/readyz over HTTPS", || async {
        matches!(
            https_get(&sensor.metrics, &old_ca.pem, "/readyz").await,
            Ok((200, _))
        )
    })
    .await;

    // A stream opened with the old certificates.
    let cg = TestCgroup::new("rotation");
    let mut client = tls_client(&sensor.addr, &old_ca.pem, Some(&old_client))
        .await
        .expect("the old client connects");
    let mut stream = client
        .get_events(flagged_in(cg.id()))
        .await
        .expect("subscribe")
        .into_inner();
    let mut next_umount = async move || loop {
        let msg = tokio::time::timeout(EVENT_TIMEOUT, stream.message())
            .await
            .expect("the stream went quiet")
            .expect("the stream failed")
            .expect("the stream ended");
        if let Some(Item::Event(ev)) = msg.item
            && flagged(&ev).is_some_and(|s| s.name == "umount2")
        {
            return;
        }
    };
    trigger(TRIGGER, &cg, &["umount-storm", "1"]);
    next_umount().await;

    // Rotation: a new server certificate from a new CA, and only the new CA for clients.
    replace(&ca, &new_ca.pem);
    replace(&key, &new_server.key);
    replace(&cert, &new_server.cert);
    until("the new certificates in force", || async {
        tls_handshake(&sensor.addr, &new_ca.pem, Some(&new_client))
            .await
            .is_ok()
    })
    .await;
    let stale = tls_handshake(&sensor.addr, &old_ca.pem, Some(&old_client))
        .await
        .expect_err("the old certificates still got in");
    assert!(stale.contains("UnknownIssuer"), "{stale}");
    let old_client_new_trust = tls_handshake(&sensor.addr, &new_ca.pem, Some(&old_client))
        .await
        .expect_err("a client of the old CA still got in");
    assert!(
        old_client_new_trust.contains("UnknownCA"),
        "{old_client_new_trust}"
    );
    // The stream opened before the rotation is still served.
    trigger(TRIGGER, &cg, &["umount-storm", "1"]);
    next_umount().await;
    assert_eq!(reloads(&sensor.metrics, &new_ca.pem, "in_force").await, 1);

    // A half rotation: a new certificate whose key is not there yet. Refused; the current
    // one stays, for the API and for the metrics.
    let next: Issued = new_ca.issue("sensor", true, &[]);
    replace(&cert, &next.cert);
    until("the refusal counted", || async {
        reloads(&sensor.metrics, &new_ca.pem, "refused").await == 1
    })
    .await;
    tls_handshake(&sensor.addr, &new_ca.pem, Some(&new_client))
        .await
        .expect("the certificate in force still serves");
    assert!(sensor.log_text().contains("new TLS files refused"));
    assert!(Path::new(&key).exists());
}
