//! Where a fetch's time goes, measured on the connection itself. The resolver adds its own
//! time as DNS; [`TimedConnects`] wraps reqwest's connector, so each *new* connection is
//! timed from the first byte of work to a usable stream, and splits that into TCP connect
//! and TLS handshake at the moment rustls starts the handshake (see [`super::tls`]).
//! A reused pooled connection records neither: no connection was made.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use super::Timings;

tokio::task_local! {
    /// The timings of the fetch running in this task, filled by the resolver and the
    /// connector.
    pub static TIMINGS: Arc<Mutex<Timings>>;
}

tokio::task_local! {
    /// The connection being made in this future: rustls marks the start of its handshake.
    static CONNECTING: Arc<ConnectClock>;
}

/// When the TLS handshake of the connection being made began.
#[derive(Debug, Default)]
pub struct ConnectClock {
    tls_started: OnceLock<Instant>,
}

/// Called by rustls (through the session store) as it builds the ClientHello: the TCP
/// connection (or proxy tunnel) is up and the handshake starts now. Outside a timed
/// connect (no clock in scope) it does nothing.
pub fn mark_tls_start() {
    let _ = CONNECTING.try_with(|c| {
        c.tls_started.get_or_init(Instant::now);
    });
}

pub fn elapsed_ms(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX)
}

fn ms_between(from: Instant, to: Instant) -> u32 {
    u32::try_from(to.saturating_duration_since(from).as_millis()).unwrap_or(u32::MAX)
}

/// Times each new connection for the fetch running in this task.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimedConnects;

impl<S> tower::Layer<S> for TimedConnects {
    type Service = TimedConnect<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TimedConnect(inner)
    }
}

#[derive(Clone, Debug)]
pub struct TimedConnect<S>(S);

impl<S, R> tower::Service<R> for TimedConnect<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        // Taken now: the connect may finish in a background task once a pooled connection
        // served the request, and the clock travels inside the future wherever it runs.
        let timings = TIMINGS.try_with(Arc::clone).ok();
        let clock = Arc::new(ConnectClock::default());
        let connecting = CONNECTING.scope(clock.clone(), self.0.call(req));
        Box::pin(async move {
            let started = Instant::now();
            let dns_before = timings
                .as_ref()
                .and_then(|t| t.lock().ok().and_then(|t| t.dns_ms))
                .unwrap_or(0);
            let conn = connecting.await;
            let done = Instant::now();
            if conn.is_ok()
                && let Some(t) = timings
                && let Ok(mut t) = t.lock()
            {
                let dns_during = t.dns_ms.unwrap_or(0).saturating_sub(dns_before);
                let (tcp, tls) = match clock.tls_started.get() {
                    Some(&tls_start) => (
                        ms_between(started, tls_start),
                        Some(ms_between(tls_start, done)),
                    ),
                    None => (ms_between(started, done), None),
                };
                t.connect_ms = Some(t.connect_ms.unwrap_or(0) + tcp.saturating_sub(dns_during));
                if let Some(tls) = tls {
                    t.tls_ms = Some(t.tls_ms.unwrap_or(0) + tls);
                }
            }
            conn
        })
    }
}
