//! The WorkerPool controller: owns a Deployment of workers for one engine (owner reference,
//! server-side apply) and sets its replicas from the depth of that engine's Redis queue,
//! read every second (see [`crate::scaler`] for the rules).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec},
        core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec},
    },
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use tracing::instrument;

use scraperx_core::config;

use crate::status::{self, FIELD_MANAGER};
use crate::{
    Error, Result,
    context::Context,
    crd::{WorkerPool, WorkerPoolStatus},
    metrics::{PoolLabels, ScaleLabels},
};

/// How often the queue depth is read.
pub const POLL: Duration = Duration::from_secs(1);

pub fn deployment_name(pool: &WorkerPool) -> String {
    format!("scraperx-worker-{}", pool.name_any())
}

fn deployment(pool: &WorkerPool, replicas: u32, queue_namespace: &str) -> Result<Deployment> {
    let name = deployment_name(pool);
    let labels = BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "scraperx-worker".to_owned(),
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
    let spec = &pool.spec;
    let mut env = vec![
        EnvVar {
            name: config::ENV_WORKER_ENGINES.into(),
            value: Some(spec.engine.engine().as_str().into()),
            ..EnvVar::default()
        },
        EnvVar {
            name: config::ENV_WORKER_GRACE_SECS.into(),
            value: Some(spec.drain_grace_period_seconds.to_string()),
            ..EnvVar::default()
        },
    ];
    // The workers read the queues the pool is scaled on.
    if !queue_namespace.is_empty() {
        env.push(EnvVar {
            name: config::ENV_QUEUE_NAMESPACE.into(),
            value: Some(queue_namespace.into()),
            ..EnvVar::default()
        });
    }
    if let Some(contexts) = spec.browser.contexts_per_worker {
        env.push(EnvVar {
            name: config::ENV_BROWSER_CONTEXTS.into(),
            value: Some(contexts.to_string()),
            ..EnvVar::default()
        });
    }
    env.extend(spec.env.iter().cloned());
    Ok(Deployment {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: pool.namespace(),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(replicas).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    // SIGTERM, then this long to finish or hand back the jobs in flight.
                    termination_grace_period_seconds: Some(
                        i64::from(spec.drain_grace_period_seconds) + 5,
                    ),
                    containers: vec![Container {
                        name: "worker".into(),
                        image: Some(spec.image.clone()),
                        args: Some(vec!["run".into()]),
                        env: Some(env),
                        resources: spec.resources.clone(),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
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
        depth.waiting,
        depth.active,
        spec,
    );
    // Applied when something it is made of changed (the pool's spec, its replicas) or it is
    // missing, not on every one-second poll.
    let spec_applied = previous.observed_generation == pool.metadata.generation;
    if existing.is_none() || decision.replicas != current || !spec_applied {
        deployments
            .patch(
                &deployment_name(&pool),
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&deployment(
                    &pool,
                    decision.replicas,
                    ctx.queues.namespace(),
                )?),
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
        let direction = if decision.replicas > current {
            "up"
        } else {
            "down"
        };
        ctx.metrics
            .scaling
            .get_or_create(&ScaleLabels {
                namespace: ns.clone(),
                pool: pool.name_any(),
                direction: direction.into(),
            })
            .inc();
        last_scale_time = Some(status::now());
        let reason = if direction == "up" {
            "ScaledUp"
        } else {
            "ScaledDown"
        };
        let note = format!(
            "{current} -> {} replicas (queue: {} waiting, {} in flight)",
            decision.replicas, depth.waiting, depth.active
        );
        status::event(
            &ctx,
            pool.as_ref(),
            EventType::Normal,
            reason,
            "Scale",
            note,
        )
        .await;
    }
    let limited = decision.replicas != decision.raw;
    let status = WorkerPoolStatus {
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
            ),
        ],
    };
    status::patch_status(&ctx, pool.as_ref(), Some(&previous), &status).await?;
    ctx.succeeded(&status::key(pool.as_ref()));
    Ok(Action::requeue(POLL))
}
