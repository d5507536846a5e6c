//! Reloading the policy file on SIGHUP and when it changes. A file that does not pass every
//! check is refused: the error is logged and counted, and the policy in force stays.
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};

use super::{Policy, file};

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

/// Watches `path` until the task is dropped. `refused` counts files that were refused.
pub fn spawn(
    path: PathBuf,
    tx: watch::Sender<Arc<Policy>>,
    refused: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        let mut seen = stamp(&path);
        let mut tick = tokio::time::interval(POLL);
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
            match load(&path) {
                Ok(p) => {
                    tracing::info!(
                        syscalls = p.syscalls.len(),
                        exceptions = p.exceptions.len(),
                        "policy reloaded from {} ({why})",
                        path.display()
                    );
                    tx.send_replace(Arc::new(p));
                }
                Err(e) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        "policy reload refused ({why}), the previous policy stays in force: {e:#}"
                    );
                }
            }
        }
    });
    Ok(())
}
