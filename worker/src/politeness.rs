//! Politeness per domain: robots.txt fetched once a day and cached (its crawl-delay kept in
//! `domain_intelligence`), a delay between request starts (the larger of the crawl-delay and
//! the adaptive `recommended_delay_ms`, which doubles on a 429), and a cap on requests in
//! flight, enforced in Redis so it holds across every worker. Disallowed paths are refused
//! when the deployment obeys robots.txt, and so is every path while the site's robots.txt
//! is unreachable (RFC 9309: a 5xx or no answer means full disallow, asked again in ten
//! minutes; a 4xx means no rules). A place in flight is held for a few seconds at a time and
//! kept while its request runs, so a worker killed mid-request frees its places in seconds,
//! not after the job's timeout.

use std::{sync::OnceLock, time::Duration};

use redis::{AsyncCommands, Script};
use scraperx_core::hot::RedisConn;
use scraperx_core::pg::Db;
use url::Url;

use crate::{
    error::FetchError,
    fetch::{FetchRequest, http::HttpFetcher},
};

pub const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3_600);
/// How long an unreachable robots.txt (5xx, no answer) is remembered before asking again.
pub const ROBOTS_UNREACHABLE_TTL: Duration = Duration::from_secs(600);
/// The robots.txt fetch's own time limit.
const ROBOTS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// What the cache holds for an unreachable robots.txt (no real file starts with NUL).
const UNREACHABLE: &str = "\u{0}unreachable";
const ROBOTS_MAX_BYTES: usize = 512 * 1024;
const USER_AGENT_TOKEN: &str = "ScraperX";

/// How long a place in a domain's gate lasts unless its holder keeps it.
const GATE_HOLD: Duration = Duration::from_secs(5);
/// How often a holder keeps its place: several times within [`GATE_HOLD`].
const GATE_KEEP_EVERY: Duration = Duration::from_secs(1);

fn gate_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(include_str!("lua/domain_gate.lua")))
}

fn gate_hold_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(include_str!("lua/domain_gate_hold.lua")))
}

/// Keeps `holder`'s place in `inflight` until the task is aborted (the pass is given back).
async fn keep_place(mut redis: RedisConn, inflight: String, holder: String) {
    let mut tick = tokio::time::interval(GATE_KEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let kept: Result<i64, _> = gate_hold_script()
            .key(&inflight)
            .arg(&holder)
            .arg(GATE_HOLD.as_millis() as u64)
            .invoke_async(&mut redis)
            .await;
        if let Err(err) = kept {
            tracing::debug!(error = %err, "politeness place not kept; trying again");
        }
    }
}

#[derive(Debug, Clone)]
pub struct PolitenessSettings {
    /// Requests to one domain in flight at once, across all workers.
    pub per_domain_concurrency: u32,
    /// Refuse paths that robots.txt disallows.
    pub obey_robots: bool,
}

#[derive(Clone)]
pub struct Politeness {
    settings: PolitenessSettings,
    redis: RedisConn,
    db: Db,
}

/// A held place in a domain's queue. Give it back with [`Politeness::release`]; a pass
/// dropped on the way (a canceled or aborted job) gives itself back.
pub struct Pass {
    domain: String,
    holder: String,
    redis: Option<RedisConn>,
    /// Keeps the place held while the request runs; aborted when the pass is given back.
    keeper: Option<tokio::task::JoinHandle<()>>,
    /// What earlier jobs taught about the domain, read once at admission.
    pub intel: Option<scraperx_core::pg::DomainIntel>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            keeper.abort();
        }
        let Some(mut redis) = self.redis.take() else {
            return;
        };
        let (inflight, _) = keys(&self.domain);
        let holder = std::mem::take(&mut self.holder);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _: Result<i64, _> = redis.zrem(&inflight, &holder).await;
            });
        }
    }
}

