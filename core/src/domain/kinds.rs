//! The closed sets of the schema, one enum each.

text_enum! {
    /// How a page is fetched (`scrape_jobs_valid_engine`).
    pub enum Engine {
        Auto => "auto",
        Http => "http",
        Browser => "browser",
        Stealth => "stealth",
    }
}

text_enum! {
    /// Proxy network tier (`scrape_jobs_valid_proxy_tier`).
    pub enum ProxyTier {
        Datacenter => "datacenter",
        Residential => "residential",
        Mobile => "mobile",
        Isp => "isp",
    }
}

text_enum! {
    /// Billing plan (`organizations_valid_plan`).
    pub enum Plan {
        Free => "free",
        Starter => "starter",
        Growth => "growth",
        Business => "business",
        Enterprise => "enterprise",
    }
}

impl Plan {
    /// Plans that may consume past a zero balance (counted as overage, billed later); the same
    /// rule as the SQL function `plan_allows_overage`.
    pub fn allows_overage(self) -> bool {
        matches!(self, Plan::Enterprise)
    }
}

text_enum! {
    /// A user's role in an organization (`users_valid_role`).
    pub enum Role {
        Owner => "owner",
        Admin => "admin",
        Member => "member",
        Readonly => "readonly",
    }
}

text_enum! {
    /// Subscription state (`subscriptions_valid_status`).
    pub enum SubscriptionStatus {
        Trialing => "trialing",
        Active => "active",
        PastDue => "past_due",
        Canceled => "canceled",
        Unpaid => "unpaid",
        Paused => "paused",
    }
}

text_enum! {
    /// HTTP method of a scrape request (`scrape_jobs_valid_method`).
    pub enum HttpMethod {
        Get => "GET",
        Post => "POST",
        Put => "PUT",
        Patch => "PATCH",
        Delete => "DELETE",
        Head => "HEAD",
        Options => "OPTIONS",
    }
}

text_enum! {
    /// Job lifecycle event types (`job_events_valid_type`).
    pub enum EventType {
        Created => "job.created",
        Queued => "job.queued",
        Started => "job.started",
        EngineSelected => "job.engine_selected",
        ProxyAssigned => "job.proxy_assigned",
        FingerprintApplied => "job.fingerprint_applied",
        RequestSent => "job.request_sent",
        ResponseReceived => "job.response_received",
        ContentExtracted => "job.content_extracted",
        ScreenshotTaken => "job.screenshot_taken",
        CaptchaDetected => "job.captcha_detected",
        CaptchaSolving => "job.captcha_solving",
        CaptchaSolved => "job.captcha_solved",
        CaptchaFailed => "job.captcha_failed",
        RetryScheduled => "job.retry_scheduled",
        Escalated => "job.escalated",
        Completed => "job.completed",
        Failed => "job.failed",
        Timeout => "job.timeout",
        Canceled => "job.canceled",
        WebhookQueued => "webhook.queued",
        WebhookSent => "webhook.sent",
        WebhookFailed => "webhook.failed",
    }
}

text_enum! {
    /// Where a result's content is kept (`job_results_valid_storage`).
    pub enum ContentStorage {
        Inline => "inline",
        Minio => "minio",
        None => "none",
    }
}
