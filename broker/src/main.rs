//! The `gregor` binary: read the configuration, check the data dir and the listener, open the
//! logs, print the banner, serve until SIGINT/SIGTERM.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gregor::broker::Broker;
use gregor::config::{render_settings, Cli, Config, LogFormat, Origin, SecurityProtocol};
use gregor::connection::ListenerRuntime;
use gregor::data_dir::{self, DataDirError};
use gregor::error::BrokerError;
use gregor::request_context::Endpoint;
use gregor::security::sasl::SaslConfig;
use gregor::socket_server::SocketServer;
use gregor::startup::{self, Reachability};
use gregor_storage::StorageError;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::from_args();
    // Variables that are not UTF-8 cannot name a setting; they are left out.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let loaded = match Config::load(&cli, env) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("gregor: error: {e}");
            // 2, as for a bad flag: the command line or its settings must change.
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        for w in &loaded.warnings {
            eprintln!("gregor: warning: {w}");
        }
        print!("{}", render_settings(&loaded.settings));
        return ExitCode::SUCCESS;
    }
    if cli.healthcheck {
        return match healthcheck(&loaded.config) {
            Ok(addr) => {
                println!("gregor at {addr} is healthy");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gregor: unhealthy: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(loaded.config.log_format);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gregor: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sources = describe_sources(&loaded.settings);
    let log_format = loaded.config.log_format;
    match runtime.block_on(run(loaded.config, sources, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if log_format == LogFormat::Json => {
            // Every stderr line stays one JSON object.
            tracing::error!(cause = %format!("{e:#}"), "cannot start");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("gregor: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Text on stderr (coloured on a terminal unless NO_COLOR is set) or one JSON object a line;
/// the level from RUST_LOG, `info` by default, and changeable while the broker runs through
/// the BROKER_LOGGER config resource (`log_levels`).
fn init_logging(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| EnvFilter::try_new(v).is_ok())
        .unwrap_or_else(|| "info".to_string());
    let (filter, handle) = tracing_subscriber::reload::Layer::new(EnvFilter::new(&base));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(colour)
                        .with_writer(std::io::stderr),
                )
                .init()
        }
    }
    gregor::log_levels::install(&base, move |filter| {
        if let Err(e) = handle.reload(filter) {
            eprintln!("gregor: cannot change the log levels: {e}");
        }
    });
}

/// Binds and starts the live view and /metrics (`gregor.http.listeners`), returning the banner
/// line that says where. A port that cannot be bound does not stop the broker: the page is a
/// view, and the Kafka listener is what clients came for.
async fn start_live_view(broker: &std::sync::Arc<Broker>, shutdown: CancellationToken) -> String {
    let Some(address) = broker.config.http_listen else {
        return String::new();
    };
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e)
            if !broker
                .config
                .static_settings
                .contains_key("gregor.http.listeners") =>
        {
            // The default port is taken, by another Gregor most likely: not worth a warning.
            tracing::info!(cause = %e, %address, "live view not started: its default address is in use (set --http-listen)");
            return String::new();
        }
        Err(e) => {
            tracing::warn!(cause = %e, %address, "live view not started: cannot listen (gregor.http.listeners, --http-listen)");
            return String::new();
        }
    };
    let bound = listener.local_addr().unwrap_or(address);
    if !bound.ip().is_loopback() {
        tracing::warn!(%bound, "the live view listens beyond loopback and has no authentication: anyone who can reach it sees every topic and group");
    }
    let broker = broker.clone();
    tokio::spawn(async move {
        if let Err(e) = gregor::http::serve(listener, broker, shutdown).await {
            tracing::warn!(cause = %e, "the live view stopped");
        }
    });
    format!("\n  live view: http://{bound}/ (metrics at /metrics)")
}

async fn run(config: Config, sources: String, started: Instant) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let format_existed = data_dir.join(data_dir::FORMAT_FILE).exists();
    let data_format = data_dir::check(&data_dir)?;
    match startup::raise_open_files_limit() {
        Ok((soft, _)) => {
            tracing::debug!(limit = soft, "open files limit");
            // Active segments keep half of it at most; the rest is for connections and the
            // files opened briefly, those of active segments past the budget among them.
            gregor_storage::mapped_file::set_descriptor_budget((soft / 2) as usize);
        }
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
    // Every listener's TLS and SASL set-up is checked before anything binds or opens, so a
    // bad key or JAAS config fails the start with a message naming it.
    let mut security = Vec::new();
    for l in &config.listeners {
        let settings = config.security.get(&l.name);
        let tls = match settings.and_then(|s| s.ssl.as_ref()) {
            Some(ssl) => Some(tokio_rustls::TlsAcceptor::from(
                gregor::security::tls::server_config(&l.name, ssl)?,
            )),
            None => None,
        };
        security.push((tls, settings.and_then(|s| s.sasl.clone())));
    }
    let mut bound_listeners = Vec::new();
    for l in &config.listeners {
        let addr = l
            .socket_addr()
            .map_err(|e| anyhow::anyhow!("listener {}: {e}", l.name))?;
        let socket = startup::bind(addr).await?;
        let bound = socket.local_addr()?;
        let (host, port) = l.advertised(bound);
        match startup::reachability(bound, &host, port) {
            Reachability::Fine => {}
            Reachability::OnlyThroughAForwarder(why) => tracing::warn!(listener = %l.name, "{why}"),
            Reachability::Unreachable(why) => {
                anyhow::bail!("advertised listener unreachable ({}): {why}", l.name)
            }
        }
        bound_listeners.push((socket, bound, (host, port)));
    }
    let bound = bound_listeners[0].1;
    let (host, port) = bound_listeners[0].2.clone();
    let log_format = config.log_format;
    let config_listeners = config.listeners.clone();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config, bound, data_format))
        .await?
        .map_err(|e| open_error(e, &data_dir))?;
    // Opening upgraded an older format's contents; only now may the dir say so.
    if data_format < data_dir::FORMAT_VERSION {
        tracing::info!(
            from = data_format,
            to = data_dir::FORMAT_VERSION,
            "upgraded the data dir format"
        );
        data_dir::upgrade_format(&data_dir)
    } else {
        data_dir::write_format(&data_dir)
    }
    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", data_dir::FORMAT_FILE))?;
    let mut runtimes = Vec::new();
    let mut listener_lines = String::new();
    for ((socket, bound, advertised), (l, (tls, sasl))) in bound_listeners
        .into_iter()
        .zip(config_listeners.iter().zip(security))
    {
        let sasl = match sasl {
            Some(settings) => Some(std::sync::Arc::new(
                SaslConfig::new(&l.name, &settings, broker.scram.clone())
                    .map_err(|e| anyhow::anyhow!("listener {}: {e}", l.name))?,
            )),
            None => None,
        };
        if config_listeners.len() > 1 || l.protocol != SecurityProtocol::Plaintext {
            let mechanisms = sasl
                .as_ref()
                .map(|s| format!(", SASL {}", s.mechanisms.join(" ")))
                .unwrap_or_default();
            listener_lines.push_str(&format!(
                "\n  listener {} ({}{mechanisms}) on {bound}, advertised {}:{}",
                l.name, l.protocol, advertised.0, advertised.1
            ));
        }
        let endpoint = std::sync::Arc::new(Endpoint {
            name: l.name.clone(),
            protocol: l.protocol,
            bound,
            advertised,
        });
        runtimes.push((
            socket,
            std::sync::Arc::new(ListenerRuntime {
                endpoint,
                tls,
                sasl,
            }),
        ));
    }
    let shutdown = CancellationToken::new();
    let server = SocketServer::new(runtimes, broker.clone(), shutdown.clone());
    // Installed before the banner: a SIGTERM sent as soon as the banner appears must find the
    // handler in place, not the default action (exit without flushing).
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    let live_view = start_live_view(&broker, shutdown.clone()).await;
    tokio::spawn(signal_shutdown(signals, shutdown));

    let topics = broker
        .topics
        .all()
        .iter()
        .filter(|t| !t.name.starts_with("__"))
        .count();
    let partitions = broker.logs.partitions().len();
    let clean = broker.logs.was_clean_shutdown();
    let recovery = if !format_existed && topics == 0 {
        "new data dir, nothing to recover".to_string()
    } else if clean {
        format!("done; the last run shut down cleanly, {partitions} partition logs opened")
    } else {
        format!("done; the last run did not shut down cleanly, {partitions} partition logs checked and their torn tails truncated")
    };
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // The first line is what tests and scripts wait for (port 0 picks a free port): keep
    // "listening on ADDR" in it.
    println!(
        "gregor {} listening on {bound} (advertised {host}:{port}), data dir {}, {topics} topics, started in {ms:.1} ms{listener_lines}\n  recovery: {recovery}\n  config:   {sources} (`gregor --print-config` shows every setting and its source){live_view}",
        env!("CARGO_PKG_VERSION"),
        broker.config.data_dir.display(),
    );
    if log_format == LogFormat::Json {
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            listener = %bound,
            advertised = %format!("{host}:{port}"),
            data_dir = %broker.config.data_dir.display(),
            topics,
            partitions,
            clean_shutdown = clean,
            startup_ms = ms,
            "ready"
        );
    }
    server.run().await;
    Ok(())
}