fn keys(domain: &str) -> (String, String) {
    (
        format!("scrx:domain:{{d:{domain}}}:inflight"),
        format!("scrx:domain:{{d:{domain}}}:next"),
    )
}

/// The robots.txt cache key of `url`'s origin. robots.txt belongs to an origin (RFC 9309):
/// scheme, host and port, so `http://victim:443/` answering garbage never stands for
/// `https://victim/`.
pub fn robots_key(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    let port = url.port_or_known_default()?;
    Some(format!(
        "scrx:domain:{{d:{}://{host}:{port}}}:robots",
        url.scheme()
    ))
}

impl Politeness {
    pub fn new(settings: PolitenessSettings, redis: RedisConn, db: Db) -> Self {
        Self {
            settings,
            redis,
            db,
        }
    }

    /// The robots.txt of `url`'s origin, from Redis or fetched (and its crawl-delay
    /// recorded), as RFC 9309 reads it: a 4xx means no rules; a 5xx or no answer means the
    /// site cannot say, [`UNREACHABLE`], remembered only briefly.
    pub async fn robots(&self, url: &Url, http: &HttpFetcher) -> Option<String> {
        let domain = url.host_str()?.to_ascii_lowercase();
        let key = robots_key(url)?;
        let mut redis = self.redis.clone();
        if let Ok(Some(cached)) = redis.get::<_, Option<String>>(&key).await {
            return Some(cached);
        }
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let fetched = http
            .fetch(&FetchRequest {
                url: robots_url,
                method: scraperx_core::domain::HttpMethod::Get,
                headers: Default::default(),
                body: None,
                // Its own time, not the job's: a job in a hurry must not leave the site
                // marked unreachable for everyone.
                timeout: ROBOTS_FETCH_TIMEOUT,
            })
            .await;
        let body = match fetched {
            Ok(page) if page.status == 200 && page.body.len() <= ROBOTS_MAX_BYTES => {
                String::from_utf8_lossy(&page.body).into_owned()
            }
            // Missing (4xx) or unusable: no rules.
            Ok(page) if page.status < 500 && page.status != 429 => String::new(),
            // A server error, a 429 or no answer: nothing can be concluded yet.
            Ok(_)
            | Err(
                FetchError::RetryableStatus(_) | FetchError::Network(_) | FetchError::Timeout(_),
            ) => {
                let ttl = ROBOTS_UNREACHABLE_TTL.as_secs();
                let _: Result<(), _> = redis.set_ex(&key, UNREACHABLE, ttl).await;
                return Some(UNREACHABLE.to_owned());
            }
            // Refused on our side (too large, too many redirects, blocked): no rules, and
            // nothing remembered.
            Err(_) => return Some(String::new()),
        };
        let delay = Rules::of(&body)
            .crawl_delay()
            .map(|d| i32::try_from(d.as_millis()).unwrap_or(i32::MAX));
        if let Err(err) = self.db.record_robots(&domain, delay).await {
            tracing::warn!(%domain, error = %err, "robots.txt not recorded");
        }
        let _: Result<(), _> = redis.set_ex(&key, &body, ROBOTS_TTL.as_secs()).await;
        Some(body)
    }

    /// Whether the robots.txt of `url`'s origin disallows it (an unreachable robots.txt
    /// disallowing all, as [`Self::admit`] reads it), whatever the deployment's setting:
    /// crawls obey robots.txt on their own and ask this of each link before submitting it.
    pub async fn robots_disallow(&self, url: &Url, http: &HttpFetcher) -> bool {
        match self.robots(url, http).await.as_deref() {
            Some(UNREACHABLE) => true,
            Some(body) => !Rules::of(body).allows(url),
            None => false,
        }
    }

