//! What both controllers write back: conditions that keep their transition time, Events,
//! and the status subresource by server-side apply.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType},
};
use serde::{Serialize, de::DeserializeOwned};

use std::sync::Arc;

use kube::runtime::controller::Action;

use crate::{Error, Result, context::Context};

/// The field manager of everything the operator applies.
pub const FIELD_MANAGER: &str = "scraperx-operator";

pub fn now() -> Time {
    Time(Timestamp::now())
}

/// A condition `kind` that is `on` (True) or not; its transition time is kept from
/// `previous` while its status stays the same, else it is `now`.
pub fn condition(
    previous: &[Condition],
    kind: &str,
    on: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if on { "True" } else { "False" };
    let since = previous
        .iter()
        .find(|c| c.type_ == kind && c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Condition {
        type_: kind.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: since,
        observed_generation: generation,
    }
}

/// Publishes an Event about `obj`; a failure to record it is only logged.
pub async fn event<K>(
    ctx: &Context,
    obj: &K,
    kind: EventType,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let ev = Event {
        type_: kind,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %err, "event not recorded");
    }
}

/// Applies `status` to `obj`'s status subresource (server-side apply, forced), unless it
/// equals `previous`: a refresh that changed nothing writes nothing.
pub async fn patch_status<K, S>(
    ctx: &Context,
    obj: &K,
    previous: Option<&S>,
    status: &S,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if previous == Some(status) {
        return Ok(());
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// The name an object goes by in the operator's bookkeeping and metrics: its kind in lower
/// case (the controller), namespace and name.
pub fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        controller::<K>(),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

fn controller<K: Resource<DynamicType = ()>>() -> String {
    K::kind(&()).to_ascii_lowercase()
}

/// Both controllers' error policy: the failure counted and logged, the reconcile retried
/// with exponential backoff (0.5 s, doubling, at most 5 min).
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    let controller = controller::<K>();
    tracing::warn!(error = %err, "{controller} reconcile failed");
    ctx.metrics
        .errors
        .get_or_create(&crate::metrics::ErrorLabels {
            controller,
            error: err.metric_label().into(),
        })
        .inc();
    Action::requeue(ctx.backoff(&key(obj.as_ref())))
}
