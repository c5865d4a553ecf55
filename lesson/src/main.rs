//! `gregor-lesson`: the consumer-group lesson's experiments against a running broker, with
//! real Kafka consumers (librdkafka) as separate processes, narrated step by step from what
//! the group coordinator did. A binary of its own, so the broker links no client library.
//!
//! `gregor-lesson consumer-groups [--bootstrap 127.0.0.1:9092] [--protocol classic|consumer]
//! [--assignor NAME] [--no-pause]`; `gregor-lesson member ...` is one consumer (the lesson
//! starts it).

mod experiments;
mod group_view;
mod member;
mod narration;

use clap::{Parser, Subcommand, ValueEnum};

use group_view::Protocol;
use member::MemberSpec;

#[derive(Parser, Debug)]
#[command(
    name = "gregor-lesson",
    version,
    about = "Kafka's consumer groups, shown with real consumers"
)]
struct Cli {
    #[command(subcommand)]
    command: Lesson,
}

#[derive(Subcommand, Debug)]
enum Lesson {
    /// Experiments 1-3: two consumers share three partitions; more consumers than partitions
    /// and one leaving; one killed with SIGKILL and restarted.
    ConsumerGroups {
        /// The broker (start one first: `cargo run --release -p gregor`).
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// The rebalance protocol the consumers speak.
        #[arg(long, value_enum, default_value_t = ProtocolArg::Classic)]
        protocol: ProtocolArg,
        /// The assignor: range, roundrobin or cooperative-sticky (classic, chosen by the
        /// consumers), uniform or range (consumer protocol, run by the coordinator).
        #[arg(long)]
        assignor: Option<String>,
        /// The topic, created with three partitions.
        #[arg(long, default_value = "orders")]
        topic: String,
        /// The consumer group.
        #[arg(long, default_value = "order-processors")]
        group: String,
        /// A classic consumer's session.timeout.ms (the consumer protocol's is the broker's
        /// group.consumer.session.timeout.ms).
        #[arg(long, default_value_t = 6000)]
        session_timeout_ms: u32,
        /// Run every step without waiting for Enter.
        #[arg(long)]
        no_pause: bool,
        /// Show the consumers' own log output.
        #[arg(long)]
        verbose: bool,
    },
    /// One consumer of the lesson (started by `consumer-groups`).
    #[command(hide = true)]
    Member {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        protocol: ProtocolArg,
        #[arg(long)]
        assignor: Option<String>,
        #[arg(long)]
        session_timeout_ms: u32,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProtocolArg {
    Classic,
    Consumer,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Protocol {
        match p {
            ProtocolArg::Classic => Protocol::Classic,
            ProtocolArg::Consumer => Protocol::Consumer,
        }
    }
}

/// The command line that starts the member `spec` as its own process.
pub(crate) fn member_args(spec: &MemberSpec) -> Vec<String> {
    let protocol = match spec.protocol {
        Protocol::Classic => "classic",
        Protocol::Consumer => "consumer",
    };
    let mut args = vec![
        "member".to_string(),
        format!("--bootstrap={}", spec.bootstrap),
        format!("--group={}", spec.group),
        format!("--topic={}", spec.topic),
        format!("--name={}", spec.name),
        format!("--protocol={protocol}"),
        format!("--session-timeout-ms={}", spec.session_timeout_ms),
    ];
    if let Some(a) = &spec.assignor {
        args.push(format!("--assignor={a}"));
    }
    args
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Lesson::ConsumerGroups {
            bootstrap,
            protocol,
            assignor,
            topic,
            group,
            session_timeout_ms,
            no_pause,
            verbose,
        } => {
            let mut lesson = experiments::Lesson::new(experiments::Options {
                bootstrap,
                topic,
                group,
                protocol: protocol.into(),
                assignor,
                session_timeout_ms,
                no_pause,
                verbose,
            })?;
            lesson.run()
        }
        Lesson::Member {
            bootstrap,
            group,
            topic,
            name,
            protocol,
            assignor,
            session_timeout_ms,
        } => member::run(&MemberSpec {
            bootstrap,
            group,
            topic,
            name,
            protocol: protocol.into(),
            assignor,
            session_timeout_ms,
        }),
    }
}
