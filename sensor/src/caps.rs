//! Which capabilities the sensor has, checked before anything is loaded so that a missing one
//! is named in one sentence instead of surfacing as EPERM from deep inside the loader.

pub use sensor_common::privileges::{
    CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAPABILITIES, Capability,
};

/// The effective capability set of this process, from `/proc/self/status`.
pub fn effective() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    parse_cap_eff(&status)
        .ok_or_else(|| std::io::Error::other("no CapEff line in /proc/self/status"))
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

fn has(eff: u64, bit: u32) -> bool {
    eff & (1 << bit) != 0
}

/// The first required capability missing from `eff`, as `CAP_NAME`. CAP_SYS_ADMIN stands in
/// for all of them (kernels before 5.8 know neither CAP_BPF nor CAP_PERFMON).
pub fn first_missing(eff: u64) -> Option<String> {
    if has(eff, CAP_SYS_ADMIN) {
        return None;
    }
    CAPABILITIES
        .iter()
        .find(|c| c.required && !has(eff, c.bit))
        .map(|c| format!("CAP_{}", c.name))
}

/// The optional capabilities missing from `eff`: the sensor runs without them, with less.
pub fn missing_optional(eff: u64) -> Vec<&'static Capability> {
    if has(eff, CAP_SYS_ADMIN) {
        return Vec::new();
    }
    CAPABILITIES
        .iter()
        .filter(|c| !c.required && !has(eff, c.bit))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cap_eff() {
        let s = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(s), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn names_the_missing_capability() {
        let bpf_only = 1 << CAP_BPF;
        assert_eq!(first_missing(bpf_only).as_deref(), Some("CAP_PERFMON"));
        assert_eq!(first_missing(1 << CAP_PERFMON).as_deref(), Some("CAP_BPF"));
        assert_eq!(first_missing(0).as_deref(), Some("CAP_BPF"));
        assert_eq!(first_missing((1 << CAP_BPF) | (1 << CAP_PERFMON)), None);
        assert_eq!(first_missing(1 << CAP_SYS_ADMIN), None);
        let names: Vec<_> = missing_optional(bpf_only).iter().map(|c| c.name).collect();
        assert_eq!(names, ["SYS_PTRACE"]);
        assert!(missing_optional(1 << CAP_SYS_ADMIN).is_empty());
    }
}
