//! exitwatch: who killed my process? Parses the command line and hands over to the daemon.

use std::process::ExitCode;

use clap::Parser;
use exitwatch::{app, cli::Args, sysexits};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                sysexits::USAGE
            } else {
                sysexits::OK
            });
        }
    };
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("exitwatch: {e}");
            return ExitCode::from(sysexits::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("exitwatch: cannot start the runtime: {e}");
            return ExitCode::from(sysexits::SOFTWARE);
        }
    };
    match runtime.block_on(app::run(config)) {
        Ok(code) => ExitCode::from(code),
        Err(app::AppError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exitwatch: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
