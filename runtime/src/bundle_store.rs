//! The bundle history: the active bundle and the most recent others, byte for byte as uploaded,
//! kept in memory and, with `--state-dir`, on disk so that a restarted runtime resumes them.
//!
//! On-disk layout of the state directory:
//!
//! - `bundles/<hex digest>.json`: one file per bundle, the bytes as uploaded;
//! - `history.json`: `{"active": HASH, "bundles": [{hash, version, activatedAt}]}`, newest
//!   version first.
//!
//! Every file is written to a temporary file in the same directory, synced, then renamed over
//! the old one, so a crash leaves either the old or the new file and never a partial one. The
//! bundle file is written before `history.json` names it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Number of bundles kept by default, the active one included.
pub const DEFAULT_HISTORY: usize = 10;

const HISTORY_FILE: &str = "history.json";
const BUNDLES_DIRECTORY: &str = "bundles";

/// One bundle of the history.
#[derive(Debug, Clone)]
pub struct StoredBundle {
    pub hash: String,
    pub version: u64,
    /// When the bundle was last activated.
    pub activated_at: DateTime<Utc>,
    pub bytes: Arc<[u8]>,
}

/// Errors reading or writing the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {action} {path}: {source}; check that the state directory exists and is writable by the runtime")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{path} is not a bundle history written by gatectl-runtime ({reason}); move it away to start with an empty history")]
    Corrupt { path: PathBuf, reason: String },
}

/// The history file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryFile {
    active: Option<String>,
    bundles: Vec<HistoryEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryEntry {
    hash: String,
    version: u64,
    activated_at: DateTime<Utc>,
}

/// The history, newest version first, and the hash of the active bundle.
#[derive(Debug)]
pub struct BundleStore {
    directory: Option<PathBuf>,
    keep: usize,
    bundles: Vec<StoredBundle>,
    /// The bundle this process activated; `None` until one is.
    active: Option<String>,
    /// The bundle that was active before the restart, tried first by a resume. It stays in
    /// `history.json` until another bundle is activated, so a resume that failed is tried
    /// again after the next restart too.
    was_active: Option<String>,
}

impl BundleStore {
    /// Builds a history kept in memory only, lost on restart.
    pub fn in_memory(keep: usize) -> Self {
        Self { directory: None, keep: keep.max(1), bundles: Vec::new(), active: None, was_active: None }
    }

    /// Opens the state directory, creating it when missing, and reads the history. A bundle
    /// file that is missing or unreadable is left out with a warning, because the others may
    /// still be good.
    pub fn open(directory: &Path, keep: usize) -> Result<Self, StoreError> {
        let bundles_directory = directory.join(BUNDLES_DIRECTORY);
        std::fs::create_dir_all(&bundles_directory).map_err(|source| StoreError::Io {
            action: "create",
            path: bundles_directory.clone(),
            source,
        })?;
        let mut store =
            Self { directory: Some(directory.to_path_buf()), keep: keep.max(1), bundles: Vec::new(), active: None, was_active: None };

        let history_path = directory.join(HISTORY_FILE);
        let text = match std::fs::read(&history_path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(source) => return Err(StoreError::Io { action: "read", path: history_path, source }),
        };
        let history: HistoryFile =
            serde_json::from_slice(&text).map_err(|error| StoreError::Corrupt { path: history_path.clone(), reason: error.to_string() })?;
        for entry in history.bundles {
            let path = store.bundle_path(&entry.hash);
            match std::fs::read(&path) {
                Ok(bytes) => store.bundles.push(StoredBundle {
                    hash: entry.hash,
                    version: entry.version,
                    activated_at: entry.activated_at,
                    bytes: bytes.into(),
                }),
                Err(error) => {
                    tracing::warn!(%error, bundle.hash = %entry.hash, path = %path.display(), "bundle file of the history is unreadable; leaving it out")
                }
            }
        }
        store.bundles.sort_by_key(|bundle| std::cmp::Reverse(bundle.version));
        store.was_active = history.active.filter(|hash| store.get(hash).is_some());
        Ok(store)
    }

    pub fn active(&self) -> Option<&StoredBundle> {
        self.active.as_deref().and_then(|hash| self.get(hash))
    }

    pub fn get(&self, hash: &str) -> Option<&StoredBundle> {
        self.bundles.iter().find(|bundle| bundle.hash == hash)
    }

    /// Returns the history, newest version first.
    pub fn history(&self) -> &[StoredBundle] {
        &self.bundles
    }

    /// Returns the bundles in the order a restarted runtime tries them: the bundle that was
    /// active, then the others from the newest version down.
    pub fn resume_order(&self) -> Vec<StoredBundle> {
        let was_active = self.was_active.as_deref().and_then(|hash| self.get(hash));
        let mut order: Vec<StoredBundle> = was_active.into_iter().cloned().collect();
        order.extend(self.bundles.iter().filter(|bundle| Some(&bundle.hash) != self.was_active.as_ref()).cloned());
        order
    }

