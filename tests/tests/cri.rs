//! A real containerd, driven through its CRI API like a kubelet would: a pod sandbox and a
//! container whose mounts the sensor reports with the pod's namespace and name, the container's
//! name and image. With containerd killed, the container's events still flow, attributed from
//! the cgroup path; when it comes back, enrichment recovers by itself.
use sensor_proto::{
    cri::{
        Capability, ContainerConfig, ContainerMetadata, CreateContainerRequest, ImageSpec,
        LinuxContainerConfig, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
        LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption, PodSandboxConfig,
        PodSandboxMetadata, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
        StopPodSandboxRequest,
    },
    v1::{
        AttributionState, Container, EventKind, GetEventsRequest, ListContainersRequest,
        sensor_service_client::SensorServiceClient,
    },
};
use sensor_tests::{
    cgroup::CgroupPathGuard,
    containerd::{Containerd, IMAGE, cri_client},
    ready,
    runc::kube_ids,
    sensor::Sensor,
    subscriber::{Subscriber, arg, flagged, header},
};

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

    let node_ns = |pid| NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: pid as i32,
        ipc: NamespaceMode::Pod as i32,
    };
    let pod = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "web-1".into(),
            uid: uid.clone(),
            namespace: "team-a".into(),
            attempt: 0,
        }),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(node_ns(NamespaceMode::Pod)),
                privileged: false,
            }),
        }),
        ..Default::default()
    };
    let mut cri = cri_client(&containerd.socket).await.expect("CRI client");
    let sandbox = cri
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod.clone()),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", containerd.log()))
        .into_inner()
        .pod_sandbox_id;
    // Mounts for as long as the test needs them (it ends the pod when done).
    let script = "while true; do mount -t tmpfs none /mnt && umount /mnt; sleep 0.05; done";
    let config = ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        }),
        // As kubelet asks: the resolved image id, and the reference the pod spec gave.
        image: Some(ImageSpec {
            image: containerd.image_id.clone(),
            user_specified_image: IMAGE.into(),
            ..Default::default()
        }),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                capabilities: Some(Capability {
                    add_capabilities: vec!["CAP_SYS_ADMIN".into()],
                    drop_capabilities: vec![],
                }),
                privileged: false,
                namespace_options: Some(node_ns(NamespaceMode::Container)),
            }),
        }),
        ..Default::default()
    };
    let created = cri
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox.clone(),
            config: Some(config.clone()),
            sandbox_config: Some(pod.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", containerd.log()))
        .into_inner()
        .container_id;
    cri.start_container(StartContainerRequest {
        container_id: created.clone(),
    })
    .await
    .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", containerd.log()));

    // The first mounts may go out before the runtime answered; later ones carry its metadata.
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
    let created2 = cri
        .create_container(CreateContainerRequest {
            pod_sandbox_id: sandbox.clone(),
            config: Some(config2),
            sandbox_config: Some(pod.clone()),
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "CreateContainer after the restart: {e}\n{}",
                containerd.log()
            )
        })
        .into_inner()
        .container_id;
    cri.start_container(StartContainerRequest {
        container_id: created2.clone(),
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "StartContainer after the restart: {e}\n{}",
            containerd.log()
        )
    });
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

    // End the pod cleanly.
    cri.stop_pod_sandbox(StopPodSandboxRequest {
        pod_sandbox_id: sandbox.clone(),
    })
    .await
    .expect("StopPodSandbox");
    cri.remove_pod_sandbox(RemovePodSandboxRequest {
        pod_sandbox_id: sandbox,
    })
    .await
    .expect("RemovePodSandbox");
    drop(sensor);
}
