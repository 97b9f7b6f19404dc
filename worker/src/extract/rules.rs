//! The customer's CSS extraction rules, applied to the parsed page (`extracted_data`): each
//! rule's first match, or all its matches, as text or as one attribute.
//!
//! Invariant: elements are visited in document order by an iterative walk that ticks the
//! [`Budget`] per element, so a selector whose matching grows with the page (`:has`,
//! `:nth-child` over huge sibling lists) ends in `content_too_complex` instead of running
//! on; the values kept are capped in number and in total size, and a cut is reported.

use std::collections::BTreeMap;

use scraper::{ElementRef, Html, Selector};
use scraperx_core::domain::ExtractRule;
use serde_json::Value;

use super::{
    MAX_TEXT_CHARS,
    budget::{Budget, Cut, Cuts},
    walk::text_under,
};
use crate::error::FetchError;

/// Values kept per rule.
pub const MAX_VALUES: usize = 10_000;
/// Characters kept over all the rules' values.
pub const MAX_TOTAL_CHARS: usize = 4 * 1024 * 1024;

/// The rules' values by name; a selector that does not parse is the request's fault.
pub fn apply(
    doc: &Html,
    rules: &BTreeMap<String, ExtractRule>,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<Value, FetchError> {
    let mut out = serde_json::Map::new();
    let mut room = MAX_TOTAL_CHARS;
    for (name, rule) in rules {
        let selector = Selector::parse(&rule.selector)
            .map_err(|e| FetchError::Invalid(format!("extract.{name}.selector: {e}")))?;
        let mut values = Vec::new();
        for node in doc.tree.root().descendants() {
            budget.tick("extraction rules")?;
            let Some(el) = ElementRef::wrap(node) else {
                continue;
            };
            if !selector.matches(&el) {
                continue;
            }
            let Some(value) = value_of(el, rule, &mut room, budget, cuts)? else {
                continue;
            };
            values.push(Value::String(value));
            if !rule.all {
                break;
            }
            if values.len() == MAX_VALUES || room == 0 {
                cuts.add(Cut::RuleValues);
                break;
            }
        }
        let value = if rule.all {
            Value::Array(values)
        } else {
            values.pop().unwrap_or(Value::Null)
        };
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

/// The element's value under `rule`, charged against the characters left (`room`).
fn value_of(
    el: ElementRef<'_>,
    rule: &ExtractRule,
    room: &mut usize,
    budget: &mut Budget,
    cuts: &mut Cuts,
) -> Result<Option<String>, FetchError> {
    let max = MAX_TEXT_CHARS.min(*room);
    let (value, cut) = match &rule.attribute {
        Some(attr) => match el.value().attr(attr) {
            Some(v) if v.chars().count() > max => (v.chars().take(max).collect(), true),
            Some(v) => (v.to_owned(), false),
            None => return Ok(None),
        },
        None => text_under(*el, max, budget)?,
    };
    if cut {
        cuts.add(Cut::RuleValues);
    }
    *room = room.saturating_sub(value.chars().count().max(1));
    Ok(Some(value))
}
