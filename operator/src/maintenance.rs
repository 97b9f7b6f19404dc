//! Maintenance, run by one operator replica at a time: the holder of the Lease
//! `scraperx-operator-maintenance` (renewed every few seconds, taken over when it lapses).
//! Each task has an interval; its last and next runs and last result are kept in the
//! ConfigMap `scraperx-maintenance`, so `kubectl get cm scraperx-maintenance -o yaml` shows
//! what ran when.

use std::{collections::BTreeMap, time::Duration};

use chrono::{Days, Utc};
use k8s_openapi::{
    api::{
        coordination::v1::{Lease, LeaseSpec},
        core::v1::ConfigMap,
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
};
use scraperx_core::{
    content::{self, ContentStore},
    hot::{self, RedisConn},
    pg::Db,
};
use serde_json::{Value, json};

use crate::{Error, Result, status::FIELD_MANAGER};

pub const LEASE_NAME: &str = "scraperx-operator-maintenance";
pub const STATUS_CONFIGMAP: &str = "scraperx-maintenance";
pub const LEASE_SECONDS: i32 = 15;
/// Months of partitions kept ready ahead of the current one.
pub const PARTITION_MONTHS_AHEAD: i32 = 3;

/// The tasks and how often each runs.
/// (The re-enqueue sweep is not among them: the workers run it, `core::sweep`.)
pub const TASKS: [(&str, Duration); 5] = [
    ("partitions", Duration::from_secs(3_600)),
    ("retention", Duration::from_secs(3_600)),
    ("usage", Duration::from_secs(3_600)),
    ("credits", Duration::from_secs(3_600)),
    ("orphans", Duration::from_secs(600)),
];

pub struct Maintenance {
    pub db: Db,
    pub redis: RedisConn,
    pub store: ContentStore,
    /// The expiry given to Redis keys found without one.
    pub ttl: hot::TtlConfig,
}

impl Maintenance {
    /// Runs one task; returns what it did.
    pub async fn run(&self, task: &str) -> Result<Value> {
        Ok(match task {
            "partitions" => {
                let created = self.db.ensure_partitions(PARTITION_MONTHS_AHEAD).await?;
                let dropped = self.db.drop_old_partitions().await?;
                json!({ "partitions": created, "dropped": dropped })
            }
            "retention" => {
                let retention = self.db.apply_retention().await?;
                let expired = self.db.cleanup_expired_results().await?;
                let objects = content::drain_object_deletions(&self.db, &self.store, 500).await?;
                json!({ "retention": retention, "expired_results": expired, "objects": objects })
            }
            "usage" => {
                let yesterday = Utc::now().date_naive() - Days::new(1);
                let n = self.db.aggregate_daily_usage(yesterday).await?;
                json!({ "day": yesterday, "organizations": n })
            }
            "credits" => json!({ "reset": self.db.reset_monthly_credits().await? }),
            "orphans" => {
                let r = hot::orphans::repair_orphans(&self.redis, &self.ttl, 1_000).await?;
                json!({ "scanned": r.scanned, "repaired": r.repaired })
            }
            other => return Err(Error::Invalid(format!("unknown maintenance task {other}"))),
        })
    }

    /// Every task once, in order (the `maintenance` command).
    pub async fn run_all(&self) -> Result<Value> {
        let mut out = serde_json::Map::new();
        for (task, _) in TASKS {
            out.insert(task.into(), self.run(task).await?);
        }
        Ok(Value::Object(out))
    }
}

/// Holds or takes the Lease; true while this replica leads.
pub async fn acquire(client: &Client, ns: &str, identity: &str) -> Result<bool> {
    let api: Api<Lease> = Api::namespaced(client.clone(), ns);
    let now = MicroTime(Timestamp::now());
    let spec = |transitions: i32| LeaseSpec {
        holder_identity: Some(identity.into()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: Some(now.clone()),
        renew_time: Some(now.clone()),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    };
    match api.get_opt(LEASE_NAME).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.into()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec(0)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        Some(mut lease) => {
            let current = lease.spec.clone().unwrap_or_default();
            let mine = current.holder_identity.as_deref() == Some(identity);
            let lapsed = current.renew_time.as_ref().is_none_or(|t| {
                let duration = i64::from(current.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
                Timestamp::now().as_second() > t.0.as_second() + duration
            });
            if !mine && !lapsed {
                return Ok(false);
            }
            let transitions = current.lease_transitions.unwrap_or(0) + i32::from(!mine);
            let mut next = spec(transitions);
            if mine {
                next.acquire_time = current.acquire_time;
            }
            lease.spec = Some(next);
            // resourceVersion makes this a compare-and-swap: two candidates cannot both win.
            match api
                .replace(LEASE_NAME, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Records a task's run in the status ConfigMap.
async fn record(
    client: &Client,
    ns: &str,
    task: &str,
    every: Duration,
    outcome: &Result<Value>,
) -> Result<()> {
    let now = Utc::now();
    let next = now + chrono::Duration::from_std(every).unwrap_or_default();
    let entry = match outcome {
        Ok(v) => {
            json!({ "lastRun": now, "nextRun": next, "everySeconds": every.as_secs(), "result": v })
        }
        Err(e) => {
            json!({ "lastRun": now, "nextRun": next, "everySeconds": every.as_secs(), "error": e.to_string() })
        }
    };
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(STATUS_CONFIGMAP.into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            format!("{task}.json"),
            entry.to_string(),
        )])),
        ..ConfigMap::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .patch(
            STATUS_CONFIGMAP,
            &PatchParams::apply(&format!("{FIELD_MANAGER}-{task}")).force(),
            &Patch::Apply(&cm),
        )
        .await?;
    Ok(())
}

/// Leads maintenance while holding the Lease, until `stop` turns true.
pub async fn lead(
    maintenance: Maintenance,
    client: Client,
    ns: String,
    identity: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut due: BTreeMap<&str, tokio::time::Instant> = TASKS
        .iter()
        .map(|(t, _)| (*t, tokio::time::Instant::now()))
        .collect();
    while !*stop.borrow() {
        match acquire(&client, &ns, &identity).await {
            Ok(true) => {
                for (task, every) in TASKS {
                    if due
                        .get(task)
                        .is_some_and(|d| *d <= tokio::time::Instant::now())
                    {
                        let outcome = maintenance.run(task).await;
                        if let Err(err) = &outcome {
                            tracing::warn!(task, error = %err, "maintenance task failed");
                        }
                        if let Err(err) = record(&client, &ns, task, every, &outcome).await {
                            tracing::warn!(task, error = %err, "maintenance status not recorded");
                        }
                        due.insert(task, tokio::time::Instant::now() + every);
                    }
                }
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "lease not reachable"),
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
