//! The events of the jobs this worker runs, held from the moment they happen until the
//! job's completion writes them in its own transaction, or, for any other ending, until
//! the run ends and they are written together in one statement. Each event keeps the time
//! it happened ([`NewJobEvent::at`]), so the log reads in order whichever way it was
//! written. An attempt's progress events are only lost with the worker itself (killed
//! mid-job); the job's moves, their events and its money never are.

use std::{collections::HashMap, sync::Mutex};

use scraperx_core::{domain::JobId, pg::NewJobEvent};

#[derive(Debug, Default)]
pub struct HeldEvents(Mutex<HashMap<JobId, Vec<NewJobEvent>>>);

impl HeldEvents {
    pub fn hold(&self, event: NewJobEvent) {
        if let Ok(mut held) = self.0.lock() {
            held.entry(event.job_id).or_default().push(event);
        }
    }

    /// The job's held events, in the order they happened; none are held after.
    pub fn take(&self, job: JobId) -> Vec<NewJobEvent> {
        self.0
            .lock()
            .ok()
            .and_then(|mut held| held.remove(&job))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use scraperx_core::domain::{EventType, OrgId};

    use super::*;

    fn event(job: JobId, kind: EventType) -> NewJobEvent {
        NewJobEvent {
            job_id: job,
            organization_id: OrgId::new(),
            event_type: kind,
            event_data: serde_json::json!({}),
            duration_ms: None,
            worker_id: None,
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn each_job_gets_back_its_own_events_in_order_and_only_once() {
        let held = HeldEvents::default();
        let (a, b) = (JobId::new(), JobId::new());
        held.hold(event(a, EventType::EngineSelected));
        held.hold(event(b, EventType::RequestSent));
        held.hold(event(a, EventType::RequestSent));
        let kinds: Vec<EventType> = held.take(a).iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, [EventType::EngineSelected, EventType::RequestSent]);
        assert!(held.take(a).is_empty(), "taken once");
        assert_eq!(held.take(b).len(), 1, "the other job's are still held");
    }
}
