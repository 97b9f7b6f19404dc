//! The organization's account: usage, daily records, invoices, credits and API keys; and,
//! under the admin scope, organizations and users.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Duration, Utc};
use scraperx_core::{
    domain::{ApiKeyId, KeyRestrictions, Plan, Role},
    pg::{
        ApiKey, Invoice, NewApiKey, NewOrganization, NewUser, Organization, UsageRecord,
        UsageSummary, User,
    },
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiQuery},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(daily_usage))
        .routes(routes!(invoices))
        .routes(routes!(credits))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(create_organization))
        .routes(routes!(current_organization))
        .routes(routes!(create_user, list_users))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// Start (inclusive); default 30 days ago.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); default now.
    pub to: Option<DateTime<Utc>>,
}

impl Period {
    fn bounds(&self) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - Duration::days(30));
        if from >= to {
            return Err(ApiError::validation("from", "must be before to"));
        }
        if to - from > Duration::days(800) {
            return Err(ApiError::validation("from", "a period is at most 800 days"));
        }
        Ok((from, to))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub summary: UsageSummary,
}

/// Requests, outcomes and credits over a period (default: the last 30 days).
#[utoipa::path(get, path = "/usage", tag = "account", params(Period),
    responses((status = 200, body = UsageView), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn usage(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(period): ApiQuery<Period>,
) -> ApiResult<Json<UsageView>> {
    auth.require(scopes::ACCOUNT)?;
    let (from, to) = period.bounds()?;
    let summary = state.db.usage_summary(auth.org_id, from, to).await?;
    Ok(Json(UsageView { from, to, summary }))
}

/// Daily usage records over a period.
#[utoipa::path(get, path = "/usage/daily", tag = "account", params(Period),
    responses((status = 200, body = Vec<UsageRecord>)), security(("api_key" = [])))]
pub async fn daily_usage(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(period): ApiQuery<Period>,
) -> ApiResult<Json<Vec<UsageRecord>>> {
    auth.require(scopes::ACCOUNT)?;
    let (from, to) = period.bounds()?;
    Ok(Json(
        state
            .db
            .list_usage_records(auth.org_id, "daily", from, to)
            .await?,
    ))
}

#[utoipa::path(get, path = "/invoices", tag = "account",
    responses((status = 200, body = Vec<Invoice>)), security(("api_key" = [])))]
