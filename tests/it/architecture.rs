//! The architecture as written in ARCHITECTURE.md holds in the source tree: the code map
//! names exactly the files and folders of `src/`, each folder uses only the root and the
//! folders before it, and no source file is over 1,200 lines.

use std::collections::BTreeSet;

/// The families in dependency order: a folder may use the root and the folders before it.
const FOLDERS: [&str; 10] = [
    "features",
    "geometry",
    "stereo",
    "encode",
    "learn",
    "cnn",
    "datasets",
    "classify",
    "detect",
    "bodyparts",
];

use crate::locate::root;

/// Source files below `src/` (relative to it, sorted); the binary's only with `with_bin`.
fn source_files(with_bin: bool) -> Vec<String> {
    let src = root().join("src");
    let mut out = Vec::new();
    let mut todo = vec![src.clone()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if p.is_dir() {
                if with_bin || rel != "bin" {
                    todo.push(p);
                }
            } else if rel.ends_with(".rs") {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

/// Library source files (everything under `src/` but the binary), relative to `src/`.
fn library_files() -> Vec<String> {
    source_files(false)
}

/// Files and folders named by the code map of ARCHITECTURE.md (the `text` block after
/// "## Code map"), as paths relative to `src/`: one entry per `name.rs` or `name/` at the
/// start of a line, nested by indentation (two spaces a level).
fn code_map() -> (BTreeSet<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let map = text
        .split("## Code map")
        .nth(1)
        .and_then(|t| t.split("```text").nth(1))
        .and_then(|t| t.split("```").next())
        .expect("ARCHITECTURE.md has a code map in a text block");
    let (mut files, mut folders) = (BTreeSet::new(), BTreeSet::new());
    let mut stack: Vec<String> = Vec::new();
    let is_name = |t: &str| {
        let stem = t.trim_end_matches(".rs").trim_end_matches('/');
        (t.ends_with(".rs") || t.ends_with('/'))
            && !stem.is_empty()
            && stem
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-/".contains(c))
    };
    for line in map.lines().filter(|l| !l.trim().is_empty()) {
        let depth = (line.len() - line.trim_start().len()) / 2;
        let names: Vec<&str> = line.split_whitespace().take_while(|t| is_name(t)).collect();
        if names.is_empty() {
            continue;
        }
        stack.truncate(depth);
        let prefix: String = stack.iter().skip(1).map(|s| format!("{s}/")).collect();
        for n in &names {
            if let Some(dir) = n.strip_suffix('/') {
                if depth > 0 {
                    folders.insert(format!("{prefix}{dir}"));
                }
            } else {
                files.insert(format!("{prefix}{n}"));
            }
        }
        if let Some(dir) = names.last().unwrap().strip_suffix('/') {
            stack.push(dir.to_string());
        }
    }
    (files, folders)
}

#[test]
fn code_map_matches_the_source_tree() {
    let (files, folders) = code_map();
    let actual: BTreeSet<String> = library_files().into_iter().collect();
    let missing: Vec<_> = actual.difference(&files).collect();
    let stale: Vec<_> = files.difference(&actual).collect();
    assert!(
        missing.is_empty(),
        "files not in ARCHITECTURE.md's code map: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "code map names files that do not exist: {stale:?}"
    );
    let actual_dirs: BTreeSet<String> = actual
        .iter()
        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d.to_string()))
        .collect();
    let expected_dirs: BTreeSet<String> = folders
        .into_iter()
        .filter(|d| !d.starts_with("bin"))
        .collect();
    assert_eq!(
        actual_dirs, expected_dirs,
        "folders of src/ against the code map"
    );
}

/// Where a file sits: `None` for the root, else the index of its family in [`FOLDERS`].
fn family(file: &str) -> Option<usize> {
    let top = file.split('/').next().unwrap();
    if file.contains('/') {
        Some(FOLDERS.iter().position(|f| *f == top).unwrap_or_else(|| {
            panic!("{file}: folder `{top}` is not a family of the dependency rule")
        }))
    } else {
        None
    }
}

#[test]
fn each_folder_uses_only_the_root_and_the_folders_before_it() {
    let mut violations = Vec::new();
    for file in library_files() {
        let here = family(&file);
        let text = std::fs::read_to_string(root().join("src").join(&file)).unwrap();
        for (no, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (i, _) in code.match_indices("crate::") {
                let before = &code[..i];
                if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue; // e.g. `classic_cv::` is not a crate path of ours here
                }
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let Some(used) = FOLDERS.iter().position(|f| *f == name) else {
                    continue; // a root module (or a crate-root item)
                };
                let allowed = match here {
                    None => false,
                    Some(h) => used <= h,
                };
                if !allowed {
                    violations.push(format!("src/{file}:{}: uses `crate::{name}`", no + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the folder order {FOLDERS:?}:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_source_file_is_over_1200_lines() {
    let src = root().join("src");
    let long: Vec<String> = source_files(true)
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(src.join(&f))
                .unwrap()
                .lines()
                .count();
            (n > 1200).then(|| format!("src/{f}: {n} lines"))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn no_two_public_types_share_a_name() {
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in library_files() {
        let text = std::fs::read_to_string(root().join("src").join(&file)).unwrap();
        // Items at module level (associated items inside `impl` blocks are indented).
        for line in text.lines().filter(|l| l.starts_with("pub ")) {
            let mut words = line.split_whitespace().skip(1);
            let (Some(kind), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            if ["struct", "enum", "type", "trait", "const", "static"].contains(&kind) {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                seen.entry(name).or_default().push(format!("src/{file}"));
            }
        }
    }
    let twice: Vec<String> = seen
        .into_iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {files:?}"))
        .collect();
    assert!(
        twice.is_empty(),
        "public names defined twice:\n{}",
        twice.join("\n")
    );
}
