//! What `sensor run` shows in its terminal: flagged syscalls (every event with --print-all) and
//! losses, and the eBPF programs' own log lines when asked for.
use sensor_proto::v1 as pb;

use super::RunConfig;
use crate::{
    api::{Identity, convert},
    event::Body,
    hub::{Hub, Item},
    policy::Severity,
    render,
};

/// Prints what the hub publishes until it closes (or stdout goes away).
pub(super) async fn print_events(hub: Hub, identity: Identity, cfg: RunConfig) {
    use std::io::Write as _;
    let mut sub = hub.subscribe();
    while let Some(item) = sub.next().await {
        if let Item::Event(ev) = &item
            && !cfg.print_all
            && !shown_by_default(&ev.body, cfg.min_severity)
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

/// The default view: flagged calls, exec findings and profile deviations a user acts on. Losses are always
/// shown.
fn shown_by_default(body: &Body, min: Severity) -> bool {
    match body {
        // A call without a severity (an exit-hook-all report of an unknown number) is shown.
        Body::FlaggedSyscall(f) => f.severity.is_none_or(|s| s >= min),
        // An exec with a finding at least that severe (a fileless one, by default).
        Body::Exec(e) => e.findings.iter().any(|f| f.severity >= min),
        // A call outside a profile a user bound: always worth a look.
        Body::ProfileDeviation(_) => true,
        _ => false,
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
