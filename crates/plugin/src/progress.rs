//! The progress of cursor paths' RunStreams (see "Cursor paths" in [`crate::hub`]), kept in a
//! small file so that a RunStream Grafana resubmits after a plugin restart continues after the
//! last row the previous process handed to gRPC.
//!
//! One entry per data source and cursor path: the engine position of the newest row sent,
//! and when. At most [`MAX_ENTRIES`] (the oldest forgotten beyond), none older than
//! [`MAX_AGE_SECS`]. The file, `runstreams-v1.txt` in the `state_dir` setting's directory,
//! holds one entry a line, `<unix seconds> <position> <key>`, and is replaced whole (written
//! beside it, then renamed) by one writer task whenever an entry changed: updates that come
//! while it writes go out with its next write. A file that cannot be read or written costs
//! only that: the progress is kept in memory, and the failure is logged once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::hub::lock;
use crate::source::Position;

/// The most entries kept.
pub const MAX_ENTRIES: usize = 4096;

/// Entries older than this (a day) are dropped.
pub const MAX_AGE_SECS: u64 = 86_400;

/// The file's name in the state directory.
pub const FILE_NAME: &str = "runstreams-v1.txt";

/// The most bytes read from the file: [`MAX_ENTRIES`] lines of the longest key and more.
const MAX_FILE_BYTES: u64 = (MAX_ENTRIES as u64) * 512;

/// The progress of every cursor path this process (or its predecessor) streamed.
#[derive(Debug, Default)]
pub struct Progress {
    /// The file, when there is one.
    file: Option<PathBuf>,
    /// Key → (newest position sent, unix seconds when).
    entries: Mutex<HashMap<String, (Position, u64)>>,
    changed: Notify,
    /// Whether a failed write was logged.
    warned: AtomicBool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Progress {
    /// Progress kept only in memory (tests, a process without a state directory).
    pub fn in_memory() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Progress kept in `dir`: the entries of the file there, if any, and a writer task
    /// (so it must be called inside a tokio runtime).
    pub fn in_dir(dir: &Path) -> Arc<Self> {
        let file = dir.join(FILE_NAME);
        let entries = read(&file);
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "state_dir cannot be made: RunStream progress is not kept across restarts");
        }
        let progress = Arc::new(Self {
            file: Some(file),
            entries: Mutex::new(entries),
            ..Self::default()
        });
        tokio::spawn(write_on_change(Arc::clone(&progress)));
        progress
    }

    /// The newest position sent on `key`, if any.
    pub fn get(&self, key: &str) -> Option<Position> {
        lock(&self.entries).get(key).map(|(p, _)| *p)
    }

    /// Remembers that every row of `key` up to `position` was handed to gRPC.
    pub fn record(&self, key: &str, position: Position) {
        let now = now_secs();
        {
            let mut entries = lock(&self.entries);
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
                prune(&mut entries, now, MAX_ENTRIES - 1);
            }
            entries.insert(key.to_owned(), (position, now));
        }
        self.changed.notify_one();
    }

    /// The file's text now.
    fn text(&self) -> String {
        let mut entries = lock(&self.entries);
        prune(&mut entries, now_secs(), MAX_ENTRIES);
        let mut out = String::new();
        for (key, (position, at)) in entries.iter() {
            out.push_str(&format!("{at} {position} {key}\n"));
        }
        out
    }
}

/// Drops entries older than a day, then the oldest until at most `keep` are left.
fn prune(entries: &mut HashMap<String, (Position, u64)>, now: u64, keep: usize) {
    entries.retain(|_, (_, at)| now.saturating_sub(*at) <= MAX_AGE_SECS);
    if entries.len() > keep {
        let mut ages: Vec<u64> = entries.values().map(|(_, at)| *at).collect();
        ages.sort_unstable();
        let cut = ages[entries.len() - keep - 1];
        let mut over = entries.len() - keep;
        entries.retain(|_, (_, at)| {
            let drop = over > 0 && *at <= cut;
            over -= usize::from(drop);
            !drop
        });
    }
}

/// The entries of `file`: lines that do not read are skipped, and so is a file too large.
fn read(file: &Path) -> HashMap<String, (Position, u64)> {
    let mut out = HashMap::new();
    let text = match std::fs::metadata(file) {
        Ok(m) if m.len() <= MAX_FILE_BYTES => std::fs::read_to_string(file).unwrap_or_default(),
        Ok(_) => {
            tracing::warn!(file = %file.display(), "RunStream progress file too large: ignored");
            String::new()
        }
        Err(_) => String::new(),
    };
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(at), Some(position), Some(key)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if let (Ok(at), Ok(position)) = (at.parse::<u64>(), position.parse::<Position>()) {
            out.insert(key.to_owned(), (position, at));
        }
    }
    prune(&mut out, now_secs(), MAX_ENTRIES);
    out
}

/// Writes the file whenever an entry changed, for as long as the runtime runs (the store
/// lives as long as its hub, which lives as long as the process).
async fn write_on_change(progress: Arc<Progress>) {
    let Some(file) = progress.file.clone() else {
        return;
    };
    loop {
        progress.changed.notified().await;
        let (file, text) = (file.clone(), progress.text());
        let written = tokio::task::spawn_blocking(move || write_file(&file, &text)).await;
        if let Ok(Err(e)) = written {
            if !progress.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "RunStream progress not written (state_dir): a restarted plugin may repeat rows");
            }
        }
    }
}

/// Replaces `file` with `text`: written beside it, then renamed, so a reader never sees half.
fn write_file(file: &Path, text: &str) -> std::io::Result<()> {
    let tmp = file.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_survive_a_new_store_on_the_same_directory() {
        let dir = std::env::temp_dir().join(format!("ringstream-progress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = Progress::in_dir(&dir);
        a.record("1/ds/v1/nats/x/from=5", 41);
        a.record("1/ds/v1/nats/x/from=5", 42);
        let file = dir.join(FILE_NAME);
        for _ in 0..200 {
            if std::fs::read_to_string(&file).is_ok_and(|t| t.contains(" 42 ")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let b = Progress::in_dir(&dir);
        assert_eq!(b.get("1/ds/v1/nats/x/from=5"), Some(42));
        assert_eq!(b.get("1/ds/v1/nats/x/from=6"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn old_and_surplus_entries_are_dropped_oldest_first_and_bad_lines_skipped() {
        let mut entries: HashMap<String, (Position, u64)> = HashMap::new();
        let now = 10 * MAX_AGE_SECS;
        entries.insert("old".into(), (1, now - MAX_AGE_SECS - 1));
        for i in 0..5_u64 {
            entries.insert(format!("k{i}"), (u128::from(i), now - 10 + i));
        }
        prune(&mut entries, now, 3);
        let mut keys: Vec<_> = entries.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["k2", "k3", "k4"]);

        let dir = std::env::temp_dir().join(format!("ringstream-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(FILE_NAME);
        let at = now_secs();
        std::fs::write(&file, format!("garbage\n{at} x k\n{at} 7 good key\n{at}\n")).unwrap();
        let read = read(&file);
        assert_eq!(read.len(), 1);
        assert_eq!(read["good key"].0, 7);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_store_is_bounded() {
        let p = Progress::in_memory();
        for i in 0..(MAX_ENTRIES + 10) {
            p.record(&format!("k{i}"), i as Position);
        }
        assert!(lock(&p.entries).len() <= MAX_ENTRIES);
        assert_eq!(
            p.get(&format!("k{}", MAX_ENTRIES + 9)),
            Some((MAX_ENTRIES + 9) as u128)
        );
    }
}
