//! Runs a job's actions on its loaded page, in order, through CDP: waits, clicks, typing,
//! key presses, scrolls, screenshots, scripts and scrapes. What to send for each step is
//! decided by pure functions here ([`scroll_script`], [`wrap_script`], [`key_events`],
//! [`javascript_return`]); the driver ([`run`]) only sends it and collects the outputs.
//!
//! Invariant: a step that cannot be done (a selector that never matches within the job's
//! time, a script that throws, an output over its cap) ends the run with
//! [`FetchError::ActionFailed`] naming the step's index and type; nothing after it runs.
//! The whole run is bounded by the render's deadline, which the caller holds.

use std::time::Duration;

use bytes::Bytes;
use chromiumoxide::{
    Page,
    cdp::browser_protocol::{
        input::{DispatchKeyEventParams, DispatchKeyEventType, InsertTextParams},
        page::CaptureScreenshotFormat,
    },
    cdp::js_protocol::runtime::{EvaluateParams, RemoteObject},
    page::ScreenshotParams,
};
use scraperx_core::domain::{
    Action, ActionScrape, JavascriptReturn, KeyDefinition, ScrollDirection,
    action_limits::{MAX_JS_RETURN_BYTES, MAX_SCRAPE_HTML_BYTES},
    key_definition,
};
use serde_json::Value;

use crate::error::FetchError;

/// What the actions gave back, before storage: the screenshots' bytes by step.
#[derive(Debug, Clone, Default)]
pub struct RawOutputs {
    pub screenshots: Vec<(usize, Bytes)>,
    pub scrapes: Vec<ActionScrape>,
    pub javascript_returns: Vec<JavascriptReturn>,
}

/// Runs `actions` on `page` in order; `max_bytes` caps each screenshot.
pub async fn run(
    page: &Page,
    actions: &[Action],
    max_bytes: usize,
) -> Result<RawOutputs, FetchError> {
    let mut out = RawOutputs::default();
    for (step, action) in actions.iter().enumerate() {
        let fail = |reason: String| FetchError::ActionFailed {
            step,
            kind: action.kind(),
            reason,
        };
        run_one(page, step, action, max_bytes, &mut out)
            .await
            .map_err(fail)?;
    }
    Ok(out)
}

async fn run_one(
    page: &Page,
    step: usize,
    action: &Action,
    max_bytes: usize,
    out: &mut RawOutputs,
) -> Result<(), String> {
    match action {
        Action::Wait {
            milliseconds: Some(ms),
            ..
        } => tokio::time::sleep(Duration::from_millis(u64::from(*ms))).await,
        Action::Wait {
            selector: Some(selector),
            ..
        } => super::wait_for_selector(page, selector)
            .await
            .map_err(|e| e.to_string())?,
        Action::Wait { .. } => return Err("a wait needs milliseconds or a selector".into()),
        Action::Click { selector, all } => click(page, selector, *all).await?,
        Action::Write { text } => {
            page.execute(InsertTextParams::new(text.clone()))
                .await
                .map_err(|e| format!("typing: {e}"))?;
        }
        Action::Press { key } => press(page, key).await?,
        Action::Scroll {
            direction,
            selector,
        } => {
            let scrolled = evaluate(page, &scroll_script(*direction, selector.as_deref())).await?;
            if scrolled.value == Some(Value::Bool(false)) {
                return Err("no element matches the selector".into());
            }
        }
        Action::Screenshot { full_page } => {
            let png = screenshot(page, *full_page).await?;
            if png.len() > max_bytes {
                return Err(format!("the screenshot is over {max_bytes} bytes"));
            }
            out.screenshots.push((step, png));
        }
        Action::ExecuteJavascript { script } => {
            let returned = evaluate(page, &wrap_script(script)).await?;
            out.javascript_returns
                .push(javascript_return(step, &returned)?);
        }
        Action::Scrape => out.scrapes.push(scrape(page, step).await?),
    }
    Ok(())
}

