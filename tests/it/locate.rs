//! Where the tests and benches find their data: the fetched cache and the shared anchors
//! (the benches include this file by path).

use std::path::PathBuf;

/// The crate's root directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The data cache that `fetch-data` fills (`$CLASSIC_CV_DATA`, else `data/cache` in the
/// crate).
pub fn cache() -> PathBuf {
    let dir = classic_cv::datasets::fetch::default_cache_dir();
    if dir.is_absolute() {
        dir
    } else {
        root().join(dir)
    }
}

/// `sub` inside the shared anchors, if there: `$CLASSIC_CV_SHARED/anchors`, else
/// `shared/anchors` beside the checkout or beside one of its parents (a worktree nested
/// deeper).
pub fn find_anchor(sub: &str) -> Option<PathBuf> {
    let from_env = std::env::var_os("CLASSIC_CV_SHARED").map(PathBuf::from);
    let beside = root()
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared"))
        .collect::<Vec<_>>();
    from_env
        .into_iter()
        .chain(beside)
        .map(|s| s.join("anchors").join(sub))
        .find(|p| p.exists())
}

/// [`find_anchor`], or a panic naming the variable to set.
pub fn anchors(sub: &str) -> PathBuf {
    find_anchor(sub).unwrap_or_else(|| {
        panic!("anchors/{sub} not found: set CLASSIC_CV_SHARED to the shared directory")
    })
}
