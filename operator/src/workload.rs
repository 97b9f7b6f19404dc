//! The pod a WorkerPool's workers run in. Invariant: a worker pod is given only the keys of
//! its connection Secret a worker reads, key by key (never the whole Secret, never the API's
//! or the admin's MinIO keys); it runs as a non-root user with no privilege escalation, no
//! capabilities, a seccomp profile (see [`seccomp_profile`]) and a read-only root filesystem (an
//! emptyDir at /tmp is its one writable place, and Chromium's home); and it mounts no
//! ServiceAccount token (workers never call the Kubernetes API). Its one port, [`OPS_PORT`],
//! serves `/healthz` (answered once the worker has reached PostgreSQL, Redis and MinIO: its
//! readiness and liveness) and `/metrics`.

use k8s_openapi::{
    api::core::v1::{
        Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
        HTTPGetAction, PodSecurityContext, PodSpec, Probe, SeccompProfile, SecretKeySelector,
        SecurityContext, Volume, VolumeMount,
    },
    apimachinery::pkg::{api::resource::Quantity, util::intstr::IntOrString},
};
use scraperx_core::{config, secrets};

use crate::crd::{PoolEngine, WorkerPoolSpec};

/// The workers' MinIO role: they read `S3_WORKER_ACCESS_KEY` and `S3_WORKER_SECRET_KEY`.
pub const S3_ROLE: &str = "WORKER";
/// The one writable directory of a worker pod, and the home of its Chromium.
pub const TMP_DIR: &str = "/tmp";
/// Room for Chromium's profiles and caches under [`TMP_DIR`].
pub const TMP_SIZE_LIMIT: &str = "1Gi";
const TMP_VOLUME: &str = "tmp";
/// The worker's `/healthz` and `/metrics` port (the operator sets `SCRX_WORKER_ADDR` to it).
pub const OPS_PORT: u16 = 8082;

/// The connection Secret's keys a worker reads, each with whether it may be missing.
pub fn connection_keys() -> Vec<(String, bool)> {
    let mut keys: Vec<(String, bool)> = [
        config::ENV_DATABASE_URL,
        config::ENV_REDIS_URL,
        config::ENV_S3_ENDPOINT,
    ]
    .into_iter()
    .map(|key| (key.to_owned(), false))
    .collect();
    keys.extend(config::s3_role_keys(S3_ROLE).map(|key| (key, false)));
    // Only where Redis is a cluster.
    keys.push((config::ENV_REDIS_CLUSTER.to_owned(), true));
    // Only workers whose proxy providers have sealed credentials need it.
    keys.push((secrets::ENV_SECRETS_KEY.to_owned(), true));
    keys
}

fn value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// The workers' environment: their connection keys, the pool's settings, a home under
/// [`TMP_DIR`], then the pool's own entries (one named like an earlier entry replaces it).
pub fn env(spec: &WorkerPoolSpec, queue_namespace: &str) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = connection_keys()
        .into_iter()
        .map(|(key, optional)| EnvVar {
            name: key.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: spec.connection_secret.clone(),
                    key,
                    optional: optional.then_some(true),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        })
        .collect();
    env.push(value(
        config::ENV_WORKER_ENGINES,
        spec.engine.engine().as_str(),
    ));
    env.push(value(
        config::ENV_WORKER_GRACE_SECS,
        spec.drain_grace_period_seconds.to_string(),
    ));
    // The workers read the queues the pool is scaled on.
    if !queue_namespace.is_empty() {
        env.push(value(config::ENV_QUEUE_NAMESPACE, queue_namespace));
    }
    if let Some(contexts) = spec.browser.contexts_per_worker {
        env.push(value(config::ENV_BROWSER_CONTEXTS, contexts.to_string()));
    }
    env.push(value(
        config::ENV_WORKER_ADDR,
        format!("0.0.0.0:{OPS_PORT}"),
    ));
    env.push(value("HOME", TMP_DIR));
    env.push(value("XDG_CONFIG_HOME", format!("{TMP_DIR}/.config")));
    env.push(value("XDG_CACHE_HOME", format!("{TMP_DIR}/.cache")));
    for own in &spec.env {
        match env.iter_mut().find(|e| e.name == own.name) {
            Some(earlier) => *earlier = own.clone(),
            None => env.push(own.clone()),
        }
    }
    env
}

