//! Pod metadata from the container runtime's CRI API (`runtime.v1` over its unix socket):
//! pod name, namespace, container name, image, labels.
//!
//! Lookups never block the event path: the enricher asks for a container id over a bounded
//! channel and reads answers from a shared cache; this task does the RPCs. While a lookup is in
//! flight the container's events wait for it (`enrich::wait`), woken by `answered`. A runtime
//! that is down is reported once (and counted), not once per event.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hyper_util::rt::TokioIo;
use sensor_proto::cri::{
    ContainerFilter, ImageSpec, ImageStatusRequest, ListContainersRequest, PodSandboxStatusRequest,
    image_service_client::ImageServiceClient, runtime_service_client::RuntimeServiceClient,
};
use tokio::{
    net::UnixStream,
    sync::{Notify, mpsc},
};
use tonic::transport::{Channel, Endpoint, Uri};

/// Sockets tried, in order, when none is given (under the host prefix, if any).
pub const DEFAULT_SOCKETS: [&str; 4] = [
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
];

/// The first default socket that exists under `root` (`/`, or the host's root in a pod).
pub fn detect_socket(root: &Path) -> Option<PathBuf> {
    DEFAULT_SOCKETS
        .iter()
        .map(|s| root.join(s.trim_start_matches('/')))
        .find(|p| p.exists())
}

/// What the runtime says about a container and its pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodMeta {
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    pub container_name: String,
    pub image: String,
    /// The container's labels, then the pod's (the container's win on a clash).
    pub labels: BTreeMap<String, String>,
}

/// Answers by container id, shared between the resolver (writer) and the enricher (reader).
pub type MetaCache = Arc<RwLock<HashMap<String, Arc<PodMeta>>>>;

/// Container ids waiting for a lookup.
const QUEUE: usize = 1024;
/// How long one RPC may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// The enricher's side: ask (never waits) and read.
#[derive(Clone, Debug)]
pub struct CriHandle {
    tx: mpsc::Sender<String>,
    pub cache: MetaCache,
    /// Lookups that failed because the runtime did not answer.
    pub errors: Arc<AtomicU64>,
    /// Requests dropped because the queue was full (retried on a later event).
    pub dropped: Arc<AtomicU64>,
    /// Container ids asked about and not answered yet (found or not, or failed).
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// Woken after every lookup ends.
    pub answered: Arc<Notify>,
}

impl CriHandle {
    pub fn get(&self, container_id: &str) -> Option<Arc<PodMeta>> {
        self.cache.read().ok()?.get(container_id).cloned()
    }

    pub fn request(&self, container_id: &str) {
        // In flight before it is sent: the resolver may answer before `try_send` returns.
        if let Ok(mut f) = self.in_flight.lock() {
            f.insert(container_id.to_owned());
        }
        if self.tx.try_send(container_id.to_owned()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut f) = self.in_flight.lock() {
                f.remove(container_id);
            }
        }
    }

    /// A lookup of this container is queued or running.
    pub fn in_flight(&self, container_id: &str) -> bool {
        self.in_flight
            .lock()
            .is_ok_and(|f| f.contains(container_id))
    }

    /// The lookup of `container_id` ended (whatever its result).
    fn done(&self, container_id: &str) {
        if let Ok(mut f) = self.in_flight.lock() {
            f.remove(container_id);
        }
        self.answered.notify_one();
    }

    pub fn forget(&self, container_id: &str) {
        if let Ok(mut c) = self.cache.write() {
            c.remove(container_id);
        }
    }
}

/// Starts the resolver task for the runtime at `socket`.
pub fn spawn(socket: PathBuf) -> CriHandle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = CriHandle {
        tx,
        cache: MetaCache::default(),
        errors: Arc::default(),
        dropped: Arc::default(),
        in_flight: Arc::default(),
        answered: Arc::default(),
    };
    let resolver = Resolver {
        socket,
        client: None,
        down: false,
        handle: handle.clone(),
    };
    tokio::spawn(resolver.run(rx));
    handle
}

struct Resolver {
    socket: PathBuf,
    client: Option<Clients>,
    /// The last lookup failed for want of the runtime (so the next failure is not logged).
    down: bool,
    handle: CriHandle,
}

#[derive(Debug, thiserror::Error)]
enum LookupError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("{0}")]
    Rpc(#[from] tonic::Status),
    #[error("no answer within {RPC_TIMEOUT:?}")]
    Timeout,
}

