//! No holes: a profile holds every call the cgroup made, even when the first-use records of
//! some were lost. A one-page ring and a flood of flagged calls in the same cgroup make the
//! kernel drop first-use records (announced in-band); the profile read while the cgroup is
//! still alive has every call anyway, because the kernel's learned map is its source of truth.
use std::collections::BTreeSet;

use sensor_proto::v1::{
    EventKind, GetEventsRequest, GetProfileRequest, LossReason, get_events_response::Item,
    sensor_service_client::SensorServiceClient,
};
use sensor_tests::{cgroup::TestCgroup, ready, sensor::Sensor, subscriber::Subscriber};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

/// Calls for which all-zero arguments are harmless, and that a Rust program's start-up does
/// not make: each is a first use in a fresh cgroup.
const CALLS: &[&str] = &[
    "getppid",
    "getuid",
    "getgid",
    "geteuid",
    "getegid",
    "getpgrp",
    "getsid",
    "getpriority",
    "umask",
    "times",
    "alarm",
    "getcpu",
    "sched_getscheduler",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "ioprio_get",
    "getgroups",
    "membarrier",
    "epoll_create1",
    "eventfd2",
    "inotify_init1",
    "timerfd_create",
    "fdatasync",
    "flock",
];

fn nr(name: &str) -> String {
    let n: libc::c_long = match name {
        "getppid" => libc::SYS_getppid,
        "getuid" => libc::SYS_getuid,
        "getgid" => libc::SYS_getgid,
        "geteuid" => libc::SYS_geteuid,
        "getegid" => libc::SYS_getegid,
        "getpgrp" => libc::SYS_getpgrp,
        "getsid" => libc::SYS_getsid,
        "getpriority" => libc::SYS_getpriority,
        "umask" => libc::SYS_umask,
        "times" => libc::SYS_times,
        "alarm" => libc::SYS_alarm,
        "getcpu" => libc::SYS_getcpu,
        "sched_getscheduler" => libc::SYS_sched_getscheduler,
        "sched_get_priority_max" => libc::SYS_sched_get_priority_max,
        "sched_get_priority_min" => libc::SYS_sched_get_priority_min,
        "ioprio_get" => libc::SYS_ioprio_get,
        "getgroups" => libc::SYS_getgroups,
        "membarrier" => libc::SYS_membarrier,
        "epoll_create1" => libc::SYS_epoll_create1,
        "eventfd2" => libc::SYS_eventfd2,
        "inotify_init1" => libc::SYS_inotify_init1,
        "timerfd_create" => libc::SYS_timerfd_create,
        "fdatasync" => libc::SYS_fdatasync,
        "flock" => libc::SYS_flock,
        _ => unreachable!("{name}"),
    };
    n.to_string()
}

#[tokio::test]
async fn a_profile_has_every_call_even_when_first_use_records_were_lost() {
    if !ready() {
        return;
    }
    // No flood budget: the flood is to overflow the ring itself.
    let sensor = Sensor::start(&[
        "--no-cri",
        "--ring-buffer-bytes",
        "4096",
        "--flood-budget",
        "0",
    ])
    .await;
    let mut client = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let calls: Vec<String> = CALLS.iter().map(|n| nr(n)).collect();
    // Until a round loses one of the calls' first-use records (almost always the first).
    for round in 0..5 {
        let cg = TestCgroup::new(&format!("holes{round}"));
        let mut seen = Subscriber::connect(
            &sensor.addr,
            GetEventsRequest {
                kinds: vec![EventKind::SyscallSeen as i32],
                cgroup_ids: vec![cg.id()],
                ..Default::default()
            },
        )
        .await
        .expect("subscribe");
        let overflowed = || sensor.metric("sensor_kernel_total{counter=\"ringbuf_full_flagged\"}");
        let before = overflowed();
        let storm = sensor_tests::trigger_in_background(TRIGGER, &cg, &["umount-storm", "1000000"]);
        // The calls go in once the flood is overflowing the ring (then they meet it).
        assert!(
            sensor_tests::wait_until(std::time::Duration::from_secs(10), || overflowed() > before),
            "the flood never filled the ring"
        );
        let mut args = vec!["calls"];
        args.extend(calls.iter().map(String::as_str));
        for _ in 0..3 {
            // Three processes, so that the calls meet the flood at different moments.
            sensor_tests::trigger(TRIGGER, &cg, &args);
        }
        storm.await.expect("the storm ran");
        // Everything the subscriber will get of this cgroup, until it has been quiet.
        seen.drain_until_quiet(std::time::Duration::from_secs(1))
            .await;
        let arrived: BTreeSet<String> = seen
            .events()
            .filter_map(|ev| match &ev.body {
                Some(sensor_proto::v1::event::Body::SyscallSeen(s)) => Some(s.name.clone()),
                _ => None,
            })
            .collect();
        let missing: Vec<&&str> = CALLS.iter().filter(|n| !arrived.contains(**n)).collect();
        if missing.is_empty() {
            eprintln!("round {round}: every first-use record arrived; again");
            continue;
        }
        // The loss was announced in-band, as first-use records.
        let announced: u64 = seen
            .messages()
            .filter_map(|m| match &m.item {
                Some(Item::Lost(l))
                    if l.reason == LossReason::KernelRingBuffer as i32
                        && l.kind == EventKind::SyscallSeen as i32 =>
                {
                    Some(l.count)
                }
                _ => None,
            })
            .sum();
        assert!(
            announced > 0,
            "first-use records of {missing:?} lost unannounced"
        );
        // The profile of the live cgroup has every call, the lost ones included.
        let p = client
            .get_profile(GetProfileRequest {
                cgroup_id: cg.id(),
                ..Default::default()
            })
            .await
            .expect("GetProfile")
            .into_inner();
        let names: BTreeSet<&str> = p.syscalls.iter().map(|s| s.name.as_str()).collect();
        for name in CALLS {
            assert!(
                names.contains(name),
                "{name} is missing from the profile (its record lost: {})",
                missing.contains(&name)
            );
        }
        eprintln!(
            "round {round}: {} of {} first-use records lost ({announced} announced); the \
             profile has them all",
            missing.len(),
            CALLS.len()
        );
        return;
    }
    panic!("no round lost a first-use record: the flood did not fill a one-page ring");
}
