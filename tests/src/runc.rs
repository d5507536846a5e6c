//! Real containers: plain runc with a busybox root, one per naming scheme, each in the cgroup
//! path a runtime would give it. Everything made here is removed on drop: the container, its
//! state, and every cgroup directory (in every hierarchy) that did not exist before.
use std::{
    path::Path,
    process::{Command, Output},
};

use serde_json::{Value, json};

use crate::cgroup::{CgroupPathGuard, ScratchDir, cgroup2_mount};

/// Fills `root` with a busybox root filesystem (one static binary and its applet links).
pub fn make_rootfs(root: &Path) {
    let bin = root.join("bin");
    for d in ["bin", "proc", "dev", "mnt", "tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir rootfs");
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is installed (cargo xtask test installs it)");
    std::fs::copy(busybox, bin.join("busybox")).expect("copy busybox");
    let list = Command::new(bin.join("busybox"))
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = bin.join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).expect("applet link");
        }
    }
}

/// A Kubernetes pod uid and a 64-hex container id, distinct per `n` within this test process.
pub fn kube_ids(n: u32) -> (String, String) {
    let pid = std::process::id();
    (
        format!("{pid:08x}-0000-4000-8000-{n:012x}"),
        format!("{pid:08x}{n:08x}").repeat(4),
    )
}

/// Which OCI runtime runs a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Runc,
    /// crun, which refuses this host's hybrid cgroups (a controller on cgroup2): it runs in a
    /// private mount namespace without the cgroup2 mount and with `--cgroup-manager=disabled`,
    /// after the shell that starts it joined the container's cgroup2 directory. So crun's
    /// own process is in the container's cgroup from its start (its setup is the runtime
    /// phase, as runc's), and the container's v1 cgroups are not made.
    Crun,
}

pub struct Container {
    pub id: String,
    runtime: Runtime,
    /// The absolute cgroup path the container runs in (relative to each hierarchy's root).
    pub cgroup_path: String,
    bundle: ScratchDir,
    state: ScratchDir,
    /// The cgroup directories this container's path adds, in every hierarchy.
    _cgroups: CgroupPathGuard,
}

impl Container {
    /// Prepares a container `id` whose process runs `script` under busybox sh, with
    /// CAP_SYS_ADMIN, in `cgroup_path`. The cgroup2 directory is made now, so its id is known
    /// before the container starts.
    pub fn new(id: &str, cgroup_path: &str, script: &str) -> Self {
        let bundle = ScratchDir::new("bundle");
        let state = ScratchDir::new("runc-state");
        let out = Command::new("runc")
            .arg("spec")
            .current_dir(bundle.path())
            .output()
            .expect("runc spec");
        assert!(
            out.status.success(),
            "runc spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config_path = bundle.path().join("config.json");
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        let rootfs = bundle.path().join("rootfs");
        make_rootfs(&rootfs);
        config["root"] = json!({"path": rootfs, "readonly": false});
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["/bin/sh", "-c", script]);
        let caps = json!(["CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_KILL"]);
        for set in ["bounding", "effective", "permitted"] {
            config["process"]["capabilities"][set] = caps.clone();
        }
        config["process"]["rlimits"] = json!([]);
        config["linux"]["cgroupsPath"] = json!(cgroup_path);
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

        let cgroups = CgroupPathGuard::new(cgroup_path);
        let cg2 = cgroup2_mount()
            .expect("cgroup2")
            .join(cgroup_path.trim_start_matches('/'));
        std::fs::create_dir_all(&cg2).expect("mkdir the container's cgroup2 directory");
        Self {
            id: id.to_owned(),
            runtime: Runtime::Runc,
            cgroup_path: cgroup_path.to_owned(),
            bundle,
            state,
            _cgroups: cgroups,
        }
    }

