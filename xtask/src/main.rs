//! `cargo xtask`: the project's one entry point for setup, builds, runs and tests.
mod build;
mod fuzz;
mod ledger;
mod object_check;
mod python;
mod setup;
mod test;
mod util;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run and test the sensor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what this machine lacks to build the eBPF programs (idempotent).
    Setup,
    /// Remove everything xtask installed on this machine (Debian packages, cargo tools, the
    /// Python venv), never what a fresh machine has: CI starts from there (root).
    Fresh,
    /// Build the eBPF object, check it, and build `sensor` with it embedded.
    Build,
    /// Setup + build, then `sensor run` as root: flagged syscalls appear live.
    Run {
        /// Arguments passed to `sensor run` (e.g. -- --print-all).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Setup + build, then measure what the sensor costs (root); figures to target/bench.json.
    Bench {
        /// A smoke run in under a minute (checks that it runs, not its numbers).
        #[arg(long)]
        quick: bool,
        /// Run one section: syscall, flagged, learning, exec, footprint or reader.
        #[arg(long)]
        only: Option<String>,
    },
    /// Setup + build, then a long mixed workload with subscribers joining and leaving; prints
    /// whether every count adds up, and RSS over time (root; not part of CI).
    Soak {
        #[arg(long, default_value_t = 10)]
        minutes: u32,
    },
    /// Fuzz the kernel-record and syscall-argument decoders (cargo-fuzz, installed if missing).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u32,
    },
    /// Setup + build, then record the sensor's own seccomp profile anew
    /// (deploy/kubernetes/seccomp/sensor.json) from several runs of it doing its whole job.
    SelfProfile {
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Setup + build, unit tests, a short fuzz run, then the end-to-end tests (root, one at
    /// a time).
    Test {
        /// Run only the unit tests (a quick local loop; CI always runs everything).
        #[arg(long)]
        unit_only: bool,
        /// Passed to the test harnesses (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::setup().map(drop),
        Command::Fresh => ledger::fresh(&setup::installed_by_xtask(), setup::CARGO_TOOLS),
        Command::Build => setup::setup().and_then(build::build).map(drop),
        Command::Run { args } => setup::setup()
            .and_then(build::build)
            .and_then(|b| test::run_sensor(&b, &args)),
        Command::Bench { quick, only } => setup::setup()
            .and_then(build::build)
            .and_then(|b| test::bench(&b, quick, only.as_deref())),
        Command::Fuzz { seconds } => fuzz::fuzz(seconds),
        Command::Soak { minutes } => setup::setup()
            .and_then(build::build)
            .and_then(|b| test::soak(&b, minutes)),
        Command::SelfProfile { runs } => setup::setup()
            .and_then(build::build)
            .and_then(|b| test::self_profile(&b, runs)),
        Command::Test { unit_only, args } => setup::setup()
            .and_then(build::build)
            .and_then(|b| test::test(&b, unit_only, &args)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
