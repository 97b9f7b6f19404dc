//! The engines' queues are one group: an organization's cap counts its running jobs on
//! every engine, and a lease ending on one engine lets it run again on another.

use scraperx_core::domain::OrgId;

use super::*;

/// Three queues in a group of their own, as `QueueSet` makes the engines' queues.
async fn fresh_group() -> [JobQueue; 3] {
    let conn = queue::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis (run scripts/services.sh up)");
    let group = format!("test-{}", uuid::Uuid::new_v4().simple());
    let names = ["http", "browser", "stealth"].map(|e| format!("{group}-{e}"));
    JobQueue::group(conn, &group, names.each_ref().map(String::as_str))
}

async fn enqueue(q: &JobQueue, share: Share, ids: &[&str]) {
    for id in ids {
        assert!(
            q.enqueue_for(share, id, id, 5, Duration::ZERO)
                .await
                .expect("enqueue")
        );
    }
}

#[tokio::test]
async fn every_key_of_a_group_shares_one_hash_tag() {
    let queues = fresh_group().await;
    let tag = &queues[0].keys()[0][..queues[0].keys()[0].find('}').expect("tag") + 1];
    for q in &queues {
        assert!(
            q.keys().iter().all(|k| k.starts_with(tag)),
            "{:?}",
            q.keys()
        );
    }
}

#[tokio::test]
async fn an_organization_s_cap_holds_over_every_engine_at_once() {
    let [http, browser, stealth] = fresh_group().await;
    let a = Share {
        org: OrgId::new(),
        max_running: 2,
    };
    enqueue(&http, a, &["h0", "h1", "h2"]).await;
    enqueue(&browser, a, &["b0", "b1"]).await;
    enqueue(&stealth, a, &["s0"]).await;

    let on_http = http.dequeue(LEASE).await.expect("dequeue").expect("h0");
    let on_browser = browser.dequeue(LEASE).await.expect("dequeue").expect("b0");
    assert_eq!((on_http.id.as_str(), on_browser.id.as_str()), ("h0", "b0"));
    for q in [&http, &browser, &stealth] {
        assert!(
            q.dequeue(LEASE).await.expect("dequeue").is_none(),
            "{} leased past the organization's cap",
            q.name()
        );
        assert_eq!(q.running(a.org).await.expect("running"), 2);
        assert_eq!(q.depth().await.expect("depth").runnable, 0, "{}", q.name());
    }

    let b = Share {
        org: OrgId::new(),
        max_running: 2,
    };
    enqueue(&stealth, b, &["other"]).await;
    let other = stealth.dequeue(LEASE).await.expect("dequeue").expect("b's");
    assert_eq!(other.id, "other", "another organization runs while a waits");
    assert!(stealth.ack(&other).await.expect("ack"));
    assert_eq!(stealth.running(a.org).await.expect("running"), 2);
}

#[tokio::test]
async fn a_lease_ending_on_one_engine_lets_the_organization_run_on_another() {
    let [http, browser, stealth] = fresh_group().await;
    let a = Share {
        org: OrgId::new(),
        max_running: 1,
    };
    enqueue(&http, a, &["h0", "h1"]).await;
    enqueue(&stealth, a, &["s0"]).await;
    let first = http.dequeue(LEASE).await.expect("dequeue").expect("h0");
    assert!(stealth.dequeue(LEASE).await.expect("dequeue").is_none());

    assert!(http.ack(&first).await.expect("ack"));
    let next = stealth
        .dequeue(LEASE)
        .await
        .expect("dequeue")
        .expect("s0 runs once h0's lease ended");
    assert_eq!(next.id, "s0");
    assert!(http.dequeue(LEASE).await.expect("dequeue").is_none());

    assert!(stealth.retry(&next, Duration::ZERO).await.expect("retry"));
    let last = http.dequeue(LEASE).await.expect("dequeue").expect("h1");
    assert_eq!(
        last.id, "h1",
        "a retried lease frees its slot on the other engines too"
    );
    assert!(browser.dequeue(LEASE).await.expect("dequeue").is_none());
    assert!(http.ack(&last).await.expect("ack"));
    assert_eq!(http.running(a.org).await.expect("running"), 0);
}

#[tokio::test]
async fn an_expired_lease_on_one_engine_frees_the_organization_s_slot_on_the_others() {
    let [http, browser, _] = fresh_group().await;
    let a = Share {
        org: OrgId::new(),
        max_running: 1,
    };
    enqueue(&http, a, &["h0"]).await;
    enqueue(&browser, a, &["b0"]).await;
    let _lost = http
        .dequeue(Duration::from_millis(50))
        .await
        .expect("dequeue")
        .expect("h0");
    assert!(browser.dequeue(LEASE).await.expect("dequeue").is_none());
    tokio::time::sleep(Duration::from_millis(120)).await;
    // The expired lease is reclaimed by its own queue's housekeeping (every dequeue, depth
    // or liveness call there; the operator reads every queue's depth each second).
    assert_eq!(http.depth().await.expect("depth").waiting, 1);
    let next = browser.dequeue(LEASE).await.expect("dequeue").expect("b0");
    assert_eq!(next.id, "b0");
    assert_eq!(browser.running(a.org).await.expect("running"), 1);
}
