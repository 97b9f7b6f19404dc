//! The customer REST API. [`app`] is the whole router: one router per resource under `/v1`,
//! authentication and rate limits applied once as middleware, and the OpenAPI document
//! generated from the same route definitions (utoipa-axum), so it cannot drift from them.

pub mod auth;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod extract;
pub mod firecrawl;
pub mod metrics;
pub mod request;
pub mod routes;
pub mod state;
pub mod submit;
pub mod target;
pub mod trace;
pub mod usage;
pub mod watcher;

use axum::{Json, Router, middleware, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

pub use state::{AppState, Services};

#[derive(OpenApi)]
#[openapi(
    info(title = "ScraperX API", description = "Scrape pages now, as jobs or in batches."),
    modifiers(&BearerKeys),
    tags((name = "scrape"), (name = "jobs"), (name = "batches"), (name = "crawls"), (name = "webhooks"), (name = "account"), (name = "admin"), (name = "health"))
)]
struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_...")
                    .build(),
            ),
        );
    }
}

/// The routes and the OpenAPI document describing exactly them.
pub fn routes(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(routes::jobs::router())
        .merge(routes::batches::router())
        .merge(routes::crawls::router())
        .merge(routes::map::router())
        .merge(routes::scrape::router())
        .merge(routes::stream::router())
        .merge(routes::webhooks::router())
        .merge(routes::account::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/v1", v1)
        .merge(routes::health::router())
        .split_for_parts();
    // Firecrawl's API, outside the OpenAPI document: its shapes are Firecrawl's.
    let router = router
        .with_state(state.clone())
        .merge(firecrawl::router(state));
    (router, api)
}

/// The whole application: the routes plus `/v1/openapi.json` and `/metrics`, every request
/// counted and timed.
pub fn app(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    let (router, api) = routes(state.clone());
    router
        .route("/v1/openapi.json", get(move || async move { Json(api) }))
        // The JSON extractor reads the body whole: bound it (a batch of many URLs is large).
        .layer(axum::extract::DefaultBodyLimit::max(
            extract::MAX_BODY_BYTES,
        ))
        .route("/metrics", get(metrics::serve).with_state(state))
        // Inside the metrics layer, so refusals it wraps are counted by their code.
        .layer(middleware::from_fn(error::envelope))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        .layer(middleware::from_fn(trace::trace))
}
