//! Log levels changed while the broker runs, through the BROKER_LOGGER config resource
//! (`kafka-configs --entity-type broker-loggers --entity-name 1 --alter --add-config
//! gregor::coordinator=DEBUG`). Kafka's counterpart is `Log4jController`; Gregor's loggers are
//! its tracing targets (module paths), `root` being the level of everything else. As in Kafka,
//! the levels set this way last until the broker stops.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// The loggers DescribeConfigs lists: the root and the modules that log.
pub const LOGGERS: &[&str] = &[
    ROOT,
    "gregor",
    "gregor::admin",
    "gregor::apis",
    "gregor::broker",
    "gregor::connection",
    "gregor::coordinator",
    "gregor::partition",
    "gregor::replica_manager",
    "gregor::socket_server",
    "gregor::topic_config",
    "gregor_protocol",
    "gregor_storage",
    "gregor_storage::cleaner",
    "gregor_storage::log",
    "gregor_storage::log_loader",
    "gregor_storage::log_manager",
    "gregor_storage::log_segment",
];

/// The logger whose level applies where no other is set.
pub const ROOT: &str = "root";

/// Log4j's level names, which Kafka's tools send; each as the tracing level it stands for.
const LEVELS: &[(&str, &str)] = &[
    ("ALL", "trace"),
    ("TRACE", "trace"),
    ("DEBUG", "debug"),
    ("INFO", "info"),
    ("WARN", "warn"),
    ("ERROR", "error"),
    ("FATAL", "error"),
    ("OFF", "off"),
];

/// Why a level could not be set; the messages are Kafka's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoggerError {
    #[error("Logger {0} does not exist!")]
    NoSuchLogger(String),
    #[error("Cannot set the log level of {logger} to {level} as it is not a supported log level. Valid log4j levels are ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN")]
    BadLevel { logger: String, level: String },
    #[error("Removing the log level of the root logger is not allowed")]
    RemoveRoot,
}

type Reload = Box<dyn Fn(EnvFilter) + Send + Sync>;

/// The levels in force and how to put a new filter in force.
struct State {
    /// The filter the broker started with (`RUST_LOG`, else `info`).
    base: String,
    /// Levels set at runtime, by logger, as Kafka's names (`WARN`).
    set: BTreeMap<String, String>,
    /// Installs a filter in the running subscriber; none in tests without one.
    reload: Option<Reload>,
}

static STATE: Mutex<State> = Mutex::new(State {
    base: String::new(),
    set: BTreeMap::new(),
    reload: None,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Called once by `main` with the starting filter and a way to replace it.
pub fn install(base: &str, reload: impl Fn(EnvFilter) + Send + Sync + 'static) {
    let mut s = state();
    s.base = base.to_string();
    s.reload = Some(Box::new(reload));
}

/// The root level before any change: the starting filter's default level.
fn base_root_level(base: &str) -> String {
    base.split(',')
        .map(str::trim)
        .find(|d| !d.contains('='))
        .and_then(|d| LEVELS.iter().find(|(_, t)| t.eq_ignore_ascii_case(d)))
        .map_or("INFO", |(name, _)| name)
        .to_string()
}

/// Every logger with its level: the one set for it, else the root's.
pub fn levels() -> Vec<(String, String)> {
    let s = state();
    let root = s
        .set
        .get(ROOT)
        .cloned()
        .unwrap_or_else(|| base_root_level(&s.base));
    LOGGERS
        .iter()
        .map(|l| {
            let level = s.set.get(*l).cloned().unwrap_or_else(|| root.clone());
            (l.to_string(), level)
        })
        .collect()
}

/// Checks a change as Kafka's `ConfigAdminManager.validateLogLevelConfigs` does: `level`
/// `None` removes the logger's own level.
pub fn check(logger: &str, level: Option<&str>) -> Result<(), LoggerError> {
    if !LOGGERS.contains(&logger) {
        return Err(LoggerError::NoSuchLogger(logger.to_string()));
    }
    match level {
        None if logger == ROOT => Err(LoggerError::RemoveRoot),
        None => Ok(()),
        Some(level) if LEVELS.iter().any(|(n, _)| *n == level) => Ok(()),
        Some(level) => Err(LoggerError::BadLevel {
            logger: logger.to_string(),
            level: level.to_string(),
        }),
    }
}

/// Sets (or with `None` removes) a logger's level, checked first, and puts it in force.
pub fn set(logger: &str, level: Option<&str>) -> Result<(), LoggerError> {
    check(logger, level)?;
    let mut s = state();
    match level {
        Some(level) => s.set.insert(logger.to_string(), level.to_string()),
        None => s.set.remove(logger),
    };
    let filter = filter_of(&s.base, &s.set);
    if let Some(reload) = &s.reload {
        match EnvFilter::try_new(&filter) {
            Ok(f) => reload(f),
            Err(e) => tracing::warn!(cause = %e, filter, "cannot apply the new log levels"),
        }
    }
    Ok(())
}

/// The filter directives for `set` on top of `base`: the root level replaces the default level,
/// every other logger adds a directive for its target.
fn filter_of(base: &str, set: &BTreeMap<String, String>) -> String {
    let tracing_level = |name: &str| {
        LEVELS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("info", |(_, t)| t)
    };
    let mut directives: Vec<String> = base
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| !set.contains_key(ROOT) || d.contains('='))
        .map(str::to_string)
        .collect();
    if let Some(root) = set.get(ROOT) {
        directives.insert(0, tracing_level(root).to_string());
    }
    for (logger, level) in set.iter().filter(|(l, _)| *l != ROOT) {
        directives.push(format!("{logger}={}", tracing_level(level)));
    }
    directives.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_become_filter_directives() {
        let set = BTreeMap::from([
            (ROOT.to_string(), "WARN".to_string()),
            ("gregor::coordinator".to_string(), "DEBUG".to_string()),
        ]);
        assert_eq!(
            filter_of("info,gregor_storage=trace", &set),
            "warn,gregor_storage=trace,gregor::coordinator=debug"
        );
        assert_eq!(filter_of("info", &BTreeMap::new()), "info");
        assert_eq!(base_root_level("debug,gregor=trace"), "DEBUG");
        assert_eq!(base_root_level("gregor=trace"), "INFO");
    }

    #[test]
    fn changes_are_checked_as_kafka_checks_them() {
        assert_eq!(
            check("kafka.foo", Some("DEBUG")),
            Err(LoggerError::NoSuchLogger("kafka.foo".into()))
        );
        assert_eq!(check(ROOT, None), Err(LoggerError::RemoveRoot));
        assert!(matches!(
            check("gregor", Some("LOUD")),
            Err(LoggerError::BadLevel { .. })
        ));
        assert!(check("gregor::connection", Some("TRACE")).is_ok());
        assert!(check("gregor::connection", None).is_ok());
    }
}
