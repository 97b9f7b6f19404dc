//! Organizations take turns, each within its cap, and every end of a lease frees its slot
//! exactly once.

use scraperx_core::domain::OrgId;

use super::*;

fn share(org: OrgId, max_running: u32) -> Share {
    Share { org, max_running }
}

/// Enqueues `n` jobs of `org` named `<prefix><i>` at `priority`.
async fn enqueue_jobs(q: &JobQueue, org: Share, prefix: &str, n: usize, priority: u8) {
    for i in 0..n {
        let id = format!("{prefix}{i}");
        assert!(
            q.enqueue_for(org, &id, &id, priority, Duration::ZERO)
                .await
                .expect("enqueue")
        );
    }
}

#[tokio::test]
async fn organizations_take_turns_and_priority_orders_only_an_organization_s_own_jobs() {
    let q = fresh_queue().await;
    let (a, b) = (share(OrgId::new(), 100), share(OrgId::new(), 100));
    enqueue_jobs(&q, a, "a", 5, 10).await;
    enqueue_jobs(&q, b, "b", 2, 1).await;
    q.enqueue_for(b, "b-urgent", "p", 10, Duration::ZERO)
        .await
        .expect("enqueue");
    let mut order = Vec::new();
    while let Some(lease) = q.dequeue(LEASE).await.expect("dequeue") {
        order.push(lease.id.clone());
        assert!(q.ack(&lease).await.expect("ack"));
    }
    assert_eq!(
        order,
        ["a0", "b-urgent", "a1", "b0", "a2", "b1", "a3", "a4"]
    );
    assert_eq!(q.depth().await.expect("depth"), QueueDepth::default());
}

#[tokio::test]
async fn an_organization_at_its_cap_waits_while_others_run_and_resumes_when_a_lease_ends() {
    let q = fresh_queue().await;
    let (a, b) = (share(OrgId::new(), 2), share(OrgId::new(), 2));
    enqueue_jobs(&q, a, "a", 5, 5).await;
    let d = q.depth().await.expect("depth");
    assert_eq!(
        (d.waiting, d.runnable),
        (5, 2),
        "more workers could run only a's share"
    );
    let first = q.dequeue(LEASE).await.expect("dequeue").expect("a0");
    let second = q.dequeue(LEASE).await.expect("dequeue").expect("a1");
    assert_eq!((first.id.as_str(), second.id.as_str()), ("a0", "a1"));
    assert!(
        q.dequeue(LEASE).await.expect("dequeue").is_none(),
        "a is at its cap"
    );
    assert_eq!(q.running(a.org).await.expect("running"), 2);
    let d = q.depth().await.expect("depth");
    assert_eq!((d.waiting, d.runnable, d.active), (3, 0, 2));

    enqueue_jobs(&q, b, "b", 1, 1).await;
    let other = q.dequeue(LEASE).await.expect("dequeue").expect("b0");
    assert_eq!(other.id, "b0", "another organization runs while a waits");

    assert!(q.ack(&first).await.expect("ack"));
    let next = q.dequeue(LEASE).await.expect("dequeue").expect("a2");
    assert_eq!(next.id, "a2");
    assert!(q.dequeue(LEASE).await.expect("dequeue").is_none());
    assert!(q.retry(&second, Duration::ZERO).await.expect("retry"));
    let again = q
        .dequeue(LEASE)
        .await
        .expect("dequeue")
        .expect("a job of a");
    assert_eq!(q.running(a.org).await.expect("running"), 2);
    for lease in [&other, &next, &again] {
        assert!(q.ack(lease).await.expect("ack"));
    }
    assert_eq!(q.running(a.org).await.expect("running"), 0);
    assert_eq!(q.running(b.org).await.expect("running"), 0);
}

