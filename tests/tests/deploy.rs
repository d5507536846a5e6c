//! The DaemonSet as shipped (deploy/kubernetes/daemonset.yaml): parsed and checked, then run
//! the way it runs the sensor: only the capabilities it grants (dropped with setpriv), the
//! host's /proc and cgroup2 reached through the prefixes its environment names.
use std::{collections::BTreeMap, path::Path, process::Command};

use sensor_common::privileges::CAPABILITIES;
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup, cgroup2_mount},
    ready,
    sensor::{Sensor, sensor_bin},
    subscriber::{Subscriber, flagged, flagged_in, header},
    trigger,
};
use yaml_rust2::{Yaml, YamlLoader};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/kubernetes/daemonset.yaml"
);

struct DaemonSet {
    pod: Yaml,
    container: Yaml,
}

fn daemonset() -> DaemonSet {
    let text = std::fs::read_to_string(MANIFEST).expect("read the DaemonSet manifest");
    let docs = YamlLoader::load_from_str(&text).expect("the manifest is YAML");
    let ds = docs
        .into_iter()
        .find(|d| d["kind"].as_str() == Some("DaemonSet"))
        .expect("a DaemonSet");
    let pod = ds["spec"]["template"]["spec"].clone();
    let containers = pod["containers"].as_vec().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    let container = containers[0].clone();
    DaemonSet { pod, container }
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl DaemonSet {
    /// The container's literal environment.
    fn env(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for e in self.container["env"].as_vec().into_iter().flatten() {
            if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                out.insert(k.to_owned(), v.to_owned());
            }
        }
        out
    }

    fn capabilities(&self) -> Vec<String> {
        strings(&self.container["securityContext"]["capabilities"]["add"])
    }

    /// The host path a path inside the container reaches, through its volume mounts.
    fn host_path_of(&self, inside: &str) -> Option<String> {
        let mounts = self.container["volumeMounts"].as_vec()?;
        let (mount, rest) = mounts.iter().find_map(|m| {
            let at = m["mountPath"].as_str()?;
            let rest = inside.strip_prefix(at)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (m, rest.to_owned()))
        })?;
        let volume = self.pod["volumes"]
            .as_vec()?
            .iter()
            .find(|v| v["name"].as_str() == mount["name"].as_str())?;
        Some(format!("{}{rest}", volume["hostPath"]["path"].as_str()?))
    }
}

#[test]
fn the_manifest_is_least_privileged_and_mounts_what_the_sensor_reads() {
    let ds = daemonset();
    let sc = &ds.container["securityContext"];
    assert_ne!(
        sc["privileged"].as_bool(),
        Some(true),
        "a privileged container"
    );
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    // Its own seccomp profile, the one tests/tests/self_profile.rs runs it under.
    assert_eq!(sc["seccompProfile"]["type"].as_str(), Some("Localhost"));
    let profile = sc["seccompProfile"]["localhostProfile"]
        .as_str()
        .unwrap_or("");
    let shipped = Path::new(MANIFEST)
        .with_file_name("seccomp")
        .join("sensor.json");
    assert_eq!(
        Path::new(profile).file_name(),
        shipped.file_name(),
        "the DaemonSet names another profile than {}",
        shipped.display()
    );
    assert!(shipped.exists());
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    let wanted: Vec<&str> = CAPABILITIES.iter().map(|c| c.name).collect();
    assert_eq!(
        ds.capabilities(),
        wanted,
        "the manifest grants what the sensor uses"
    );
    assert_eq!(ds.pod["hostPID"].as_bool(), Some(true));
    assert!(
        strings(&ds.container["args"])
            .first()
            .is_some_and(|a| a == "run"),
        "the container runs `sensor run`"
    );

    // Every path the sensor is told to read is a mount of the host's.
    let env = ds.env();
    let expect = [
        ("SENSOR_HOST_PROC", "/proc"),
        ("SENSOR_CGROUP2_ROOT", "/sys/fs/cgroup"),
        ("SENSOR_CRI_SOCKET", "/run/containerd/containerd.sock"),
        ("SENSOR_PIN_DIR", "/sys/fs/bpf/sensor"),
    ];
    for (var, host) in expect {
        let inside = env.get(var).unwrap_or_else(|| panic!("{var} is not set"));
        assert_eq!(
            ds.host_path_of(inside).as_deref(),
            Some(host),
            "{var}={inside}"
        );
    }
    // Only what it needs: the sensor's own bpffs directory, not the node's whole bpffs, and
    // the CRI socket read-only.
    assert_eq!(
        ds.host_path_of("/sys/fs/bpf").as_deref(),
        None,
        "all of bpffs is mounted"
    );
    let mounts = ds.container["volumeMounts"]
        .as_vec()
        .expect("volume mounts");
    let cri = mounts
        .iter()
        .find(|m| m["mountPath"].as_str() == env.get("SENSOR_CRI_SOCKET").map(String::as_str))
        .expect("the CRI socket's mount");
    assert_eq!(
        cri["readOnly"].as_bool(),
        Some(true),
        "the CRI socket is mounted writable"
    );
    // aya finds tracefs at its usual place: the host's must be mounted there.
    assert_eq!(
        ds.host_path_of("/sys/kernel/tracing").as_deref(),
        Some("/sys/kernel/tracing")
    );

    // Every variable it sets is one `sensor run` reads.
    let help = Command::new(sensor_bin())
        .args(["run", "--help"])
        .output()
        .expect("sensor run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for var in env.keys().filter(|k| k.starts_with("SENSOR_")) {
        assert!(
            help.contains(&format!("env: {var}=")),
            "`sensor run` does not read {var}"
        );
    }
    let node = &ds.container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("NODE_NAME"))
        .cloned();
    assert_eq!(
        node.as_ref()
            .and_then(|n| n["valueFrom"]["fieldRef"]["fieldPath"].as_str()),
        Some("spec.nodeName")
    );

    // The probes ask the port the metrics are served on.
    let metrics_port = env["SENSOR_METRICS_ADDR"]
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let port_named = |name: &str| {
        ds.container["ports"]
            .as_vec()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_i64())
    };
    assert_eq!(
        port_named("metrics").map(|p| p.to_string()),
        Some(metrics_port)
    );
    // Metrics over HTTPS, and the probes ask in HTTPS.
    assert_eq!(
        env.get("SENSOR_METRICS_TLS").map(String::as_str),
        Some("true")
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(ds.container[probe]["httpGet"]["path"].as_str(), Some(path));
        assert_eq!(
            ds.container[probe]["httpGet"]["scheme"].as_str(),
            Some("HTTPS")
        );
        assert_eq!(
            ds.container[probe]["httpGet"]["port"].as_str(),
            Some("metrics")
        );
    }
}

