//! The output policy of every command.
//!
//! - Arguments and inputs are validated before any output is opened: a command checks its
//!   output paths first ([`check`]), and every file the library writes during a command
//!   goes to a temp file beside its target; the temps are renamed into place together when
//!   the command succeeds and removed when it fails (`persist`'s group, opened by `main`).
//! - An output path that is also an input (the same file, by device and inode) is refused.
//! - An existing target that is not a regular file (a directory where a file is written, a
//!   device node such as `/dev/null`, a FIFO, a socket, a symlink to one) is refused;
//!   `persist::write_atomic` refuses it again at write time.
//! - SIGINT and SIGTERM remove every temp file in flight, then exit with 130 / 143.
//! - Usage errors (a bad flag value) exit with 2, like clap's own; other errors with 1.
//! - When the reader of stdout goes away (`classic-cv ... | head -1`), the command ends
//!   quietly with 141 (128 + SIGPIPE, what a Unix tool killed by SIGPIPE reports), its temp
//!   files removed and nothing committed: no error line.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

/// A bad command line (exit code 2): a flag value out of range, flags that contradict.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A usage error with this message.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

/// Turns a library error about flag values (an invalid parameter) into a usage error.
pub fn flags<T>(r: classic_cv::Result<T>) -> Result<T> {
    r.map_err(|e| match e {
        classic_cv::Error::InvalidParam { .. } => usage(e.to_string()),
        other => other.into(),
    })
}

/// The exit code of an error: 2 for usage errors, 1 otherwise.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.downcast_ref::<Usage>().is_some()) {
        2
    } else {
        1
    }
}

/// Whether `e` comes from writing to a pipe whose reader is gone (stdout: the commands'
/// only pipe writes; the ffmpeg pipes of `detect --video` report their own errors).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Ends the process as SIGPIPE's default action would (status 141), after removing the
/// temp files in flight.
pub fn exit_broken_pipe() -> ! {
    classic_cv::persist::remove_temp_files();
    std::process::exit(141)
}

/// What an output path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One file.
    File,
    /// A directory that receives files (created if absent).
    Dir,
}

/// Checks outputs before a command does any work: each target must be absent or of its
/// kind (a regular file, or a directory), and no output file may be one of the inputs.
pub fn check(outputs: &[(&Path, Kind)], inputs: &[&Path]) -> Result<()> {
    let ids: Vec<(u64, u64)> = inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    for &(out, kind) in outputs {
        let meta = match std::fs::metadata(out) {
            Ok(m) => m,
            Err(_) if std::fs::symlink_metadata(out).is_ok() => {
                return Err(usage(format!(
                    "{}: is a symbolic link to nothing; refusing to write through it",
                    out.display()
                )));
            }
            Err(_) => continue,
        };
        let what = classic_cv::persist::file_kind(&meta);
        match kind {
            Kind::File if !meta.is_file() => {
                return Err(usage(format!(
                    "{}: exists and is {what}, not a regular file; refusing to replace it",
                    out.display()
                )));
            }
            Kind::Dir if !meta.is_dir() => {
                return Err(usage(format!(
                    "{}: exists and is {what}, not a directory",
                    out.display()
                )));
            }
            _ => {}
        }
        if kind == Kind::File && ids.contains(&(meta.dev(), meta.ino())) {
            return Err(usage(format!(
                "{}: is also an input of this command; refusing to overwrite it",
                out.display()
            )));
        }
    }
    Ok(())
}

/// Installs the SIGINT / SIGTERM handler: remove the temp files in flight, then exit with
/// 128 + the signal number.
pub fn install_signal_cleanup() -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                classic_cv::persist::remove_temp_files();
                std::process::exit(128 + sig);
            }
        })?;
    Ok(())
}

/// A file written progressively (a stream of results): the bytes go to a temp file beside
/// `path`, which [`Streamed::finish`] renames into place (with the command's other outputs).
/// Dropped unfinished, the temp is removed.
pub struct Streamed {
    file: Option<std::io::BufWriter<std::fs::File>>,
    tmp: PathBuf,
    target: PathBuf,
    path: PathBuf,
}

impl Streamed {
    /// Starts writing `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let (target, tmp) = classic_cv::persist::stage_path(path)?;
        let file =
            classic_cv::persist::create_new(&tmp).map_err(|e| classic_cv::Error::io(path, e))?;
        Ok(Streamed {
            file: Some(std::io::BufWriter::new(file)),
            tmp,
            target,
            path: path.to_path_buf(),
        })
    }

    /// Flushes and syncs the temp and hands it over for the rename.
    pub fn finish(mut self) -> Result<()> {
        let file = self.file.take().expect("not finished twice");
        let done = file
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all());
        if let Err(e) = done {
            classic_cv::persist::discard_temp(&self.tmp);
            return Err(classic_cv::Error::io(&self.path, e).into());
        }
        let tmp = std::mem::take(&mut self.tmp);
        classic_cv::persist::finish_staged(tmp, self.target.clone(), &self.path)?;
        Ok(())
    }
}

impl std::io::Write for Streamed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("open").write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("open").flush()
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        if self.file.is_some() {
            classic_cv::persist::discard_temp(&self.tmp);
        }
    }
}