async fn connect(socket: &Path) -> Result<Clients, tonic::transport::Error> {
    let socket = socket.to_owned();
    // The URI is a placeholder: every connection goes to the unix socket.
    let channel = Endpoint::from_static("http://cri.invalid")
        .connect_timeout(RPC_TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await?;
    Ok(Clients {
        runtime: RuntimeServiceClient::new(channel.clone()),
        images: ImageServiceClient::new(channel),
    })
}

/// The CRI services the sensor asks, over one connection.
struct Clients {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

/// Runs one RPC step with [`RPC_TIMEOUT`].
async fn within<T, E>(f: impl std::future::Future<Output = Result<T, E>>) -> Result<T, LookupError>
where
    LookupError: From<E>,
{
    tokio::time::timeout(RPC_TIMEOUT, f)
        .await
        .map_err(|_| LookupError::Timeout)?
        .map_err(Into::into)
}

impl Resolver {
    async fn run(mut self, mut rx: mpsc::Receiver<String>) {
        while let Some(id) = rx.recv().await {
            if self.handle.get(&id).is_none() {
                self.resolve(&id).await;
            }
            self.handle.done(&id);
        }
    }

    /// Looks `id` up and caches the answer; a failure is counted and told once.
    async fn resolve(&mut self, id: &str) {
        match self.lookup(id).await {
            Ok(Some(meta)) => {
                if self.down {
                    tracing::info!(socket = %self.socket.display(), "the CRI runtime answers again");
                    self.down = false;
                }
                if let Ok(mut c) = self.handle.cache.write() {
                    c.insert(id.to_owned(), Arc::new(meta));
                }
            }
            Ok(None) => {
                tracing::debug!(container = %id, "the CRI runtime does not know this container")
            }
            Err(e) => {
                self.handle.errors.fetch_add(1, Ordering::Relaxed);
                self.client = None;
                if !self.down {
                    tracing::warn!(
                        socket = %self.socket.display(),
                        "the CRI runtime is unavailable ({e}); events carry what cgroup paths \
                         say until it answers again"
                    );
                    self.down = true;
                }
            }
        }
    }

    async fn lookup(&mut self, id: &str) -> Result<Option<PodMeta>, LookupError> {
        if self.client.is_none() {
            self.client = Some(within(connect(&self.socket)).await?);
        }
        let Clients {
            runtime: client,
            images,
        } = self.client.as_mut().expect("connected above");
        let filter = ContainerFilter {
            id: id.to_owned(),
            ..Default::default()
        };
        let list = within(client.list_containers(ListContainersRequest {
            filter: Some(filter),
        }))
        .await?;
        let Some(c) = list
            .into_inner()
            .containers
            .into_iter()
            .find(|c| c.id == id)
        else {
            return Ok(None);
        };
        let req = PodSandboxStatusRequest {
            pod_sandbox_id: c.pod_sandbox_id.clone(),
            verbose: false,
        };
        let pod = within(client.pod_sandbox_status(req))
            .await?
            .into_inner()
            .status
            .unwrap_or_default();
        let pod_meta = pod.metadata.unwrap_or_default();
        let mut labels: BTreeMap<String, String> = pod.labels.into_iter().collect();
        labels.extend(c.labels);
        let mut image = image_reference(c.image, c.image_ref);
        if is_image_id(&image) {
            // A kubelet-made container on a runtime that kept only the id: its first tag
            // (what the runtime's own ContainerStatus shows), else its first digest.
            let status = within(images.image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: image.clone(),
                    ..Default::default()
                }),
                verbose: false,
            }))
            .await?
            .into_inner();
            if let Some(name) = status
                .image
                .and_then(|i| i.repo_tags.into_iter().chain(i.repo_digests).next())
            {
                image = name;
            }
        }
        Ok(Some(PodMeta {
            pod_name: pod_meta.name,
            pod_namespace: pod_meta.namespace,
            pod_uid: pod_meta.uid,
            container_name: c.metadata.unwrap_or_default().name,
            image,
            labels,
        }))
    }
}

/// Is `s` an image id (`sha256:` and 64 hex digits, or the bare digits)?
fn is_image_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The image as the user named it: the reference kubelet passes beside the resolved id
/// (`user_specified_image`), else the runtime's `image` unless that is a bare id (then the
/// runtime's `image_ref`, when that names it by digest). An id left here is resolved to a tag
/// through the image service.
fn image_reference(spec: Option<ImageSpec>, image_ref: String) -> String {
    let spec = spec.unwrap_or_default();
    if !spec.user_specified_image.is_empty() {
        return spec.user_specified_image;
    }
    let names_more = !image_ref.is_empty() && !is_image_id(&image_ref);
    if spec.image.is_empty() || (is_image_id(&spec.image) && names_more) {
        return image_ref;
    }
    spec.image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_the_reference_the_user_gave() {
        let spec = |image: &str, user: &str| {
            Some(ImageSpec {
                image: image.into(),
                user_specified_image: user.into(),
                ..Default::default()
            })
        };
        let id = format!("sha256:{}", "ab".repeat(32));
        let by_digest = "docker.io/library/nginx@sha256:00".to_owned();
        assert_eq!(
            image_reference(spec(&id, "nginx:1.27"), by_digest.clone()),
            "nginx:1.27"
        );
        assert_eq!(
            image_reference(spec("nginx:1.27", ""), by_digest.clone()),
            "nginx:1.27"
        );
        assert_eq!(image_reference(spec(&id, ""), by_digest.clone()), by_digest);
        assert_eq!(image_reference(None, by_digest.clone()), by_digest);
        assert_eq!(image_reference(spec(&id, ""), String::new()), id);
    }

    #[test]
    fn detects_sockets_under_a_host_prefix() {
        let root = std::env::temp_dir().join(format!("sensor-cri-detect-{}", std::process::id()));
        assert_eq!(detect_socket(&root), None);
        let sock = root.join("run/crio/crio.sock");
        std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
        std::fs::write(&sock, b"").unwrap();
        assert_eq!(detect_socket(&root), Some(sock));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[tokio::test]
    async fn a_missing_runtime_is_an_error_not_a_hang() {
        let handle = spawn(PathBuf::from("/nonexistent/cri.sock"));
        handle.request("abc");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while handle.errors.load(Ordering::Relaxed) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no error counted");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(handle.get("abc").is_none());
    }
}
