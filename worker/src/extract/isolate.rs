//! Extraction runs where a runaway page cannot take the worker down: on a small pool of
//! threads of its own, each with a known, ample stack ([`STACK_BYTES`]), every page inside
//! `catch_unwind`, and out of tokio's blocking pool, so a slow page holds none of the
//! threads the runtime needs.
//!
//! Invariant: at most [`threads`] extractions run at once; others wait their turn. Once a
//! page's extraction starts, its job waits at most [`WALL_LIMIT`] for the result: past it
//! the job fails with `content_too_complex` and the result, when it comes, is dropped (the
//! page's own [`super::TIME_BUDGET`] frees its thread soon after). A panic becomes
//! `extraction_failed`.

use std::{
    any::Any,
    collections::BTreeMap,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        LazyLock, Mutex,
        mpsc::{Receiver, Sender, channel},
    },
    time::Duration,
};

use scraperx_core::domain::ExtractRule;
use tokio::sync::oneshot;
use url::Url;

use super::{Content, Extraction, TIME_BUDGET, extract};
use crate::error::FetchError;

/// The stack of an extraction thread. The passes are iterative; the margin is for the
/// recursion that remains in libraries (selector matching, at most `MAX_DEPTH` deep).
pub const STACK_BYTES: usize = 64 * 1024 * 1024;
/// How long a job waits for its extraction, once started.
pub const WALL_LIMIT: Duration = TIME_BUDGET.saturating_add(Duration::from_secs(5));

type Task = Box<dyn FnOnce() + Send>;

/// The extraction threads' queue; None when not one thread could be started.
static POOL: LazyLock<Option<Mutex<Sender<Task>>>> = LazyLock::new(start_pool);

/// Extraction threads: one per core, at least two.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(2)
        .max(2)
}

fn start_pool() -> Option<Mutex<Sender<Task>>> {
    let (tx, rx) = channel::<Task>();
    let rx = std::sync::Arc::new(Mutex::new(rx));
    let started = (0..threads())
        .filter(|i| {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("scrx-extract-{i}"))
                .stack_size(STACK_BYTES)
                .spawn(move || serve(&rx))
                .map_err(|e| tracing::error!(error = %e, "extraction thread not started"))
                .is_ok()
        })
        .count();
    (started > 0).then(|| Mutex::new(tx))
}

/// Runs tasks until the queue closes.
fn serve(queue: &Mutex<Receiver<Task>>) {
    loop {
        let task = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match task {
            Ok(task) => task(),
            Err(_) => return,
        }
    }
}

/// [`extract`] on an extraction thread, within [`WALL_LIMIT`].
pub async fn extract_isolated(
    html: String,
    base: Url,
    rules: Option<BTreeMap<String, ExtractRule>>,
    content: Content,
) -> Result<Extraction, FetchError> {
    run_isolated(
        move || extract(&html, &base, rules.as_ref(), &content),
        WALL_LIMIT,
    )
    .await
}

/// Runs `work` on an extraction thread once one is free, and waits at most `limit` for
/// its result once it has started.
pub async fn run_isolated<T, F>(work: F, limit: Duration) -> Result<T, FetchError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, FetchError> + Send + 'static,
{
    let (started_tx, started) = oneshot::channel();
    let (done_tx, done) = oneshot::channel();
    let task: Task = Box::new(move || {
        let _ = started_tx.send(());
        let outcome = catch_unwind(AssertUnwindSafe(work));
        // The receiver is gone when the job gave up waiting: the result is dropped.
        let _ = done_tx.send(outcome);
    });
    let queued = POOL
        .as_ref()
        .and_then(|pool| pool.lock().ok()?.send(task).ok());
    let unavailable = || FetchError::ExtractionFailed("no extraction thread".into());
    queued.ok_or_else(unavailable)?;
    started.await.map_err(|_| unavailable())?;
    match tokio::time::timeout(limit, done).await {
        Ok(Ok(Ok(result))) => result,
        Ok(Ok(Err(panic))) => Err(FetchError::ExtractionFailed(panic_message(panic.as_ref()))),
        Ok(Err(_)) => Err(FetchError::ExtractionFailed(
            "the extraction thread ended without a result".into(),
        )),
        Err(_) => Err(FetchError::ContentTooComplex(format!(
            "extraction did not finish within {limit:?}"
        ))),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("extraction panicked: {text}")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_panic_in_extraction_fails_the_job_and_spares_the_worker() {
        let err = run_isolated(|| -> Result<(), FetchError> { panic!("boom") }, WALL_LIMIT)
            .await
            .expect_err("a panic is an error");
        assert_eq!(err.code(), "extraction_failed");
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[tokio::test]
    async fn extraction_past_its_wall_clock_limit_fails_without_waiting_for_it() {
        let started = Instant::now();
        let err = run_isolated(
            || {
                std::thread::sleep(Duration::from_millis(1500));
                Ok(())
            },
            Duration::from_millis(100),
        )
        .await
        .expect_err("too slow");
        assert_eq!(err.code(), "content_too_complex");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn the_extraction_thread_has_a_large_stack() {
        fn down(n: usize) -> usize {
            let frame = [n as u8; 1024];
            if n == 0 {
                0
            } else {
                std::hint::black_box(frame)[0] as usize % 2 + down(n - 1)
            }
        }
        // About 16 MiB of frames: eight times a tokio worker's stack.
        let sum = run_isolated(|| Ok(down(16 * 1024)), WALL_LIMIT)
            .await
            .expect("deep recursion fits");
        assert!(sum > 0);
    }
}
