//! The sensor's userspace: loads the eBPF programs, decodes their records, fans events out to
//! gRPC subscribers. Each module decides one thing; the flow is one-way, top to bottom:
//!
//! - [`daemon`]: wires the pipeline together for `sensor run`.
//! - [`api`]: the gRPC server and the one domain <-> wire conversion module.
//! - [`client`]: the collector side used by `sensor events`.
//! - [`render`]: how an event looks in a terminal or as a JSON line.
//! - [`probes`]: loading and attaching the eBPF object; [`reader`]: draining its ring buffer.
//! - [`hub`]: sequence numbers and fan-out to subscribers; [`filter`]: what each one wants.
//! - [`tracefs`], [`caps`]: what the kernel offers and what we are allowed to do.
//! - [`decode`]: kernel records -> [`event`]s; [`syscalls`] names; [`policy`] what is forbidden.
pub mod abi_tables;
pub mod api;
pub mod args;
pub mod caps;
pub mod cli;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod drift_client;
pub mod enrich;
pub mod event;
pub mod export;
pub mod filter;
pub mod flood;
pub mod hub;
pub mod kernel_btf;
pub mod metrics;
pub mod offsets;
pub mod pins;
pub mod policy;
pub mod probes;
pub mod profile;
pub mod reader;
pub mod reconcile;
pub mod render;
pub mod syscalls;
pub mod timerfd;
pub mod tracefs;
