//! The README's commands, checked against the real program: every `classic-cv ...` (or
//! `cargo run --release -- ...`) line of its `sh` blocks must parse (the binary's
//! `CLASSIC_CV_CHECK_ARGS=1` mode stops right after clap), every `--example NAME` must be a
//! file of `examples/` and every `scripts/...` it runs must exist and be executable.
//!
//! `CLASSIC_CV_README_RUN=1` also runs the commands for real, in order, in a temporary
//! directory that links `data/` and `examples/` (several minutes: `demo`, `compare`, the CNN
//! and the body-part forest train), and requires each to exit 0; `serve` (it would not
//! return), `--camera` (no webcam) and `cargo` lines are left out.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::locate::root;

/// One command of a README `sh` block: its words after variable expansion, and where it is.
#[derive(Debug)]
struct Line {
    at: usize,
    words: Vec<String>,
    /// The whole source line (continuations joined), for the shell.
    shell: String,
}

/// Splits a shell line into words: single and double quotes group, `$NAME` / `${NAME}` are
/// expanded from `vars` (unknown names are left as they are), a `#` starting a word begins
/// a comment.
fn words(text: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let (mut single, mut double) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                in_word = true;
            }
            '"' if !single => {
                double = !double;
                in_word = true;
            }
            '#' if !single && !double && !in_word => break,
            '$' if !single
                && chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_alphabetic() || *n == '{' || *n == '_') =>
            {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced {
                    chars.next();
                }
                match vars.get(&name) {
                    Some(v) => cur.push_str(v),
                    None => cur.push_str(&format!("${name}")),
                }
                in_word = true;
            }
            c if c.is_whitespace() && !single && !double => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Every command of the README's `sh` blocks, split at `|`, `&&` and `;`, with `NAME=VALUE`
/// lines applied to later lines.
fn commands(readme: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut vars = BTreeMap::new();
    let mut exports = String::new();
    let mut in_sh = false;
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in readme.lines().enumerate() {
        let t = raw.trim_end();
        if t.starts_with("```") {
            in_sh = !in_sh && (t == "```sh" || t == "```bash");
            continue;
        }
        if !in_sh {
            continue;
        }
        if pending.is_empty() {
            start = i + 1;
        }
        if let Some(body) = t.strip_suffix('\\') {
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let line = std::mem::take(&mut pending);
        let line_with_vars = format!("{exports}{line}");
        let w = words(&line, &vars);
        let Some(first) = w.first() else { continue };
        if let Some((name, value)) = first.split_once('=')
            && w.len() == 1
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            vars.insert(name.to_string(), value.to_string());
            exports.push_str(&line);
            exports.push_str("; ");
            continue;
        }
        for part in w.split(|x| x == "|" || x == "&&" || x == ";") {
            // Redirections (`> FILE`, `2>&1`) belong to the shell, not to the program.
            let mut words = Vec::new();
            let mut skip = false;
            for x in part {
                if skip {
                    skip = false;
                } else if [">", ">>", "<", "2>"].contains(&x.as_str()) {
                    skip = true;
                } else if !(x.starts_with('>') || x.starts_with("2>") || x.starts_with('<')) {
                    words.push(x.clone());
                }
            }
            if !words.is_empty() {
                out.push(Line {
                    at: start,
                    words,
                    shell: line_with_vars.clone(),
                });
            }
        }
    }
    out
}

/// The arguments after the program when `words` runs classic-cv, else `None`.
fn classic_cv_args(words: &[String]) -> Option<&[String]> {
    if words[0] == "classic-cv" {
        return Some(&words[1..]);
    }
    if words.len() >= 4 && words[..3] == ["cargo", "run", "--release"] && words[3] == "--" {
        return Some(&words[4..]);
    }
    None
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

#[test]
fn the_walker_reads_continuations_variables_and_pipes() {
    let text = "x\n```sh\nD=data/cache # where\nclassic-cv a $D/x.png \\\n  --b 'c d' # note\n\
                ffmpeg -i v | classic-cv detect --raw 640x480\nclassic-cv x && cargo test\n```\n\
                ```text\nclassic-cv not-a-command\n```\n";
    let c = commands(text);
    let got: Vec<Vec<&str>> = c
        .iter()
        .map(|l| l.words.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        got,
        vec![
            vec!["classic-cv", "a", "data/cache/x.png", "--b", "c d"],
            vec!["ffmpeg", "-i", "v"],
            vec!["classic-cv", "detect", "--raw", "640x480"],
            vec!["classic-cv", "x"],
            vec!["cargo", "test"],
        ]
    );
    assert_eq!(c[0].at, 4);
}

#[test]
fn every_readme_command_parses_and_every_example_and_script_exists() {
    let text = readme();
    let lines = commands(&text);
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in &lines {
        let w = &line.words;
        if let Some(args) = classic_cv_args(w) {
            let out = Command::new(env!("CARGO_BIN_EXE_classic-cv"))
                .args(args)
                .env("CLASSIC_CV_CHECK_ARGS", "1")
                .output()
                .unwrap();
            // `--help` and `--version` print and exit 0 before the check: both are fine.
            if !out.status.success() {
                failures.push(format!(
                    "README line {}: classic-cv {}: {}",
                    line.at,
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            checked += 1;
        }
        if let Some(i) = w.iter().position(|x| x == "--example") {
            let name = w.get(i + 1).map_or("", String::as_str);
            if !root().join("examples").join(format!("{name}.rs")).is_file() {
                failures.push(format!("README line {}: no examples/{name}.rs", line.at));
            }
        }
        if w[0].starts_with("scripts/") {
            let p = root().join(&w[0]);
            let executable = std::fs::metadata(&p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if !executable {
                failures.push(format!(
                    "README line {}: {} is not an executable script",
                    line.at, w[0]
                ));
            }
        }
    }
    assert!(
        checked >= 40,
        "only {checked} classic-cv commands found in the README"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Links `data/` and `examples/` of the checkout into `dir`, so that the README's relative
/// paths resolve there.
fn sandbox(dir: &Path) {
    for name in ["data", "examples"] {
        std::os::unix::fs::symlink(root().join(name), dir.join(name)).unwrap();
    }
}

#[test]
fn every_readme_command_runs_when_asked() {
    if std::env::var_os("CLASSIC_CV_README_RUN").is_none_or(|v| v != "1") {
        eprintln!("skipped: set CLASSIC_CV_README_RUN=1 to run every README command (minutes)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    sandbox(dir.path());
    let bin = Path::new(env!("CARGO_BIN_EXE_classic-cv"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    let mut last_at = 0;
    for line in commands(&readme()) {
        // Each source line once, whole, through the shell (pipes, globs, redirections), as
        // a reader would paste it; a service is not started (it would not return).
        if classic_cv_args(&line.words).is_none() || line.at == last_at {
            continue;
        }
        last_at = line.at;
        // Nor a webcam (no camera here).
        if line.words.get(1).is_some_and(|w| w == "serve")
            || line.words[0] == "cargo"
            || line.words.iter().any(|w| w == "--camera")
        {
            continue;
        }
        let status = Command::new("sh")
            .arg("-c")
            .arg(&line.shell)
            .current_dir(dir.path())
            .env("PATH", &path)
            .status()
            .unwrap();
        if !status.success() {
            failures.push(format!("README line {}: {}: {status}", line.at, line.shell));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
