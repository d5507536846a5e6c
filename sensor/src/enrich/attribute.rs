//! Who made an event, and whether it must wait to be known: its cgroup (a rescan of the
//! cgroup2 tree runs off the reader) or its container's pod metadata (a CRI lookup in flight).
//! Waiting events sit in the [`WaitRoom`](super::wait::WaitRoom), in order per cgroup, until
//! their answer comes or their time runs out; then they go on, marked when late.
use std::time::Instant;

use tokio::sync::oneshot;

use super::{CRI_RETRY, Enricher, cgroups, container::Owner, cri};
use crate::event::{Attribution, Event};

/// What an event is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Awaits {
    Nothing,
    /// Its cgroup, which a rescan running now may find.
    Cgroup,
    /// Its container's pod metadata, which the CRI runtime is being asked for.
    Metadata,
}

impl Enricher {
    /// The runtime's answer for a container, asking for one (without waiting) if there is none.
    fn metadata(&mut self, container_id: &str) -> Option<std::sync::Arc<cri::PodMeta>> {
        let cri = self.cri.as_ref()?;
        if let Some(meta) = cri.get(container_id) {
            self.asked.remove(container_id);
            return Some(meta);
        }
        let due = self
            .asked
            .get(container_id)
            .is_none_or(|t| t.elapsed() >= CRI_RETRY);
        if due {
            cri.request(container_id);
            self.asked.insert(container_id.to_owned(), Instant::now());
        }
        None
    }

    /// Fills in what is known of who made the event (again, for one that waited); says what
    /// it still waits for.
    pub(super) fn attribute(&mut self, ev: &mut Event) -> Awaits {
        if let Attribution::Container {
            container, meta, ..
        } = &mut ev.attribution
        {
            if meta.is_some() {
                return Awaits::Nothing;
            }
            let c = container.clone();
            *meta = self.metadata(&c.id);
            return self.awaits_metadata(&ev.attribution, &c.id);
        }
        if ev.attribution != Attribution::Pending {
            return Awaits::Nothing;
        }
        let Some(info) = self.cgroups.resolve_cached(ev.cgroup_id) else {
            return if self.rescanning() {
                Awaits::Cgroup
            } else {
                Awaits::Nothing
            };
        };
        ev.attribution = match &*info.owner {
            Owner::Container(c) => {
                self.registry
                    .saw(c, ev.cgroup_id, &info.path, ev.time_unix_nano);
                Attribution::Container {
                    container: c.clone(),
                    meta: self.metadata(&c.id),
                    meta_pending: false,
                }
            }
            Owner::Host => Attribution::Host,
            Owner::Unknown => Attribution::Unknown,
        };
        ev.cgroup_path = Some(info.path);
        match &ev.attribution {
            Attribution::Container { container, .. } => {
                let id = container.id.clone();
                self.awaits_metadata(&ev.attribution, &id)
            }
            _ => Awaits::Nothing,
        }
    }

    fn awaits_metadata(&self, a: &Attribution, id: &str) -> Awaits {
        let asking = self.room.enabled()
            && matches!(a, Attribution::Container { meta: None, .. })
            && self.cri.as_ref().is_some_and(|c| c.in_flight(id));
        if asking {
            Awaits::Metadata
        } else {
            Awaits::Nothing
        }
    }

    /// Is a rescan running for a miss? Starts one if none ran lately (and waiting is on).
    fn rescanning(&mut self) -> bool {
        if self.rescan.is_some() {
            return true;
        }
        if !self.room.enabled() || !self.cgroups.rescan_due() {
            return false;
        }
        let (tx, rx) = oneshot::channel();
        let root = self.cgroups.root().to_owned();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(cgroups::scan_tree(&root));
        });
        self.rescan = Some(rx);
        self.rescans += 1;
        true
    }

    /// Resolves once something the waiting events wait for may have come: a rescan ended, the
    /// CRI runtime answered, or a cgroup's time ran out. Then call [`Self::settle`].
    pub async fn wake(&mut self) {
        let deadline = self.room.next_deadline();
        let Self {
            rescan,
            cri,
            room,
            cgroups,
            ..
        } = self;
        if room.is_empty() && rescan.is_none() {
            return std::future::pending().await;
        }
        tokio::select! {
            found = async { rescan.as_mut().expect("guarded").await }, if rescan.is_some() => {
                *rescan = None;
                match found {
                    Ok(Ok(found)) => cgroups.absorb(found),
                    Ok(Err(e)) => tracing::warn!("rescanning {}: {e}", cgroups.root().display()),
                    Err(_) => tracing::warn!("the cgroup rescan task failed"),
                }
            }
            () = async { cri.as_ref().expect("guarded").answered.notified().await },
                if cri.is_some() && !room.is_empty() => {}
            () = async { tokio::time::sleep_until(deadline.expect("guarded").into()).await },
                if deadline.is_some() => {}
        }
    }

    /// Lets out every cgroup's waiting events whose answer came or whose time ran out.
    pub fn settle(&mut self) {
        let now = Instant::now();
        for (cgroup_id, overdue) in self.room.waiting(now) {
            let placeholder = Event::for_cgroup(cgroup_id, 0);
            let Some(mut front) = self
                .room
                .front_mut(cgroup_id)
                .map(|f| std::mem::replace(f, placeholder))
            else {
                continue;
            };
            let awaits = self.attribute(&mut front);
            if let Some(slot) = self.room.front_mut(cgroup_id) {
                *slot = front;
            }
            if awaits == Awaits::Nothing || overdue {
                self.release(cgroup_id, overdue);
            }
        }
    }

    /// Lets a cgroup's waiting events go on, attributed as well as is known now; when
    /// `late`, those still without their answer are marked and counted.
    pub(super) fn release(&mut self, cgroup_id: u64, late: bool) {
        for mut ev in self.room.take(cgroup_id) {
            match (self.attribute(&mut ev), late) {
                (Awaits::Metadata, true) => {
                    self.late.metadata += 1;
                    if let Attribution::Container { meta_pending, .. } = &mut ev.attribution {
                        *meta_pending = true;
                    }
                }
                // Its cgroup is still unknown: the rescan it waited for did not find it, or
                // its time ran out first. It goes out with its attribution pending.
                (Awaits::Cgroup, _) | (Awaits::Nothing, _)
                    if ev.attribution == Attribution::Pending =>
                {
                    self.late.cgroup += 1;
                }
                _ => {}
            }
            self.ready.push_back(ev);
        }
    }
}
