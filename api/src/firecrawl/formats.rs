//! Firecrawl's `formats`: strings (`"markdown"`, `"screenshot"` the viewport, v1's
//! `"screenshot@fullPage"`) or objects (`{"type": "screenshot", "fullPage", "quality",
//! "viewport"}`, `{"type": "json", ...}`), parsed into the set of outputs a document
//! carries. A format ScraperX does not produce is refused by name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use scraperx_core::domain::{ScreenshotMode, Viewport};

use super::options::Rules;
use crate::error::{ApiError, ApiResult};

/// JSON through a language model: the schema and/or prompt it is asked with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmAsk {
    pub schema: Option<Value>,
    pub prompt: Option<String>,
}

/// The outputs a Firecrawl document carries. Stored with each job of a batch or crawl (in its
/// metadata, under [`Formats::METADATA_KEY`]), so a status read answers what was asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Formats {
    pub markdown: bool,
    /// The cleaned HTML the worker makes.
    pub html: bool,
    pub raw_html: bool,
    pub links: bool,
    pub images: bool,
    /// A screenshot, returned as a URL.
    pub screenshot: bool,
    /// How: the viewport or the full page, PNG or JPEG; None: a full-page PNG.
    pub screenshot_mode: Option<ScreenshotMode>,
    /// `json` through ScraperX's CSS rules.
    pub rules: Option<Rules>,
    /// `json` through the operator's language model.
    pub llm: Option<LlmAsk>,
}

impl Formats {
    /// Where a job's metadata keeps the formats its Firecrawl request asked for.
    pub const METADATA_KEY: &str = "firecrawl_formats";

    /// The formats stored in a job's metadata, if a Firecrawl request made it.
    pub fn of_metadata(metadata: Option<&Value>) -> Option<Self> {
        let stored = metadata?.get(Self::METADATA_KEY)?;
        serde_json::from_value(stored.clone()).ok()
    }

    /// Parses `formats`; absent means markdown only, as in Firecrawl.
    pub fn parse(formats: Option<&[Value]>, at: &str) -> ApiResult<Self> {
        let Some(list) = formats else {
            return Ok(Self {
                markdown: true,
                ..Self::default()
            });
        };
        let mut out = Self::default();
        for (i, f) in list.iter().enumerate() {
            let at = format!("{at}formats[{i}]");
            match f {
                Value::String(name) => out.add_named(name, &at)?,
                Value::Object(o) => {
                    let name = o.get("type").and_then(Value::as_str).unwrap_or_default();
                    match name {
                        "screenshot" => out.add_screenshot(o, &at)?,
                        "json" => out.add_json(o, &at)?,
                        _ if o.len() == 1 => out.add_named(name, &at)?,
                        _ => return Err(unsupported(&at, &format!("options of {name:?}"))),
                    }
                }
                _ => return Err(unsupported(&at, "a format that is not a string or object")),
            }
        }
        Ok(out)
    }

    fn add_named(&mut self, name: &str, at: &str) -> ApiResult<()> {
        match name {
            "markdown" => self.markdown = true,
            "html" => self.html = true,
            "rawHtml" => self.raw_html = true,
            "links" => self.links = true,
            "images" => self.images = true,
            "screenshot@fullPage" => self.screenshot = true,
            "screenshot" => self.set_screenshot(ScreenshotMode {
                full_page: false,
                ..ScreenshotMode::default()
            }),
            "json" | "extract" => {
                return Err(ApiError::BadRequest(format!(
                    "{at}: json must be an object with a schema, a prompt or rules"
                )));
            }
            other => return Err(unsupported(at, &format!("the format {other:?}"))),
        }
        Ok(())
    }

