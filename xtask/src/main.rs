//! Developer tasks for exitwatch (`cargo xtask setup|build|run|test|kernels`): toolchain, builds, tests.

mod apt;
mod arch;
mod arm64;
mod bench;
mod build;
mod cli;
mod command;
mod debian;
mod debs;
mod deploy;
mod elf;
mod fuzz;
mod guest;
mod image;
mod initramfs;
mod kernels;
mod layout;
mod privilege;
mod qemu;
mod rootfs;
mod run;
mod setup;
mod suite;
mod test;

use std::process::ExitCode;

use cli::Task;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = match cli::parse(&args) {
        Ok(task) => task,
        Err(cli::Usage::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(cli::Usage::Invalid(why)) => {
            eprint!("xtask: {why}\n\n{}", cli::USAGE);
            return ExitCode::from(64);
        }
    };
    command::put_cargo_bin_on_path();
    let outcome = match task {
        Task::Setup { needs } => setup::setup(needs),
        Task::Image => image::image().map(|image| println!("{}", image.archive.display())),
        Task::Build { profile, target } => setup::setup(setup::Needs::Build)
            .and_then(|()| match target {
                None => build::build(profile),
                Some(arch) => build::build_for(arch, profile),
            })
            .map(|built| {
                layout::check(&built.binary);
                println!("{}", built.binary.display())
            }),
        Task::Run { profile, args } => run::run(profile, &args),
        Task::Test { unit_only } => test::test(unit_only),
        Task::Bench { short } => bench::bench(short),
        Task::Layout => layout::layout(),
        Task::Kernels {
            kernels,
            timeout,
            verbose,
            test_args,
        } => kernels::kernels(
            kernels,
            kernels::Options {
                timeout,
                verbose,
                test_args,
            },
        ),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
