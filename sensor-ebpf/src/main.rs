//! The sensor's eBPF programs. One file per hook family; each program is a thin entry that
//! calls a `try_*` body and always returns 0 (a non-zero return from a tracepoint program
//! would cost a perf sample per hit).
#![no_std]
#![no_main]

mod arch;
mod cgroup;
mod exec;
mod flood;
mod io_uring;
mod learn;
mod maps;
mod namespaces;
mod parked;
mod process;
mod record;
mod socketcall;
mod sys_enter;
mod sys_exit;
mod syscall;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

// GPL-compatible: bpf_probe_read_{kernel,user}* are GPL-only helpers.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