/// "defaults + FILE + VAR + --flag": the sources that set anything, in precedence order.
fn describe_sources(settings: &std::collections::BTreeMap<String, (String, Origin)>) -> String {
    let mut files = BTreeSet::new();
    let mut envs = BTreeSet::new();
    let mut flags = BTreeSet::new();
    for (_, origin) in settings.values() {
        match origin {
            // Dynamic settings come from the data dir, after this banner.
            Origin::Default | Origin::Dynamic { .. } => {}
            Origin::File { path, .. } => {
                files.insert(path.display().to_string());
            }
            Origin::Env(name) => {
                envs.insert(name.clone());
            }
            Origin::Flag(flag) => {
                flags.insert(flag.split(' ').next().unwrap_or(flag).to_string());
            }
        }
    }
    let mut parts = vec!["defaults".to_string()];
    parts.extend(files);
    parts.extend(envs);
    parts.extend(flags);
    parts.join(" < ")
}

/// The data dir errors of `Broker::open`, with the lock holder named.
fn open_error(e: BrokerError, data_dir: &Path) -> anyhow::Error {
    match e {
        BrokerError::Storage(StorageError::Locked(dir)) => DataDirError::Locked {
            holder: data_dir::lock_holder(&dir),
            dir,
        }
        .into(),
        e => anyhow::anyhow!("cannot open data dir {}: {e}", data_dir.display()),
    }
}

