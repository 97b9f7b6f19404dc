//! The ScrapeCrawl plan's unit tests: each phase, suspend, the deadline, the TTL, the
//! counts, and no new status when nothing changed.

use std::time::Duration;

use super::*;
use crate::crd::ScrapeCrawl;

fn spec(extra: serde_json::Value) -> ScrapeCrawlSpec {
    let mut spec = serde_json::json!({
        "url": "https://example.com/",
        "organizationRef": { "name": "key", "key": "apiKey" },
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let sc: ScrapeCrawl = serde_json::from_value(serde_json::json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeCrawl",
        "metadata": { "name": "c", "namespace": "ns" }, "spec": spec,
    }))
    .expect("a crawl");
    sc.spec
}

fn row(status: CrawlStatus, reason: Option<CrawlReason>) -> CrawlRow {
    CrawlRow {
        id: CrawlId::from(uuid::Uuid::nil()),
        status,
        reason,
        drifted: false,
    }
}

fn progress(discovered: i64, queued: i64, completed: i64, failed: i64) -> Progress {
    Progress {
        discovered,
        queued,
        completed,
        failed,
        ..Progress::default()
    }
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).expect("a time")
}

fn observed<'a>(
    spec: &'a ScrapeCrawlSpec,
    previous: &'a ScrapeCrawlStatus,
    crawl: &'a CrawlRow,
    progress: Progress,
    now: i64,
) -> Observed<'a> {
    Observed {
        spec,
        generation: Some(1),
        previous,
        crawl,
        progress,
        now: at(now),
    }
}

fn condition_of<'a>(s: &'a ScrapeCrawlStatus, kind: &str) -> &'a Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == kind)
        .expect("condition")
}

#[test]
fn a_running_crawl_is_running_with_its_counts_and_is_looked_at_again_soon() {
    let spec = spec(serde_json::json!({}));
    let previous = ScrapeCrawlStatus::default();
    let crawl = row(CrawlStatus::Running, None);
    let o = observed(&spec, &previous, &crawl, progress(7, 4, 2, 1), 100);
    assert!(moves(&o).is_empty());
    let s = status(&o, false);
    assert_eq!(s.phase, CrawlPhase::Running);
    assert_eq!(
        (s.discovered, s.queued, s.completed, s.failed),
        (7, 4, 2, 1)
    );
    assert_eq!(
        s.crawl_id.as_deref(),
        Some(uuid::Uuid::nil().to_string().as_str())
    );
    assert_eq!(s.start_time, Some(Time(at(100))));
    assert_eq!((s.completion_time.clone(), s.reason.clone()), (None, None));
    assert_eq!(condition_of(&s, "Progressing").status, "True");
    assert_eq!(condition_of(&s, "Complete").status, "False");
    assert_eq!(next(&spec, &s, at(100)), Next::Requeue(REFRESH));
}

#[test]
fn a_crawl_whose_row_and_counts_did_not_change_gets_the_same_status_and_no_moves() {
    let spec = spec(serde_json::json!({}));
    let crawl = row(CrawlStatus::Running, None);
    let first = status(
        &observed(
            &spec,
            &ScrapeCrawlStatus::default(),
            &crawl,
            progress(3, 1, 2, 0),
            100,
        ),
        false,
    );
    let o = observed(&spec, &first, &crawl, progress(3, 1, 2, 0), 160);
    assert!(moves(&o).is_empty());
    assert_eq!(status(&o, false), first, "nothing to write");
    assert_eq!(finish_event(&first, &status(&o, false)), None);
    assert_eq!(drift_event(&o), None);
}

#[test]
fn each_crawl_status_maps_to_its_phase() {
    use CrawlStatus::*;
    let cases = [
        (Running, false, CrawlPhase::Running),
        (Paused, false, CrawlPhase::Suspended),
        (Completed, false, CrawlPhase::Completed),
        (Failed, false, CrawlPhase::Failed),
        (Canceled, false, CrawlPhase::Canceled),
        (Canceled, true, CrawlPhase::Failed),
    ];
    for (crawl, deadline, expected) in cases {
        assert_eq!(
            phase(crawl, deadline),
            expected,
            "{crawl} deadline={deadline}"
        );
    }
}