    /// Runs the container with `runtime` instead of runc.
    pub fn with_runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = runtime;
        self
    }

    /// Replaces the container's capabilities (bounding, effective, permitted).
    pub fn with_caps(self, caps: &[&str]) -> Self {
        let path = self.bundle.path().join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for set in ["bounding", "effective", "permitted"] {
            config["process"]["capabilities"][set] = json!(caps);
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        self
    }

    /// Mounts the host's /usr read-only (with /lib and /lib64 pointing into it, as on a
    /// merged-/usr host), so that the host's dynamically linked programs run inside, and
    /// `host_file` read-only at `at` (e.g. a test helper binary).
    pub fn with_host_usr(self, host_file: Option<(&Path, &str)>) -> Self {
        let rootfs = self.bundle.path().join("rootfs");
        for (link, target) in [("lib", "usr/lib"), ("lib64", "usr/lib64")] {
            let _ = std::os::unix::fs::symlink(target, rootfs.join(link));
        }
        let path = self.bundle.path().join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mounts = config["mounts"]
            .as_array_mut()
            .expect("runc spec has mounts");
        mounts.push(
            json!({"destination": "/usr", "type": "bind", "source": "/usr",
                           "options": ["rbind", "ro"]}),
        );
        if let Some((file, at)) = host_file {
            mounts.push(json!({"destination": at, "type": "bind", "source": file,
                               "options": ["bind", "ro"]}));
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        self
    }

    /// Shares the host's network namespace (a server on 127.0.0.1 that the container's own
    /// client reaches; a new namespace's loopback is down).
    pub fn with_host_network(self) -> Self {
        let path = self.bundle.path().join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if let Some(ns) = config["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        self
    }

    /// Puts `profile` (OCI seccomp JSON) in the container's config.json: runc enforces it.
    pub fn with_seccomp(self, profile: &Value) -> Self {
        let path = self.bundle.path().join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["linux"]["seccomp"] = profile.clone();
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        self
    }

    /// The container's root filesystem, as the host sees it (shared with the container).
    pub fn rootfs(&self) -> std::path::PathBuf {
        self.bundle.path().join("rootfs")
    }

    /// The cgroup2 id the container's processes will carry.
    pub fn cgroup_id(&self) -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        let dir = cgroup2_mount()
            .unwrap()
            .join(self.cgroup_path.trim_start_matches('/'));
        std::fs::metadata(dir)
            .expect("stat the container's cgroup")
            .ino()
    }

    /// Starts the container in the background (runc run, as a child); drop the container to
    /// end it.
    pub fn spawn(&self) -> std::process::Child {
        self.runc_run()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("runc run")
    }

    /// Starts the container in the background with its output piped (`wait_with_output`).
    pub fn spawn_piped(&self) -> std::process::Child {
        self.runc_run()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runc run")
    }

    /// Runs the container in the foreground until its process exits.
    pub fn run(&self) -> Output {
        self.runc_run().output().expect("runc run")
    }

    /// `runc run` (or crun's) of this container, with its own state directory.
    fn runc_run(&self) -> Command {
        match self.runtime {
            Runtime::Runc => {
                let mut c = Command::new("runc");
                c.arg("--root")
                    .arg(self.state.path())
                    .args(["run", "--bundle"])
                    .arg(self.bundle.path())
                    .arg(&self.id);
                c
            }
            Runtime::Crun => {
                let cg2 = cgroup2_mount().expect("cgroup2");
                let script = format!(
                    "echo $$ > '{}/cgroup.procs' && umount -l '{}' && exec crun --root '{}' \
                     --cgroup-manager=disabled run --bundle '{}' '{}'",
                    cg2.join(self.cgroup_path.trim_start_matches('/')).display(),
                    cg2.display(),
                    self.state.path().display(),
                    self.bundle.path().display(),
                    self.id
                );
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
                c
            }
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let bin = match self.runtime {
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
        };
        let _ = Command::new(bin)
            .arg("--root")
            .arg(self.state.path())
            .args(["delete", "-f", &self.id])
            .output();
    }
}
