//! One row per fault and the table the drill prints.

use std::time::Duration;

use super::watch::Tally;

pub struct Row {
    pub fault: &'static str,
    pub tally: Tally,
    /// How long each job in flight at the fault took to be taken up again (None: never).
    pub reclaims: Vec<Option<Duration>>,
}

impl Row {
    /// Jobs in flight at the fault that were never taken up again.
    pub fn stranded(&self) -> usize {
        self.reclaims.iter().filter(|r| r.is_none()).count()
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut times: Vec<Duration> = self.reclaims.iter().flatten().copied().collect();
        times.sort();
        times
    }

    pub fn reclaim_p50(&self) -> Option<Duration> {
        let times = self.sorted();
        times.get(times.len().saturating_sub(1) / 2).copied()
    }

    pub fn reclaim_max(&self) -> Option<Duration> {
        self.sorted().last().copied()
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<22} {:>9} {:>9} {:>6} {:>5} {:>13} {:>9} {:>11} {:>11}\n",
        "fault",
        "submitted",
        "completed",
        "failed",
        "lost",
        "charged twice",
        "in flight",
        "reclaim p50",
        "reclaim max"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<22} {:>9} {:>9} {:>6} {:>5} {:>13} {:>9} {:>11} {:>11}\n",
            r.fault,
            r.tally.submitted,
            r.tally.completed,
            r.tally.failed,
            r.tally.lost,
            r.tally.charged_twice,
            r.reclaims.len(),
            secs(r.reclaim_p50()),
            secs(r.reclaim_max()),
        ));
    }
    out
}
