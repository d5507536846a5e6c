//! A real containerd with its CRI plugin, started by the test in a directory of its own (its
//! root, state, runc root and socket all live there), and a CRI client for it. On drop it is
//! killed, with the shims it started, and every mount under its directory is undone.
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use hyper_util::rt::TokioIo;
use sensor_proto::cri::{VersionRequest, runtime_service_client::RuntimeServiceClient};
use serde_json::json;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::{cgroup::ScratchDir, runc::make_rootfs};

/// The image every sandbox and container here runs (imported, never pulled).
pub const IMAGE: &str = "docker.io/sensor-e2e/busybox:1";

pub struct Containerd {
    child: Option<Child>,
    dir: ScratchDir,
    pub socket: PathBuf,
    /// [`IMAGE`]'s id (its config's digest), as kubelet passes it to CreateContainer.
    pub image_id: String,
}

fn config(dir: &Path, socket: &Path) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{socket}"
[ttrpc]
  address = "{socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{IMAGE}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#,
        socket = socket.display()
    )
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// Writes `bytes` as a blob of the OCI layout at `layout`; returns (digest, size).
fn blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let tmp = layout.join("blob.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    let digest = sha256(&tmp);
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&digest)).unwrap();
    (format!("sha256:{digest}"), bytes.len())
}

/// An OCI image archive of a busybox root whose default command sleeps (a pause image).
/// Returns the archive and the image id (the config's digest).
fn build_image(dir: &Path) -> (PathBuf, String) {
    let rootfs = dir.join("image-rootfs");
    make_rootfs(&rootfs);
    let layout = dir.join("image-layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let layer = dir.join("layer.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success(), "tar the image layer");
    let (layer_digest, layer_size) = blob(&layout, &std::fs::read(&layer).unwrap());
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = json!({
        "architecture": arch, "os": "linux",
        "config": {"Entrypoint": ["/bin/sleep", "1000000"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.clone()]},
    });
    let (config_digest, config_size) = blob(&layout, &serde_json::to_vec(&config).unwrap());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = blob(&layout, &serde_json::to_vec(&manifest).unwrap());
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "1"},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = dir.join("image.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success(), "tar the image archive");
    (archive, config_digest)
}

/// A CRI client over the unix socket at `socket`.
pub async fn cri_client(
    socket: &Path,
) -> Result<RuntimeServiceClient<Channel>, tonic::transport::Error> {
    let socket = socket.to_owned();
    let channel = Endpoint::from_static("http://cri.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await?;
    Ok(RuntimeServiceClient::new(channel))
}

impl Containerd {
    /// Starts containerd, waits until its CRI API answers, and imports [`IMAGE`].
    pub async fn start() -> Self {
        let dir = ScratchDir::new("containerd");
        let socket = dir.path().join("containerd.sock");
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config(dir.path(), &socket)).unwrap();
        let mut c = Self {
            child: None,
            dir,
            socket,
            image_id: String::new(),
        };
        c.launch().await;
        let (archive, image_id) = build_image(c.dir.path());
        c.image_id = image_id;
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&c.socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(&archive)
            .output()
            .expect("ctr images import");
        assert!(
            out.status.success(),
            "ctr import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// Starts (or restarts) the daemon and waits for its CRI API.
    pub async fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd (cargo xtask test installs it)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut client) = cri_client(&self.socket).await
                && client.version(VersionRequest::default()).await.is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "containerd did not answer:\n{}",
                self.log()
            );
            // The socket has no event to await before it exists: poll it.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// Kills the daemon (its shims, and so its containers, live on).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Processes whose command line names this daemon's directory (its shims).
    fn shims(&self) -> Vec<i32> {
        let needle = self.dir.as_str().to_owned();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
            })
            .collect()
    }

    /// Mount points under this daemon's directory, deepest first.
    fn mounts(&self) -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut v: Vec<String> = info
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_owned))
            .filter(|m| m.starts_with(self.dir.as_str()))
            .collect();
        v.sort_by_key(|m| std::cmp::Reverse(m.len()));
        v
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.kill();
        for pid in self.shims() {
            // SAFETY: a process this daemon started (its command line names our directory).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Containers the shims ran: their runc state is in our runc root.
        let runc_root = self.dir.path().join("runc/k8s.io");
        for e in std::fs::read_dir(&runc_root)
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(&runc_root)
                .args(["delete", "-f"])
                .arg(e.file_name())
                .output();
        }
        for m in self.mounts() {
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: a valid path; a mount under our own directory.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}
