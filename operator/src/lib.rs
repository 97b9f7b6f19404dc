//! The Kubernetes operator: the ScrapeBatch, ScrapeCrawl and WorkerPool controllers
//! ([`batch`], [`crawl`], [`pool`], with the scaling rules in [`scaler`] and the workers'
//! pod in [`workload`]), leader-elected [`maintenance`], metrics and health. The CRDs' cross-field rules are in [`rules`].
//! [`backup`] holds the backup and restore commands and their monitoring.
//! `crdgen` prints [`crd_yaml`].

pub mod backup;
pub mod batch;
pub mod context;
pub mod crawl;
pub mod crd;
mod error;
pub mod maintenance;
pub mod metrics;
pub mod pool;
pub mod rules;
pub mod scaler;
pub mod server;
pub mod status;
pub mod workload;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api, CustomResourceExt,
    runtime::{Controller, watcher},
};

pub use context::Context;
pub use error::{Error, Result};

use crate::crd::{ScrapeBatch, ScrapeCrawl, WorkerPool};

/// The CRDs as YAML documents (what `crds/scraperx.yaml` holds).
pub fn crd_yaml() -> Result<String> {
    let mut out = String::new();
    for crd in [ScrapeBatch::crd(), ScrapeCrawl::crd(), WorkerPool::crd()] {
        out.push_str("---\n");
        out.push_str(
            &serde_yaml::to_string(&crd).map_err(|e| Error::Serialization(e.to_string()))?,
        );
    }
    Ok(out)
}

/// Runs the three controllers until the process stops: over every namespace, or over one.
pub async fn run_controllers(ctx: Arc<Context>, namespace: Option<&str>) {
    fn api<K>(client: &kube::Client, ns: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let client = ctx.client.clone();
    let batches = Controller::new(
        api::<ScrapeBatch>(&client, namespace),
        watcher::Config::default(),
    )
    .run(batch::reconcile, status::error_policy, ctx.clone())
    .for_each(|_| futures::future::ready(()));
    let crawls = Controller::new(
        api::<ScrapeCrawl>(&client, namespace),
        watcher::Config::default(),
    )
    .run(crawl::reconcile, status::error_policy, ctx.clone())
    .for_each(|_| futures::future::ready(()));
    let pools = Controller::new(
        api::<WorkerPool>(&client, namespace),
        watcher::Config::default(),
    )
    .owns(
        api::<Deployment>(&client, namespace),
        watcher::Config::default(),
    )
    .run(pool::reconcile, status::error_policy, ctx)
    .for_each(|_| futures::future::ready(()));
    futures::join!(batches, crawls, pools);
}
