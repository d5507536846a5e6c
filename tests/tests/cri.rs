//! A real containerd, driven through its CRI API like a kubelet would: a pod sandbox and a
//! container whose mounts the sensor reports with the pod's namespace and name, the container's
//! name and image. With containerd killed, the container's events still flow, attributed from
//! the cgroup path; when it comes back, enrichment recovers by itself. A new container's first
//! events wait for its metadata, so pod filters and exceptions see them whole.
use sensor_proto::{
    cri::ContainerMetadata,
    v1::{
        AttributionState, Container, EventKind, GetEventsRequest, ListContainersRequest,
        get_events_response::Item, sensor_service_client::SensorServiceClient,
    },
};
use sensor_tests::{
    cgroup::{CgroupPathGuard, ScratchDir, TestCgroup},
    containerd::{Containerd, IMAGE, cri_client},
    cri_pod::{app_config, end_pod, pod_config, run_pod, start_container},
    ready,
    runc::kube_ids,
    sensor::Sensor,
    subscriber::{Subscriber, arg, exec, flagged, header},
    trigger,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn container(ev: &sensor_proto::v1::Event) -> (AttributionState, Container) {
    let a = header(ev).attribution.clone().unwrap_or_default();
    (a.state(), a.container.unwrap_or_default())
}

/// The container script's own `mount -t tmpfs none /mnt`.
fn is_script_mount(ev: &sensor_proto::v1::Event) -> bool {
    flagged(ev).is_some_and(|s| s.name == "mount") && arg(ev, "target") == Some(("/mnt", false))
}

#[tokio::test]
async fn cri_containers_carry_pod_metadata_and_survive_the_runtime_going_and_coming_back() {
    if !ready() {
        return;
    }
    let (uid, _) = kube_ids(0xc00);
    let cgroup_parent = format!("/kubepods/besteffort/pod{uid}");
    let _cgroups = CgroupPathGuard::new(&cgroup_parent);
    let mut containerd = Containerd::start().await;
    let socket = containerd.socket.to_str().expect("utf-8 path").to_owned();
    let sensor = Sensor::start(&["--cri-socket", &socket]).await;
    let request = GetEventsRequest {
        kinds: vec![EventKind::FlaggedSyscall as i32],
        cgroup_ids: vec![],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");

    let pod = pod_config("web-1", "team-a", &uid, &cgroup_parent);
    let mut cri = cri_client(&containerd.socket).await.expect("CRI client");
    let sandbox = run_pod(&mut cri, &containerd, &pod).await;
    // Mounts for as long as the test needs them (it ends the pod when done).
    let script = "while true; do mount -t tmpfs none /mnt && umount /mnt; sleep 0.05; done";
    let config = app_config("app", &containerd, script);
    let created = start_container(&mut cri, &containerd, &sandbox, &pod, config.clone()).await;

    // (runc's own mounts while it sets the container up are flagged too: skip to the script's.)
    let ev = sub
        .expect_event("a mount carrying the pod's metadata", |ev| {
            is_script_mount(ev) && {
                let (_, c) = container(ev);
                c.id == created && !c.pod_name.is_empty()
            }
        })
        .await;
    let (state, c) = container(&ev);
    assert_eq!(state, AttributionState::Container);
    assert_eq!(
        (
            c.pod_namespace.as_str(),
            c.pod_name.as_str(),
            c.container_name.as_str()
        ),
        ("team-a", "web-1", "app")
    );
    assert_eq!(
        (c.pod_uid.as_str(), c.qos_class.as_str()),
        (uid.as_str(), "besteffort")
    );
    // The reference the user asked for, not the id kubelet resolved it to.
    assert_eq!(c.image, IMAGE, "image");
    assert_eq!(header(&ev).parent_exe, b"/bin/sh", "{ev:#?}");
    let argv: Vec<&[u8]> = header(&ev).argv.iter().map(Vec::as_slice).collect();
    assert_eq!(
        argv,
        [&b"mount"[..], b"-t", b"tmpfs", b"none", b"/mnt"],
        "the command line"
    );

    // `sensor containers` shows it, with its metadata and a count of its events.
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let list = api
        .list_containers(ListContainersRequest {})
        .await
        .expect("ListContainers")
        .into_inner();
    let seen = list
        .containers
        .iter()
        .find(|s| s.container.as_ref().is_some_and(|c| c.id == created));
    let seen = seen.unwrap_or_else(|| panic!("{created} not listed: {list:#?}"));
    assert_eq!(seen.container.as_ref().unwrap().container_name, "app");
    assert!(seen.events > 0 && seen.running, "{seen:?}");

    // The runtime goes away; the container does not, and neither do its events.
    containerd.kill();
    let before = sub.seen.len();
    let ev = sub
        .expect_event("a mount after containerd was killed", |ev| {
            is_script_mount(ev) && container(ev).1.id == created
        })
        .await;
    assert!(sub.seen.len() > before);
    let (state, c) = container(&ev);
    assert_eq!(state, AttributionState::Container);
    assert_eq!(
        c.pod_uid, uid,
        "the pod uid still comes from the cgroup path"
    );

    // The runtime comes back: the sensor's resolver reconnects by itself, and a container
    // started now is named from it again.
    containerd.launch().await;
    let mut cri = cri_client(&containerd.socket).await.expect("CRI client");
    let mut config2 = config.clone();
    config2.metadata = Some(ContainerMetadata {
        name: "app2".into(),
        attempt: 0,
    });
    let created2 = start_container(&mut cri, &containerd, &sandbox, &pod, config2).await;
    let ev = sub
        .expect_event(
            "a mount of a container started after the restart, with metadata",
            |ev| {
                is_script_mount(ev) && {
                    let (_, c) = container(ev);
                    c.id == created2 && !c.pod_name.is_empty()
                }
            },
        )
        .await;
    let (_, c) = container(&ev);
    assert_eq!(
        (c.pod_name.as_str(), c.container_name.as_str()),
        ("web-1", "app2")
    );

    end_pod(&mut cri, sandbox).await;
    drop(sensor);
}

/// Events of `container_id` among what `sub` received, by sequence number.
fn events_of(sub: &Subscriber, container_id: &str) -> Vec<sensor_proto::v1::Event> {
    sub.events()
        .filter(|ev| container(ev).1.id == container_id)
        .cloned()
        .collect()
}

/// The exec of the scripts' last command, `exec /bin/sleep 600`.
fn is_final_exec(container_id: &str) -> impl Fn(&sensor_proto::v1::Event) -> bool + '_ {
    move |ev| {
        exec(ev).is_some_and(|e| e.filename == b"/bin/sleep") && container(ev).1.id == container_id
    }
}

/// A new container's first events (runc's own mounts while it sets the container up, the
/// entrypoint's exec) wait for the pod metadata: a subscriber filtering by namespace gets every
/// one of them, each with its pod, and an excepted pod's start-up mounts are never flagged.
#[tokio::test]
async fn a_new_containers_first_events_wait_for_its_pod_metadata() {
    if !ready() {
        return;
    }
    let ((web_uid, _), (quiet_uid, _)) = (kube_ids(0xc01), kube_ids(0xc02));
    let web_parent = format!("/kubepods/besteffort/pod{web_uid}");
    let quiet_parent = format!("/kubepods/besteffort/pod{quiet_uid}");
    let _cgroups = (
        CgroupPathGuard::new(&web_parent),
        CgroupPathGuard::new(&quiet_parent),
    );
    let dir = ScratchDir::new("cri-wait");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[exceptions]]\nnamespace = \"team-b\"\npod = \"quiet\"\nsyscalls = [\"mount\", \"umount2\"]\n",
    )
    .expect("write the policy");
    let containerd = Containerd::start().await;
    let socket = containerd.socket.to_str().expect("utf-8 path").to_owned();
    let sensor = Sensor::start(&[
        "--cri-socket",
        &socket,
        "--policy",
        policy.to_str().expect("utf-8 path"),
    ])
    .await;
    let kinds = vec![EventKind::FlaggedSyscall as i32, EventKind::Exec as i32];
    let all = GetEventsRequest {
        kinds: kinds.clone(),
        ..Default::default()
    };
    let team_b = GetEventsRequest {
        kinds,
        pod_namespaces: vec!["team-b".into()],
        ..Default::default()
    };
    let mut all = Subscriber::connect(&sensor.addr, all)
        .await
        .expect("subscribe");
    let mut team_b = Subscriber::connect(&sensor.addr, team_b)
        .await
        .expect("subscribe");

    let mut cri = cri_client(&containerd.socket).await.expect("CRI client");
    let script = "mount -t tmpfs none /mnt && umount /mnt; exec /bin/sleep 600";
    let web = pod_config("web", "team-b", &web_uid, &web_parent);
    let web_box = run_pod(&mut cri, &containerd, &web).await;
    let web_id = start_container(
        &mut cri,
        &containerd,
        &web_box,
        &web,
        app_config("app", &containerd, script),
    )
    .await;
    let quiet = pod_config("quiet", "team-b", &quiet_uid, &quiet_parent);
    let quiet_box = run_pod(&mut cri, &containerd, &quiet).await;
    let quiet_id = start_container(
        &mut cri,
        &containerd,
        &quiet_box,
        &quiet,
        app_config("app", &containerd, script),
    )
    .await;

    // Each container's events are in order: once its last exec is here, all before it are.
    all.expect_event("web's last exec", is_final_exec(&web_id))
        .await;
    all.expect_event("quiet's last exec", is_final_exec(&quiet_id))
        .await;
    let last = team_b
        .expect_event(
            "web's last exec, filtered by namespace",
            is_final_exec(&web_id),
        )
        .await;

    // Every event of web, from runc's first mount on, reached the namespace's subscriber,
    // with its pod.
    let seqs = |evs: &[sensor_proto::v1::Event]| -> Vec<u64> {
        evs.iter()
            .map(|ev| header(ev).seq)
            .filter(|&s| s <= header(&last).seq)
            .collect()
    };
    let web_all = events_of(&all, &web_id);
    let web_b = events_of(&team_b, &web_id);
    assert_eq!(
        seqs(&web_all),
        seqs(&web_b),
        "the filtered subscriber missed some of web's events"
    );
    let runc_mounts = web_all
        .iter()
        .filter(|ev| flagged(ev).is_some_and(|s| s.name == "mount") && !is_script_mount(ev))
        .count();
    assert!(
        runc_mounts > 0,
        "runc's set-up mounts are web's first events: {web_all:#?}"
    );
    for ev in &web_all {
        let (_, c) = container(ev);
        assert_eq!(
            (
                c.pod_namespace.as_str(),
                c.pod_name.as_str(),
                c.metadata_pending
            ),
            ("team-b", "web", false),
            "{ev:#?}"
        );
    }

    // The excepted pod's mounts, runc's included, were never flagged; its execs were seen.
    let quiet_events = events_of(&all, &quiet_id);
    let mounts: Vec<_> = quiet_events
        .iter()
        .filter(|ev| flagged(ev).is_some_and(|s| s.name == "mount" || s.name == "umount2"))
        .collect();
    assert!(
        mounts.is_empty(),
        "the excepted pod's mounts were flagged: {mounts:#?}"
    );
    assert!(quiet_events.iter().any(|ev| exec(ev).is_some()));
    // Nothing had to go out without its metadata.
    assert_eq!(
        sensor.metric("sensor_events_late_total{waited_for=\"metadata\"}"),
        0
    );
    assert!(
        !all.messages()
            .any(|m| matches!(&m.item, Some(Item::Lost(_)))),
        "no loss expected"
    );

    end_pod(&mut cri, web_box).await;
    end_pod(&mut cri, quiet_box).await;
    drop(sensor);
}

