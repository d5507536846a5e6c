//! Reloading the policy file on SIGHUP and when it changes. A file that does not pass every
//! check is refused: the error is logged and counted, and the policy in force stays.
//!
//! A good file is installed all or nothing, off the reader (attaching exit hooks takes
//! seconds): first in the engine, through the reader, which re-decides every cgroup's
//! exceptions and answers; then in the kernel. If the kernel refuses a part, the previous
//! policy is put back in both and the reload is counted as refused. "policy reloaded ...:
//! in force" is logged, and counted, only once both have it.
use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, oneshot},
};

use super::{Policy, apply::PolicyMaps, binding::Binding, file};
use crate::{reconcile::Made, syscalls::Arch};

/// Installs policies while the sensor runs: a policy file's new versions, and profiles bound
/// through the API (which are kept across file reloads, after the file's own bindings).
pub struct Installer {
    maps: Arc<Mutex<PolicyMaps>>,
    /// The policy in force.
    current: Arc<Policy>,
    /// The policy as the file (or the built-in set) gives it, without the API's bindings.
    base: Arc<Policy>,
    /// Bindings made through the API, in the order they were made.
    api_bindings: Vec<Arc<Binding>>,
    to_reader: mpsc::Sender<Made>,
}

/// The installer, shared by the reload task and the API.
pub type SharedInstaller = Arc<tokio::sync::Mutex<Installer>>;

/// Reloads counted, for the metrics.
#[derive(Debug, Default)]
pub struct ReloadCounts {
    /// Files refused (unreadable, invalid, or not installable in the kernel).
    pub refused: AtomicU64,
    /// Policies put in force.
    pub in_force: AtomicU64,
}

impl Installer {
    /// `maps` already hold `current`.
    pub fn new(maps: PolicyMaps, current: Arc<Policy>, to_reader: mpsc::Sender<Made>) -> Self {
        Self {
            maps: Arc::new(Mutex::new(maps)),
            base: current.clone(),
            current,
            api_bindings: Vec::new(),
            to_reader,
        }
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<Policy> {
        self.current.clone()
    }

    /// `base` with the API's bindings after its own.
    fn with_api_bindings(&self, base: &Policy) -> Policy {
        let mut p = base.clone();
        p.bindings.extend(self.api_bindings.iter().cloned());
        p
    }

    /// Puts a new version of the file's policy in force (the API's bindings stay).
    pub async fn install_file(&mut self, file: Policy) -> anyhow::Result<()> {
        let next = Arc::new(self.with_api_bindings(&file));
        self.install(next).await?;
        self.base = Arc::new(file);
        Ok(())
    }

    /// Binds a profile through the API; one of the same name is replaced. Nothing changes if
    /// the kernel refuses it.
    pub async fn bind(&mut self, binding: Arc<Binding>) -> anyhow::Result<()> {
        let before = self.api_bindings.clone();
        self.api_bindings.retain(|b| b.name != binding.name);
        self.api_bindings.push(binding);
        let next = Arc::new(self.with_api_bindings(&self.base));
        if let Err(e) = self.install(next).await {
            self.api_bindings = before;
            return Err(e);
        }
        Ok(())
    }

    /// Removes an API binding; false when there is none of that name.
    pub async fn unbind(&mut self, name: &str) -> anyhow::Result<bool> {
        let before = self.api_bindings.clone();
        self.api_bindings.retain(|b| b.name != name);
        if self.api_bindings.len() == before.len() {
            return Ok(false);
        }
        let next = Arc::new(self.with_api_bindings(&self.base));
        if let Err(e) = self.install(next).await {
            self.api_bindings = before;
            return Err(e);
        }
        Ok(true)
    }

    /// Hands `policy` to the engine and waits until it has it.
    async fn to_engine(&self, policy: Arc<Policy>) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.to_reader
            .send(Made::Policy(policy, tx))
            .await
            .map_err(|_| anyhow::anyhow!("the reader has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the reader has stopped"))
    }

    async fn to_kernel(&self, policy: Arc<Policy>) -> anyhow::Result<()> {
        let maps = self.maps.clone();
        tokio::task::spawn_blocking(move || {
            maps.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .apply(&policy, Arch::NATIVE)
        })
        .await??;
        Ok(())
    }

    /// Puts `next` in force, or leaves the previous policy in force.
    async fn install(&mut self, next: Arc<Policy>) -> anyhow::Result<()> {
        self.to_engine(next.clone()).await?;
        let Err(e) = self.to_kernel(next.clone()).await else {
            self.current = next;
            return Ok(());
        };
        // Back to the previous policy, in the kernel and then in the engine.
        let back = self.to_kernel(self.current.clone()).await;
        self.to_engine(self.current.clone()).await?;
        match back {
            Ok(()) => Err(e.context("installing it in the kernel (the previous policy is back)")),
            Err(b) => Err(e.context(format!(
                "installing it in the kernel, and putting the previous one back failed too \
                 ({b:#}): the kernel's policy may be partly changed"
            ))),
        }
    }
}

/// How often the file is looked at for changes.
const POLL: Duration = Duration::from_secs(1);

/// Reads and checks a policy file.
pub fn load(path: &std::path::Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading policy file {}: {e}", path.display()))?;
    Ok(file::parse(&text, &path.display().to_string())?)
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Watches `path` until the task is dropped, installing each good version with `installer`.
pub fn spawn(
    path: PathBuf,
    installer: SharedInstaller,
    counts: Arc<ReloadCounts>,
) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut seen = stamp(&path);
        let mut tick = crate::clock::beat(POLL);
        loop {
            let why = tokio::select! {
                _ = hup.recv() => "SIGHUP",
                _ = tick.tick() => {
                    let now = stamp(&path);
                    if now == seen { continue; }
                    seen = now;
                    "the file changed"
                }
            };
            let loaded = load(&path);
            let installed = match loaded {
                Ok(p) => {
                    let (syscalls, exceptions) = (p.syscalls.len(), p.exceptions.len());
                    installer
                        .lock()
                        .await
                        .install_file(p)
                        .await
                        .map(|()| (syscalls, exceptions))
                }
                Err(e) => Err(e),
            };
            match installed {
                Ok((syscalls, exceptions)) => {
                    counts.in_force.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        syscalls,
                        exceptions,
                        "policy reloaded from {} ({why}): in force",
                        path.display()
                    );
                }
                Err(e) => {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        "policy reload refused ({why}), the previous policy stays in force: {e:#}"
                    );
                }
            }
        }
    });
    Ok(())
}