    fn add_screenshot(&mut self, o: &serde_json::Map<String, Value>, at: &str) -> ApiResult<()> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Shot {
            #[serde(rename = "type")]
            _type: String,
            #[serde(default)]
            full_page: bool,
            quality: Option<u8>,
            viewport: Option<Viewport>,
        }
        let shot: Shot = serde_json::from_value(Value::Object(o.clone()))
            .map_err(|e| ApiError::BadRequest(format!("{at}: {e}")))?;
        self.set_screenshot(ScreenshotMode {
            full_page: shot.full_page,
            quality: shot.quality,
            viewport: shot.viewport,
        });
        Ok(())
    }

    /// One screenshot per document: the last one asked for decides how.
    fn set_screenshot(&mut self, mode: ScreenshotMode) {
        self.screenshot = true;
        self.screenshot_mode = (mode != ScreenshotMode::default()).then_some(mode);
    }

    fn add_json(&mut self, o: &serde_json::Map<String, Value>, at: &str) -> ApiResult<()> {
        for key in o.keys() {
            if !["type", "schema", "prompt", "rules"].contains(&key.as_str()) {
                return Err(unsupported(at, &format!("the json option {key:?}")));
            }
        }
        if let Some(rules) = o.get("rules") {
            let rules: Rules = serde_json::from_value(rules.clone())
                .map_err(|e| ApiError::BadRequest(format!("{at}.rules: {e}")))?;
            self.rules = Some(rules);
        }
        let schema = o.get("schema").filter(|s| !s.is_null()).cloned();
        let prompt = o.get("prompt").and_then(Value::as_str).map(str::to_owned);
        if schema.is_some() || prompt.is_some() {
            self.llm = Some(LlmAsk { schema, prompt });
        }
        if self.rules.is_none() && self.llm.is_none() {
            return Err(ApiError::BadRequest(format!(
                "{at}: json needs a schema, a prompt or rules"
            )));
        }
        Ok(())
    }

    /// The worker must produce markdown: asked for, or the language model's input.
    pub fn needs_markdown(&self) -> bool {
        self.markdown || self.llm.is_some()
    }
}

fn unsupported(at: &str, what: &str) -> ApiError {
    ApiError::BadRequest(format!("{at}: {what} is not supported by ScraperX"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> ApiResult<Formats> {
        let list = v.as_array().cloned().expect("array");
        Formats::parse(Some(&list), "")
    }

    #[test]
    fn no_formats_means_markdown_only() {
        let f = Formats::parse(None, "").expect("parsed");
        assert!(f.markdown && !f.raw_html && !f.screenshot);
    }

    #[test]
    fn strings_and_objects_name_the_same_formats() {
        let f = parse(json!(["rawHtml", {"type": "links"}, "images", "html",
            {"type": "screenshot", "fullPage": true}]))
        .expect("parsed");
        assert!(f.raw_html && f.links && f.images && f.screenshot && f.html);
        assert!(!f.markdown);
        assert!(
            parse(json!(["screenshot@fullPage"]))
                .expect("v1")
                .screenshot
        );
    }

    #[test]
    fn screenshot_is_the_viewport_unless_the_full_page_is_asked() {
        let mode = |v| parse(v).expect("parsed").screenshot_mode;
        let viewport = ScreenshotMode {
            full_page: false,
            ..ScreenshotMode::default()
        };
        assert_eq!(mode(json!(["screenshot"])), Some(viewport));
        assert_eq!(mode(json!([{"type": "screenshot"}])), Some(viewport));
        assert_eq!(
            mode(json!(["screenshot@fullPage"])),
            None,
            "a full-page PNG"
        );
        assert_eq!(
            mode(
                json!([{"type": "screenshot", "fullPage": true, "quality": 70,
                "viewport": {"width": 800, "height": 600}}])
            ),
            Some(ScreenshotMode {
                full_page: true,
                quality: Some(70),
                viewport: Some(Viewport {
                    width: 800,
                    height: 600
                }),
            })
        );
    }

    #[test]
    fn json_takes_css_rules_or_a_model_schema() {
        let f = parse(json!([{"type": "json", "rules": {"title": {"selector": "h1"}}}]))
            .expect("rules");
        assert_eq!(
            f.rules.map(|r| r["title"].selector.clone()),
            Some("h1".into())
        );
        let f = parse(json!([{"type": "json", "schema": {"type": "object"}, "prompt": "p"}]))
            .expect("schema");
        assert!(f.needs_markdown(), "the model reads the markdown");
        assert_eq!(f.llm.and_then(|l| l.prompt), Some("p".into()));
    }

    #[test]
    fn what_scraperx_does_not_produce_is_refused_by_name() {
        let message = |v| match parse(v) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {other:?}"),
        };
        assert!(message(json!(["summary"])).contains("summary"));
        assert!(message(json!(["markdown", {"type": "screenshot", "zoom": 2}])).contains("zoom"));
        assert!(message(json!([{"type": "json"}])).contains("schema"));
    }
}
