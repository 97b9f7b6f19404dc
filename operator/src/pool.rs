//! The WorkerPool controller: owns a Deployment of workers for one engine (owner reference,
//! server-side apply) and sets its replicas from the depth of that engine's Redis queue,
//! read every second (see [`crate::scaler`] for the rules).

use std::{
    collections::BTreeMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec},
        core::v1::PodTemplateSpec,
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use scraperx_core::queue::QueueDepth;
use tracing::instrument;

use crate::status::{self, FIELD_MANAGER};
use crate::{
    Error, Result,
    context::Context,
    crd::{WorkerPool, WorkerPoolStatus},
    metrics::{PoolLabels, ScaleLabels},
    scaler::Decision,
    workload,
};

/// How often the queue depth is read.
pub const POLL: Duration = Duration::from_secs(1);
/// The `app.kubernetes.io/name` of every worker pod (the chart's NetworkPolicy selects it).
pub const WORKER_NAME_LABEL: &str = "scraperx-worker";

pub fn deployment_name(pool: &WorkerPool) -> String {
    format!("scraperx-worker-{}", pool.name_any())
}

/// The annotation on a pool's Deployment holding a hash of its pod template, so that a
/// changed pod (the pool's spec, or a new operator's template) is applied again.
pub const TEMPLATE_HASH: &str = "scraperx.io/pod-template-hash";

fn template_hash(template: &PodTemplateSpec) -> String {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(template)
        .unwrap_or_default()
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The Deployment of a pool's workers at `replicas`, owned by the pool; its pod is
/// [`workload::pod_spec`].
pub fn deployment(pool: &WorkerPool, replicas: u32, queue_namespace: &str) -> Result<Deployment> {
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            WORKER_NAME_LABEL.to_owned(),
        ),
        ("app.kubernetes.io/instance".to_owned(), pool.name_any()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "scraperx-operator".to_owned(),
        ),
    ]);
    let owner = pool
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Invalid("the pool has no uid yet".into()))?;
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        }),
        spec: Some(workload::pod_spec(&pool.spec, queue_namespace)),
    };
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(deployment_name(pool)),
            namespace: pool.namespace(),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([(
                TEMPLATE_HASH.to_owned(),
                template_hash(&template),
            )])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(replicas).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(labels),
                ..LabelSelector::default()
            },
            template,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

#[instrument(skip(pool, ctx), fields(pool = %pool.name_any()))]
pub async fn reconcile(pool: Arc<WorkerPool>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile("workerpool");
    let ns = pool
        .namespace()
        .ok_or_else(|| Error::Invalid("WorkerPool must be namespaced".into()))?;
    let spec = &pool.spec;
    spec.validate()
        .map_err(|message| Error::Invalid(message.into()))?;
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = deployments.get_opt(&deployment_name(&pool)).await?;
    let current = existing
        .as_ref()
        .and_then(|d| d.spec.as_ref().and_then(|s| s.replicas))
        .map_or(spec.min_replicas, |r| u32::try_from(r).unwrap_or(0));
    let previous = pool.status.clone().unwrap_or_default();
    let depth = ctx.queues.for_engine(spec.engine.engine()).depth().await?;
    let key = format!("{ns}/{}", pool.name_any());
    let decision = ctx.scalers.lock().await.entry(key).or_default().decide(
        Instant::now(),
        current,
        // Jobs waiting only for their organization's cap would not use more workers.
        depth.runnable,
        depth.active,
        spec,
    );
    // Applied when it is missing, rescaled or its pod changed (the pool's spec, or this
    // operator's template), not on every one-second poll.
    let desired = deployment(&pool, decision.replicas, ctx.queues.namespace())?;
    let pod_changed = existing.as_ref().is_none_or(|d| {
        d.annotations().get(TEMPLATE_HASH) != desired.annotations().get(TEMPLATE_HASH)
    });
    if pod_changed || decision.replicas != current {
        deployments
            .patch(
                &deployment_name(&pool),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&desired),
            )
            .await?;
    }

    let labels = PoolLabels {
        namespace: ns.clone(),
        pool: pool.name_any(),
    };
    ctx.metrics
        .queue_depth
        .get_or_create(&labels)
        .set(i64::try_from(depth.total()).unwrap_or(i64::MAX));
    ctx.metrics
        .desired_replicas
        .get_or_create(&labels)
        .set(i64::from(decision.replicas));
    let mut last_scale_time = previous.last_scale_time.clone();
    if decision.replicas != current {
        record_scale(&ctx, &pool, current, decision, &depth).await;
        last_scale_time = Some(status::now());
    }
    let status = status_of(&pool, &previous, decision, &depth, last_scale_time);
    status::patch_status(&ctx, pool.as_ref(), Some(&previous), &status).await?;
    ctx.succeeded(&status::key(pool.as_ref()));
    Ok(Action::requeue(POLL))
}

