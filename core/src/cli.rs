//! The command lines of the three binaries. Each setting is declared once, as a [`Setting`]
//! beside its environment variable and default in the component's config module; clap turns
//! the list into flags, so `--help` shows every setting with its variable and default. A
//! value comes from the flag, else the variable, else the default, and is then read through
//! [`Values::get`] by the component's `from_lookup`, which checks every setting and reports
//! every problem together. [`report`] prints a configuration error one line per problem and
//! gives exit status 2 (clap's own usage errors use 2 as well); any other error is one line
//! and status 1. No path prints a backtrace, whatever `RUST_BACKTRACE` says.

use std::{collections::BTreeSet, process::ExitCode};

use clap::{Arg, ArgMatches};

/// Exit status for a bad command line or configuration.
pub const EXIT_CONFIG: u8 = 2;

/// One setting: its environment variable (the flag is derived from it), default and help.
#[derive(Debug, Clone)]
pub struct Setting {
    pub env: String,
    pub default: Option<String>,
    pub help: String,
    /// Its value is never shown by `--help`.
    pub secret: bool,
}

impl Setting {
    pub fn new(env: impl Into<String>, help: impl Into<String>) -> Self {
        Self {
            env: env.into(),
            default: None,
            help: help.into(),
            secret: false,
        }
    }

    pub fn default_value(mut self, value: impl ToString) -> Self {
        self.default = Some(value.to_string());
        self
    }

    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// `SCRX_WORKER_CONCURRENCY` is `--worker-concurrency`, `DATABASE_URL` `--database-url`.
    pub fn flag(&self) -> String {
        self.env
            .strip_prefix("SCRX_")
            .unwrap_or(&self.env)
            .to_ascii_lowercase()
            .replace('_', "-")
    }

    pub fn arg(&self) -> Arg {
        let arg = Arg::new(self.env.clone())
            .long(self.flag())
            .env(self.env.clone())
            .value_name("VALUE")
            .help(self.help.clone())
            .hide_env_values(self.secret)
            .hide_default_value(self.secret);
        match &self.default {
            Some(value) => arg.default_value(value.clone()),
            None => arg,
        }
    }
}

/// Flags for every setting of a command (the same variable listed twice is one flag).
pub fn args(settings: &[Setting]) -> Vec<Arg> {
    let mut seen = BTreeSet::new();
    settings
        .iter()
        .filter(|s| seen.insert(s.env.clone()))
        .map(Setting::arg)
        .collect()
}

/// The values of one command's settings.
#[derive(Debug, Clone, Default)]
pub struct Values {
    matches: Option<ArgMatches>,
    declared: BTreeSet<String>,
}

impl Values {
    pub fn new(matches: &ArgMatches, settings: &[Setting]) -> Self {
        Self {
            matches: Some(matches.clone()),
            declared: settings.iter().map(|s| s.env.clone()).collect(),
        }
    }

    /// A declared setting's value (flag, variable or default); any other name is read from
    /// the environment (the documented fallbacks, such as `S3_ACCESS_KEY`).
    pub fn get(&self, name: &str) -> Option<String> {
        match &self.matches {
            Some(m) if self.declared.contains(name) => m
                .try_get_one::<String>(name)
                .ok()
                .flatten()
                .cloned()
                .filter(|v| !v.is_empty()),
            _ => std::env::var(name).ok(),
        }
    }
}

/// A binary's `main`: parses the command line (clap prints help, and usage errors with status
/// 2, itself), runs `run` on a Tokio runtime, and reports its error through [`report`].
pub fn main<F, E>(command: clap::Command, run: impl FnOnce(ArgMatches) -> F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), E>>,
    E: std::ops::Deref<Target = dyn std::error::Error + Send + Sync + 'static>,
{
    let matches = command.get_matches();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => return report(&err),
    };
    match runtime.block_on(run(matches)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&*err),
    }
}

/// Prints `err` for a person and picks the exit status: a configuration error is one line per
/// problem and status 2; anything else is its chain of causes on one line and status 1.
pub fn report(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(crate::Error::Config(problems)) = e.downcast_ref::<crate::Error>() {
            for line in problems.lines().filter(|l| !l.trim().is_empty()) {
                eprintln!("error: {line}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
        cause = e.source();
    }
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = e.source();
    }
    eprintln!("error: {text}");
    ExitCode::FAILURE
}

/// Two configuration results as one: both values, or every problem of either.
pub fn both<A, B>(a: crate::Result<A>, b: crate::Result<B>) -> crate::Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(crate::Error::Config(
            [a.err(), b.err()]
                .into_iter()
                .flatten()
                .map(|e| match e {
                    crate::Error::Config(lines) => lines,
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(settings: &[Setting]) -> clap::Command {
        clap::Command::new("t").args(args(settings))
    }

    #[test]
    fn a_flag_is_derived_from_its_variable() {
        assert_eq!(
            Setting::new("SCRX_WORKER_CONCURRENCY", "").flag(),
            "worker-concurrency"
        );
        assert_eq!(Setting::new("DATABASE_URL", "").flag(), "database-url");
    }

    #[test]
    fn a_flag_wins_over_the_default_and_undeclared_names_read_the_environment() {
        let settings = [
            Setting::new("SCRX_TEST_CLI_A", "a").default_value(1),
            Setting::new("SCRX_TEST_CLI_B", "b").default_value(2),
        ];
        let m = command(&settings)
            .try_get_matches_from(["t", "--test-cli-a", "7"])
            .expect("parses");
        let values = Values::new(&m, &settings);
        assert_eq!(values.get("SCRX_TEST_CLI_A").as_deref(), Some("7"));
        assert_eq!(values.get("SCRX_TEST_CLI_B").as_deref(), Some("2"));
        assert_eq!(values.get("SCRX_TEST_CLI_UNDECLARED_NAME"), None);
    }

    #[test]
    fn help_lists_each_setting_with_its_variable_and_default_but_hides_secrets() {
        let settings = [
            Setting::new("SCRX_TEST_CLI_PORT", "the port").default_value(8080),
            Setting::new("SCRX_TEST_CLI_KEY", "the key")
                .default_value("hunter2")
                .secret(),
        ];
        let help = command(&settings).render_long_help().to_string();
        assert!(help.contains("--test-cli-port"), "{help}");
        assert!(help.contains("SCRX_TEST_CLI_PORT"), "{help}");
        assert!(help.contains("8080"), "{help}");
        assert!(help.contains("SCRX_TEST_CLI_KEY"), "{help}");
        assert!(!help.contains("hunter2"), "{help}");
    }

    #[test]
    fn both_keeps_every_problem_of_either_side() {
        let a: crate::Result<()> = Err(crate::Error::Config("A is bad\nB is bad".into()));
        let b: crate::Result<()> = Err(crate::Error::Config("C is bad".into()));
        let Err(crate::Error::Config(lines)) = both(a, b) else {
            panic!("expected a configuration error");
        };
        assert_eq!(lines.lines().count(), 3, "{lines}");
    }
}
