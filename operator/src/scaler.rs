//! The scaling decision of a WorkerPool, kept pure so it is tested without a cluster.
//!
//! Desired replicas = ceil((waiting + in flight) / targetJobsPerReplica), within
//! [minReplicas, maxReplicas], and never fewer than the in-flight work needs (a scale-down
//! must not cut running jobs short). As in the HorizontalPodAutoscaler, each direction has
//! a stabilization window: a scale-down goes to the highest recommendation seen over its
//! window, a scale-up to the lowest over its window, so an oscillating queue does not make
//! the pool flap; and each step is capped. Unlike KEDA's defaults (a 30 s poll, a 5 minute
//! scale-down window), the depth is read every second.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use crate::crd::WorkerPoolSpec;

#[derive(Debug, Default, Clone)]
pub struct Scaler {
    /// Raw recommendations, newest last.
    history: VecDeque<(Instant, u32)>,
}

/// What the scaler decided, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The recommendation before stabilization and step limits.
    pub raw: u32,
    pub replicas: u32,
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

impl Scaler {
    pub fn decide(
        &mut self,
        now: Instant,
        current: u32,
        waiting: u64,
        in_flight: u64,
        spec: &WorkerPoolSpec,
    ) -> Decision {
        let target = u64::from(spec.target_jobs_per_replica.max(1));
        let floor_for_work = u32::try_from(ceil_div(in_flight, target)).unwrap_or(u32::MAX);
        let raw = u32::try_from(ceil_div(waiting + in_flight, target))
            .unwrap_or(u32::MAX)
            .clamp(spec.min_replicas, spec.max_replicas.max(spec.min_replicas));
        let keep = Duration::from_secs(u64::from(
            spec.scale_up
                .stabilization_window_seconds
                .max(spec.scale_down.stabilization_window_seconds),
        ));
        self.history.push_back((now, raw));
        while self
            .history
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > keep)
        {
            self.history.pop_front();
        }
        let within = |secs: u32| {
            let window = Duration::from_secs(u64::from(secs));
            self.history
                .iter()
                .filter(move |(t, _)| now.duration_since(*t) <= window)
                .map(|(_, r)| *r)
        };
        let replicas = if raw > current {
            let stabilized = within(spec.scale_up.stabilization_window_seconds)
                .min()
                .unwrap_or(raw)
                .max(current);
            stabilized.min(current.saturating_add(spec.scale_up.max_step))
        } else if raw < current {
            let stabilized = within(spec.scale_down.stabilization_window_seconds)
                .max()
                .unwrap_or(raw)
                .min(current);
            stabilized
                .max(current.saturating_sub(spec.scale_down.max_step))
                .max(floor_for_work.min(spec.max_replicas))
        } else {
            current
        };
        Decision { raw, replicas }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{BrowserSettings, PoolEngine, ScalingRules};

    fn spec(min: u32, max: u32, down_window: u32) -> WorkerPoolSpec {
        WorkerPoolSpec {
            engine: PoolEngine::Http,
            min_replicas: min,
            max_replicas: max,
            target_jobs_per_replica: 10,
            image: "scraperx/worker".into(),
            resources: None,
            connection_secret: crate::crd::DEFAULT_CONNECTION_SECRET.into(),
            run_as_user: crate::crd::DEFAULT_RUN_AS_USER,
            env: Vec::new(),
            browser: BrowserSettings::default(),
            scale_up: ScalingRules {
                stabilization_window_seconds: 0,
                max_step: 4,
            },
            scale_down: ScalingRules {
                stabilization_window_seconds: down_window,
                max_step: 2,
            },
            drain_grace_period_seconds: 30,
        }
    }

    #[test]
    fn scales_up_at_once_in_capped_steps_and_within_bounds() {
        let mut s = Scaler::default();
        let t = Instant::now();
        let spec = spec(0, 8, 60);
        assert_eq!(
            s.decide(t, 0, 95, 0, &spec),
            Decision {
                raw: 8,
                replicas: 4
            }
        );
        assert_eq!(
            s.decide(t + Duration::from_secs(1), 4, 95, 0, &spec)
                .replicas,
            8
        );
        assert_eq!(
            s.decide(t + Duration::from_secs(2), 8, 500, 0, &spec)
                .replicas,
            8
        );
    }

    #[test]
    fn does_not_flap_under_an_oscillating_load() {
        let mut s = Scaler::default();
        let t = Instant::now();
        let spec = spec(0, 10, 30);
        let mut current = s.decide(t, 0, 50, 0, &spec).replicas;
        let mut changes = 0;
        for i in 1..60u64 {
            let waiting = if i % 2 == 0 { 50 } else { 5 };
            let next = s
                .decide(t + Duration::from_secs(i), current, waiting, 0, &spec)
                .replicas;
            if next != current {
                changes += 1;
            }
            current = next;
        }
        assert_eq!(current, 5, "held at the peak of the window");
        assert_eq!(changes, 1, "one step up, no flapping");
    }

    #[test]
    fn scales_down_after_the_window_but_never_below_the_work_in_flight() {
        let mut s = Scaler::default();
        let t = Instant::now();
        let spec = spec(0, 10, 10);
        assert_eq!(s.decide(t, 6, 60, 0, &spec).replicas, 6);
        // Load gone, but 25 jobs still running: at least 3 replicas stay.
        assert_eq!(
            s.decide(t + Duration::from_secs(5), 6, 0, 25, &spec)
                .replicas,
            6,
            "inside the window"
        );
        assert_eq!(
            s.decide(t + Duration::from_secs(11), 6, 0, 25, &spec)
                .replicas,
            4,
            "a step of 2"
        );
        assert_eq!(
            s.decide(t + Duration::from_secs(12), 4, 0, 25, &spec)
                .replicas,
            3,
            "the in-flight floor"
        );
    }

    #[test]
    fn scales_to_zero_when_allowed_and_idle() {
        let mut s = Scaler::default();
        let t = Instant::now();
        let spec = spec(0, 10, 0);
        assert_eq!(s.decide(t, 2, 0, 0, &spec).replicas, 0);
        let spec_min = super::tests::spec(1, 10, 0);
        assert_eq!(Scaler::default().decide(t, 2, 0, 0, &spec_min).replicas, 1);
    }
}
