//! `fetch-data` and `demo`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use classic_cv::datasets::fetch::{self, FetchEvent, FileState};
use classic_cv::datasets::{self, Split};

use crate::Globals;

/// Arguments of `fetch-data`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Cache directory (default: the data directory, see --data-dir).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Only check the cached files' checksums; download nothing. Exit 1 if any is bad.
    #[arg(long)]
    pub verify: bool,
}

/// Arguments of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the report (metrics, confusion matrix, misclassified grid, sample PNGs) goes.
    #[arg(short, long, value_name = "DIR", default_value = "report")]
    pub output: PathBuf,
    /// Training images used by the demo's small configuration.
    #[arg(long, value_name = "N", default_value_t = 20000)]
    pub train_limit: usize,
    /// Cache directory (default: the data directory, see --data-dir).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

fn cache_dir(dir: &Option<PathBuf>) -> PathBuf {
    dir.clone().unwrap_or_else(fetch::default_cache_dir)
}

/// `classic-cv fetch-data`.
pub fn fetch(args: &FetchArgs, g: &Globals) -> Result<()> {
    let dir = cache_dir(&args.dir);
    if args.verify {
        let states = fetch::verify(&dir)?;
        let bad: Vec<_> = states.iter().filter(|(_, s)| *s != FileState::Ok).collect();
        if g.json {
            let files: Vec<_> = states
                .iter()
                .map(|(p, s)| {
                    serde_json::json!({
                        "path": p,
                        "state": match s { FileState::Ok => "ok", FileState::Missing => "missing", FileState::Corrupted(_) => "corrupted" },
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({ "ok": bad.is_empty(), "files": files })
            );
        } else {
            for (p, s) in &bad {
                match s {
                    FileState::Missing => println!("missing    {}", p.display()),
                    FileState::Corrupted(sha) => {
                        println!("corrupted  {} (sha256 {sha})", p.display())
                    }
                    FileState::Ok => {}
                }
            }
            println!(
                "{} of {} files verified in {}",
                states.len() - bad.len(),
                states.len(),
                dir.display()
            );
        }
        anyhow::ensure!(
            bad.is_empty(),
            "{} cached file(s) missing or corrupted: run `classic-cv fetch-data`",
            bad.len()
        );
        return Ok(());
    }
    let quiet = g.json;
    let mut events = Vec::new();
    let written = fetch::fetch_all(&dir, &mut |e| {
        if !quiet {
            match &e {
                FetchEvent::UpToDate { source, files } => {
                    eprintln!("{source}: {files} files up to date")
                }
                FetchEvent::Corrupted { path } => {
                    eprintln!("{}: checksum mismatch, fetching it again", path.display())
                }
                FetchEvent::Downloading { source } => eprintln!("{source}: downloading"),
                FetchEvent::Installed { source, files } => {
                    eprintln!("{source}: {files} files written and verified")
                }
            }
        }
        events.push(e);
    })
    .with_context(|| format!("fetching data into {}", dir.display()))?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "dir": dir, "files_written": written, "files_total": fetch::MANIFEST.len() })
        );
    } else {
        println!(
            "{} files written; {} files in {}",
            written,
            fetch::MANIFEST.len(),
            dir.display()
        );
    }
    Ok(())
}

/// `classic-cv demo`: fetch the data, then summarise it.
pub fn demo(args: &DemoArgs, g: &Globals) -> Result<()> {
    crate::output::check(&[(&args.output, crate::output::Kind::Dir)], &[])?;
    fetch(
        &FetchArgs {
            dir: args.dir.clone(),
            verify: false,
        },
        &Globals {
            seed: g.seed,
            seed_given: g.seed_given,
            json: false,
        },
    )?;
    let dir = cache_dir(&args.dir);
    let fm = dir.join("fashion-mnist");
    let train = datasets::fashion_mnist(&fm, Split::Train)?;
    let test = datasets::fashion_mnist(&fm, Split::Test)?;
    let (tc, sc) = (train.class_counts(), test.class_counts());
    if !g.json {
        println!(
            "Fashion-MNIST: {} training and {} test images, {}x{} gray",
            train.len(),
            test.len(),
            train.images[0].width(),
            train.images[0].height()
        );
        println!("{:>3}  {:<12} {:>6} {:>6}", "id", "class", "train", "test");
        for (i, name) in train.class_names.iter().enumerate() {
            println!("{i:>3}  {name:<12} {:>6} {:>6}", tc[i], sc[i]);
        }
    }
    let summary = crate::classify::demo::run(&train, &test, &args.output, args.train_limit, g)?;
    if g.json {
        println!("{summary}");
    }
    Ok(())
}