/// A bind mount made by the test, undone on drop.
struct Bind(std::path::PathBuf);

impl Bind {
    fn new(from: &Path, to: &Path) -> Self {
        std::fs::create_dir_all(to).expect("mkdir for the bind mount");
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        let (src, dst) = (c(from), c(to));
        // SAFETY: valid NUL-terminated paths; no data argument.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(
            rc,
            0,
            "bind {} on {}: {}",
            from.display(),
            to.display(),
            std::io::Error::last_os_error()
        );
        Self(to.to_owned())
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid path we mounted.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

#[tokio::test]
async fn the_sensor_runs_with_only_the_granted_capabilities_under_host_mounts() {
    if !ready() {
        return;
    }
    let ds = daemonset();
    let host = ScratchDir::new("host");
    let proc_mount = Bind::new(Path::new("/proc"), &host.path().join("proc"));
    let cgroup2 = cgroup2_mount().expect("cgroup2");
    let cgroup_mount = Bind::new(&cgroup2, &host.path().join("sys/fs/cgroup"));
    let bounding = format!(
        "--bounding-set=-all,{}",
        ds.capabilities()
            .iter()
            .map(|c| format!("+{}", c.to_lowercase()))
            .collect::<Vec<_>>()
            .join(",")
    );
    let env = [
        (
            "SENSOR_HOST_PROC",
            proc_mount.0.to_str().unwrap().to_owned(),
        ),
        (
            "SENSOR_CGROUP2_ROOT",
            cgroup_mount.0.to_str().unwrap().to_owned(),
        ),
    ];
    let cg = TestCgroup::new("deploy");
    let target = ScratchDir::new("mnt");
    // As granted; then without CAP_SYS_PTRACE, to show what it is needed for.
    let without_ptrace = bounding.replace(",+sys_ptrace", "");
    for (bounding, ptrace) in [(&bounding, true), (&without_ptrace, false)] {
        let wrapper = ["setpriv", bounding.as_str(), "--inh-caps=-all", "--"];
        let sensor = Sensor::start_via(&wrapper, &env, &["--no-cri"]).await;
        let status = std::fs::read_to_string(format!("/proc/{}/status", sensor.pid())).unwrap();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap_or("")
            .trim();
        let granted: u64 = CAPABILITIES
            .iter()
            .filter(|c| ptrace || c.name != "SYS_PTRACE")
            .map(|c| 1u64 << c.bit)
            .sum();
        assert_eq!(
            u64::from_str_radix(eff, 16).ok(),
            Some(granted),
            "not the granted set"
        );

        let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
            .await
            .expect("subscribe");
        let pid = trigger(TRIGGER, &cg, &["mount-tmpfs", target.as_str()]);
        let ev = sub
            .expect_event("the mount, seen with only the granted capabilities", |ev| {
                flagged(ev).is_some_and(|s| s.name == "mount") && header(ev).pid == pid
            })
            .await;
        let h = header(&ev);
        assert_eq!(h.cgroup_id, cg.id());
        let leaf = cg.path().file_name().unwrap().to_str().unwrap();
        assert!(
            h.cgroup_path.ends_with(leaf),
            "attributed through the host mount: {}",
            h.cgroup_path
        );
        // This test process started before the sensor: its binary can only come from
        // /proc/PID/exe, which takes CAP_SYS_PTRACE to read.
        assert_eq!(
            !h.parent_exe.is_empty(),
            ptrace,
            "parent binary {:?}",
            h.parent_exe
        );
        assert_eq!(
            sensor.log_text().contains("CAP_SYS_PTRACE is missing"),
            !ptrace
        );
    }

    // Without CAP_BPF it stops at once, saying so.
    let without_bpf = bounding.replace(",+bpf", "");
    let out = Command::new("setpriv")
        .args([&without_bpf, "--inh-caps=-all", "--"])
        .arg(sensor_bin())
        .args([
            "run",
            "--quiet",
            "--no-cri",
            "--grpc-addr",
            "127.0.0.1:1",
            "--no-metrics",
        ])
        .output()
        .expect("run setpriv");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CAP_BPF is missing"), "{stderr}");
}
