//! `hub --config FILE`: run the hub.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::server;

pub fn run(config: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    serve(cfg)
}

/// `hub --config FILE check-config`: the configuration and the checks of the files it
/// names that `serve` runs at start-up ([`server::check_files`]); fails on any problem.
pub fn check(config: &Path) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let problems = server::check_files(&cfg);
    if problems.is_empty() {
        eprintln!("{}: ok, {} cameras", config.display(), cfg.cameras.len());
        return Ok(());
    }
    for p in &problems {
        eprintln!("{}: {p}", config.display());
    }
    anyhow::bail!("{} problems in {}", problems.len(), config.display())
}

/// Start the runtime and serve `cfg` until a signal arrives.
pub fn serve(cfg: Config) -> anyhow::Result<()> {
    for p in server::check_files(&cfg) {
        // The secret and TLS problems end the start below; a camera's is its alone.
        tracing::error!(problem = %p, "configuration");
    }
    server::raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hub")
        .build()?;
    rt.block_on(async move {
        let shutdown = CancellationToken::new();
        server::cancel_on_signals(shutdown.clone());
        let listen = cfg.listen;
        let hub = server::build(cfg, shutdown)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("listen: cannot bind {listen}: {e}"))?;
        server::run(hub, listener).await
    })
}
