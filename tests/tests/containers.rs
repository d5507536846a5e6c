//! Real runc containers, one per cgroup naming scheme: each one's exec (with argv), fork,
//! exit and flagged mount arrive attributed to the right container id, runtime and pod, with
//! the right parent.
use sensor_proto::v1::{
    AttributionState, Event, GetEventsRequest, OutcomeKind, event::Body, get_events_response::Item,
};
use sensor_tests::{
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, exec, flagged, header, outcome},
};

/// A naming scheme: how a runtime names the cgroup, and what the sensor must read from it.
struct Scheme {
    name: &'static str,
    path: fn(id: &str, uid: &str) -> String,
    runtime: &'static str,
    /// Expected QoS class; `None` outside Kubernetes.
    qos: Option<&'static str>,
}

const SCHEMES: &[Scheme] = &[
    Scheme {
        name: "containerd, systemd driver, besteffort",
        path: |id, uid| {
            let u = uid.replace('-', "_");
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/cri-containerd-{id}.scope"
            )
        },
        runtime: "containerd",
        qos: Some("besteffort"),
    },
    Scheme {
        name: "CRI runtime, cgroupfs driver, burstable",
        path: |id, uid| format!("/kubepods/burstable/pod{uid}/{id}"),
        runtime: "cri",
        qos: Some("burstable"),
    },
    Scheme {
        name: "CRI-O, systemd driver, guaranteed",
        path: |id, uid| {
            format!(
                "/kubepods.slice/kubepods-pod{}.slice/crio-{id}.scope",
                uid.replace('-', "_")
            )
        },
        runtime: "cri-o",
        qos: Some("guaranteed"),
    },
    Scheme {
        name: "containerd with a .slice parent but no systemd",
        path: |id, uid| {
            format!(
                "/kubepods-besteffort-pod{}.slice:cri-containerd:{id}",
                uid.replace('-', "_")
            )
        },
        runtime: "containerd",
        qos: Some("besteffort"),
    },
    Scheme {
        name: "docker, systemd driver",
        path: |id, _| format!("/system.slice/docker-{id}.scope"),
        runtime: "docker",
        qos: None,
    },
    Scheme {
        name: "docker, cgroupfs driver",
        path: |id, _| format!("/docker/{id}"),
        runtime: "docker",
        qos: None,
    },
    Scheme {
        name: "podman",
        path: |id, _| format!("/machine.slice/libpod-{id}.scope"),
        runtime: "podman",
        qos: None,
    },
];

fn container_of(ev: &Event) -> (AttributionState, String, String, String, String) {
    let a = header(ev).attribution.clone().unwrap_or_default();
    let state = a.state();
    let c = a.container.unwrap_or_default();
    (state, c.runtime, c.id, c.pod_uid, c.qos_class)
}

#[tokio::test]
async fn each_naming_scheme_is_attributed_with_process_context() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    for (n, scheme) in SCHEMES.iter().enumerate() {
        let (uid, id) = kube_ids(n as u32);
        let script = "mount -t tmpfs none /mnt && umount /mnt; /bin/true one 'two three'; exit 7";
        let ctr = Container::new(
            &format!("sensor-e2e-{}-{n}", std::process::id()),
            &(scheme.path)(&id, &uid),
            script,
        );
        let request = GetEventsRequest {
            kinds: vec![],
            cgroup_ids: vec![ctr.cgroup_id()],
            ..Default::default()
        };
        let mut sub = Subscriber::connect(&sensor.addr, request)
            .await
            .expect("subscribe");
        let out = ctr.run();
        assert_eq!(
            out.status.code(),
            Some(7),
            "{}: runc run: {}",
            scheme.name,
            String::from_utf8_lossy(&out.stderr)
        );

        let want_pod = if scheme.qos.is_some() {
            uid.clone()
        } else {
            String::new()
        };
        let want = (
            AttributionState::Container,
            scheme.runtime.to_owned(),
            id.clone(),
            want_pod,
            scheme.qos.unwrap_or_default().to_owned(),
        );
        let sh = sub
            .expect_event(&format!("{}: the exec of sh", scheme.name), |ev| {
                exec(ev).is_some_and(|e| e.filename == b"/bin/sh")
            })
            .await;
        assert_eq!(container_of(&sh), want, "{}", scheme.name);
        let sh_pid = header(&sh).pid;

        let mount = sub
            .expect_event(&format!("{}: the mount", scheme.name), |ev| {
                flagged(ev).is_some_and(|s| s.name == "mount")
            })
            .await;
        assert_eq!(container_of(&mount), want, "{}", scheme.name);
        assert_eq!(outcome(&mount).0, OutcomeKind::Succeeded, "{}", scheme.name);

        let tru = sub
            .expect_event(&format!("{}: the exec of true", scheme.name), |ev| {
                exec(ev).is_some_and(|e| e.filename == b"/bin/true")
            })
            .await;
        let e = exec(&tru).unwrap();
        assert_eq!(
            e.argv,
            [&b"/bin/true"[..], b"one", b"two three"],
            "{}",
            scheme.name
        );
        // Least privilege: it runs as root with CAP_SYS_ADMIN (the test grants it), low severity.
        assert!(
            e.privileges_known && e.euid == 0 && e.cap_effective & (1 << 21) != 0,
            "{e:?}"
        );
        let findings: Vec<&str> = e.findings.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(
            findings,
            ["runs as root", "holds CAP_SYS_ADMIN"],
            "{}",
            scheme.name
        );
        assert!(
            e.findings
                .iter()
                .all(|f| f.severity() == sensor_proto::v1::Severity::Low)
        );
        assert_eq!(
            header(&tru).ppid,
            sh_pid,
            "{}: true's parent is sh",
            scheme.name
        );
        assert_eq!(header(&tru).parent_exe, b"/bin/sh", "{}", scheme.name);
        assert_eq!(container_of(&tru), want, "{}", scheme.name);
        let true_pid = header(&tru).pid;
        let forked = sub.seen.iter().any(|m| {
            matches!(&m.item, Some(Item::Event(ev)) if header(ev).pid == sh_pid
                && matches!(&ev.body, Some(Body::Fork(f)) if f.child_pid == true_pid))
        });
        assert!(
            forked,
            "{}: no fork of {true_pid} by sh ({sh_pid}) among {:#?}",
            scheme.name, sub.seen
        );

        let exit = sub
            .expect_event(&format!("{}: the exit of sh", scheme.name), |ev| {
                header(ev).pid == sh_pid && matches!(&ev.body, Some(Body::Exit(_)))
            })
            .await;
        let Some(Body::Exit(x)) = &exit.body else {
            unreachable!()
        };
        assert_eq!((x.status, x.signal), (7, 0), "{}", scheme.name);
        assert_eq!(container_of(&exit), want, "{}", scheme.name);
    }
}