pub async fn invoices(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Invoice>>> {
    auth.require(scopes::ACCOUNT)?;
    Ok(Json(state.db.list_invoices(auth.org_id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Credits {
    pub balance: i64,
    /// Used past a zero balance (plans that allow overage), billed later.
    pub overage_used: i64,
    pub included_monthly: i64,
    pub plan: Plan,
}

#[utoipa::path(get, path = "/credits", tag = "account",
    responses((status = 200, body = Credits)), security(("api_key" = [])))]
pub async fn credits(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Credits>> {
    auth.require(scopes::ACCOUNT)?;
    let org = state.db.get_organization(auth.org_id).await?;
    Ok(Json(Credits {
        balance: org.credits_balance,
        overage_used: org.credits_overage_used,
        included_monthly: org.credits_included_monthly,
        plan: org.plan_id,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    pub name: String,
    /// Default: scrape:read and scrape:write. A key can only grant scopes it holds itself.
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Client addresses or CIDR ranges allowed to use the key.
    pub allowed_ips: Option<Vec<String>>,
    /// Target domains the key may scrape (subdomains included).
    pub allowed_domains: Option<Vec<String>>,
    /// Requests per second for this key alone.
    pub rate_limit: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key itself. Shown once; only its hash is stored.
    pub secret: String,
}

/// Create an API key; the secret is in this response only.
#[utoipa::path(post, path = "/api-keys", tag = "account", request_body = KeyRequest,
    responses((status = 201, body = CreatedKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<KeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    auth.require(scopes::KEYS)?;
    let mut new = NewApiKey::named(&req.name);
    if let Some(wanted) = req.scopes {
        for scope in &wanted {
            if !auth.scopes.grants(scope) {
                return Err(ApiError::validation(
                    "scopes",
                    format!("cannot grant {scope}: this key does not hold it"),
                ));
            }
        }
        new.scopes = wanted;
    }
    if let Some(ips) = &req.allowed_ips
        && let Some(bad) = ips.iter().find(|ip| {
            ip.parse::<ipnet::IpNet>().is_err() && ip.parse::<std::net::IpAddr>().is_err()
        })
    {
        return Err(ApiError::validation(
            "allowed_ips",
            format!("{bad} is not an address or CIDR range"),
        ));
    }
    if req.rate_limit.is_some_and(|r| r < 1) {
        return Err(ApiError::validation("rate_limit", "must be at least 1"));
    }
    if req.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    // A key never mints a key less restricted than itself.
    let granted = auth.restrictions.narrow(KeyRestrictions {
        allowed_ips: req.allowed_ips,
        allowed_domains: req.allowed_domains,
        expires_at: req.expires_at,
        rate_limit: req.rate_limit,
        max_concurrent: None,
    })?;
    new.expires_at = granted.expires_at;
    new.allowed_ips = granted.allowed_ips;
    new.allowed_domains = granted.allowed_domains;
    new.rate_limit_override = granted.rate_limit;
    new.max_concurrent_override = granted.max_concurrent;
    let (key, secret) = state.db.create_api_key(auth.org_id, &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            secret: secret.expose().to_owned(),
        }),
    ))
}

/// The organization's keys, by prefix only.
#[utoipa::path(get, path = "/api-keys", tag = "account",
    responses((status = 200, body = Vec<ApiKey>)), security(("api_key" = [])))]
pub async fn list_keys(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<ApiKey>>> {
    auth.require(scopes::KEYS)?;
    Ok(Json(state.db.list_api_keys(auth.org_id).await?))
}

/// Revoke a key; it stops working at once.
#[utoipa::path(post, path = "/api-keys/{id}/revoke", tag = "account", params(("id" = ApiKeyId, Path)),
    responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<ApiKeyId>,
) -> ApiResult<Json<ApiKey>> {
    auth.require(scopes::KEYS)?;
    Ok(Json(
        state
            .db
            .revoke_api_key(auth.org_id, id, None, Some("revoked through the API"))
            .await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRequest {
    pub name: String,
    pub slug: String,
    pub billing_email: String,
    pub plan: Option<Plan>,
    pub credits: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrganization {
    pub organization: Organization,
    /// A first API key of the new organization (all customer scopes). Shown once.
    pub api_key: String,
}

/// Create an organization with a first API key (platform administrators).
#[utoipa::path(post, path = "/organizations", tag = "admin", request_body = OrganizationRequest,
    responses((status = 201, body = CreatedOrganization), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_organization(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<OrganizationRequest>,
) -> ApiResult<(StatusCode, Json<CreatedOrganization>)> {
    auth.require(scopes::ADMIN)?;
    let mut new = NewOrganization::new(&req.name, &req.slug, &req.billing_email);
    new.plan = req.plan.unwrap_or(Plan::Free);
    new.credits_balance = req.credits.unwrap_or(0);
    if new.credits_balance < 0 {
        return Err(ApiError::validation("credits", "must not be negative"));
    }
    let organization = state.db.create_organization(&new).await?;
    let mut key = NewApiKey::named("initial");
    key.scopes = [
        scopes::SCRAPE_READ,
        scopes::SCRAPE_WRITE,
        scopes::WEBHOOKS,
        scopes::ACCOUNT,
        scopes::KEYS,
    ]
    .map(str::to_owned)
    .to_vec();
    let (_, secret) = state.db.create_api_key(organization.id, &key).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOrganization {
            organization,
            api_key: secret.expose().to_owned(),
        }),
    ))
}

/// The caller's organization.
#[utoipa::path(get, path = "/organization", tag = "account",
    responses((status = 200, body = Organization)), security(("api_key" = [])))]
pub async fn current_organization(
    State(state): State<AppState>,
    auth: Auth,
) -> ApiResult<Json<Organization>> {
    auth.require(scopes::ACCOUNT)?;
    Ok(Json(state.db.get_organization(auth.org_id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub email: String,
    pub role: Option<Role>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Add a user to the caller's organization.
#[utoipa::path(post, path = "/users", tag = "admin", request_body = UserRequest,
    responses((status = 201, body = User), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<UserRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    auth.require(scopes::ADMIN)?;
    let new = NewUser {
        email: req.email,
        role: req.role.unwrap_or(Role::Member),
        first_name: req.first_name,
        last_name: req.last_name,
    };
    Ok((
        StatusCode::CREATED,
        Json(state.db.create_user(auth.org_id, &new).await?),
    ))
}

#[utoipa::path(get, path = "/users", tag = "admin",
    responses((status = 200, body = Vec<User>)), security(("api_key" = [])))]
pub async fn list_users(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<User>>> {
    auth.require(scopes::ADMIN)?;
    Ok(Json(state.db.list_users(auth.org_id).await?))
}
