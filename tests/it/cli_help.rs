//! One command-line grammar: the `--help` of every command, nested ones included, follows
//! the same rules (see `src/bin/classic-cv/grammar.rs` for the table of names).
//!
//! - every option has a long name;
//! - every option that takes a value states its default (clap's `[default: X]`, or
//!   `default: X` in its text) or is required (named in the command's usage line);
//! - a long name means one thing everywhere: the same short name, a value or none, and the
//!   same value name (except the few below, whose value names say which file they take);
//! - `-o` is always `--output`, which always takes a path; `--json` never takes a value;
//!   `--dataset` always takes the same dataset spec; `--limit` never limits training data;
//! - `--seed` is on the commands with random stages, and only there;
//! - no deprecated spelling is listed.

use std::collections::{BTreeMap, BTreeSet};

use super::cli::classic_cv;

/// Every command, as its help lists them (nested ones as `cnn train`). A new command must
/// be added here, so that the rules below are applied to it knowingly.
const COMMANDS: &[&str] = &[
    "fetch-data",
    "demo",
    "report",
    "dsift",
    "hog",
    "kmeans",
    "encode",
    "cnn",
    "cnn train",
    "cnn eval",
    "cnn predict",
    "compare",
    "train",
    "eval",
    "predict",
    "select",
    "detect",
    "eval-detector",
    "train-cascade",
    "bodyparts",
    "bodyparts synth",
    "bodyparts train",
    "bodyparts eval",
    "bodyparts segment",
    "serve",
    "corners",
    "homography",
    "calibrate",
    "undistort",
    "warp",
    "birdseye",
    "stereo",
    "eval-stereo",
    "stereo-calibrate",
];

/// The commands with random stages: they, and only they, take `--seed`.
const SEEDED: &[&str] = &[
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

/// Spellings replaced by the grammar (still accepted, with a warning): never listed. The
/// first group is gone from every command; the second only from the commands named.
const GONE: &[&str] = &[
    "--out",
    "--frames",
    "--n",
    "--k",
    "--lr",
    "--batch",
    "--data",
    "--curve",
    "--warmup",
    "--shift",
    "--model",
    "--frames-dim",
];
const GONE_FROM: &[(&str, &str)] = &[
    ("demo", "--report"),
    ("calibrate", "--report"),
    ("bodyparts train", "--limit"),
];

/// Long names whose value name differs between commands on purpose: it names the kind of
/// file taken (`--output MODEL`, `--output PNG`; `--draw DIR` or `--draw PNG` for one
/// picture; `--config PIPELINE.json` or a CNN's `FILE`; `--truth boxes.xml` or a disparity
/// map), or, for `--camera`, a video device (`detect`) or a camera file (`undistort`).
const VALUE_NAMES_VARY: &[&str] = &["--output", "--draw", "--config", "--truth", "--camera"];

/// One option of a help text.
#[derive(Debug)]
struct Opt {
    short: Option<char>,
    long: Option<String>,
    value: Option<String>,
    text: String,
}

/// Where a long name is used: the command, and the short name and value name it has there.
type Use = (String, Option<char>, Option<String>);

fn help(command: &str) -> String {
    let mut args: Vec<&str> = command.split_whitespace().collect();
    args.push("--help");
    let (code, out, err) = classic_cv(&args);
    assert_eq!(code, 0, "classic-cv {command} --help: {err}");
    out
}

/// The subcommands a help text lists (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, rest)) = help.split_once("\nCommands:\n") else {
        return Vec::new();
    };
    rest.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("  ")?.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The options of a help text: a header line (`  -o, --output <FILE>`) and the lines that
/// follow it up to the next header.
fn options(help: &str) -> Vec<Opt> {
    let Some((_, rest)) = help.split_once("\nOptions:\n") else {
        return Vec::new();
    };
    let mut opts: Vec<Opt> = Vec::new();
    for line in rest.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if (2..=6).contains(&indent) && trimmed.starts_with('-') {
            let (head, text) = match trimmed.split_once("  ") {
                Some((h, t)) => (h, t.trim().to_string()),
                None => (trimmed, String::new()),
            };
            let mut opt = Opt {
                short: None,
                long: None,
                value: None,
                text,
            };
            for word in head.split_whitespace() {
                // `-o,` before the long name; value names may hold commas (`<X0,Y0,X1,Y1>`).
                let word = if word.starts_with('-') {
                    word.trim_end_matches(',')
                } else {
                    word
                };
                if let Some(l) = word.strip_prefix("--") {
                    opt.long = Some(format!("--{l}"));
                } else if let Some(s) = word.strip_prefix('-') {
                    opt.short = s.chars().next();
                } else {
                    let v = word.trim_matches(|c| "[]<>.".contains(c));
                    opt.value = Some(v.to_string());
                }
            }
            opts.push(opt);
        } else if let Some(o) = opts.last_mut() {
            o.text.push(' ');
            o.text.push_str(trimmed);
        }
    }
    opts
}

