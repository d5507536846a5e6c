//! The settings in effect that decide what this sensor reports, how late, and what it may
//! lose, as `sensor status` shows them: after the command line, the environment and the config
//! file were applied, keyed by their long option names (the config file's keys).
use std::collections::BTreeMap;

use clap::ValueEnum as _;

use super::RunConfig;

/// `--name` -> its value in effect, for the Status RPC.
pub fn in_effect(cfg: &RunConfig) -> BTreeMap<String, String> {
    let path = |p: &Option<std::path::PathBuf>, none: &str| {
        p.as_ref()
            .map_or_else(|| none.to_owned(), |p| p.display().to_string())
    };
    let exit_hook = cfg.exit_hook.to_possible_value().map_or_else(
        || format!("{:?}", cfg.exit_hook),
        |v| v.get_name().to_owned(),
    );
    let cri_socket = if cfg.no_cri {
        "off (--no-cri)".to_owned()
    } else {
        path(&super::cri_socket(cfg), "none found")
    };
    // What the runtime was built with (the option's default is one per usable CPU).
    let workers = tokio::runtime::Handle::try_current().map_or_else(
        |_| "unknown".to_owned(),
        |h| h.metrics().num_workers().to_string(),
    );
    [
        ("exit-hook", exit_hook),
        (
            "process-event-delay-ms",
            cfg.process_event_delay.as_millis().to_string(),
        ),
        ("flood-budget", cfg.flood_budget.to_string()),
        ("ring-buffer-bytes", cfg.ring_buffer_bytes.to_string()),
        ("pending-capacity", cfg.pending_capacity.to_string()),
        ("subscriber-queue", cfg.subscriber_queue.to_string()),
        ("replay-buffer", cfg.replay_buffer.to_string()),
        ("max-subscribers", cfg.max_subscribers.to_string()),
        ("startup-seconds", cfg.startup.as_secs().to_string()),
        (
            "metadata-wait-ms",
            cfg.wait.max_wait.as_millis().to_string(),
        ),
        ("max-waiting-events", cfg.wait.max_events.to_string()),
        ("reconcile-every", cfg.reconcile_every.as_secs().to_string()),
        ("worker-threads", workers),
        ("policy", path(&cfg.policy, "built-in")),
        ("cri-socket", cri_socket),
        (
            "pin-dir",
            path(
                &cfg.pin_dir,
                "none (learned calls are not kept across restarts)",
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
