//! `bench`: Gregor side by side with Apache Kafka in one run (issue 6). See `--help` and the
//! README's Benchmark section; the work is done in `gregor_itests::bench`.

use gregor_itests::bench::{self, cleanup, Options};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", bench::USAGE);
        return std::process::ExitCode::SUCCESS;
    }
    let result = Options::parse(args).and_then(|options| {
        cleanup::install_signal_handler()?;
        bench::run(&options)
    });
    match result {
        Ok(table) => {
            println!("{table}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
