//! Why loading or attaching failed, in words a user can act on.
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("this sensor binary has no eBPF object embedded: build it with `cargo xtask build`")]
    NotEmbedded,
    #[error("loading the eBPF object failed: {reason}")]
    Object {
        reason: String,
        source: Box<aya::EbpfError>,
    },
    #[error("reading the kernel's BTF from {path}: {source} (give another with --btf)")]
    Btf {
        path: std::path::PathBuf,
        source: Box<aya::BtfError>,
    },
    #[error("program {0} is missing from the eBPF object (was it built from this version?)")]
    MissingProgram(&'static str),
    #[error("map {0} is missing from the eBPF object (was it built from this version?)")]
    MissingMap(&'static str),
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        source: Box<aya::maps::MapError>,
    },
    #[error("loading program {program} into the kernel failed: {reason}")]
    Load {
        program: &'static str,
        reason: String,
        source: Box<aya::programs::ProgramError>,
    },
    #[error("attaching program {program} to {hook} failed: {reason}")]
    Attach {
        program: &'static str,
        hook: String,
        reason: String,
        source: Box<aya::programs::ProgramError>,
    },
}

/// One sentence for the errno at the bottom of an aya error, or its own text if none fits.
pub(crate) fn explain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(code) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return match code {
                libc::EPERM | libc::EACCES => "permission denied: the sensor needs CAP_BPF and \
                    CAP_PERFMON (or root), and kernel lockdown or a seccomp filter around the \
                    sensor can also forbid bpf()"
                    .to_owned(),
                libc::ENOENT => "the kernel has no such hook (tracepoint)".to_owned(),
                libc::ENOSYS => "the kernel was built without the bpf() syscall".to_owned(),
                libc::E2BIG | libc::ENOMEM => {
                    format!(
                        "the kernel refused the size ({}): lower --ring-buffer-bytes",
                        io::Error::from_raw_os_error(code)
                    )
                }
                _ => format!("{err}"),
            };
        }
        cur = e.source();
    }
    format!("{err}")
}
