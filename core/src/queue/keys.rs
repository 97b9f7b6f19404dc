//! Where a queue's state lives in Redis: one hash tag per queue, or one per group.
//!
//! Invariant: every key a queue script receives carries the same hash tag, so each script
//! touches one cluster slot. A queue alone (webhooks, usage, tests) has the tag
//! `{queue:<name>}` to itself. The job queues (http, browser, stealth) are one group: they
//! share the tag `{queue:<group>}` and, under it, the organizations' caps, their running
//! counts and the sequence that orders waiting jobs and turns, so an organization's cap
//! holds across every engine at once, and a lease ending on one engine lets the
//! organization back in line on the others. The order of the first sixteen keys is the
//! order `lua/prelude.lua` names them; after them come two keys per sibling queue of the
//! group (its `turns` and the prefix of its organizations' waiting sets).

/// The parts of a queue, in the scripts' `KEYS` order; `true` marks those a group shares.
const PARTS: [(&str, bool); 16] = [
    ("wait", false),
    ("delayed", false),
    ("active", false),
    ("jobs", false),
    ("prio", false),
    ("lease", false),
    ("seq", true),
    ("deliveries", false),
    ("owners", false),
    ("alive", false),
    ("intact", false),
    ("orgs", false),
    ("caps", true),
    ("running", true),
    ("turns", false),
    ("wait:", false),
];

/// Index of the running-count hash in a layout (0-based).
pub(super) const RUNNING: usize = 13;
/// Index of the `intact` marker in a layout (0-based).
pub(super) const INTACT: usize = 10;

/// The keys of the queue `name` alone under its own hash tag.
pub(super) fn alone(name: &str) -> Vec<String> {
    PARTS
        .iter()
        .map(|(part, _)| format!("scrx:{{queue:{name}}}:{part}"))
        .collect()
}

/// The keys of `member`, one of `members` sharing the hash tag of `group`: its own parts
/// under its name, the shared parts under the group's, then each sibling's turns and
/// waiting-set prefix.
pub(super) fn in_group(group: &str, member: &str, members: &[&str]) -> Vec<String> {
    let own = |m: &str, part: &str| format!("scrx:{{queue:{group}}}:{m}:{part}");
    let mut keys: Vec<String> = PARTS
        .iter()
        .map(|&(part, shared)| {
            if shared {
                format!("scrx:{{queue:{group}}}:{part}")
            } else {
                own(member, part)
            }
        })
        .collect();
    for sibling in members.iter().filter(|&&m| m != member) {
        keys.push(own(sibling, "turns"));
        keys.push(own(sibling, "wait:"));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str) -> &str {
        let start = key.find('{').expect("a hash tag");
        let end = key[start..].find('}').expect("closed") + start;
        &key[start..=end]
    }

    #[test]
    fn a_queue_alone_keeps_every_key_under_its_own_tag() {
        let keys = alone("http");
        assert_eq!(keys.len(), 16);
        assert!(keys.iter().all(|k| tag(k) == "{queue:http}"));
        assert_eq!(keys[RUNNING], "scrx:{queue:http}:running");
        assert_eq!(keys[INTACT], "scrx:{queue:http}:intact");
    }

    #[test]
    fn a_group_s_members_share_one_tag_and_their_caps_and_running_counts() {
        let members = ["http", "browser", "stealth"];
        let http = in_group("jobs", "http", &members);
        let browser = in_group("jobs", "browser", &members);
        assert!(
            http.iter()
                .chain(&browser)
                .all(|k| tag(k) == "{queue:jobs}")
        );
        for (i, (part, shared)) in PARTS.iter().enumerate() {
            assert_eq!(http[i] == browser[i], *shared, "{part}");
        }
        assert_eq!(http[RUNNING], "scrx:{queue:jobs}:running");
        assert_eq!(http[INTACT], "scrx:{queue:jobs}:http:intact");
    }

    #[test]
    fn a_member_names_each_sibling_s_turns_and_waiting_sets_after_its_own_keys() {
        let members = ["http", "browser", "stealth"];
        let http = in_group("jobs", "http", &members);
        assert_eq!(
            http[16..],
            [
                "scrx:{queue:jobs}:browser:turns",
                "scrx:{queue:jobs}:browser:wait:",
                "scrx:{queue:jobs}:stealth:turns",
                "scrx:{queue:jobs}:stealth:wait:",
            ]
        );
        assert_eq!(in_group("jobs", "http", &["http"]).len(), 16);
    }
}