/// Clicks the first element matching `selector`, or every one with `all`, as a person
/// would: scrolled into view, a mouse press and release at its centre.
async fn click(page: &Page, selector: &str, all: bool) -> Result<(), String> {
    let found = page
        .find_elements(selector)
        .await
        .map_err(|e| format!("finding {selector:?}: {e}"))?;
    if found.is_empty() {
        return Err(format!("no element matches {selector:?}"));
    }
    let take = if all { found.len() } else { 1 };
    for element in found.iter().take(take) {
        element
            .click()
            .await
            .map_err(|e| format!("clicking {selector:?}: {e}"))?;
    }
    Ok(())
}

async fn press(page: &Page, key: &str) -> Result<(), String> {
    let def = key_definition(key).ok_or_else(|| format!("{key:?} is not a key"))?;
    for event in key_events(&def) {
        page.execute(event)
            .await
            .map_err(|e| format!("pressing {key:?}: {e}"))?;
    }
    Ok(())
}

/// The two events of a key press: down (typing its text, if any) and up, with the key's
/// DOM name, code and virtual key code, as a keyboard sends them.
pub fn key_events(def: &KeyDefinition) -> [DispatchKeyEventParams; 2] {
    let event = |kind: DispatchKeyEventType, text: Option<String>| {
        let mut params = DispatchKeyEventParams::new(kind);
        params.key = Some(def.key.clone());
        params.code = (!def.code.is_empty()).then(|| def.code.clone());
        params.windows_virtual_key_code = Some(def.key_code);
        params.native_virtual_key_code = Some(def.key_code);
        params.unmodified_text = text.clone();
        params.text = text;
        params
    };
    let down = match &def.text {
        Some(text) => event(DispatchKeyEventType::KeyDown, Some(text.clone())),
        None => event(DispatchKeyEventType::RawKeyDown, None),
    };
    [down, event(DispatchKeyEventType::KeyUp, None)]
}

/// A script scrolling the window, or the first element matching `selector`, by one screen
/// of it; it returns false when no element matches.
pub fn scroll_script(direction: ScrollDirection, selector: Option<&str>) -> String {
    let sign = match direction {
        ScrollDirection::Down => "",
        ScrollDirection::Up => "-",
    };
    match selector {
        None => {
            format!("(() => {{ window.scrollBy(0, {sign}window.innerHeight); return true; }})()")
        }
        Some(selector) => {
            let literal = serde_json::to_string(selector).unwrap_or_default();
            format!(
                "(() => {{ const el = document.querySelector({literal}); if (!el) return false; \
                 el.scrollBy(0, {sign}(el.clientHeight || window.innerHeight)); return true; }})()"
            )
        }
    }
}

/// A customer's script as a function body, so it may `return` (and `await`); its value is
/// what the action gives back.
pub fn wrap_script(script: &str) -> String {
    format!("(async () => {{\n{script}\n}})()")
}

/// Evaluates `expression`, awaiting a promise and returning the value by value; a thrown
/// exception is the step's failure.
async fn evaluate(page: &Page, expression: &str) -> Result<RemoteObject, String> {
    let mut params = EvaluateParams::new(expression);
    params.await_promise = Some(true);
    params.return_by_value = Some(true);
    params.user_gesture = Some(true);
    let returned = page
        .execute(params)
        .await
        .map_err(|e| format!("evaluating: {e}"))?
        .result;
    if let Some(exception) = returned.exception_details {
        let text = exception
            .exception
            .and_then(|e| e.description)
            .unwrap_or(exception.text);
        return Err(format!("the script threw: {text}"));
    }
    Ok(returned.result)
}

