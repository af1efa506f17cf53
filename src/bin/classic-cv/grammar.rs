//! The command line's grammar, the one set of names every command uses:
//!
//! | concept                                   | flag                                   |
//! |-------------------------------------------|----------------------------------------|
//! | what the command makes (file or folder)   | `-o/--output`                          |
//! | an evaluation's metrics.json and pictures | `--report DIR`                         |
//! | annotated pictures                        | `--draw DIR` (`--draw FILE` for one)   |
//! | predicted labels                          | `--predictions FILE`                   |
//! | JSON on stdout                            | `--json` (a switch, never a path)      |
//! | a dataset spec                            | `--dataset SPEC`                       |
//! | first N test / evaluation samples         | `--limit N`                            |
//! | first N training samples                  | `--train-limit N`                      |
//! | a folder of images to scan                | `--image-dir DIR`                      |
//! | keypoints written / read                  | `--keypoints-out FILE`, `--keypoints`  |
//! | the seed of a randomised command          | `--seed SEED` (after the subcommand)   |
//!
//! The spellings replaced by these still work for one release: [`rewrite`] turns them into
//! the current ones before clap parses the command line, and prints one warning per use
//! on stderr (`warning: --out is deprecated; use -o/--output`).

use std::ffi::OsString;

use clap::Args;

/// `--seed`, on the commands with random stages only ([`SEEDED`]).
#[derive(Args, Debug, Clone, Copy)]
pub struct SeedArg {
    /// Seed of this command's random stages (default: 42, or the seeds of its config file,
    /// which a given --seed overrides).
    #[arg(long, value_name = "SEED")]
    pub seed: Option<u64>,
}

/// The commands that take `--seed` (those with random stages).
pub const SEEDED: &[&str] = &[
    "kmeans",
    "cnn train",
    "compare",
    "train",
    "select",
    "train-cascade",
    "bodyparts synth",
    "bodyparts train",
    "homography",
];

/// One deprecated spelling: on `command`, `old` is rewritten to `new`; the warning tells to
/// use `advice`.
struct Deprecated {
    command: &'static str,
    old: &'static str,
    new: &'static str,
    advice: &'static str,
}

const fn dep(
    command: &'static str,
    old: &'static str,
    new: &'static str,
    advice: &'static str,
) -> Deprecated {
    Deprecated {
        command,
        old,
        new,
        advice,
    }
}

const OUTPUT: &str = "-o/--output";

/// Every deprecated spelling, per command.
const DEPRECATED: &[Deprecated] = &[
    dep("compare", "--out", "--output", OUTPUT),
    dep("bodyparts synth", "--out", "--output", OUTPUT),
    dep("bodyparts train", "--out", "--output", OUTPUT),
    dep("bodyparts segment", "--out", "--output", OUTPUT),
    dep("demo", "--report", "--output", OUTPUT),
    dep("eval-detector", "--curve", "--output", OUTPUT),
    dep("calibrate", "--report", "--draw", "--draw"),
    dep("train-cascade", "--model", "--model-out", "--model-out"),
    dep("bodyparts synth", "--n", "--count", "--count"),
    dep(
        "bodyparts train",
        "--limit",
        "--train-limit",
        "--train-limit",
    ),
    dep("kmeans", "--k", "--clusters", "--clusters"),
    dep("detect", "--frames", "--image-dir", "--image-dir"),
    dep("dsift", "--frames", "--keypoints-out", "--keypoints-out"),
    dep("encode", "--frames", "--keypoints", "--keypoints"),
    dep(
        "encode",
        "--frames-dim",
        "--keypoints-dim",
        "--keypoints-dim",
    ),
    dep("cnn train", "--lr", "--learning-rate", "--learning-rate"),
    dep("cnn train", "--batch", "--batch-size", "--batch-size"),
    dep(
        "cnn train",
        "--warmup",
        "--warmup-epochs",
        "--warmup-epochs",
    ),
    dep("cnn train", "--shift", "--max-shift", "--max-shift"),
    // `--data DIR` named a Fashion-MNIST folder; a hidden option still reads one.
    dep("cnn train", "--data", "--data", "--dataset"),
    dep("cnn eval", "--data", "--data", "--dataset"),
];

/// The top-level options that take a value (to find the subcommand after them).
const GLOBAL_VALUES: &[&str] = &["--threads", "--seed", "--max-pixels", "--data-dir"];

/// Commands that have subcommands of their own.
const NESTED: &[&str] = &["cnn", "bodyparts"];

