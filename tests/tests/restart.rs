//! What the sensor learned survives a restart when it is pinned (`--pin-dir`): a second
//! sensor gives the profile of a container that only the first one saw.
use std::{path::PathBuf, process::Command};

use sensor_proto::v1::{
    EventKind, GetEventsRequest, GetProfileRequest, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, header},
};

const BPFFS: &str = "/sys/fs/bpf";

/// A pin directory of this test on bpffs (mounting bpffs if the machine has none), removed
/// with its pins on drop.
struct PinDir {
    dir: PathBuf,
    mounted: bool,
}

impl PinDir {
    fn new() -> Self {
        let magic = |p: &str| {
            let c = std::ffi::CString::new(p).unwrap();
            // SAFETY: valid path, out-parameter of the right type.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == 0xcafe_4a11
        };
        let mounted = !magic(BPFFS)
            && Command::new("mount")
                .args(["-t", "bpf", "bpf", BPFFS])
                .status()
                .is_ok_and(|s| s.success());
        assert!(magic(BPFFS), "no bpffs at {BPFFS}");
        Self {
            dir: PathBuf::from(BPFFS).join(sensor_tests::unique("pins")),
            mounted,
        }
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.mounted {
            let _ = Command::new("umount").arg(BPFFS).status();
        }
    }
}

#[tokio::test]
async fn learned_syscalls_survive_a_restart() {
    if !ready() {
        return;
    }
    let pins = PinDir::new();
    let pin_arg = pins.dir.to_str().unwrap().to_owned();
    let (uid, id) = kube_ids(0x900);
    let ctr = Container::new(
        &format!("sensor-e2e-restart-{}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        "mkdir /tmp/learned; sleep 60",
    );

    let first = Sensor::start(&["--no-cri", "--pin-dir", &pin_arg]).await;
    let request = GetEventsRequest {
        kinds: vec![EventKind::SyscallSeen as i32],
        cgroup_ids: vec![ctr.cgroup_id()],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&first.addr, request)
        .await
        .expect("subscribe");
    let mut running = ctr.spawn();
    let seen = |name: &'static str| {
        move |ev: &sensor_proto::v1::Event| {
            matches!(&ev.body, Some(sensor_proto::v1::event::Body::SyscallSeen(s)) if s.name == name || s.name == "mkdirat")
                && header(ev).cgroup_id != 0
        }
    };
    sub.expect_event("the first mkdir", seen("mkdir")).await;
    assert!(
        first
            .terminate(std::time::Duration::from_secs(10))
            .success()
    );

    // A new sensor, the same pins: it knows what the container did before it started.
    let second = Sensor::start(&["--no-cri", "--pin-dir", &pin_arg]).await;
    let mut api = SensorServiceClient::connect(second.addr.clone())
        .await
        .expect("connect");
    let profile = api
        .get_profile(GetProfileRequest {
            container_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("the second sensor has the first one's profile")
        .into_inner();
    let names: Vec<&str> = profile.syscalls.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"mkdir") || names.contains(&"mkdirat"),
        "{names:?}"
    );
    drop(second);
    drop(ctr);
    let _ = running.kill();
    let _ = running.wait();
}
