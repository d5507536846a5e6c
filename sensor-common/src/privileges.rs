//! The capabilities the sensor runs with, in one place: what it checks at start, what the
//! DaemonSet grants (tests/tests/deploy.rs compares the manifest with this list), and why.

/// A capability the sensor uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// The bit in the capability sets.
    pub bit: u32,
    /// As in `capabilities.add` of a Kubernetes securityContext (no `CAP_` prefix).
    pub name: &'static str,
    /// Without it the sensor refuses to start; without the others it runs with less.
    pub required: bool,
    pub why: &'static str,
}

pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// Every capability the sensor uses. CAP_SYS_ADMIN would stand in for all of them; it is not
/// granted by the DaemonSet.
pub const CAPABILITIES: &[Capability] = &[
    Capability {
        bit: CAP_BPF,
        name: "BPF",
        required: true,
        why: "load the programs and create their maps",
    },
    Capability {
        bit: CAP_PERFMON,
        name: "PERFMON",
        required: true,
        why: "attach the tracepoints",
    },
    Capability {
        bit: CAP_SYS_PTRACE,
        name: "SYS_PTRACE",
        required: false,
        why: "read the binaries (/proc/PID/exe) of processes started before the sensor, \
              for parent and grandparent attribution",
    },
];