/// Where the subcommand is: its name (`cnn train` for nested ones) and the index of the
/// first argument after it. `None` when there is no subcommand (`classic-cv --help`).
fn find_command(args: &[OsString]) -> Option<(String, usize)> {
    let mut i = 1;
    let mut path: Vec<String> = Vec::new();
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--" {
            return None;
        }
        if a.starts_with('-') {
            let takes_value = GLOBAL_VALUES.contains(&a.as_ref());
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        path.push(a.into_owned());
        i += 1;
        if path.len() == 2 || !NESTED.contains(&path[0].as_str()) {
            break;
        }
    }
    (!path.is_empty()).then(|| (path.join(" "), i))
}

/// Rewrites the deprecated spellings of `args` (the whole `argv`) into the current ones,
/// calling `warn` once for each, and places a `--seed` given before the subcommand after
/// it (or drops it, with a warning, on a command without random stages).
pub fn rewrite(args: Vec<OsString>, warn: &mut dyn FnMut(String)) -> Vec<OsString> {
    let Some((command, start)) = find_command(&args) else {
        return args;
    };
    let seeded = SEEDED.contains(&command.as_str());
    let mut head: Vec<OsString> = Vec::new();
    let mut seed: Vec<OsString> = Vec::new();
    // Before the subcommand: take `--seed` out.
    let mut i = 0;
    while i < start {
        let a = args[i].to_string_lossy();
        if i > 0 && (a == "--seed" || a.starts_with("--seed=")) {
            let n = if a == "--seed" { 2 } else { 1 };
            seed.extend(args[i..(i + n).min(start)].iter().cloned());
            i += n;
            continue;
        }
        head.push(args[i].clone());
        i += 1;
    }
    if !seed.is_empty() {
        if seeded {
            warn(format!(
                "--seed before the subcommand is deprecated; write it after: \
                 `classic-cv {command} --seed ...`"
            ));
        } else {
            warn(no_seed(&command));
            seed.clear();
        }
    }
    let mut out = head;
    out.extend(seed);
    let mut rest = args[start..].iter();
    while let Some(arg) = rest.next() {
        let a = arg.to_string_lossy();
        if a == "--" {
            out.push(arg.clone());
            out.extend(rest.cloned());
            break;
        }
        let (name, value) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_ref(), None),
        };
        if !seeded && name == "--seed" {
            warn(no_seed(&command));
            if value.is_none() {
                rest.next();
            }
            continue;
        }
        match DEPRECATED
            .iter()
            .find(|d| d.command == command && d.old == name)
        {
            Some(d) => {
                warn(format!("{} is deprecated; use {}", d.old, d.advice));
                out.push(match value {
                    Some(v) => format!("{}={v}", d.new).into(),
                    None => d.new.into(),
                });
            }
            None => out.push(arg.clone()),
        }
    }
    out
}

fn no_seed(command: &str) -> String {
    format!("`{command}` has no random stage: --seed is ignored (and will be refused)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let out = rewrite(args.iter().map(OsString::from).collect(), &mut |w| {
            warnings.push(w)
        });
        let out = out
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (out, warnings)
    }

    #[test]
    fn old_spellings_are_rewritten_per_command() {
        let (out, w) = run(&[
            "cv",
            "--threads",
            "2",
            "bodyparts",
            "train",
            "d",
            "--limit",
            "5",
            "--out=m.bin",
        ]);
        assert_eq!(
            out,
            [
                "cv",
                "--threads",
                "2",
                "bodyparts",
                "train",
                "d",
                "--train-limit",
                "5",
                "--output=m.bin"
            ]
        );
        assert_eq!(w.len(), 2);
        assert_eq!(w[1], "--out is deprecated; use -o/--output");
        // `--limit` is current on `bodyparts eval`, `--frames` after `--` is a value.
        let (out, w) = run(&["cv", "bodyparts", "eval", "--limit", "5", "--", "--frames"]);
        assert_eq!(
            out,
            ["cv", "bodyparts", "eval", "--limit", "5", "--", "--frames"]
        );
        assert!(w.is_empty());
    }

    #[test]
    fn seed_moves_after_the_subcommand_or_is_dropped() {
        let (out, w) = run(&["cv", "--seed", "3", "--json", "train", "--config", "c"]);
        assert_eq!(
            out,
            ["cv", "--json", "train", "--seed", "3", "--config", "c"]
        );
        assert_eq!(w.len(), 1);
        let (out, w) = run(&["cv", "--seed=3", "detect", "x.png", "--seed", "4"]);
        assert_eq!(out, ["cv", "detect", "x.png"]);
        assert_eq!(w.len(), 2);
        let (out, w) = run(&["cv", "--help"]);
        assert_eq!(out, ["cv", "--help"]);
        assert!(w.is_empty());
    }
}
