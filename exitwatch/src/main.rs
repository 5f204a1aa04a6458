//! exitwatch: who killed my process? Gathers the settings (command line, EXITWATCH_*
//! variables, --config file) and hands over to the daemon.

use std::process::ExitCode;

use exitwatch::cli::Command;
use exitwatch::config::{self, ArgsError};
use exitwatch::{app, doctor, explain, sysexits};

fn main() -> ExitCode {
    let args = match config::args(std::env::args_os().collect(), |p| {
        std::fs::read_to_string(p)
    }) {
        Ok(args) => args,
        Err(ArgsError::Clap(e)) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                sysexits::USAGE
            } else {
                sysexits::OK
            });
        }
        Err(e @ ArgsError::Read(..)) => {
            eprintln!("exitwatch: {e}");
            return ExitCode::from(sysexits::NOINPUT);
        }
        Err(e) => {
            eprintln!("exitwatch: {e}");
            return ExitCode::from(sysexits::USAGE);
        }
    };
    match &args.command {
        Some(Command::Explain { value, json }) => return explain(value, *json),
        Some(Command::Doctor) => {
            let checks = doctor::probe();
            print!("{}", doctor::render(&checks));
            return ExitCode::from(if doctor::runnable(&checks) {
                sysexits::OK
            } else {
                sysexits::UNAVAILABLE
            });
        }
        None => {}
    }
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

fn explain(value: &str, json: bool) -> ExitCode {
    match explain::explain(value) {
        Ok(e) if json => match serde_json::to_string_pretty(&e) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("exitwatch: {err}");
                ExitCode::from(sysexits::SOFTWARE)
            }
        },
        Ok(e) => {
            print!("{}", explain::render_text(&e));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exitwatch: {e}");
            ExitCode::from(sysexits::USAGE)
        }
    }
}
