//! The end-to-end tests' cluster: the real kube-apiserver of `e2e/control-plane.sh` with
//! the CRDs applied, a namespace and a queue namespace per test, the real Postgres (a fresh
//! database per test) and Redis, the controllers over that namespace only, and real workers.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::Deployment,
        core::v1::{Namespace, Secret},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, CustomResourceExt, ResourceExt,
    api::{ObjectMeta, Patch, PatchParams, PostParams},
};
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::ContentStore,
    dispatch::QueueSet,
    domain::Plan,
    hot,
    pg::{Db, NewApiKey, NewOrganization},
};
use scraperx_operator::{
    Context,
    crd::{ScrapeBatch, ScrapeCrawl, WorkerPool},
    metrics::Metrics,
};
use sqlx::PgPool;

pub struct Cluster {
    pub client: Client,
    pub ns: String,
    pub db: Db,
    pub queues: QueueSet,
    pub queue_ns: String,
    pub redis: scraperx_core::hot::RedisConn,
}

/// The API server with the CRDs applied, a namespace of its own, and its own queue namespace.
pub async fn cluster(pool: PgPool) -> Cluster {
    let client = Client::try_default()
        .await
        .expect("a control plane (e2e/control-plane.sh up; export KUBECONFIG)");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [ScrapeBatch::crd(), ScrapeCrawl::crd(), WorkerPool::crd()] {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("crd");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ns = format!("e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.clone()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await
        .expect("namespace");
    let redis = hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    let queue_ns = format!("{ns}-");
    Cluster {
        queues: QueueSet::new(redis.clone(), &queue_ns),
        client,
        ns,
        db: Db::from_pool(pool),
        queue_ns,
        redis,
    }
}

impl Cluster {
    /// Creates the WorkerPool `http` (from 0 to `max` replicas, `target` jobs each, scaling
    /// down at once) and returns a reader of its Deployment's replicas.
    pub async fn http_pool(&self, max: u32, target: u32) -> Api<Deployment> {
        let wp: WorkerPool = serde_json::from_value(serde_json::json!({
            "apiVersion": "scraperx.io/v1alpha1", "kind": "WorkerPool",
            "metadata": { "name": "http" },
            "spec": { "engine": "http", "minReplicas": 0, "maxReplicas": max,
                      "targetJobsPerReplica": target, "image": "scraperx/worker:test",
                      "scaleDown": { "stabilizationWindowSeconds": 0, "maxStep": max } },
        }))
        .expect("manifest");
        Api::<WorkerPool>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &wp)
            .await
            .expect("pool");
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The controllers, over the test's namespace only.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let ctx = Context::new(
            self.client.clone(),
            self.db.clone(),
            self.queues.clone(),
            Arc::new(Metrics::default()),
        );
        let ns = self.ns.clone();
        tokio::spawn(async move { scraperx_operator::run_controllers(ctx, Some(&ns)).await })
    }

    /// An organization with `credits`, and the Secret `scraperx-key` holding its API key.
    pub async fn org_secret(&self, credits: i64) -> scraperx_core::domain::OrgId {
        let slug = format!("o-{}", uuid::Uuid::new_v4().simple());
        let mut new = NewOrganization::new("e2e", &slug, "b@e2e.test");
        new.credits_balance = credits;
        new.plan = Plan::Growth;
        self.org_secret_of(&new).await
    }

    /// The organization `new`, and the Secret `scraperx-key` holding its API key.
    pub async fn org_secret_of(&self, new: &NewOrganization) -> scraperx_core::domain::OrgId {
        let org = self.db.create_organization(new).await.expect("org");
        let (_, secret) = self
            .db
            .create_api_key(org.id, &NewApiKey::named("operator"))
            .await
            .expect("key");
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .create(
                &PostParams::default(),
                &Secret {
                    metadata: ObjectMeta {
                        name: Some("scraperx-key".into()),
                        ..ObjectMeta::default()
                    },
                    data: Some(
                        [(
                            "apiKey".to_owned(),
                            ByteString(secret.expose().as_bytes().to_vec()),
                        )]
                        .into(),
                    ),
                    ..Secret::default()
                },
            )
            .await
            .expect("secret");
        org.id
    }

    /// A real worker on the test's queues (private targets allowed: the test's sites are on
    /// loopback), until the returned sender says stop.
    pub fn worker(
        &self,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let worker = scraperx_worker::Worker::new(
            scraperx_worker::WorkerConfig {
                allow_private_targets: true,
                queue_namespace: self.queue_ns.clone(),
                idle_poll: Duration::from_millis(20),
                ..scraperx_worker::WorkerConfig::default()
            },
            scraperx_worker::Services {
                db: self.db.clone(),
                redis: self.redis.clone(),
                content: ContentStore::new(&S3Config::from_env_for_role("WORKER").expect("s3")),
            },
        )
        .expect("worker");
        let (stop, rx) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(async move { worker.run(rx).await });
        (stop, running)
    }
}