/// Sends ApiVersions v0 to the configured listener and checks the answer, so a health check
/// proves the broker serves Kafka requests, not only that the port is open.
fn healthcheck(config: &Config) -> Result<std::net::SocketAddr, String> {
    // ApiVersions in plain text: served on PLAINTEXT listeners, and on SASL_PLAINTEXT ones
    // before authentication too.
    let listener = config
        .listeners
        .iter()
        .find(|l| !l.protocol.uses_tls())
        .ok_or("the health check needs a PLAINTEXT or SASL_PLAINTEXT listener; every listener here uses TLS")?;
    let mut addr = listener.socket_addr()?;
    if addr.port() == 0 {
        return Err("the configured listener has port 0; give the port to check with --listen or GREGOR_LISTENERS".into());
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let timeout = Duration::from_secs(3);
    let mut socket = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = socket.set_read_timeout(Some(timeout));
    let _ = socket.set_write_timeout(Some(timeout));
    const CORRELATION_ID: i32 = 0x4772_6567;
    let client_id = b"gregor-healthcheck";
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // version 0
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    socket
        .write_all(&frame)
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut size = [0u8; 4];
    socket
        .read_exact(&mut size)
        .map_err(|e| format!("no answer from {addr}: {e}"))?;
    let size = i32::from_be_bytes(size);
    if !(6..=1 << 20).contains(&size) {
        return Err(format!(
            "{addr} answered a frame of {size} bytes: not a Kafka broker?"
        ));
    }
    let mut response = vec![0u8; size as usize];
    socket
        .read_exact(&mut response)
        .map_err(|e| format!("short answer from {addr}: {e}"))?;
    let correlation = i32::from_be_bytes([response[0], response[1], response[2], response[3]]);
    let error = i16::from_be_bytes([response[4], response[5]]);
    if correlation != CORRELATION_ID || error != 0 {
        return Err(format!(
            "{addr} answered ApiVersions with correlation id {correlation:#x}, error code {error}"
        ));
    }
    Ok(addr)
}

async fn signal_shutdown(
    signals: (std::io::Result<Signal>, std::io::Result<Signal>),
    shutdown: CancellationToken,
) {
    let (Ok(mut term), Ok(mut int)) = signals else {
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