#[test]
fn suspending_pauses_a_running_crawl_and_clearing_it_resumes_a_paused_one() {
    let suspended = spec(serde_json::json!({ "suspend": true }));
    let previous = ScrapeCrawlStatus::default();
    let running = row(CrawlStatus::Running, None);
    let o = observed(&suspended, &previous, &running, progress(1, 1, 0, 0), 100);
    assert_eq!(moves(&o), vec![Move::Pause]);
    let paused = row(CrawlStatus::Paused, None);
    let o = observed(&suspended, &previous, &paused, progress(1, 1, 0, 0), 101);
    assert!(moves(&o).is_empty(), "paused once");
    let s = status(&o, false);
    assert_eq!(s.phase, CrawlPhase::Suspended);
    assert_eq!(condition_of(&s, "Suspended").status, "True");
    let resumed = spec(serde_json::json!({}));
    let o = observed(&resumed, &s, &paused, progress(1, 1, 0, 0), 102);
    assert_eq!(moves(&o), vec![Move::Resume]);
    let done = row(CrawlStatus::Completed, Some(CrawlReason::Exhausted));
    assert!(
        moves(&observed(&suspended, &s, &done, progress(1, 0, 1, 0), 103)).is_empty(),
        "a finished crawl is not paused"
    );
}

#[test]
fn a_completed_crawl_is_complete_announced_once_and_kept_without_a_ttl() {
    let spec = spec(serde_json::json!({}));
    let running = ScrapeCrawlStatus::default();
    let crawl = row(CrawlStatus::Completed, Some(CrawlReason::LimitReached));
    let o = observed(&spec, &running, &crawl, progress(5, 0, 5, 0), 100);
    let s = status(&o, false);
    assert_eq!(s.phase, CrawlPhase::Completed);
    assert_eq!(s.reason.as_deref(), Some("limit_reached"));
    assert_eq!(s.completion_time, Some(Time(at(100))));
    let complete = condition_of(&s, "Complete");
    assert_eq!(
        (complete.status.as_str(), complete.reason.as_str()),
        ("True", "LimitReached")
    );
    assert_eq!(condition_of(&s, "Failed").status, "False");
    assert_eq!(
        finish_event(&running, &s).map(|n| (n.reason, n.warning)),
        Some(("Completed", false))
    );
    assert_eq!(finish_event(&s, &s), None, "announced once");
    let later = status(
        &observed(&spec, &s, &crawl, progress(5, 0, 5, 0), 300),
        false,
    );
    assert_eq!(later, s, "the completion time is kept");
    assert_eq!(next(&spec, &s, at(300)), Next::AwaitChange);
}

#[test]
fn a_crawl_out_of_credits_fails_and_says_why() {
    let spec = spec(serde_json::json!({}));
    let previous = ScrapeCrawlStatus::default();
    let crawl = row(CrawlStatus::Failed, Some(CrawlReason::InsufficientCredits));
    let s = status(
        &observed(&spec, &previous, &crawl, progress(9, 3, 6, 0), 100),
        false,
    );
    assert_eq!(s.phase, CrawlPhase::Failed);
    assert_eq!(s.reason.as_deref(), Some("insufficient_credits"));
    let failed = condition_of(&s, "Failed");
    assert_eq!(
        (failed.status.as_str(), failed.reason.as_str()),
        ("True", "InsufficientCredits")
    );
    let event = finish_event(&previous, &s).expect("announced");
    assert!(
        event.warning && event.note.contains("insufficient_credits"),
        "{event:?}"
    );
}

#[test]
fn a_crawl_canceled_elsewhere_is_canceled_not_failed() {
    let spec = spec(serde_json::json!({}));
    let previous = ScrapeCrawlStatus::default();
    let crawl = row(CrawlStatus::Canceled, Some(CrawlReason::Canceled));
    let s = status(
        &observed(&spec, &previous, &crawl, progress(2, 0, 1, 0), 100),
        false,
    );
    assert_eq!(s.phase, CrawlPhase::Canceled);
    assert!(s.conditions.iter().all(|c| c.status == "False"));
    assert_eq!(
        finish_event(&previous, &s).map(|n| n.reason),
        Some("Canceled")
    );
}

