//! Firecrawl's `json` format with a schema or prompt, through the operator's OpenAI-compatible
//! endpoint (`SCRX_LLM_BASE_URL`, off by default): the page's markdown and the ask go to
//! `{base}/chat/completions`, and the answer's message must be one JSON value. Building the
//! request and reading the answer are pure; [`extract`] is the one call. In a batch or crawl,
//! [`fill`] asks once per page, on the first status read that shows it, and keeps the answer
//! with the result (`job_results.llm_json`), so every later read shows the same one; a
//! failure is the document's `warning` and is asked again on the next read.

use std::time::Duration;

use serde_json::{Value, json};

use scraperx_core::pg::Job;

use super::formats::{Formats, LlmAsk};
use crate::{
    config::LlmConfig,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// How long the model may take.
pub const LLM_TIMEOUT: Duration = Duration::from_secs(60);
/// The markdown sent, at most (characters): a page past it is cut.
pub const MAX_INPUT_CHARS: usize = 100_000;

/// Refuses a model format when no model is configured, before anything is charged.
pub fn check(state: &AppState, formats: &Formats) -> ApiResult<()> {
    if formats.llm.is_some() && state.config.llm.is_none() {
        return Err(ApiError::BadRequest(
            "formats: json with a schema or prompt needs a language model, and this \
             deployment has none (SCRX_LLM_BASE_URL); json with CSS rules works without"
                .into(),
        ));
    }
    Ok(())
}

/// The chat-completions request for `markdown`.
pub fn request(model: &str, ask: &LlmAsk, markdown: &str) -> Value {
    let page: String = markdown.chars().take(MAX_INPUT_CHARS).collect();
    let mut instructions = String::from(
        "Extract data from the web page the user sends, as markdown. \
         Answer with one JSON value and nothing else.",
    );
    if let Some(prompt) = &ask.prompt {
        instructions.push_str("\nWhat to extract: ");
        instructions.push_str(prompt);
    }
    let mut body = json!({
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": instructions},
            {"role": "user", "content": page},
        ],
    });
    body["response_format"] = match &ask.schema {
        Some(schema) => json!({"type": "json_schema",
            "json_schema": {"name": "extract", "schema": schema, "strict": false}}),
        None => json!({"type": "json_object"}),
    };
    body
}

/// The JSON value in a chat-completions answer (a fenced code block is unwrapped).
pub fn answer(body: &Value) -> Result<Value, String> {
    let content = body["choices"][0]["message"]["content"]
        .as_str()
        .ok_or("the answer has no message content")?;
    let trimmed = content.trim();
    let inner = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(inner.trim()).map_err(|e| format!("the answer is not JSON: {e}"))
}

/// Puts the model's json for the page of `job` into `doc` (its `warning` when the model
/// failed): the answer kept with the result, else asked now and kept.
pub async fn fill(state: &AppState, job: &Job, ask: &LlmAsk, doc: &mut Value) -> ApiResult<()> {
    let Some(config) = &state.config.llm else {
        doc["warning"] = json!("json: this deployment has no language model");
        return Ok(());
    };
    let result = match state.db.get_result(job.organization_id, job.id).await {
        Ok(r) => r,
        Err(scraperx_core::Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if let Some(kept) = result.llm_json {
        doc["json"] = kept.0;
        return Ok(());
    }
    let markdown = result.extracted_markdown.unwrap_or_default();
    match extract(config, ask, &markdown).await {
        Ok(value) => {
            state
                .db
                .set_result_llm_json(job.organization_id, job.id, &value)
                .await?;
            doc["json"] = value;
        }
        Err(e) => doc["warning"] = json!(e.to_string()),
    }
    Ok(())
}

/// Asks the configured model; its failure is a 502 naming the cause.
pub async fn extract(config: &LlmConfig, ask: &LlmAsk, markdown: &str) -> ApiResult<Value> {
    let failed = |why: String| ApiError::Rejected {
        status: axum::http::StatusCode::BAD_GATEWAY,
        message: format!("the language model failed: {why}"),
    };
    let client = reqwest::Client::builder()
        .timeout(LLM_TIMEOUT)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let mut call = client
        .post(format!("{}/chat/completions", config.base_url))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(request(&config.model, ask, markdown).to_string());
    if let Some(key) = &config.api_key {
        call = call.bearer_auth(key);
    }
    let response = call.send().await.map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("it answered {status}")));
    }
    let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| failed(e.to_string()))?;
    answer(&body).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_schema_the_prompt_and_the_page() {
        let ask = LlmAsk {
            schema: Some(json!({"type": "object"})),
            prompt: Some("the price".into()),
        };
        let r = request("m", &ask, "# Widget");
        assert_eq!(r["model"], "m");
        assert_eq!(r["messages"][1]["content"], "# Widget");
        assert!(
            r["messages"][0]["content"]
                .as_str()
                .is_some_and(|c| c.contains("the price"))
        );
        assert_eq!(
            r["response_format"]["json_schema"]["schema"]["type"],
            "object"
        );
    }

    #[test]
    fn without_a_schema_the_model_is_asked_for_a_json_object() {
        let ask = LlmAsk {
            schema: None,
            prompt: Some("p".into()),
        };
        assert_eq!(
            request("m", &ask, "")["response_format"]["type"],
            "json_object"
        );
    }

    #[test]
    fn the_answer_is_read_from_the_message_even_in_a_code_block() {
        let body = json!({"choices": [{"message": {"content": "```json\n{\"a\": 1}\n```"}}]});
        assert_eq!(answer(&body), Ok(json!({"a": 1})));
        let prose = json!({"choices": [{"message": {"content": "sorry"}}]});
        assert!(answer(&prose).is_err());
    }
}
