//! The Redis job queue against the real Redis that scripts/services.sh starts.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use scraperx_core::{
    config::RedisConfig,
    queue::{self, Entry, JobQueue, QueueDepth, Removal, Share, liveness},
};

mod engines;
mod fairness;

fn entry(id: &str, payload: &str, priority: u8, share: Option<Share>) -> Entry {
    Entry {
        id: id.to_owned(),
        payload: payload.to_owned(),
        priority,
        share,
    }
}

async fn fresh_queue() -> JobQueue {
    let conn = queue::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis (run scripts/services.sh up)");
    JobQueue::named(conn, &format!("test-{}", uuid::Uuid::new_v4().simple()))
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn every_key_of_a_queue_shares_one_hash_tag() {
    let q = fresh_queue().await;
    let tag = format!("{{queue:{}}}", q.name());
    assert!(
        q.keys()
            .iter()
            .all(|k| k.starts_with("scrx:") && k.contains(&tag)),
        "{:?}",
        q.keys()
    );
}

#[tokio::test]
async fn higher_priority_first_then_first_in_first_out() {
    let q = fresh_queue().await;
    for (id, prio) in [("a", 5), ("b", 5), ("c", 10), ("d", 1), ("e", 10), ("f", 5)] {
        assert!(
            q.enqueue(id, id, prio, Duration::ZERO)
                .await
                .expect("enqueue")
        );
    }
    let mut order = Vec::new();
    while let Some(lease) = q.dequeue(LEASE).await.expect("dequeue") {
        order.push(lease.id.clone());
        assert!(q.ack(&lease).await.expect("ack"));
    }
    assert_eq!(order, ["c", "e", "a", "b", "f", "d"]);
    assert_eq!(q.depth().await.expect("depth"), QueueDepth::default());
}

#[tokio::test]
async fn a_job_is_never_queued_twice() {
    let q = fresh_queue().await;
    assert!(
        q.enqueue("job", "1", 5, Duration::ZERO)
            .await
            .expect("enqueue")
    );
    assert!(
        !q.enqueue("job", "2", 5, Duration::ZERO)
            .await
            .expect("duplicate")
    );
    let lease = q.dequeue(LEASE).await.expect("dequeue").expect("job");
    assert_eq!(lease.payload, "1");
    assert!(
        !q.enqueue("job", "3", 5, Duration::ZERO)
            .await
            .expect("while leased")
    );
    assert!(q.ack(&lease).await.expect("ack"));
    assert!(
        q.enqueue("job", "4", 5, Duration::ZERO)
            .await
            .expect("after ack")
    );
    assert!(
        q.enqueue("x", "p", 0, Duration::ZERO).await.is_err(),
        "priority out of range"
    );
}

#[tokio::test]
async fn delayed_jobs_wait_for_their_time_and_retries_back_off() {
    let q = fresh_queue().await;
    q.enqueue("later", "p", 5, Duration::from_millis(300))
        .await
        .expect("enqueue");
    assert!(q.dequeue(LEASE).await.expect("dequeue").is_none());
    assert_eq!(q.depth().await.expect("depth").delayed, 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let lease = q.dequeue(LEASE).await.expect("dequeue").expect("due now");
    assert_eq!(lease.deliveries, 1);
    assert!(
        q.retry(&lease, Duration::from_millis(200))
            .await
            .expect("retry")
    );
    assert!(
        !q.ack(&lease).await.expect("ack after giving back"),
        "the lease ended with the retry"
    );
    assert!(q.dequeue(LEASE).await.expect("dequeue").is_none());
    tokio::time::sleep(Duration::from_millis(250)).await;
    let again = q.dequeue(LEASE).await.expect("dequeue").expect("retried");
    assert_eq!((again.id.as_str(), again.deliveries), ("later", 2));
    assert!(q.ack(&again).await.expect("ack"));
}

#[tokio::test]
async fn an_expired_lease_is_reclaimed_and_the_old_holder_cannot_ack() {
    let q = fresh_queue().await;
    q.enqueue("job", "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    let first = q
        .dequeue(Duration::from_millis(200))
        .await
        .expect("dequeue")
        .expect("job");
    assert_eq!(
        q.depth().await.expect("depth"),
        QueueDepth {
            waiting: 0,
            delayed: 0,
            active: 1,
            runnable: 0
        }
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let second = q.dequeue(LEASE).await.expect("dequeue").expect("reclaimed");
    assert_eq!((second.id.as_str(), second.deliveries), ("job", 2));
    assert!(!q.ack(&first).await.expect("stale ack"));
    assert!(!q.extend(&first, LEASE).await.expect("stale extend"));
    assert!(q.ack(&second).await.expect("ack"));
}

#[tokio::test]
async fn an_extended_lease_is_not_reclaimed() {
    let q = fresh_queue().await;
    q.enqueue("job", "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    let lease = q
        .dequeue(Duration::from_millis(200))
        .await
        .expect("dequeue")
        .expect("job");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(
            q.extend(&lease, Duration::from_millis(200))
                .await
                .expect("extend")
        );
    }
    assert!(
        q.dequeue(LEASE).await.expect("dequeue").is_none(),
        "still leased"
    );
    assert!(q.ack(&lease).await.expect("ack"));
}

#[tokio::test]
async fn removing_takes_waiting_and_delayed_jobs_but_not_leased_ones() {
    let q = fresh_queue().await;
    q.enqueue("waiting", "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    q.enqueue("delayed", "p", 5, Duration::from_secs(60))
        .await
        .expect("enqueue");
    q.enqueue("leased", "p", 10, Duration::ZERO)
        .await
        .expect("enqueue");
    let lease = q.dequeue(LEASE).await.expect("dequeue").expect("job");
    assert_eq!(lease.id, "leased");
    assert_eq!(q.remove("waiting").await.expect("remove"), Removal::Removed);
    assert_eq!(q.remove("delayed").await.expect("remove"), Removal::Removed);
    assert_eq!(q.remove("leased").await.expect("remove"), Removal::InFlight);
    assert_eq!(
        q.remove("unknown").await.expect("remove"),
        Removal::NotQueued
    );
    assert_eq!(
        q.depth().await.expect("depth"),
        QueueDepth {
            waiting: 0,
            delayed: 0,
            active: 1,
            runnable: 0
        }
    );
}

/// Eight consumers race over 300 jobs; one of them dies holding a lease. Every job completes
/// exactly once: the dead consumer's job is reclaimed and run by another, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_racing_consumers_with_one_killed_mid_lease_lose_nothing_and_repeat_nothing() {
    let q = fresh_queue().await;
    const JOBS: usize = 300;
    for i in 0..JOBS {
        q.enqueue(
            &format!("job-{i}"),
            &i.to_string(),
            (i % 10 + 1) as u8,
            Duration::ZERO,
        )
        .await
        .expect("enqueue");
    }
    let completed: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let lease_time = Duration::from_millis(400);

    // The victim leases one job and is killed before acknowledging it.
    let victim = {
        let q = q.clone();
        tokio::spawn(async move {
            let lease = q.dequeue(lease_time).await.expect("dequeue").expect("job");
            tokio::time::sleep(Duration::from_secs(3600)).await;
            q.ack(&lease).await.expect("never reached");
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    victim.abort();
    let _ = victim.await;

    let consumers: Vec<_> = (0..7)
        .map(|_| {
            let (q, completed) = (q.clone(), completed.clone());
            tokio::spawn(async move {
                let mut idle_since = None;
                loop {
                    match q.dequeue(lease_time).await.expect("dequeue") {
                        Some(lease) => {
                            idle_since = None;
                            if q.ack(&lease).await.expect("ack") {
                                *completed.lock().expect("lock").entry(lease.id).or_default() += 1;
                            }
                        }
                        None => {
                            let since = *idle_since.get_or_insert_with(std::time::Instant::now);
                            if q.depth().await.expect("depth").total() == 0
                                || since.elapsed() > Duration::from_secs(5)
                            {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();
    for c in consumers {
        c.await.expect("consumer");
    }
    let completed = completed.lock().expect("lock").clone();
    assert_eq!(completed.len(), JOBS, "every job completed");
    assert!(
        completed.values().all(|&n| n == 1),
        "no job completed twice"
    );
    assert_eq!(q.depth().await.expect("depth"), QueueDepth::default());
}

#[tokio::test]
async fn a_lapsed_owners_lease_goes_back_before_its_deadline() {
    let q = fresh_queue().await;
    q.enqueue("job", "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    let dead = q.clone().with_owner("dead-worker");
    let live = q.clone().with_owner("live-worker");
    let first = dead.dequeue(LEASE).await.expect("dequeue").expect("job");
    assert!(live.dequeue(LEASE).await.expect("dequeue").is_none());
    // The dead worker never refreshes; its 30 s lease is taken back once its liveness lapses.
    let started = std::time::Instant::now();
    let second = loop {
        if let Some(lease) = live.dequeue(LEASE).await.expect("dequeue") {
            break lease;
        }
        assert!(
            started.elapsed() < liveness::TTL + Duration::from_secs(1),
            "not reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(started.elapsed() >= liveness::TTL - Duration::from_millis(100));
    assert_eq!((second.id.as_str(), second.deliveries), ("job", 2));
    assert!(!dead.ack(&first).await.expect("stale ack"));
    assert!(!dead.extend(&first, LEASE).await.expect("stale extend"));
    assert!(live.ack(&second).await.expect("ack"));
}

#[tokio::test]
async fn a_live_owner_keeps_its_lease_past_the_liveness_ttl() {
    let q = fresh_queue().await;
    q.enqueue("job", "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    let owner = q.clone().with_owner("slow-worker");
    let other = q.clone().with_owner("other-worker");
    let lease = owner.dequeue(LEASE).await.expect("dequeue").expect("job");
    let beating = tokio::spawn(liveness::keep_alive(vec![owner.clone()]));
    let until = std::time::Instant::now() + liveness::TTL + Duration::from_secs(1);
    while std::time::Instant::now() < until {
        assert!(
            other.dequeue(LEASE).await.expect("dequeue").is_none(),
            "a live owner's lease was reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(q.depth().await.expect("depth").active, 1);
    assert!(owner.ack(&lease).await.expect("ack"));
    beating.abort();
}

#[tokio::test]
async fn a_lease_without_an_owner_waits_for_its_deadline() {
    let q = fresh_queue().await;
    q.enqueue("job", "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    let lease = q.dequeue(LEASE).await.expect("dequeue").expect("job");
    // Another worker's liveness lapsing touches only its own leases.
    let gone = q.clone().with_owner("short-lived");
    assert!(gone.keep_alive().await.expect("alive"));
    tokio::time::sleep(liveness::TTL + Duration::from_millis(200)).await;
    assert!(q.dequeue(LEASE).await.expect("dequeue").is_none());
    assert!(q.ack(&lease).await.expect("ack"));
}

#[tokio::test]
async fn enqueue_many_adds_only_the_jobs_the_queue_lacks() {
    let q = fresh_queue().await;
    q.enqueue("b", "p", 5, Duration::ZERO)
        .await
        .expect("enqueue");
    let jobs: Vec<Entry> = [("a", 1), ("b", 5), ("c", 10)]
        .into_iter()
        .map(|(id, p)| entry(id, &format!("payload-{id}"), p, None))
        .collect();
    assert_eq!(q.enqueue_many(&jobs).await.expect("enqueue many"), 2);
    assert_eq!(q.enqueue_many(&jobs).await.expect("again"), 0);
    let mut order = Vec::new();
    while let Some(lease) = q.dequeue(LEASE).await.expect("dequeue") {
        order.push((lease.id.clone(), lease.payload.clone()));
        q.ack(&lease).await.expect("ack");
    }
    assert_eq!(
        order,
        [
            ("c".to_owned(), "payload-c".to_owned()),
            ("b".to_owned(), "p".to_owned()),
            ("a".to_owned(), "payload-a".to_owned()),
        ]
    );
    let bad = [entry("x", "p", 0, None)];
    assert!(q.enqueue_many(&bad).await.is_err());
}

#[tokio::test]
async fn a_queue_is_intact_only_after_a_finished_restore_and_until_redis_loses_it() {
    let q = fresh_queue().await;
    assert!(!q.is_intact().await.expect("fresh"));
    assert!(!q.mark_intact().await.expect("nothing to finish"));
    assert!(!q.is_intact().await.expect("never restored"));
    q.mark_restoring().await.expect("begin");
    assert!(!q.is_intact().await.expect("restoring"));
    assert!(q.mark_intact().await.expect("finish"));
    assert!(q.is_intact().await.expect("restored"));
    let conn = queue::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    let _: u64 = redis::cmd("DEL")
        .arg(q.keys())
        .query_async(&mut conn.clone())
        .await
        .expect("lose the queue");
    assert!(!q.is_intact().await.expect("lost"));
    assert!(
        !q.mark_intact().await.expect("lost mid-restore"),
        "a restore interrupted by another loss is not taken as finished"
    );
}

#[tokio::test]
async fn a_reclaimed_job_goes_ahead_of_the_backlog_at_its_priority_but_not_above_higher_ones() {
    let q = fresh_queue().await;
    for (id, priority) in [("first", 5), ("second", 5)] {
        q.enqueue(id, "p", priority, Duration::ZERO)
            .await
            .expect("enqueue");
    }
    let short = Duration::from_millis(50);
    let first = q.dequeue(short).await.expect("dequeue").expect("job");
    let second = q.dequeue(short).await.expect("dequeue").expect("job");
    assert_eq!((first.id.as_str(), second.id.as_str()), ("first", "second"));
    for id in ["backlog-1", "backlog-2"] {
        q.enqueue(id, "p", 5, Duration::ZERO)
            .await
            .expect("enqueue");
    }
    q.enqueue("urgent", "p", 9, Duration::ZERO)
        .await
        .expect("enqueue");
    // Both leases lapse: their jobs come back before the backlog, in the order they were
    // first taken, and after the job of higher priority.
    tokio::time::sleep(Duration::from_millis(120)).await;
    let mut order = Vec::new();
    while let Some(lease) = q.dequeue(LEASE).await.expect("dequeue") {
        order.push(lease.id);
    }
    assert_eq!(
        order,
        ["urgent", "first", "second", "backlog-1", "backlog-2"]
    );
}

#[tokio::test]
async fn jobs_put_back_ahead_go_before_the_backlog_in_the_order_given() {
    let q = fresh_queue().await;
    let backlog: Vec<Entry> = ["queued-1", "queued-2"]
        .into_iter()
        .map(|id| entry(id, "p", 5, None))
        .collect();
    assert_eq!(q.enqueue_many(&backlog).await.expect("backlog"), 2);
    let were_running: Vec<Entry> = ["running-1", "running-2"]
        .into_iter()
        .map(|id| entry(id, "p", 5, None))
        .collect();
    assert_eq!(q.enqueue_many_ahead(&were_running).await.expect("ahead"), 2);
    let mut order = Vec::new();
    while let Some(lease) = q.dequeue(LEASE).await.expect("dequeue") {
        order.push(lease.id.clone());
        q.ack(&lease).await.expect("ack");
    }
    assert_eq!(order, ["running-1", "running-2", "queued-1", "queued-2"]);
}
