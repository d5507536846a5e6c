//! What `sensor run` shows in its terminal: flagged syscalls (every event with --print-all) and
//! losses, and the eBPF programs' own log lines when asked for.
use sensor_proto::v1 as pb;

use super::RunConfig;
use crate::{
    api::{Identity, convert},
    event::Kind,
    hub::{Hub, Item},
    render,
};

/// Prints what the hub publishes until it closes (or stdout goes away).
pub(super) async fn print_events(hub: Hub, identity: Identity, cfg: RunConfig) {
    use std::io::Write as _;
    let mut sub = hub.subscribe();
    while let Some(item) = sub.next().await {
        if let Item::Event(ev) = &item
            && ev.body.kind() != Kind::FlaggedSyscall
            && !cfg.print_all
        {
            continue;
        }
        let msg: pb::GetEventsResponse = convert::item_to_wire(&item, &identity);
        let line = if cfg.json {
            render::json(&msg).to_string()
        } else {
            render::line(&msg)
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

pub(super) async fn forward_kernel_logs(logger: aya_log::EbpfLogger<&'static dyn log::Log>) {
    use tokio::io::{Interest, unix::AsyncFd};
    // SAFETY: the logger owns its ring-buffer fd for as long as this AsyncFd lives.
    let mut fd = match unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) } {
        Ok(fd) => fd,
        Err(e) => return tracing::warn!("kernel-side logging is unavailable: {e}"),
    };
    loop {
        match fd.readable_mut().await {
            Ok(mut guard) => {
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
            Err(e) => return tracing::warn!("kernel-side logging stopped: {e}"),
        }
    }
}
