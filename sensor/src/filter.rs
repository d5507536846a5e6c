//! What a subscriber asked to see. Applied by the server, per subscriber.
use crate::event::{Event, Kind};

/// Empty lists match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub kinds: Vec<Kind>,
    pub cgroup_ids: Vec<u64>,
}

impl Filter {
    pub fn matches(&self, event: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&event.body.kind()))
            && (self.cgroup_ids.is_empty() || self.cgroup_ids.contains(&event.cgroup_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Body, Exec};

    #[test]
    fn lists_narrow_and_empty_lists_match_all() {
        let ev = Event::for_test(
            42,
            Body::Exec(Exec {
                filename: vec![],
                ..Default::default()
            }),
        );
        assert!(Filter::default().matches(&ev));
        assert!(
            Filter {
                kinds: vec![Kind::Exec],
                cgroup_ids: vec![42]
            }
            .matches(&ev)
        );
        assert!(
            !Filter {
                kinds: vec![Kind::FlaggedSyscall],
                ..Default::default()
            }
            .matches(&ev)
        );
        assert!(
            !Filter {
                cgroup_ids: vec![7],
                ..Default::default()
            }
            .matches(&ev)
        );
    }
}
