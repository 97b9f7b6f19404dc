//! Creating a ScrapeCrawl's crawl, once: the organization from its Secret (the key must
//! hold `scrape:write`), a `NewCrawl` from the spec (core's crawl options, the page options
//! as a ScrapeBatch's), stored by `Db::create_crawl_as` under the id derived from the
//! resource's UID, so a repeated reconcile or a restart finds it instead of creating a
//! second, then its start page submitted (core's `crawl::top_up`). What the cluster, the key
//! or the spec lacks comes back as [`Blocked`]; other failures are errors.

use kube::ResourceExt;
use scraperx_core::{
    crawl,
    domain::CrawlId,
    pg::{Crawl, NewCrawl, PageTemplate, ScrapeRequest},
};

use super::plan::{Blocked, Note, crawl_options};
use crate::{
    Error, Result,
    batch::create::{invalid_as, organization, request},
    context::Context,
    crd::ScrapeCrawl,
};

/// The outcome of trying to create a ScrapeCrawl's crawl.
pub enum Created {
    /// The crawl exists now (or already did).
    Crawl {
        crawl: Box<Crawl>,
        note: Note,
    },
    Blocked(Blocked),
}

/// Creates the crawl of `sc` as crawl `id`, and submits its start page.
pub async fn create(sc: &ScrapeCrawl, ctx: &Context, id: CrawlId) -> Result<Created> {
    let ns = sc.namespace().unwrap_or_default();
    let auth = match invalid_as(
        organization(&sc.spec.organization_ref, ctx, &ns).await,
        |m| Blocked::new("OrganizationUnavailable", m),
    )? {
        Ok(auth) => auth,
        Err(b) => return Ok(Created::Blocked(b)),
    };
    let new = match new_crawl(sc, &ns) {
        Ok(new) => new,
        Err(b) => return Ok(Created::Blocked(b)),
    };
    // Links are followed by the workers, which do not know the key: a key held to some
    // domains may crawl within them, never off to other hosts (as the API refuses).
    if new.options.allow_external_links && auth.allowed_domains.is_some() {
        return Ok(Created::Blocked(Blocked::new(
            "InvalidSpec",
            "spec.crawl.allowExternalLinks: this API key may scrape only its allowed domains",
        )));
    }
    let org = auth.organization_id;
    let crawl = match ctx
        .db
        .create_crawl_as(id, org, Some(auth.key_id), &new)
        .await
    {
        Ok(crawl) => crawl,
        // Created meanwhile under the same id: the one crawl it is.
        Err(scraperx_core::Error::Conflict { .. }) => ctx.db.get_crawl_unscoped(id).await?,
        Err(scraperx_core::Error::Validation { field, message }) => {
            let b = Blocked::new("InvalidSpec", format!("spec ({field}): {message}"));
            return Ok(Created::Blocked(b));
        }
        Err(e) => return Err(e.into()),
    };
    crawl::top_up(&ctx.db, &ctx.queues, crawl.id).await?;
    let crawl = ctx.db.get_crawl_unscoped(crawl.id).await?;
    let note = Note::normal(
        "CrawlCreated",
        format!("crawl {} from {}", crawl.id, crawl.url),
    );
    Ok(Created::Crawl {
        crawl: Box::new(crawl),
        note,
    })
}

/// The crawl of `sc`: its crawl options (core's, checked), and every page's job as a
/// ScrapeBatch's would be, checked on the start page.
pub fn new_crawl(sc: &ScrapeCrawl, ns: &str) -> Result<NewCrawl, Blocked> {
    let spec = &sc.spec;
    let options = crawl_options(spec)?;
    let invalid = |e: Error| Blocked::new("InvalidSpec", e.to_string());
    let pages = request(
        spec.engine,
        &spec.options,
        spec.priority,
        spec.max_attempts,
        spec.webhook.clone(),
    )
    .map_err(invalid)?;
    let job = ScrapeRequest {
        url: Some(spec.url.clone()),
        ..pages
    }
    .into_new_job()
    .map_err(|e| Blocked::new("InvalidSpec", format!("spec: {e}")))?;
    let mut page = PageTemplate::from_job(job);
    let metadata = serde_json::json!({ "scrapeCrawl": sc.name_any(), "namespace": ns });
    page.metadata = metadata.as_object().cloned();
    Ok(NewCrawl {
        url: spec.url.clone(),
        options,
        page,
        webhook_url: None,
        webhook_secret: None,
    })
}
