//! The stealth benchmark (bench/stealth/run.sh): the detector pages through puppeteer-extra's
//! stealth plugin and through ScraperX's engines, printed side by side: BotD's verdicts, the
//! tells of each context, the native-function checks that read unlike the honest browser's,
//! and the font families a probe finds.

use super::*;

/// BotD's verdict in one context, in a few words.
fn botd_words(r: &Value) -> String {
    let botd = &r["botd"];
    if botd["bot"] == false {
        return "not a bot".into();
    }
    let fired: Vec<&str> = botd["fired"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    format!("bot ({})", fired.join(", "))
}

/// The tells a page can see without knowing the fingerprint: automation flags, a version
/// unlike the engine's, and contexts that disagree with the page.
fn tells(v: &Value, major: &str) -> Vec<String> {
    let main = &v["main"];
    let mut out = Vec::new();
    for context in CONTEXTS {
        let r = &v[context];
        let ua = r["userAgent"].as_str().unwrap_or_default();
        if context != "worker" && r["webdriver"] != false {
            out.push(format!("{context}: webdriver {}", r["webdriver"]));
        }
        if !ua.contains(&format!("Chrome/{major}.")) {
            out.push(format!("{context}: UA not Chrome {major}"));
        }
        for key in [
            "userAgent",
            "platform",
            "languages",
            "timezone",
            "hardwareConcurrency",
            "webgl",
        ] {
            if r[key] != main[key] {
                out.push(format!("{context}: {key} differs from the page"));
            }
        }
        if r["runtimeEnabled"] == true || r["artefacts"] != serde_json::json!([]) {
            out.push(format!("{context}: CDP artefacts"));
        }
    }
    out
}

/// The native-function checks that read unlike the honest browser's, counted, with the
/// first few named.
fn native_tells(v: &Value, honest: &Value) -> String {
    let mut differ = Vec::new();
    let mut total = 0;
    for context in NATIVE_CONTEXTS {
        let Some(native) = honest[context]["checks"].as_object() else {
            continue;
        };
        for (key, expected) in native {
            total += 1;
            if v[context]["checks"].get(key) != Some(expected) {
                differ.push(format!("{context} {key}"));
            }
        }
    }
    if differ.is_empty() {
        return format!("all {total} native");
    }
    let named = differ
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    format!("{} of {total} differ ({named}…)", differ.len())
}

/// FingerprintJS's font list, and the Linux families the probe found.
fn font_tells(v: &Value) -> String {
    let present = strings(&v["present"]);
    let linux: Vec<&str> = LINUX_FAMILIES
        .into_iter()
        .filter(|f| present.iter().any(|p| p == f))
        .collect();
    format!(
        "{}; Linux: {}",
        strings(&v["fingerprintjs"]).join(", "),
        if linux.is_empty() {
            "none".into()
        } else {
            linux.join(", ")
        }
    )
}

/// One client's readings: the detector page, native.html and fonts.html.
struct Readings {
    detect: Value,
    native: Value,
    fonts: Value,
}

fn row(client: &str, r: &Readings, honest: &Value, major: &str) -> String {
    let verdicts: Vec<String> = CONTEXTS.iter().map(|c| botd_words(&r.detect[c])).collect();
    let tells = tells(&r.detect, major);
    format!(
        "| {client} | {} | {} | {} | {} | {} |",
        verdicts.join(" | "),
        if tells.is_empty() {
            "none".into()
        } else {
            tells.join("; ")
        },
        native_tells(&r.native, honest),
        font_tells(&r.fonts),
        r.detect["visitorId"].as_str().unwrap_or("-"),
    )
}

/// The pages through puppeteer-extra's stealth plugin (`script`).
async fn puppeteer(script: &str, url: &str) -> Value {
    let node = tokio::process::Command::new("node")
        .arg(script)
        .arg(url)
        .output()
        .await
        .expect("node");
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    serde_json::from_slice(&node.stdout).expect("puppeteer verdict")
}

/// bench/stealth/run.sh: the same pages through puppeteer-extra's stealth plugin
/// (`SCRX_STEALTH_BENCH`, its script) and ScraperX, printed side by side.
#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
#[ignore = "a benchmark: run by bench/stealth/run.sh"]
async fn side_by_side(pool_pg: PgPool) {
    let script =
        std::env::var("SCRX_STEALTH_BENCH").expect("SCRX_STEALTH_BENCH: run bench/stealth/run.sh");
    let h = Harness::new(pool_pg).await;
    let url = detector_site().await;
    let urls = [
        url.clone(),
        url.replace("/detect.html", "/native.html"),
        url.replace("/detect.html", "/fonts.html"),
    ];
    let pool = pool();
    let ours = |fp: Option<Fingerprint>| {
        let (pool, urls) = (&pool, &urls);
        async move {
            Readings {
                detect: render(pool, &urls[0], fp.clone()).await,
                native: render(pool, &urls[1], fp.clone()).await,
                fonts: render(pool, &urls[2], fp).await,
            }
        }
    };
    let honest = ours(None).await;
    let major = engine_major(&honest.detect);
    let theirs = Readings {
        detect: puppeteer(&script, &urls[0]).await,
        native: puppeteer(&script, &urls[1]).await,
        fonts: puppeteer(&script, &urls[2]).await,
    };
    let mut rows = vec![
        "| client | BotD: page | BotD: iframe | BotD: cross-site iframe | BotD: worker | other tells | native-function checks | fonts: FingerprintJS; Linux families found | FingerprintJS visitor id |".to_owned(),
        "|---|---|---|---|---|---|---|---|---|".to_owned(),
        row("puppeteer-extra + stealth plugin", &theirs, &honest.native, &major),
        row("ScraperX `engine: browser`", &honest, &honest.native, &major),
    ];
    for fp_row in h.db.usable_fingerprints().await.expect("fingerprints") {
        let fp = Fingerprint::from_row(&fp_row);
        let client = format!("ScraperX `engine: stealth`, {} {}", fp.platform, fp.locale);
        rows.push(row(&client, &ours(Some(fp)).await, &honest.native, &major));
    }
    println!(
        "\nChromium {major}, BotD 2.0.0, FingerprintJS 5.2.0\n\n{}\n",
        rows.join("\n")
    );
}
