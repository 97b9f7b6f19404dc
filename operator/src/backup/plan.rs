//! The backup decisions, as pure functions: what a run's objects are called, which runs the
//! retention prunes and which one a restore takes, whether a backup is stale, whether a dump
//! or a snapshot passed verification, when a BGSAVE is done, and which objects a mirror
//! copies. The commands only run the tools and move the bytes these functions decide on.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use super::Component;

/// A run's folder name: its start in UTC, `20261202T140000Z`, so names sort by time.
pub const STAMP_FORMAT: &str = "%Y%m%dT%H%M%SZ";

pub fn stamp(at: DateTime<Utc>) -> String {
    at.format(STAMP_FORMAT).to_string()
}

pub fn parse_stamp(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, STAMP_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// The folder of one run: `postgres/20261202T140000Z/`.
pub fn run_prefix(component: Component, at: DateTime<Utc>) -> String {
    format!("{}/{}/", component.name(), stamp(at))
}

/// The artifact of a run (none for the MinIO mirror, whose objects live in mirror buckets).
pub fn artifact_key(component: Component, at: DateTime<Utc>) -> Option<String> {
    let file = match component {
        Component::Postgres => "scraperx.dump",
        Component::Redis => "dump.rdb.gz",
        Component::Minio => return None,
    };
    Some(format!("{}{file}", run_prefix(component, at)))
}

/// The checksum beside an artifact, in `sha256sum` format.
pub fn checksum_key(artifact: &str) -> String {
    format!("{artifact}.sha256")
}

pub fn manifest_key(component: Component, at: DateTime<Utc>) -> String {
    format!("{}manifest.json", run_prefix(component, at))
}

/// The latest attempt's outcome of a component, what monitoring reads.
pub fn status_key(component: Component) -> String {
    format!("status/{}.json", component.name())
}

/// `sha256sum`'s line for `file`: `<hex>  <file>`.
pub fn checksum_line(hex: &str, file: &str) -> String {
    format!("{hex}  {file}\n")
}

/// The hex digest of a `sha256sum` line, when it is one.
pub fn parse_checksum_line(line: &str) -> Option<&str> {
    let hex = line.split_whitespace().next()?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The run stamps found under a component's folder, from the keys listed there.
pub fn runs_in(component: Component, keys: &[String]) -> Vec<DateTime<Utc>> {
    let prefix = format!("{}/", component.name());
    let mut runs: Vec<_> = keys
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix)?.split('/').next())
        .filter_map(parse_stamp)
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

/// The runs the retention removes: older than `retention`, never one of the newest
/// `keep_at_least` (a backup job that stopped running must not leave the bucket empty).
pub fn to_prune(
    runs: &[DateTime<Utc>],
    now: DateTime<Utc>,
    retention: TimeDelta,
    keep_at_least: usize,
) -> Vec<DateTime<Utc>> {
    let mut newest_first = runs.to_vec();
    newest_first.sort_by(|a, b| b.cmp(a));
    newest_first.dedup();
    newest_first
        .into_iter()
        .skip(keep_at_least)
        .filter(|at| now - *at > retention)
        .collect()
}

/// The run a restore takes: the newest at or before `at` (the newest of all without one).
pub fn choose_run(runs: &[DateTime<Utc>], at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    runs.iter()
        .copied()
        .filter(|run| at.is_none_or(|limit| *run <= limit))
        .max()
}

/// Whether a component's last good backup is older than its alert threshold (or missing).
pub fn is_stale(
    component: Component,
    last_success: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    last_success.is_none_or(|at| now - at > component.max_age())
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verification {
    pub ok: bool,
    pub detail: String,
}

impl Verification {
    fn passed(detail: impl Into<String>) -> Self {
        Self {
            ok: true,
            detail: detail.into(),
        }
    }

    fn failed(detail: impl Into<String>) -> Self {
        Self {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// The tables a dump of the platform must hold the data of.
pub const REQUIRED_TABLES: [&str; 4] = [
    "organizations",
    "scrape_jobs",
    "job_results",
    "_sqlx_migrations",
];

/// A dump passes when `pg_restore --list` read it and its table of contents holds the data of
/// every required table (a dump of the wrong database, or a truncated one, does not).
pub fn verify_dump(listed: bool, listing: &str) -> Verification {
    if !listed {
        return Verification::failed("pg_restore --list could not read the dump");
    }
    let entries = listing
        .lines()
        .filter(|l| !l.trim_start().starts_with(';') && !l.trim().is_empty())
        .count();
    // `<id>; <oid> <oid> TABLE DATA <schema> <table> <owner>`
    let with_data: Vec<&str> = listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip_while(|w| *w != "TABLE");
            (words.next() == Some("TABLE") && words.next() == Some("DATA"))
                .then(|| words.nth(1))
                .flatten()
        })
        .collect();
    let missing: Vec<&str> = REQUIRED_TABLES
        .into_iter()
        .filter(|table| !with_data.contains(table))
        .collect();
    if missing.is_empty() {
        Verification::passed(format!("{entries} entries, every required table's data"))
    } else {
        Verification::failed(format!("no data for {}", missing.join(", ")))
    }
}

/// A snapshot passes when `redis-check-rdb` accepted it.
pub fn verify_rdb(checked: bool, output: &str) -> Verification {
    if checked && output.contains("RDB looks OK") {
        Verification::passed("redis-check-rdb: RDB looks OK")
    } else {
        let last = output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Verification::failed(format!("redis-check-rdb refused it: {last}"))
    }
}

/// A restore's bytes match the checksum stored beside them.
pub fn verify_checksum(expected_line: &str, actual_hex: &str) -> Verification {
    match parse_checksum_line(expected_line) {
        Some(expected) if expected.eq_ignore_ascii_case(actual_hex) => {
            Verification::passed(format!("sha256 {actual_hex}"))
        }
        Some(expected) => Verification::failed(format!(
            "sha256 mismatch: stored {expected}, downloaded {actual_hex}"
        )),
        None => Verification::failed("the stored checksum is not a sha256sum line"),
    }
}

/// Where a BGSAVE stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveState {
    Running,
    Done,
    Failed(String),
}

/// From `INFO persistence` and `LASTSAVE` before and now: done once no save runs and
/// LASTSAVE moved with status ok; failed when the last save's status is not ok.
pub fn bgsave_state(info: &str, lastsave_before: i64, lastsave_now: i64) -> SaveState {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    if field("rdb_bgsave_in_progress") != Some("0") {
        return SaveState::Running;
    }
    if lastsave_now <= lastsave_before {
        return match field("rdb_last_bgsave_status") {
            Some("err") => SaveState::Failed("rdb_last_bgsave_status:err".into()),
            _ => SaveState::Running,
        };
    }
    match field("rdb_last_bgsave_status") {
        Some("ok") => SaveState::Done,
        other => SaveState::Failed(format!(
            "rdb_last_bgsave_status:{}",
            other.unwrap_or("missing")
        )),
    }
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub size: i64,
    pub etag: String,
}

/// What a mirror pass does between one source and one target bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorPlan {
    pub copy: Vec<String>,
    pub unchanged: usize,
    /// On the target only: kept (a mirror that deleted them would carry an accidental
    /// deletion into the backup).
    pub extra: usize,
}

/// Whether the target's copy is the source's object. A multipart upload's ETag is not the
/// MD5 of its bytes (`<md5>-<parts>`), and the mirror uploads in one part, so when either
/// side is multipart the sizes decide.
pub fn same_object(source: &Listed, target: &Listed) -> bool {
    let plain = |e: &str| !e.trim_matches('"').contains('-');
    source.size == target.size
        && (!plain(&source.etag)
            || !plain(&target.etag)
            || source.etag.trim_matches('"') == target.etag.trim_matches('"'))
}

/// The objects to copy: missing on the target, or different there.
pub fn plan_mirror(
    source: &BTreeMap<String, Listed>,
    target: &BTreeMap<String, Listed>,
) -> MirrorPlan {
    let mut plan = MirrorPlan::default();
    for (key, object) in source {
        match target.get(key) {
            Some(copy) if same_object(object, copy) => plan.unchanged += 1,
            _ => plan.copy.push(key.clone()),
        }
    }
    plan.extra = target.keys().filter(|k| !source.contains_key(*k)).count();
    plan
}

/// The mirror bucket of a content bucket on the backup target (seed §7.4's naming).
pub fn mirror_bucket(prefix: &str, bucket: &str) -> String {
    format!("{prefix}{bucket}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        parse_stamp(text).unwrap_or_default()
    }

    #[test]
    fn run_names_sort_by_time_and_read_back() {
        let t = at("20261202T140509Z");
        assert_eq!(stamp(t), "20261202T140509Z");
        assert_eq!(
            artifact_key(Component::Postgres, t).as_deref(),
            Some("postgres/20261202T140509Z/scraperx.dump")
        );
        assert_eq!(
            artifact_key(Component::Redis, t).as_deref(),
            Some("redis/20261202T140509Z/dump.rdb.gz")
        );
        assert_eq!(artifact_key(Component::Minio, t), None);
        assert_eq!(
            manifest_key(Component::Minio, t),
            "minio/20261202T140509Z/manifest.json"
        );
        assert_eq!(status_key(Component::Redis), "status/redis.json");
        assert!(stamp(at("20261202T090000Z")) < stamp(at("20261202T100000Z")));
    }

    #[test]
    fn runs_are_read_from_keys_and_foreign_keys_are_ignored() {
        let keys = [
            "postgres/20261202T140000Z/scraperx.dump",
            "postgres/20261202T140000Z/manifest.json",
            "postgres/20261201T140000Z/scraperx.dump",
            "postgres/not-a-run/x",
            "redis/20261202T150000Z/dump.rdb.gz",
        ]
        .map(String::from);
        assert_eq!(
            runs_in(Component::Postgres, &keys),
            vec![at("20261201T140000Z"), at("20261202T140000Z")]
        );
    }

    #[test]
    fn retention_prunes_old_runs_but_keeps_the_newest_few() {
        let now = at("20261231T000000Z");
        let runs = [
            at("20261101T000000Z"),
            at("20261115T000000Z"),
            at("20261220T000000Z"),
        ];
        assert_eq!(
            to_prune(&runs, now, TimeDelta::days(30), 1),
            vec![at("20261115T000000Z"), at("20261101T000000Z")]
        );
        // Every run is old, yet the newest two stay.
        assert_eq!(
            to_prune(&runs, at("20270601T000000Z"), TimeDelta::days(30), 2),
            vec![at("20261101T000000Z")]
        );
        assert!(to_prune(&runs, now, TimeDelta::days(60), 0).is_empty());
    }

    #[test]
    fn a_restore_takes_the_newest_run_not_after_the_asked_time() {
        let runs = [
            at("20261201T000000Z"),
            at("20261202T000000Z"),
            at("20261203T000000Z"),
        ];
        assert_eq!(choose_run(&runs, None), Some(at("20261203T000000Z")));
        assert_eq!(
            choose_run(&runs, Some(at("20261202T120000Z"))),
            Some(at("20261202T000000Z"))
        );
        assert_eq!(choose_run(&runs, Some(at("20261130T000000Z"))), None);
        assert_eq!(choose_run(&[], None), None);
    }

    #[test]
    fn a_backup_is_stale_past_its_component_s_threshold_or_when_there_is_none() {
        let now = at("20261202T120000Z");
        assert!(!is_stale(
            Component::Postgres,
            Some(at("20261202T100100Z")),
            now
        ));
        assert!(is_stale(
            Component::Postgres,
            Some(at("20261202T095900Z")),
            now
        ));
        assert!(is_stale(
            Component::Redis,
            Some(at("20261202T095900Z")),
            now
        ));
        assert!(!is_stale(
            Component::Minio,
            Some(at("20261202T001000Z")),
            now
        ));
        assert!(is_stale(
            Component::Minio,
            Some(at("20261201T235900Z")),
            now
        ));
        assert!(is_stale(Component::Minio, None, now));
    }

    const LISTING: &str = "\
;
; Archive created at 2026-12-02 14:00:00 UTC
;
215; 1259 16390 TABLE public organizations scraperx
4001; 0 16390 TABLE DATA public organizations scraperx
4002; 0 16400 TABLE DATA public scrape_jobs scraperx
4003; 0 16410 TABLE DATA public job_results scraperx
4004; 0 16420 TABLE DATA public _sqlx_migrations scraperx
";

    #[test]
    fn a_dump_passes_only_when_listed_with_every_required_table_s_data() {
        let ok = verify_dump(true, LISTING);
        assert!(ok.ok, "{ok:?}");
        assert!(ok.detail.starts_with("5 entries"), "{}", ok.detail);
        assert!(!verify_dump(false, LISTING).ok);
        let without_jobs: String = LISTING
            .lines()
            .filter(|l| !l.contains("scrape_jobs"))
            .map(|l| format!("{l}\n"))
            .collect();
        let failed = verify_dump(true, &without_jobs);
        assert_eq!(
            (failed.ok, failed.detail.as_str()),
            (false, "no data for scrape_jobs")
        );
        // The table's definition alone is not its data.
        assert!(!verify_dump(true, "1; 1259 1 TABLE public scrape_jobs x\n").ok);
    }

    #[test]
    fn a_snapshot_passes_only_when_redis_check_rdb_says_it_looks_ok() {
        assert!(
            verify_rdb(
                true,
                "[offset 0] Checking RDB file x\n[offset 95] \\o/ RDB looks OK! \\o/\n"
            )
            .ok
        );
        let bad = verify_rdb(
            false,
            "--- RDB ERROR DETECTED ---\n[additional info] Reading type 0\n",
        );
        assert!(!bad.ok);
        assert!(bad.detail.ends_with("Reading type 0"), "{}", bad.detail);
        assert!(!verify_rdb(true, "").ok);
    }

    #[test]
    fn a_download_must_match_its_stored_checksum() {
        let hex = "a".repeat(64);
        assert!(verify_checksum(&checksum_line(&hex, "f"), &hex).ok);
        assert!(verify_checksum(&checksum_line(&hex.to_uppercase(), "f"), &hex).ok);
        assert!(!verify_checksum(&checksum_line(&"b".repeat(64), "f"), &hex).ok);
        assert!(!verify_checksum("garbage", &hex).ok);
    }

    const INFO_IDLE_OK: &str =
        "# Persistence\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\n";

    #[test]
    fn a_bgsave_is_done_when_lastsave_moved_and_nothing_runs_with_status_ok() {
        assert_eq!(bgsave_state(INFO_IDLE_OK, 100, 101), SaveState::Done);
        assert_eq!(bgsave_state(INFO_IDLE_OK, 100, 100), SaveState::Running);
        let running = "rdb_bgsave_in_progress:1\r\nrdb_last_bgsave_status:ok\r\n";
        assert_eq!(bgsave_state(running, 100, 101), SaveState::Running);
        let failed = "rdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:err\r\n";
        assert!(matches!(
            bgsave_state(failed, 100, 100),
            SaveState::Failed(_)
        ));
        assert!(matches!(
            bgsave_state(failed, 100, 101),
            SaveState::Failed(_)
        ));
        assert_eq!(bgsave_state("", 100, 101), SaveState::Running);
    }

    fn listed(size: i64, etag: &str) -> Listed {
        Listed {
            size,
            etag: etag.into(),
        }
    }

    #[test]
    fn a_mirror_copies_what_is_missing_or_different_and_keeps_what_only_the_target_has() {
        let source: BTreeMap<_, _> = [
            ("same".to_string(), listed(10, "\"abc\"")),
            ("changed".to_string(), listed(10, "\"abc\"")),
            ("resized".to_string(), listed(11, "\"abc\"")),
            ("new".to_string(), listed(5, "\"def\"")),
            ("multipart".to_string(), listed(20, "\"xyz-3\"")),
        ]
        .into();
        let target: BTreeMap<_, _> = [
            ("same".to_string(), listed(10, "abc")),
            ("changed".to_string(), listed(10, "\"abd\"")),
            ("resized".to_string(), listed(10, "\"abc\"")),
            ("multipart".to_string(), listed(20, "\"0123\"")),
            ("gone-from-source".to_string(), listed(1, "\"x\"")),
        ]
        .into();
        let plan = plan_mirror(&source, &target);
        assert_eq!(plan.copy, vec!["changed", "new", "resized"]);
        assert_eq!((plan.unchanged, plan.extra), (2, 1));
        assert_eq!(plan_mirror(&source, &source).copy.len(), 0);
        assert_eq!(
            mirror_bucket("scraperx-backup-", "scrx-content"),
            "scraperx-backup-scrx-content"
        );
    }
}
