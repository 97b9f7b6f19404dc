//! A CAPTCHA widget on a rendered page: found, solved by the job's solver, and its token
//! handed to the page (a callback or the widget's field).
//!
//! Invariant: the page is written to only once a token came back; a failure is recorded in
//! the outcome, never raised, so the render goes on with the page as it is.

use std::time::{Duration, Instant};

use chromiumoxide::Page;

use crate::{
    captcha::{self, CaptchaOutcome, SolverHandle},
    fetch::timing::elapsed_ms,
};

/// Finds a CAPTCHA widget, has it solved, and hands the token to the page.
pub(super) async fn on_page(
    page: &Page,
    solver: &SolverHandle,
    url: &url::Url,
) -> Option<CaptchaOutcome> {
    let widget: serde_json::Value = page
        .evaluate(captcha::FIND_WIDGET)
        .await
        .ok()?
        .into_value()
        .ok()?;
    let kind = widget.get("kind")?.as_str()?.to_owned();
    let challenge = captcha::Challenge {
        kind: kind.clone(),
        site_key: widget.get("key")?.as_str()?.to_owned(),
        page_url: url.to_string(),
    };
    let started = Instant::now();
    let outcome = match solver.0.solve(&challenge).await {
        Ok(token) => {
            let callback = widget.get("callback").and_then(|c| c.as_str());
            let injected = page
                .evaluate(captcha::inject(&kind, &token, callback))
                .await;
            // Let the page act on the token (a callback, a form post).
            tokio::time::sleep(Duration::from_millis(300)).await;
            match injected {
                Ok(_) => CaptchaOutcome {
                    kind,
                    solved: true,
                    solve_ms: elapsed_ms(started),
                    error: None,
                },
                Err(e) => CaptchaOutcome {
                    kind,
                    solved: false,
                    solve_ms: elapsed_ms(started),
                    error: Some(e.to_string()),
                },
            }
        }
        Err(e) => CaptchaOutcome {
            kind,
            solved: false,
            solve_ms: elapsed_ms(started),
            error: Some(e.to_string()),
        },
    };
    Some(outcome)
}
