//! Logging set-up shared by the binaries: `RUST_LOG` filters (default `info`), output to stderr
//! so that a command's stdout stays machine-readable.

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
