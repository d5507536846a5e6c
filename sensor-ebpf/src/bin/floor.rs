//! The floor for any sys_enter hook: an empty raw tracepoint program. `cargo xtask bench`
//! measures the sensor against it. `floor_task` is the floor plus the one helper call the
//! sensor's `sys_enter` cannot do without (the running task, for the compat check and the
//! learn cache's key): what is left above it is the sensor's own work. (Measure it first on
//! the tracepoint, as the sensor's runs alone: the first program there that calls a helper
//! pays more than one after it.) `floor_exit`, an empty program on one syscall's exit
//! tracepoint, is what hooking any syscall's exit costs every other syscall: the kernel then
//! calls its per-syscall exit dispatch (a bitmap test) at the exit of every call.
//! `floor_call`, an empty program on one syscall's entry tracepoint and nothing on
//! `sys_enter`, is what watching a single call costs every other call: the same slow path of
//! syscall entry as the floor, which any syscall tracepoint turns on for every task.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_get_current_task_btf,
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn floor(_ctx: RawTracePointContext) -> i32 {
    0
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn floor_task(_ctx: RawTracePointContext) -> i32 {
    // SAFETY: no arguments. The result is tested so that the call stays.
    i32::from(unsafe { bpf_get_current_task_btf() }.is_null())
}

#[tracepoint]
pub fn floor_exit(_ctx: TracePointContext) -> u32 {
    0
}

#[tracepoint]
pub fn floor_call(_ctx: TracePointContext) -> u32 {
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
