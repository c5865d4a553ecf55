//! The `gregor` binary: parse the configuration, open the data dir, serve until SIGINT/SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use gregor::broker::Broker;
use gregor::config::Config;
use gregor::socket_server::SocketServer;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gregor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gregor: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr()?;
    let data_dir = config.data_dir.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config, bound))
        .await?
        .map_err(|e| anyhow::anyhow!("cannot open data dir {}: {e}", data_dir.display()))?;
    let shutdown = CancellationToken::new();
    let server = SocketServer::new(listener, broker.clone(), shutdown.clone());
    tokio::spawn(signal_shutdown(shutdown));
    let (host, port) = &broker.advertised;
    // Tests and scripts wait for this line (port 0 picks a free port).
    println!(
        "gregor {} listening on {bound} (advertised {host}:{port}), data dir {}, {} topics, started in {:.1} ms",
        env!("CARGO_PKG_VERSION"),
        broker.config.data_dir.display(),
        broker.topics.all().len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    server.run().await;
    Ok(())
}

async fn signal_shutdown(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
