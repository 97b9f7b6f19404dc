//! What every reconcile shares.

use std::{collections::HashMap, sync::Arc};

use kube::{
    Client,
    runtime::events::{Recorder, Reporter},
};
use scraperx_core::{dispatch::QueueSet, pg::Db};
use tokio::sync::Mutex;

use crate::{metrics::Metrics, scaler::Scaler};

pub struct Context {
    pub client: Client,
    pub db: Db,
    pub queues: QueueSet,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Per WorkerPool (namespace/name): recent recommendations.
    pub scalers: Mutex<HashMap<String, Scaler>>,
}

impl Context {
    pub fn new(client: Client, db: Db, queues: QueueSet, metrics: Arc<Metrics>) -> Arc<Self> {
        let reporter = Reporter {
            controller: "scraperx-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            db,
            queues,
            metrics,
            scalers: Mutex::new(HashMap::new()),
        })
    }
}