/// A runtime that takes connections and never answers: a new container's events wait
/// `--metadata-wait-ms`, then go out marked `metadata_pending` and counted, and a namespace
/// filter lets them through rather than dropping them unseen.
#[tokio::test]
async fn past_the_wait_events_go_out_marked_metadata_pending() {
    if !ready() {
        return;
    }
    let dir = ScratchDir::new("cri-silent");
    let socket = dir.path().join("cri.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    // Holds every connection open without a word, until the test process ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let sensor = Sensor::start(&[
        "--cri-socket",
        socket.to_str().expect("utf-8"),
        "--metadata-wait-ms",
        "300",
    ])
    .await;
    let mut team_c = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            kinds: vec![EventKind::FlaggedSyscall as i32],
            pod_namespaces: vec!["team-c".into()],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");
    let (uid, id) = kube_ids(0xc03);
    let path = format!("/kubepods/besteffort/pod{uid}/{id}");
    let _guard = CgroupPathGuard::new(&path);
    let cg = TestCgroup::at(&path);
    trigger(TRIGGER, &cg, &["umount-storm", "1"]);
    let ev = team_c
        .expect_event("the call, past the wait", |ev| {
            flagged(ev).is_some_and(|s| s.name == "umount2") && container(ev).1.id == id
        })
        .await;
    let (_, c) = container(&ev);
    assert!(c.metadata_pending, "{ev:#?}");
    assert!(c.pod_name.is_empty() && c.pod_namespace.is_empty());
    assert_eq!(c.pod_uid, uid, "what the cgroup path says is still there");
    assert!(sensor.metric("sensor_events_late_total{waited_for=\"metadata\"}") >= 1);
}