/// A script's return value as recorded: its JavaScript type and its value as JSON (null for
/// `undefined`), refused over [`MAX_JS_RETURN_BYTES`].
pub fn javascript_return(step: usize, returned: &RemoteObject) -> Result<JavascriptReturn, String> {
    let value = returned.value.clone().unwrap_or(Value::Null);
    let size = serde_json::to_string(&value).map_or(usize::MAX, |s| s.len());
    if size > MAX_JS_RETURN_BYTES {
        return Err(format!(
            "the return value is {size} bytes, over {MAX_JS_RETURN_BYTES}"
        ));
    }
    Ok(JavascriptReturn {
        step,
        kind: returned.r#type.as_ref().to_owned(),
        value,
    })
}

async fn screenshot(page: &Page, full_page: bool) -> Result<Bytes, String> {
    let params = ScreenshotParams::builder()
        .format(CaptureScreenshotFormat::Png)
        .full_page(full_page)
        .build();
    page.screenshot(params)
        .await
        .map(Bytes::from)
        .map_err(|e| format!("screenshot: {e}"))
}

async fn scrape(page: &Page, step: usize) -> Result<ActionScrape, String> {
    let html = page.content().await.map_err(|e| format!("content: {e}"))?;
    if html.len() > MAX_SCRAPE_HTML_BYTES {
        return Err(format!(
            "the page's HTML is {} bytes, over {MAX_SCRAPE_HTML_BYTES}",
            html.len()
        ));
    }
    let url = page.url().await.ok().flatten().unwrap_or_default();
    Ok(ActionScrape { step, url, html })
}

#[cfg(test)]
mod tests {
    use chromiumoxide::cdp::js_protocol::runtime::RemoteObjectType;

    use super::*;

    #[test]
    fn enter_is_pressed_as_a_key_that_types_a_return() {
        let def = key_definition("Enter").expect("enter");
        let [down, up] = key_events(&def);
        assert_eq!(down.r#type, DispatchKeyEventType::KeyDown);
        assert_eq!(down.text.as_deref(), Some("\r"));
        assert_eq!(down.windows_virtual_key_code, Some(13));
        assert_eq!(up.r#type, DispatchKeyEventType::KeyUp);
        assert_eq!(up.text, None);
        let arrow = key_events(&key_definition("ArrowDown").expect("arrow"));
        assert_eq!(arrow[0].r#type, DispatchKeyEventType::RawKeyDown);
        assert_eq!(arrow[0].code.as_deref(), Some("ArrowDown"));
    }

    #[test]
    fn a_scroll_moves_by_a_screen_of_the_window_or_of_its_element() {
        assert!(
            scroll_script(ScrollDirection::Down, None).contains("scrollBy(0, window.innerHeight)")
        );
        assert!(
            scroll_script(ScrollDirection::Up, None).contains("scrollBy(0, -window.innerHeight)")
        );
        let el = scroll_script(ScrollDirection::Down, Some("#feed \"x\""));
        assert!(el.contains(r##"querySelector("#feed \"x\"")"##), "{el}");
        assert!(el.contains("return false"));
    }

    #[test]
    fn a_script_runs_as_a_function_body_so_it_may_return() {
        assert_eq!(wrap_script("return 1"), "(async () => {\nreturn 1\n})()");
    }

    #[test]
    fn a_return_value_keeps_its_type_and_is_refused_over_the_cap() {
        let mut obj = RemoteObject::new(RemoteObjectType::Number);
        obj.value = Some(serde_json::json!(42));
        let r = javascript_return(3, &obj).expect("fits");
        assert_eq!(
            (r.step, r.kind.as_str(), r.value.clone()),
            (3, "number", serde_json::json!(42))
        );
        let undefined =
            javascript_return(0, &RemoteObject::new(RemoteObjectType::Undefined)).expect("fits");
        assert_eq!(
            (undefined.kind.as_str(), undefined.value),
            ("undefined", Value::Null)
        );
        let mut big = RemoteObject::new(RemoteObjectType::String);
        big.value = Some(Value::String("x".repeat(MAX_JS_RETURN_BYTES)));
        assert!(javascript_return(0, &big).is_err());
    }
}