/// The seccomp profile of a pool's pods. http workers: the runtime's default. Browser and
/// stealth workers: none at the pod level, because Chromium's own sandbox needs to create
/// user namespaces, which the runtime's default profile refuses without CAP_SYS_ADMIN
/// (Chromium then stops: "No usable sandbox!"; seen on containerd 1.6). Chromium puts every
/// renderer in its own namespaces under its own seccomp-bpf filter, stricter than the
/// runtime's; the worker never passes `--no-sandbox`.
pub fn seccomp_profile(engine: PoolEngine) -> SeccompProfile {
    let type_ = match engine {
        PoolEngine::Http => "RuntimeDefault",
        PoolEngine::Browser | PoolEngine::Stealth => "Unconfined",
    };
    SeccompProfile {
        type_: type_.into(),
        ..SeccompProfile::default()
    }
}

/// The pod-level security context: the pool's non-root user, and the group of that id.
pub fn pod_security(run_as_user: i64, engine: PoolEngine) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(run_as_user),
        run_as_group: Some(run_as_user),
        fs_group: Some(run_as_user),
        seccomp_profile: Some(seccomp_profile(engine)),
        ..PodSecurityContext::default()
    }
}

/// The container-level security context: nothing to escalate to, nothing to write but /tmp.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// A probe of the worker's `/healthz`.
fn health_probe(initial_delay_seconds: i32, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::Int(i32::from(OPS_PORT)),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial_delay_seconds),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(5),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    }
}