    /// Waits for a place to fetch `url` (at most `within`). Refused when robots.txt
    /// disallows the path and the deployment obeys it.
    pub async fn admit(
        &self,
        url: &Url,
        http: &HttpFetcher,
        within: Duration,
    ) -> Result<Pass, FetchError> {
        let Some(domain) = url.host_str().map(str::to_ascii_lowercase) else {
            return Err(FetchError::Invalid("the URL has no host".into()));
        };
        // The job waits at most its own time for the site's robots.txt.
        let mut robots = tokio::time::timeout(within, self.robots(url, http))
            .await
            .map_err(|_| FetchError::Timeout(within))?
            .unwrap_or_default();
        if robots == UNREACHABLE {
            if self.settings.obey_robots {
                // RFC 9309: an unreachable robots.txt means full disallow, for now.
                return Err(FetchError::Network(
                    "robots.txt is unreachable (a server error or no answer); \
                     the site is treated as disallowed until it answers"
                        .into(),
                ));
            }
            robots.clear();
        }
        let rules = Rules::of(&robots);
        if self.settings.obey_robots && !rules.allows(url) {
            return Err(FetchError::Blocked(format!(
                "robots.txt disallows {}",
                url.path()
            )));
        }
        let intel = self.db.domain_intel(&domain).await.ok().flatten();
        // The larger of the adaptive delay and robots.txt's crawl-delay (read from the body
        // itself, so a cached robots.txt counts even before the database has it).
        let robots_delay = rules
            .crawl_delay()
            .map(|d| i32::try_from(d.as_millis()).unwrap_or(i32::MAX))
            .unwrap_or(0);
        let delay_ms = intel
            .as_ref()
            .map(|i| {
                i.recommended_delay_ms
                    .max(i.robots_txt_crawl_delay.unwrap_or(0))
            })
            .unwrap_or(0)
            .max(robots_delay)
            .max(0);
        let holder = uuid::Uuid::new_v4().to_string();
        let (inflight, next) = keys(&domain);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (granted, wait_ms): (i64, i64) = gate_script()
                .key(&inflight)
                .key(&next)
                .arg(&holder)
                .arg(self.settings.per_domain_concurrency.max(1))
                .arg(delay_ms)
                // A holder that died frees its place once it stops keeping it.
                .arg(GATE_HOLD.as_millis() as u64)
                .invoke_async(&mut self.redis.clone())
                .await
                .map_err(|e| FetchError::Network(format!("politeness gate: {e}")))?;
            if granted == 1 {
                let keeper = tokio::spawn(keep_place(
                    self.redis.clone(),
                    inflight.clone(),
                    holder.clone(),
                ));
                return Ok(Pass {
                    domain,
                    holder,
                    redis: Some(self.redis.clone()),
                    keeper: Some(keeper),
                    intel,
                });
            }
            let wait = Duration::from_millis(u64::try_from(wait_ms.max(10)).unwrap_or(10));
            if tokio::time::Instant::now() + wait > deadline {
                return Err(FetchError::Timeout(within));
            }
            tokio::time::sleep(wait).await;
        }
    }

    pub async fn release(&self, mut pass: Pass) {
        if let Some(keeper) = pass.keeper.take() {
            keeper.abort();
        }
        if let Some(mut redis) = pass.redis.take() {
            let (inflight, _) = keys(&pass.domain);
            let _: Result<i64, _> = redis.zrem(&inflight, &pass.holder).await;
        }
    }
}

/// A robots.txt rule: lower-case field and its value.
type Rule = (String, String);
/// The user agents a group names, and its rules.
type Group = (Vec<String>, Vec<Rule>);

/// The rules of a robots.txt that apply to us, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Rules(Vec<Rule>);

impl Rules {
    /// The group that applies to us: our own token's, else `*`'s.
    pub fn of(robots: &str) -> Self {
        Self(our_group(robots))
    }

