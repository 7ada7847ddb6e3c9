//! Reading spec files as they are at a git revision, for `gatectl diff --base REV PATH`.
//!
//! `PATH` is a file or directory in the working tree. Its files at the revision are listed with
//! `git ls-tree` and read with `git show REV:PATH`, the same way the loader reads a directory:
//! the `.yaml`, `.yml` and `.json` files directly inside it, in name order.

use std::path::{Path, PathBuf};
use std::process::Command;

use gatectl_spec::load::SPEC_EXTENSIONS;

/// Why the spec at a revision could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git: {0}; install git, or compare two spec paths without --base")]
    Spawn(std::io::Error),
    #[error("invalid revision `{0}`: a revision must not be empty or start with `-`")]
    InvalidRevision(String),
    #[error("cannot find {path}: {source}; --base compares a path of the working tree with the same path at REV")]
    MissingPath { path: PathBuf, source: std::io::Error },
    #[error("{path} is not inside a git repository; run gatectl diff --base from a git checkout")]
    NotInRepository { path: PathBuf },
    #[error("revision `{0}` not found; check the name with `git rev-parse {0}` (fetch it first if it is remote)")]
    UnknownRevision(String),
    #[error("{path} does not exist at revision {revision}")]
    MissingAtRevision { revision: String, path: String },
    #[error("{path} at revision {revision} contains no .yaml, .yml or .json file")]
    EmptyAtRevision { revision: String, path: String },
    #[error("git {command} failed: {message}")]
    Failed { command: String, message: String },
}

/// Reads the spec files that `path` stands for at `revision`. Each file is named
/// `REV:relative/path` so diagnostics point at the revision.
pub fn read_at_revision(revision: &str, path: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, GitError> {
    if revision.is_empty() || revision.starts_with('-') {
        return Err(GitError::InvalidRevision(revision.to_owned()));
    }
    let absolute = path.canonicalize().map_err(|source| GitError::MissingPath { path: path.to_owned(), source })?;
    let directory = if absolute.is_dir() { absolute.clone() } else { absolute.parent().map(Path::to_path_buf).unwrap_or_default() };
    let toplevel = git(&directory, &["rev-parse", "--show-toplevel"])
        .map_err(|error| unless_spawn(error, GitError::NotInRepository { path: path.to_owned() }))?;
    let toplevel = PathBuf::from(String::from_utf8_lossy(&toplevel).trim());
    let toplevel = toplevel.canonicalize().map_err(|source| GitError::MissingPath { path: toplevel.clone(), source })?;
    let relative = absolute.strip_prefix(&toplevel).map_err(|_| GitError::NotInRepository { path: path.to_owned() })?;
    let relative: Vec<String> = relative.components().map(|component| component.as_os_str().to_string_lossy().into_owned()).collect();
    let relative = relative.join("/");

    let commit = format!("{revision}^{{commit}}");
    git(&toplevel, &["rev-parse", "--verify", "--quiet", &commit])
        .map_err(|error| unless_spawn(error, GitError::UnknownRevision(revision.to_owned())))?;

    let object = format!("{revision}:{relative}");
    let kind = git(&toplevel, &["cat-file", "-t", &object]).map_err(|error| {
        unless_spawn(error, GitError::MissingAtRevision { revision: revision.to_owned(), path: display_path(&relative) })
    })?;
    let files = if String::from_utf8_lossy(&kind).trim() == "tree" {
        list_spec_files(&toplevel, revision, &relative)?
    } else {
        vec![relative.clone()]
    };

    let mut inputs = Vec::new();
    for file in files {
        let bytes = git(&toplevel, &["show", &format!("{revision}:{file}")])?;
        inputs.push((PathBuf::from(format!("{revision}:{file}")), bytes));
    }
    Ok(inputs)
}

fn list_spec_files(toplevel: &Path, revision: &str, relative: &str) -> Result<Vec<String>, GitError> {
    let listing = git(toplevel, &["ls-tree", "-z", &format!("{revision}:{relative}")])?;
    let mut files = Vec::new();
    for entry in listing.split(|byte| *byte == 0).filter(|entry| !entry.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        // Each entry is `MODE TYPE OBJECT<TAB>NAME`.
        let Some((header, name)) = entry.split_once('\t') else { continue };
        let is_blob = header.split(' ').nth(1) == Some("blob");
        let is_spec = Path::new(name)
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| SPEC_EXTENSIONS.contains(&extension));
        if is_blob && is_spec {
            files.push(if relative.is_empty() { name.to_owned() } else { format!("{relative}/{name}") });
        }
    }
    if files.is_empty() {
        return Err(GitError::EmptyAtRevision { revision: revision.to_owned(), path: display_path(relative) });
    }
    files.sort();
    Ok(files)
}

/// Keeps a failure to start git as it is, and replaces a failed git command with `replacement`.
fn unless_spawn(error: GitError, replacement: GitError) -> GitError {
    match error {
        GitError::Spawn(_) => error,
        _ => replacement,
    }
}

fn display_path(relative: &str) -> String {
    if relative.is_empty() { ".".to_owned() } else { relative.to_owned() }
}

/// Runs git in `directory` and returns its standard output, or its standard error as the
/// failure message.
fn git(directory: &Path, arguments: &[&str]) -> Result<Vec<u8>, GitError> {
    let output = Command::new("git").arg("-C").arg(directory).args(arguments).output().map_err(GitError::Spawn)?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    Err(GitError::Failed { command: arguments.join(" "), message: String::from_utf8_lossy(&output.stderr).trim().to_owned() })
}