#[test]
fn the_deadline_cancels_an_unfinished_crawl_and_stays_its_failure_reason() {
    let spec = spec(serde_json::json!({ "activeDeadlineSeconds": 60 }));
    let crawl = row(CrawlStatus::Running, None);
    let first = status(
        &observed(
            &spec,
            &ScrapeCrawlStatus::default(),
            &crawl,
            progress(2, 2, 0, 0),
            100,
        ),
        false,
    );
    assert!(moves(&observed(&spec, &first, &crawl, progress(2, 2, 0, 0), 160)).is_empty());
    let o = observed(&spec, &first, &crawl, progress(2, 2, 0, 0), 161);
    assert_eq!(moves(&o), vec![Move::CancelForDeadline { limit: 60 }]);
    let canceled = row(CrawlStatus::Canceled, Some(CrawlReason::Canceled));
    let s = status(
        &observed(&spec, &first, &canceled, progress(2, 0, 0, 0), 161),
        true,
    );
    assert_eq!(s.phase, CrawlPhase::Failed);
    assert_eq!(s.reason.as_deref(), Some(DEADLINE_EXCEEDED));
    assert_eq!(condition_of(&s, "Failed").reason, "DeadlineExceeded");
    let later = status(
        &observed(&spec, &s, &canceled, progress(2, 0, 0, 0), 300),
        false,
    );
    assert_eq!(later, s, "the reason and completion time are kept");
    assert!(
        moves(&observed(&spec, &s, &canceled, progress(2, 0, 0, 0), 300)).is_empty(),
        "a finished crawl is not canceled again"
    );
}

#[test]
fn a_finished_crawl_is_deleted_when_its_ttl_is_over() {
    let spec = spec(serde_json::json!({ "ttlSecondsAfterFinished": 30 }));
    let crawl = row(CrawlStatus::Completed, Some(CrawlReason::Exhausted));
    let done = status(
        &observed(
            &spec,
            &ScrapeCrawlStatus::default(),
            &crawl,
            progress(1, 0, 1, 0),
            100,
        ),
        false,
    );
    assert_eq!(
        next(&spec, &done, at(110)),
        Next::Requeue(Duration::from_secs(20))
    );
    assert_eq!(next(&spec, &done, at(130)), Next::Delete);
}

#[test]
fn a_changed_url_or_crawl_is_warned_about_once_per_generation_with_the_rule_s_message() {
    let spec = spec(serde_json::json!({}));
    let crawl = CrawlRow {
        drifted: true,
        ..row(CrawlStatus::Running, None)
    };
    let previous = ScrapeCrawlStatus::default();
    let o = observed(&spec, &previous, &crawl, progress(1, 1, 0, 0), 100);
    assert_eq!(
        drift_event(&o),
        Some(Note::warning("SpecChanged", rules::CRAWL_FIXED.to_owned()))
    );
    let s = status(&o, false);
    assert_eq!(
        drift_event(&observed(&spec, &s, &crawl, progress(1, 1, 0, 0), 101)),
        None
    );
}

#[test]
fn a_blocked_crawl_is_pending_and_warns_once_per_reason() {
    let b = Blocked::new("OrganizationUnavailable", "secret k not found");
    let previous = ScrapeCrawlStatus::default();
    let s = blocked_status(&b, &previous, Some(2), at(100));
    assert_eq!(
        (s.phase, s.observed_generation),
        (CrawlPhase::Pending, Some(2))
    );
    assert!(s.conditions.iter().all(|c| c.status == "False"));
    assert!(b.event(&previous.conditions).is_some());
    assert_eq!(b.event(&s.conditions), None, "already reported");
}

#[test]
fn crawl_options_come_from_core_with_its_defaults_and_its_refusals_name_the_spec_field() {
    let options =
        crawl_options(&spec(serde_json::json!({ "crawl": { "limit": 5 } }))).expect("valid");
    let core = CrawlOptions::default();
    assert_eq!(
        (options.limit, options.max_depth, options.max_concurrency),
        (5, core.max_depth, core.max_concurrency)
    );
    let bad = crawl_options(&spec(
        serde_json::json!({ "crawl": { "excludePaths": ["ok", "("] } }),
    ))
    .expect_err("refused");
    assert_eq!(bad.reason, "InvalidSpec");
    assert!(
        bad.message.starts_with("spec.crawl.excludePaths[1]: "),
        "{}",
        bad.message
    );
}
