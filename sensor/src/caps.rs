//! Which capabilities the sensor has, checked before anything is loaded so that a missing one
//! is named in one sentence instead of surfacing as EPERM from deep inside the loader.

pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// Capabilities the sensor needs to load and attach its programs.
pub const REQUIRED: &[(u32, &str)] = &[(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")];

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

/// The first required capability missing from `eff`. CAP_SYS_ADMIN stands in for all of them
/// (kernels before 5.8 know neither CAP_BPF nor CAP_PERFMON).
pub fn first_missing(eff: u64) -> Option<&'static str> {
    if eff & (1 << CAP_SYS_ADMIN) != 0 {
        return None;
    }
    REQUIRED
        .iter()
        .find(|(bit, _)| eff & (1 << bit) == 0)
        .map(|(_, name)| *name)
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
        assert_eq!(first_missing(bpf_only), Some("CAP_PERFMON"));
        assert_eq!(first_missing(1 << CAP_PERFMON), Some("CAP_BPF"));
        assert_eq!(first_missing(0), Some("CAP_BPF"));
        assert_eq!(first_missing((1 << CAP_BPF) | (1 << CAP_PERFMON)), None);
        assert_eq!(first_missing(1 << CAP_SYS_ADMIN), None);
    }
}
