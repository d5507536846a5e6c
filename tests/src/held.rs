//! Which BPF programs and maps a process holds, from its file descriptors
//! (`/proc/PID/fdinfo/*`: a program fd and a link fd name a `prog_id`, a map fd a `map_id`).
//!
//! A node may run other BPF programs, even another sensor with the same names (during a
//! rolling update, say): tests count what their own processes hold, never what has our
//! names.
use std::collections::HashSet;

/// Ids behind the fds of `pid` whose fdinfo has a `key:` line (`prog_id`, `map_id`).
fn ids_held_by(pid: u32, key: &str) -> HashSet<u32> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return HashSet::new();
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_to_string(fd.path()).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().parse().ok())
        })
        .collect()
}

/// The programs process `pid` holds (loaded, or attached through a link).
pub fn programs_held_by(pid: u32) -> HashSet<u32> {
    ids_held_by(pid, "prog_id")
}

/// The maps process `pid` holds.
pub fn maps_held_by(pid: u32) -> HashSet<u32> {
    ids_held_by(pid, "map_id")
}

/// Every program id loaded in the kernel now.
pub fn loaded_programs() -> HashSet<u32> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|p| p.id())
        .collect()
}

/// Every program some living process holds.
fn held_by_anyone() -> HashSet<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return HashSet::new();
    };
    procs
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .flat_map(programs_held_by)
        .collect()
}

/// Programs loaded since `before` that no process holds: what a process that has exited
/// left in the kernel (attached without a link, or pinned). Another sensor's programs are
/// held by that sensor, so they never count.
pub fn orphans_since(before: &HashSet<u32>) -> HashSet<u32> {
    let new: HashSet<u32> = loaded_programs().difference(before).copied().collect();
    if new.is_empty() {
        return new;
    }
    let held = held_by_anyone();
    new.difference(&held).copied().collect()
}

/// The hash map called `name` that process `pid` (a sensor) holds; another sensor has its own.
pub fn hash_map_held_by<V: aya::Pod>(
    pid: u32,
    name: &str,
) -> aya::maps::HashMap<aya::maps::MapData, u64, V> {
    let held = maps_held_by(pid);
    let info = aya::maps::loaded_maps()
        .filter_map(Result::ok)
        .find(|m| held.contains(&m.id()) && m.name_as_str() == Some(name))
        .unwrap_or_else(|| panic!("the sensor holds no {name} map"));
    let map = aya::maps::MapData::from_id(info.id()).unwrap_or_else(|e| panic!("open {name}: {e}"));
    aya::maps::HashMap::try_from(aya::maps::Map::HashMap(map)).expect("a hash map")
}

/// Entries of the LEARNED map process `pid` (a sensor) holds.
pub fn learned_entries(pid: u32) -> usize {
    hash_map_held_by::<[u8; sensor_common::LEARNED_SLOTS]>(pid, "LEARNED")
        .keys()
        .filter(Result::is_ok)
        .count()
}