/// Whether `text` names the flag `flag` (a whole word: `--out` is not in `--output`).
fn mentions(text: &str, flag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(flag).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + flag.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

fn all_commands() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut queue: Vec<String> = subcommands(&help(""));
    while let Some(c) = queue.pop() {
        let h = help(&c);
        queue.extend(subcommands(&h).into_iter().map(|s| format!("{c} {s}")));
        found.push((c, h));
    }
    found.sort();
    found
}

#[test]
fn every_help_follows_the_grammar() {
    let commands = all_commands();
    let names: BTreeSet<&str> = commands.iter().map(|(c, _)| c.as_str()).collect();
    let expected: BTreeSet<&str> = COMMANDS
        .iter()
        .copied()
        .filter(|c| *c != "serve" || cfg!(feature = "serve"))
        .collect();
    assert_eq!(names, expected, "the commands changed: update COMMANDS");

    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, Vec<Use>> = BTreeMap::new();
    for (command, text) in &commands {
        let usage = text
            .lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_default();
        let opts = options(text);
        let has = |name: &str| opts.iter().any(|o| o.long.as_deref() == Some(name));
        for o in &opts {
            let Some(long) = &o.long else {
                problems.push(format!("{command}: an option without a long name: {o:?}"));
                continue;
            };
            if let Some(v) = &o.value {
                let required = usage.contains(&format!("{long} <"));
                if !required && !o.text.to_lowercase().contains("default:") {
                    problems.push(format!("{command}: {long} <{v}> states no default"));
                }
            }
            if o.short == Some('o') && long != "--output" {
                problems.push(format!("{command}: -o is {long}, not --output"));
            }
            match long.as_str() {
                "--output" if o.short != Some('o') || o.value.is_none() => {
                    problems.push(format!("{command}: --output must be -o/--output PATH"))
                }
                "--json" if o.value.is_some() => {
                    problems.push(format!("{command}: --json takes a value"))
                }
                "--dataset"
                    if o.value.as_deref() != Some("DATASET") || !o.text.contains("folder:DIR") =>
                {
                    problems.push(format!("{command}: --dataset is not a dataset spec"))
                }
                "--limit" if o.text.to_lowercase().contains("train") => {
                    problems.push(format!("{command}: --limit limits training data"))
                }
                "--limit" | "--train-limit" if o.value.as_deref() != Some("N") => {
                    problems.push(format!("{command}: {long} does not take N"))
                }
                _ => {}
            }
            if GONE.contains(&long.as_str())
                || GONE_FROM.contains(&(command.as_str(), long.as_str()))
            {
                problems.push(format!("{command}: lists the old spelling {long}"));
            }
            seen.entry(long.clone())
                .or_default()
                .push((command.clone(), o.short, o.value.clone()));
        }
        for gone in GONE {
            if mentions(text, gone) {
                problems.push(format!(
                    "{command}: the help mentions the old spelling {gone}"
                ));
            }
        }
        if has("--seed") != SEEDED.contains(&command.as_str()) {
            problems.push(format!(
                "{command}: --seed {}",
                if has("--seed") {
                    "listed on a command without random stages"
                } else {
                    "missing on a randomised command"
                }
            ));
        }
    }
    for (long, uses) in &seen {
        let (first_cmd, short, value) = &uses[0];
        for (cmd, s, v) in &uses[1..] {
            if s != short {
                problems.push(format!(
                    "{long}: short -{short:?} on {first_cmd}, -{s:?} on {cmd}"
                ));
            }
            if v.is_some() != value.is_some() {
                problems.push(format!(
                    "{long}: takes a value on one of {first_cmd}, {cmd} only"
                ));
            } else if v != value && !VALUE_NAMES_VARY.contains(&long.as_str()) {
                problems.push(format!(
                    "{long}: <{value:?}> on {first_cmd}, <{v:?}> on {cmd}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The parser above reads a help text as intended (a failing parse would make the rules
/// vacuous).
#[test]
fn the_help_parser_reads_options() {
    let opts = options(&help("eval"));
    let find = |l: &str| opts.iter().find(|o| o.long.as_deref() == Some(l)).unwrap();
    assert_eq!(find("--dataset").value.as_deref(), Some("DATASET"));
    assert!(
        find("--limit").text.contains("default: all"),
        "{:?}",
        find("--limit")
    );
    assert_eq!(find("--json").value, None);
    let train = options(&help("cnn train"));
    let out = train
        .iter()
        .find(|o| o.long.as_deref() == Some("--output"))
        .unwrap();
    assert_eq!(
        (out.short, out.value.as_deref()),
        (Some('o'), Some("MODEL"))
    );
    assert!(subcommands(&help("bodyparts")).contains(&"segment".to_string()));
    let area = options(&help("birdseye"))
        .into_iter()
        .find(|o| o.long.as_deref() == Some("--area"))
        .unwrap();
    assert_eq!(area.value.as_deref(), Some("X0,Y0,X1,Y1"));
    assert!(mentions("use --out DIR", "--out") && mentions("(--out)", "--out"));
    assert!(!mentions("use --output DIR", "--out") && !mentions("--out-dir", "--out"));
}