    /// The crawl-delay asked of us, if any.
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.0
            .iter()
            .find(|(f, _)| f == "crawl-delay")
            .and_then(|(_, v)| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_millis((s.min(3_600.0) * 1_000.0) as u64))
    }

    /// Whether we may fetch `url`: the longest matching Allow or Disallow wins (Allow on a
    /// tie), with `*` and `$` wildcards (RFC 9309).
    pub fn allows(&self, url: &Url) -> bool {
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let mut best: Option<(usize, bool)> = None;
        for (field, pattern) in &self.0 {
            let allow = match field.as_str() {
                "allow" => true,
                "disallow" if pattern.is_empty() => continue,
                "disallow" => false,
                _ => continue,
            };
            if matches(pattern, &path) {
                let len = pattern.len();
                if best.is_none_or(|(l, a)| len > l || (len == l && allow && !a)) {
                    best = Some((len, allow));
                }
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

fn our_group(robots: &str) -> Vec<Rule> {
    let mut groups: Vec<Group> = Vec::new();
    let mut in_agents = false;
    for line in robots.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let (field, value) = (field.trim().to_ascii_lowercase(), value.trim().to_owned());
        if field == "user-agent" {
            if !in_agents {
                groups.push((Vec::new(), Vec::new()));
            }
            in_agents = true;
            if let Some(g) = groups.last_mut() {
                g.0.push(value.to_ascii_lowercase());
            }
        } else {
            in_agents = false;
            if let Some(g) = groups.last_mut() {
                g.1.push((field, value));
            }
        }
    }
    let token = USER_AGENT_TOKEN.to_ascii_lowercase();
    groups
        .iter()
        .find(|g| {
            g.0.iter()
                .any(|a| token.starts_with(a.as_str()) && a != "*")
        })
        .or_else(|| groups.iter().find(|g| g.0.iter().any(|a| a == "*")))
        .map(|g| g.1.clone())
        .unwrap_or_default()
}

fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = path;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    !anchored || rest.is_empty() || parts.last().is_some_and(|p| p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_txt_is_cached_per_scheme_host_and_port() {
        let key = |raw: &str| robots_key(&Url::parse(raw).expect("url")).expect("key");
        assert_ne!(key("http://victim:443/"), key("https://victim/"));
        assert_ne!(key("http://victim/"), key("https://victim/"));
        assert_ne!(key("https://victim:8443/"), key("https://victim/"));
        assert_eq!(key("https://Victim/a"), key("https://victim:443/b?c"));
        assert_eq!(key("http://victim/"), key("http://victim:80/"));
    }

    const ROBOTS: &str = "User-agent: *\nDisallow: /private\nAllow: /private/open\nCrawl-delay: 2\n\n\
                          User-agent: ScraperX\nDisallow: /no-bots/\nDisallow: /*.pdf$\nCrawl-delay: 0.5\n";

    fn url(p: &str) -> Url {
        Url::parse(&format!("https://x.test{p}")).expect("url")
    }

    #[test]
    fn our_own_group_wins_with_longest_match_and_wildcards() {
        assert!(!Rules::of(ROBOTS).allows(&url("/no-bots/page")));
        assert!(!Rules::of(ROBOTS).allows(&url("/files/a.pdf")));
        assert!(Rules::of(ROBOTS).allows(&url("/files/a.pdf?x=1")));
        assert!(Rules::of(ROBOTS).allows(&url("/private"))); // the * group does not apply to us
        assert_eq!(
            Rules::of(ROBOTS).crawl_delay(),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn the_star_group_applies_when_we_are_not_named() {
        let robots = "User-agent: *\nDisallow: /private\nAllow: /private/open\nCrawl-delay: 2\n";
        assert!(!Rules::of(robots).allows(&url("/private/x")));
        assert!(Rules::of(robots).allows(&url("/private/open/x")));
        assert!(Rules::of(robots).allows(&url("/")));
        assert_eq!(
            Rules::of(robots).crawl_delay(),
            Some(Duration::from_secs(2))
        );
        assert!(Rules::of("").allows(&url("/anything")));
    }
}
