//! Flagged calls already in flight when the sensor attached. Their exits come without an
//! entry, and under a seccomp filter (every container's threads) an exit without an entry
//! reads as BLOCKED-BEFORE-ENTRY, which would be false. So once `sys_enter` is attached, every
//! thread's current syscall is read (`/proc/PID/task/TID/syscall`); a thread inside a
//! forbidden call is marked in UNPARKED as if it had entered without room to park: its exit
//! builds its record with its real outcome and `args_read_at_exit`.
//!
//! A call that ends between the kernel's attach and this scan is still judged the old way
//! (a few milliseconds at start). A mark whose call ended before it was written is taken off
//! again: each thread's syscall file is read again after marking.
use std::{collections::HashSet, path::Path};

use aya::maps::{Array, MapData};
use sensor_common::{MARK_UNPARKED, UNPARKED_TIDS_PER_ENTRY};

/// The syscall number a thread is inside now (`None`: running in user space, or gone).
fn current_syscall(task: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(task.join("syscall")).ok()?;
    let nr: i64 = text.split_whitespace().next()?.parse().ok()?;
    u64::try_from(nr).ok()
}

fn set(unparked: &mut Array<MapData, [u8; 64]>, tid: u32, value: u8) -> bool {
    let (index, byte) = (
        tid / UNPARKED_TIDS_PER_ENTRY,
        (tid % UNPARKED_TIDS_PER_ENTRY) as usize,
    );
    let Ok(mut entry) = unparked.get(&index, 0) else {
        return false; // a thread id past the map: its exit says "outcome unknown"
    };
    entry[byte] = value;
    unparked.set(index, entry, 0).is_ok()
}

/// Marks the threads under `proc_root` inside one of the `forbidden` (native) syscalls;
/// returns how many.
pub fn mark(
    proc_root: &Path,
    forbidden: &HashSet<u64>,
    unparked: &mut Array<MapData, [u8; 64]>,
) -> usize {
    let Ok(procs) = std::fs::read_dir(proc_root) else {
        tracing::warn!(
            "cannot read {}: calls in flight at start not marked",
            proc_root.display()
        );
        return 0;
    };
    let mut marked = 0;
    for p in procs.flatten() {
        if !p
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(tid) = t.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let task = t.path();
            let Some(nr) = current_syscall(&task).filter(|nr| forbidden.contains(nr)) else {
                continue;
            };
            if !set(unparked, tid, MARK_UNPARKED) {
                continue;
            }
            if current_syscall(&task) == Some(nr) {
                marked += 1;
            } else {
                // It left the call meanwhile (its exit may have taken the mark already).
                set(unparked, tid, 0);
            }
        }
    }
    marked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_syscall_a_thread_is_in() {
        let dir = std::env::temp_dir().join(format!("sensor-inflight-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("syscall");
        std::fs::write(&file, "128 0x7ffd 0x0 0x8 0x0 0x0 0x0 0x7ffc 0x7f12\n").unwrap();
        assert_eq!(current_syscall(&dir), Some(128));
        std::fs::write(&file, "running\n").unwrap();
        assert_eq!(current_syscall(&dir), None);
        std::fs::write(&file, "-1 0x7ffc 0x7f12\n").unwrap();
        assert_eq!(current_syscall(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
