//! The time an extraction may take, checked cooperatively: every walk over a page calls
//! [`Budget::tick`] once per node (or per chunk of input), and stops with
//! `content_too_complex` once the deadline has passed. A tick is a counter increment; the
//! clock is read once every [`CHECK_EVERY`] ticks, so the budget costs nothing measurable on
//! a normal page.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::FetchError;

/// Ticks between two reads of the clock.
const CHECK_EVERY: u32 = 256;

/// A deadline shared by the stages of one extraction.
#[derive(Debug)]
pub struct Budget {
    deadline: Instant,
    limit: Duration,
    ticks: u32,
}

impl Budget {
    pub fn new(limit: Duration) -> Self {
        Self {
            deadline: Instant::now() + limit,
            limit,
            ticks: 0,
        }
    }

    /// Counts one unit of work; fails once the deadline has passed.
    #[inline]
    pub fn tick(&mut self, stage: &'static str) -> Result<(), FetchError> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(CHECK_EVERY) {
            self.check(stage)
        } else {
            Ok(())
        }
    }

    /// Fails if the deadline has passed.
    pub fn check(&self, stage: &'static str) -> Result<(), FetchError> {
        if Instant::now() >= self.deadline {
            return Err(FetchError::ContentTooComplex(format!(
                "{stage} did not finish within {:?}",
                self.limit
            )));
        }
        Ok(())
    }
}

/// A part of the page that extraction left out to stay within its bounds; reported in the
/// `content.extracted` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// Only the first [`super::MAX_EXTRACT_BYTES`] of the page were read.
    Input,
    /// A tag had more than [`super::parse::MAX_ATTRIBUTES`] attributes; the rest were dropped.
    Attributes,
    /// Elements nested deeper than [`super::parse::MAX_DEPTH`] were laid flat, in order.
    Depth,
    /// The visible text stopped at [`super::MAX_TEXT_CHARS`].
    Text,
    /// Links or images stopped at [`super::MAX_LINKS`] each.
    Links,
    /// A rule's values stopped at [`super::rules::MAX_VALUES`], or a value's text at its cap.
    RuleValues,
    /// The markdown stopped at [`super::markdown::MAX_BYTES`].
    Markdown,
    /// The cleaned HTML stopped at [`super::clean::MAX_BYTES`].
    Html,
    /// Meta tags stopped at [`super::metadata::MAX_ENTRIES`], or a value at its cap.
    Metadata,
}

/// The cuts made to one page, each recorded once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cuts(Vec<Cut>);

impl Cuts {
    pub fn add(&mut self, cut: Cut) {
        if let Err(at) = self.0.binary_search(&cut) {
            self.0.insert(at, cut);
        }
    }

    pub fn contains(&self, cut: Cut) -> bool {
        self.0.binary_search(&cut).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Cut] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_fails_with_content_too_complex() {
        let mut budget = Budget::new(Duration::ZERO);
        let err = (0..CHECK_EVERY)
            .map(|_| budget.tick("walk"))
            .find_map(Result::err)
            .expect("the deadline has passed");
        assert_eq!(err.code(), "content_too_complex");
        assert!(!err.retryable());
    }

    #[test]
    fn cuts_are_recorded_once_and_in_order() {
        let mut cuts = Cuts::default();
        cuts.add(Cut::Markdown);
        cuts.add(Cut::Depth);
        cuts.add(Cut::Markdown);
        assert_eq!(cuts.as_slice(), [Cut::Depth, Cut::Markdown]);
        assert_eq!(
            serde_json::to_value(cuts.as_slice()).expect("json"),
            serde_json::json!(["depth", "markdown"])
        );
    }
}