    /// Records that `bundle` became active: adds it to the history (or updates its activation
    /// time), drops the oldest versions beyond the limit and writes the state directory.
    pub fn record_activation(&mut self, bundle: StoredBundle) -> Result<(), StoreError> {
        if self.directory.is_some() && self.get(&bundle.hash).is_none() {
            self.write_bundle_file(&bundle)?;
        }
        self.bundles.retain(|existing| existing.hash != bundle.hash);
        self.active = Some(bundle.hash.clone());
        self.was_active = None;
        self.bundles.push(bundle);
        self.bundles.sort_by_key(|bundle| std::cmp::Reverse(bundle.version));

        let mut dropped = Vec::new();
        while self.bundles.len() > self.keep {
            let Some(position) = self.bundles.iter().rposition(|existing| Some(&existing.hash) != self.active.as_ref()) else { break };
            dropped.push(self.bundles.remove(position));
        }
        self.write_history()?;
        for bundle in dropped {
            self.remove_bundle_file(&bundle.hash);
        }
        Ok(())
    }

    fn bundle_path(&self, hash: &str) -> PathBuf {
        let digest = hash.strip_prefix(gatectl_spec::bundle::HASH_PREFIX).unwrap_or(hash);
        let directory = self.directory.as_deref().unwrap_or(Path::new(""));
        directory.join(BUNDLES_DIRECTORY).join(format!("{digest}.json"))
    }

    fn write_bundle_file(&self, bundle: &StoredBundle) -> Result<(), StoreError> {
        write_atomically(&self.bundle_path(&bundle.hash), &bundle.bytes)
    }

    fn write_history(&self) -> Result<(), StoreError> {
        let Some(directory) = &self.directory else { return Ok(()) };
        let history = HistoryFile {
            active: self.active.clone().or_else(|| self.was_active.clone()),
            bundles: self
                .bundles
                .iter()
                .map(|bundle| HistoryEntry { hash: bundle.hash.clone(), version: bundle.version, activated_at: bundle.activated_at })
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&history).expect("the history serialises to JSON");
        text.push(b'\n');
        write_atomically(&directory.join(HISTORY_FILE), &text)
    }

    fn remove_bundle_file(&self, hash: &str) {
        if self.directory.is_none() {
            return;
        }
        let path = self.bundle_path(hash);
        if let Err(error) = std::fs::remove_file(&path) {
            tracing::warn!(%error, path = %path.display(), "cannot remove a bundle file dropped from the history");
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it to `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;

    let file_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { action, path, source }
    };
    let mut file = std::fs::File::create(&temporary).map_err(io_error("create", &temporary))?;
    file.write_all(bytes).map_err(io_error("write", &temporary))?;
    file.sync_all().map_err(io_error("sync", &temporary))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io_error("rename a temporary file to", path))?;
    if let Some(parent) = path.parent()
        && let Ok(directory) = std::fs::File::open(parent)
    {
        // Makes the rename itself durable; failure to sync a directory only weakens durability.
        let _ = directory.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(version: u64) -> StoredBundle {
        StoredBundle {
            hash: format!("sha256:{version:064x}"),
            version,
            activated_at: Utc::now(),
            bytes: format!("bundle {version}\n").into_bytes().into(),
        }
    }

    #[test]
    fn history_keeps_newest_and_active() {
        let mut store = BundleStore::in_memory(3);
        for version in 1..=5 {
            store.record_activation(bundle(version)).unwrap();
        }
        store.record_activation(store.get(&bundle(3).hash).unwrap().clone()).unwrap();
        store.record_activation(bundle(6)).unwrap();

        let versions: Vec<u64> = store.history().iter().map(|bundle| bundle.version).collect();
        assert_eq!(versions, vec![6, 5, 4]);
        assert_eq!(store.active().unwrap().version, 6);
    }

    #[test]
    fn state_directory_survives_reopen() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = BundleStore::open(directory.path(), 2).unwrap();
        for version in 1..=3 {
            store.record_activation(bundle(version)).unwrap();
        }
        store.record_activation(store.get(&bundle(2).hash).unwrap().clone()).unwrap();

        let reopened = BundleStore::open(directory.path(), 2).unwrap();

        assert!(reopened.active().is_none(), "nothing is active until the resume activates a bundle");
        let order = reopened.resume_order();
        let versions: Vec<u64> = order.iter().map(|bundle| bundle.version).collect();
        assert_eq!(versions, vec![2, 3]);
        assert_eq!(&*order[0].bytes, b"bundle 2\n");
        assert!(!directory.path().join("bundles").join(format!("{:064x}.json", 1)).exists());
    }

    #[test]
    fn failed_resume_keeps_resume_target() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = BundleStore::open(directory.path(), 3).unwrap();
        store.record_activation(bundle(1)).unwrap();
        store.record_activation(bundle(2)).unwrap();

        // A restart that activates nothing writes nothing, and the next restart tries the same
        // bundle first. Writing the history again keeps it as the bundle to resume.
        let reopened = BundleStore::open(directory.path(), 3).unwrap();
        reopened.write_history().unwrap();
        let again = BundleStore::open(directory.path(), 3).unwrap();

        assert_eq!(again.resume_order()[0].version, 2);
    }

    #[test]
    fn corrupt_history_is_an_error() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join(HISTORY_FILE), b"{not json").unwrap();

        let error = BundleStore::open(directory.path(), 2).unwrap_err();

        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    }
}