#[tokio::test]
async fn a_reclaimed_lease_frees_its_slot_exactly_once() {
    let q = fresh_queue().await;
    let a = share(OrgId::new(), 1);
    enqueue_jobs(&q, a, "a", 2, 5).await;
    let lost = q
        .dequeue(Duration::from_millis(200))
        .await
        .expect("dequeue")
        .expect("a0");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The expired lease is reclaimed by this dequeue, which frees a's one slot; the job
    // goes ahead of a's backlog and is delivered again.
    let next = q.dequeue(LEASE).await.expect("dequeue").expect("a0 again");
    assert_eq!((next.id.as_str(), next.deliveries), ("a0", 2));
    assert_eq!(q.running(a.org).await.expect("running"), 1);
    // The old holder's ack and retry find no lease: the slot is not freed a second time.
    assert!(!q.ack(&lost).await.expect("ack"));
    assert!(!q.retry(&lost, Duration::ZERO).await.expect("retry"));
    assert_eq!(q.running(a.org).await.expect("running"), 1);
    assert!(
        q.dequeue(LEASE).await.expect("dequeue").is_none(),
        "still at its cap"
    );
    assert_eq!(q.depth().await.expect("depth").total(), 2);

    assert!(q.ack(&next).await.expect("ack"));
    let last = q.dequeue(LEASE).await.expect("dequeue").expect("a1");
    assert_eq!((last.id.as_str(), last.deliveries), ("a1", 1));
    assert!(q.ack(&last).await.expect("ack"));
    assert_eq!(q.running(a.org).await.expect("running"), 0);
}

#[tokio::test]
async fn a_dead_owner_s_leases_free_their_organization_s_slots_once() {
    let q = fresh_queue().await;
    let a = share(OrgId::new(), 2);
    enqueue_jobs(&q, a, "a", 3, 5).await;
    let gone = q
        .clone()
        .with_owner(&format!("gone-{}", uuid::Uuid::new_v4()));
    let held = [
        gone.dequeue(LEASE).await.expect("dequeue").expect("a0"),
        gone.dequeue(LEASE).await.expect("dequeue").expect("a1"),
    ];
    assert!(
        q.dequeue(LEASE).await.expect("dequeue").is_none(),
        "a is at its cap"
    );
    tokio::time::sleep(liveness::TTL + Duration::from_millis(200)).await;
    let mut ids = Vec::new();
    while let Some(lease) = q.dequeue(LEASE).await.expect("dequeue") {
        ids.push(lease.id.clone());
        assert!(q.ack(&lease).await.expect("ack"));
    }
    ids.sort();
    assert_eq!(ids, ["a0", "a1", "a2"]);
    for lease in &held {
        assert!(!gone.ack(lease).await.expect("ack"));
    }
    assert_eq!(q.running(a.org).await.expect("running"), 0);
}

#[tokio::test]
async fn a_canceled_job_leaves_its_organization_s_turn_and_no_trace() {
    let q = fresh_queue().await;
    let (a, b) = (share(OrgId::new(), 5), share(OrgId::new(), 5));
    enqueue_jobs(&q, a, "a", 1, 5).await;
    enqueue_jobs(&q, b, "b", 1, 5).await;
    assert_eq!(q.remove("a0").await.expect("remove"), Removal::Removed);
    let lease = q.dequeue(LEASE).await.expect("dequeue").expect("b0");
    assert_eq!(lease.id, "b0");
    assert!(q.ack(&lease).await.expect("ack"));
    assert!(q.dequeue(LEASE).await.expect("dequeue").is_none());
    assert_eq!(q.depth().await.expect("depth"), QueueDepth::default());
}

#[tokio::test]
async fn a_job_waiting_from_before_organizations_took_turns_joins_its_own_when_enqueued_again() {
    let mut conn = queue::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    let q = fresh_queue().await;
    let [wait, _, _, jobs, prio, ..] = q.keys() else {
        panic!("keys")
    };
    // As the earlier scripts left it: in the one waiting set, with no organization.
    let () = redis::pipe()
        .cmd("ZADD")
        .arg(wait)
        .arg(5e12)
        .arg("old")
        .ignore()
        .cmd("HSET")
        .arg(jobs)
        .arg("old")
        .arg("p")
        .ignore()
        .cmd("HSET")
        .arg(prio)
        .arg("old")
        .arg(5)
        .ignore()
        .query_async(&mut conn)
        .await
        .expect("legacy entry");
    assert!(
        q.dequeue(LEASE).await.expect("dequeue").is_none(),
        "in no line"
    );
    // The sweep's check pass enqueues it again, with its organization.
    let a = share(OrgId::new(), 1);
    assert!(
        !q.enqueue_for(a, "old", "p", 5, Duration::ZERO)
            .await
            .expect("enqueue")
    );
    let lease = q.dequeue(LEASE).await.expect("dequeue").expect("old");
    assert_eq!(
        (lease.id.as_str(), q.running(a.org).await.expect("n")),
        ("old", 1)
    );
    assert!(q.ack(&lease).await.expect("ack"));
    assert_eq!(q.depth().await.expect("depth"), QueueDepth::default());
}
