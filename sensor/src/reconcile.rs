//! Reconciliation against the cgroup tree. The sensor forgets a cgroup when the kernel's
//! cgroup_rmdir record says it went; when that record is lost (a full ring buffer), the
//! attribution cache, the policy's decisions and exceptions, and the kernel's learned entries
//! of that cgroup would stay for ever (and at 16,384 learned entries learning would stop for
//! the node). So every `--reconcile-every`, the cgroups the sensor tracks are compared with
//! the cgroup2 tree, and each one that is gone is removed as its lost record would have
//! removed it (counted: `sensor_cgroups_reconciled_total`).
use std::{
    collections::HashSet,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use crate::decode::Record;

/// The inode number of the cgroup2 hierarchy's root directory.
const CGROUP2_ROOT_INO: u64 = 1;

/// What the reader is handed besides the ring buffer's records (made here, by the flood
/// watch, and by the policy reload).
pub enum Made {
    /// A record the sensor made itself (a flood summary, a removal found by reconciliation).
    Record(Box<Record>),
    /// Asks for the ids of every cgroup the reader tracks.
    Tracked(oneshot::Sender<HashSet<u64>>),
    /// A new policy for the engine; answered once it judges by it.
    Policy(Arc<crate::policy::Policy>, oneshot::Sender<()>),
    /// A second went by (start-ups that are over).
    Tick,
}

/// Sends a [`Made::Tick`] every second, until the reader stops.
pub async fn tick(to_reader: mpsc::Sender<Made>) {
    let mut every = crate::clock::beat(std::time::Duration::from_secs(1));
    loop {
        every.tick().await;
        if to_reader.send(Made::Tick).await.is_err() {
            return;
        }
    }
}

/// The ids (inode numbers) of every cgroup under `root`, the cgroup2 mount.
pub fn live_cgroups(root: &Path) -> std::io::Result<HashSet<u64>> {
    let mut live = HashSet::new();
    crate::enrich::cgroups::walk(root, |ino, _| {
        live.insert(ino);
    })?;
    Ok(live)
}

/// Every `every`, removes the tracked cgroups that are gone. The tracked set is taken before
/// the tree is walked, so a cgroup made meanwhile is never taken for a gone one.
pub async fn run(
    root: PathBuf,
    to_reader: mpsc::Sender<Made>,
    every: Duration,
    done: Arc<AtomicU64>,
) {
    // Only the whole tree says which cgroups are gone: a subtree (a cgroup namespace's view)
    // would make every cgroup outside it look gone. The cgroup2 root is inode 1.
    match std::fs::metadata(&root) {
        Ok(m) if m.ino() == CGROUP2_ROOT_INO => {}
        Ok(_) => {
            tracing::warn!(
                "{} is not the root of the cgroup2 hierarchy (a cgroup namespace?): no \
                 reconciliation; state of cgroups whose removal records are lost stays",
                root.display()
            );
            return;
        }
        Err(e) => {
            tracing::warn!("reconciliation off: {}: {e}", root.display());
            return;
        }
    }
    let mut tick = crate::clock::beat(every);
    tick.tick().await; // the first point of the grid may be near: start one period after it
    loop {
        tick.tick().await;
        let (tx, rx) = oneshot::channel();
        if to_reader.send(Made::Tracked(tx)).await.is_err() {
            return; // the reader is gone
        }
        let Ok(tracked) = rx.await else {
            return;
        };
        let dir = root.clone();
        let live = match tokio::task::spawn_blocking(move || live_cgroups(&dir)).await {
            Ok(Ok(live)) => live,
            Ok(Err(e)) => {
                tracing::warn!("reconciliation: cannot walk {}: {e}", root.display());
                continue;
            }
            Err(_) => continue,
        };
        let gone: Vec<u64> = tracked.difference(&live).copied().collect();
        for &id in &gone {
            if to_reader
                .send(Made::Record(Box::new(Record::CgroupRmdir { id })))
                .await
                .is_err()
            {
                return;
            }
        }
        if !gone.is_empty() {
            done.fetch_add(gone.len() as u64, Ordering::Relaxed);
            tracing::info!(
                cgroups = gone.len(),
                "reconciliation: forgot cgroups that went without a removal record"
            );
        }
    }
}
