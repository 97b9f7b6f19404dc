//! Logging set-up shared by the binaries: `RUST_LOG` filters (default `info`); output goes to
//! stderr, so a command's stdout stays machine-readable. Text for a person at a terminal,
//! JSON lines (one object per event, with its spans' fields such as `job` and `org`) for log
//! collectors; `SCRX_LOG_FORMAT` picks one, `auto` by whether stderr is a terminal.

use std::io::IsTerminal;

use crate::{Error, Result, cli::Setting};

pub const ENV_LOG_FORMAT: &str = "SCRX_LOG_FORMAT";
pub const DEFAULT_LOG_FORMAT: &str = "auto";
pub const ENV_LOG_FILTER: &str = "RUST_LOG";
pub const DEFAULT_LOG_FILTER: &str = "info";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Text at a terminal, JSON elsewhere.
    Auto,
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("expected auto, text or json".into()),
        }
    }
}

/// How logs are written: the format and the `RUST_LOG` filter.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

impl LogConfig {
    pub fn settings() -> Vec<Setting> {
        vec![
            Setting::new(
                ENV_LOG_FORMAT,
                "log format: auto (text at a terminal, else JSON lines), text or json",
            )
            .default_value(DEFAULT_LOG_FORMAT),
            Setting::new(ENV_LOG_FILTER, "log filter (tracing's EnvFilter syntax)")
                .default_value(DEFAULT_LOG_FILTER),
        ]
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut errors = Vec::new();
        let format = crate::config::parse(&lookup, ENV_LOG_FORMAT, LogFormat::Auto, &mut errors);
        let filter = lookup(ENV_LOG_FILTER).unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter) {
            errors.push(format!("{ENV_LOG_FILTER}={filter:?} is not valid: {e}"));
        }
        if errors.is_empty() {
            Ok(Self { format, filter })
        } else {
            Err(Error::Config(errors.join("\n")))
        }
    }

    /// The format actually used: `auto` resolved against stderr.
    pub fn resolved(&self) -> LogFormat {
        match self.format {
            LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Text,
            LogFormat::Auto => LogFormat::Json,
            other => other,
        }
    }
}

/// Installs the global subscriber; a second call (tests) leaves the first in place.
pub fn init(config: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only for a person at a terminal, never into a file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.resolved() {
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .flatten_event(true)
            .try_init(),
        _ => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_format_and_a_bad_filter_are_both_reported() {
        let err = LogConfig::from_lookup(|n| match n {
            ENV_LOG_FORMAT => Some("yaml".into()),
            ENV_LOG_FILTER => Some("scraperx=loud".into()),
            _ => None,
        })
        .expect_err("invalid");
        assert_eq!(err.to_string().lines().count(), 2, "{err}");
    }
}