/// The pod of a pool's workers.
pub fn pod_spec(spec: &WorkerPoolSpec, queue_namespace: &str) -> PodSpec {
    PodSpec {
        // SIGTERM, then this long to finish or hand back the jobs in flight.
        termination_grace_period_seconds: Some(i64::from(spec.drain_grace_period_seconds) + 5),
        automount_service_account_token: Some(false),
        security_context: Some(pod_security(spec.run_as_user, spec.engine)),
        containers: vec![Container {
            name: "worker".into(),
            image: Some(spec.image.clone()),
            args: Some(vec!["run".into()]),
            env: Some(env(spec, queue_namespace)),
            resources: spec.resources.clone(),
            ports: Some(vec![ContainerPort {
                name: Some("ops".into()),
                container_port: i32::from(OPS_PORT),
                ..ContainerPort::default()
            }]),
            // Ready once /healthz answers: the worker binds it after reaching its services.
            readiness_probe: Some(health_probe(1, 2, 1)),
            // A worker whose /healthz stops answering for 30 s is restarted (its jobs'
            // leases expire and the sweep hands them back).
            liveness_probe: Some(health_probe(10, 10, 3)),
            security_context: Some(container_security()),
            volume_mounts: Some(vec![VolumeMount {
                name: TMP_VOLUME.into(),
                mount_path: TMP_DIR.into(),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        }],
        volumes: Some(vec![Volume {
            name: TMP_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(TMP_SIZE_LIMIT.into())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::WorkerPool;

    fn spec(env: serde_json::Value) -> WorkerPoolSpec {
        let pool: WorkerPool = serde_json::from_value(serde_json::json!({
            "apiVersion": "scraperx.io/v1alpha1", "kind": "WorkerPool",
            "metadata": { "name": "browser" },
            "spec": { "engine": "browser", "minReplicas": 0, "maxReplicas": 3,
                      "targetJobsPerReplica": 2, "image": "scraperx/worker:test",
                      "connectionSecret": "conn", "env": env },
        }))
        .expect("manifest");
        assert_eq!(pool.spec.engine, PoolEngine::Browser);
        pool.spec
    }

    fn secret_refs(env: &[EnvVar]) -> Vec<(&str, &str, Option<bool>)> {
        env.iter()
            .filter_map(|e| {
                let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
                Some((r.name.as_str(), r.key.as_str(), r.optional))
            })
            .collect()
    }

    #[test]
    fn workers_get_their_own_connection_keys_one_by_one_and_no_others() {
        let env = env(&spec(serde_json::json!([])), "");
        assert_eq!(
            secret_refs(&env),
            vec![
                ("conn", "DATABASE_URL", None),
                ("conn", "REDIS_URL", None),
                ("conn", "S3_ENDPOINT", None),
                ("conn", "S3_WORKER_ACCESS_KEY", None),
                ("conn", "S3_WORKER_SECRET_KEY", None),
                ("conn", "SCRX_REDIS_CLUSTER", Some(true)),
                ("conn", "SCRX_SECRETS_KEY", Some(true)),
            ]
        );
        assert!(
            env.iter()
                .all(|e| !e.name.starts_with("S3_ADMIN") && !e.name.starts_with("S3_API")),
            "{env:?}"
        );
    }

    #[test]
    fn a_pools_own_entry_replaces_the_operators_of_the_same_name() {
        let env = env(
            &spec(serde_json::json!([
                { "name": "HOME", "value": "/tmp/home" },
                { "name": "SCRX_REGION", "value": "eu" },
            ])),
            "q-",
        );
        let homes: Vec<_> = env.iter().filter(|e| e.name == "HOME").collect();
        assert_eq!(homes.len(), 1, "{env:?}");
        assert_eq!(homes[0].value.as_deref(), Some("/tmp/home"));
        assert!(env.iter().any(|e| e.name == "SCRX_REGION"));
        assert!(
            env.iter()
                .any(|e| e.name == config::ENV_QUEUE_NAMESPACE && e.value.as_deref() == Some("q-"))
        );
    }

    #[test]
    fn the_worker_pod_is_non_root_read_only_tokenless_and_writes_only_to_tmp() {
        let pod = pod_spec(&spec(serde_json::json!([])), "");
        assert_eq!(pod.automount_service_account_token, Some(false));
        let security = pod.security_context.expect("pod security");
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(security.run_as_user, Some(crate::crd::DEFAULT_RUN_AS_USER));
        assert_eq!(
            security.seccomp_profile.map(|p| p.type_).as_deref(),
            Some("Unconfined"),
            "a browser pool's Chromium needs user namespaces for its own sandbox"
        );
        let container = &pod.containers[0];
        let c = container
            .security_context
            .as_ref()
            .expect("container security");
        assert_eq!(c.allow_privilege_escalation, Some(false));
        assert_eq!(c.read_only_root_filesystem, Some(true));
        assert_eq!(
            c.capabilities.as_ref().and_then(|c| c.drop.clone()),
            Some(vec!["ALL".to_owned()])
        );
        let mounts = container.volume_mounts.as_ref().expect("mounts");
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].mount_path, TMP_DIR);
        let volume = &pod.volumes.as_ref().expect("volumes")[0];
        assert_eq!(volume.name, mounts[0].name);
        assert!(volume.empty_dir.is_some());
        let env = container.env.as_ref().expect("env");
        assert!(
            env.iter()
                .any(|e| e.name == "HOME" && e.value.as_deref() == Some(TMP_DIR))
        );
    }

    #[test]
    fn the_worker_is_ready_and_alive_while_its_healthz_answers_on_the_port_it_is_told() {
        let pod = pod_spec(&spec(serde_json::json!([])), "");
        let container = &pod.containers[0];
        let port = container.ports.as_ref().expect("ports")[0].container_port;
        assert_eq!(port, i32::from(OPS_PORT));
        for probe in [&container.readiness_probe, &container.liveness_probe] {
            let get = probe
                .as_ref()
                .and_then(|p| p.http_get.as_ref())
                .expect("an HTTP probe");
            assert_eq!(get.path.as_deref(), Some("/healthz"));
            assert_eq!(get.port, IntOrString::Int(port));
        }
        let addr = container
            .env
            .as_ref()
            .expect("env")
            .iter()
            .find(|e| e.name == config::ENV_WORKER_ADDR);
        assert_eq!(
            addr.and_then(|e| e.value.as_deref()),
            Some(format!("0.0.0.0:{OPS_PORT}").as_str())
        );
    }

    #[test]
    fn only_browser_engines_leave_the_runtime_default_seccomp_profile_for_chromiums_own() {
        assert_eq!(seccomp_profile(PoolEngine::Http).type_, "RuntimeDefault");
        assert_eq!(seccomp_profile(PoolEngine::Browser).type_, "Unconfined");
        assert_eq!(seccomp_profile(PoolEngine::Stealth).type_, "Unconfined");
    }
}