/// Counts a scaling step and records it as an Event on the pool.
async fn record_scale(
    ctx: &Context,
    pool: &WorkerPool,
    current: u32,
    decision: Decision,
    depth: &QueueDepth,
) {
    let up = decision.replicas > current;
    ctx.metrics
        .scaling
        .get_or_create(&ScaleLabels {
            namespace: pool.namespace().unwrap_or_default(),
            pool: pool.name_any(),
            direction: if up { "up" } else { "down" }.into(),
        })
        .inc();
    let note = format!(
        "{current} -> {} replicas (queue: {} waiting, {} in flight)",
        decision.replicas, depth.waiting, depth.active
    );
    let reason = if up { "ScaledUp" } else { "ScaledDown" };
    status::event(ctx, pool, EventType::Normal, reason, "Scale", note).await;
}

/// The pool's status after a scaling decision.
fn status_of(
    pool: &WorkerPool,
    previous: &WorkerPoolStatus,
    decision: Decision,
    depth: &QueueDepth,
    last_scale_time: Option<Time>,
) -> WorkerPoolStatus {
    let limited = decision.replicas != decision.raw;
    let now = status::now();
    WorkerPoolStatus {
        replicas: decision.replicas,
        desired_replicas: decision.raw,
        queue_depth: i64::try_from(depth.total()).unwrap_or(i64::MAX),
        last_scale_time,
        observed_generation: pool.metadata.generation,
        conditions: vec![
            status::condition(
                &previous.conditions,
                "ScalingActive",
                true,
                "QueueDepth",
                &format!("{} waiting, {} in flight", depth.waiting, depth.active),
                None,
                &now,
            ),
            status::condition(
                &previous.conditions,
                "ScalingLimited",
                limited,
                if limited {
                    "StabilizationOrStep"
                } else {
                    "AtRecommendation"
                },
                &format!(
                    "recommended {}, running {}",
                    decision.raw, decision.replicas
                ),
                None,
                &now,
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(image: &str) -> WorkerPool {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "scraperx.io/v1alpha1", "kind": "WorkerPool",
            "metadata": { "name": "http", "namespace": "ns", "uid": "8b1f7c52-1d0e-4f43-9a51-0c8d2f0e6a11" },
            "spec": { "engine": "http", "minReplicas": 0, "maxReplicas": 3,
                      "targetJobsPerReplica": 2, "image": image },
        }))
        .expect("manifest")
    }

    fn hash(d: &Deployment) -> String {
        d.annotations().get(TEMPLATE_HASH).cloned().expect("hash")
    }

    #[test]
    fn the_template_hash_changes_with_the_pod_and_not_with_the_replicas() {
        let one = deployment(&pool("worker:1"), 1, "").expect("deployment");
        let rescaled = deployment(&pool("worker:1"), 4, "").expect("deployment");
        let new_image = deployment(&pool("worker:2"), 1, "").expect("deployment");
        assert_eq!(hash(&one), hash(&rescaled));
        assert_ne!(hash(&one), hash(&new_image));
    }
}
