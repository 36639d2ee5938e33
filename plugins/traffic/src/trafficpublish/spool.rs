//! A bounded, ordered queue of events kept in a file, for while Redis is unreachable. The file
//! holds one event per line; it outlives the process, so a later run sends what this one could
//! not. When the bound is reached the oldest events go, and are counted. One process at a time
//! owns a spool: a lock file beside it says which.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Below this many stale lines the file is not worth rewriting.
const COMPACT_MIN_STALE: usize = 256;

pub struct Spool {
    path: PathBuf,
    file: File,
    /// Held (locked) while this spool is open.
    _lock: File,
    /// The events not yet delivered, oldest first; the file ends with exactly these lines.
    pending: VecDeque<String>,
    max_events: usize,
    /// Lines before the pending ones in the file (delivered or dropped), removed by the next
    /// compaction. Keeping them a while makes removal cost amortised O(1) per event.
    stale_lines: usize,
    dropped: u64,
    /// Lines of the file found at open that were no event (not UTF-8, not JSON), left out.
    skipped: u64,
}

impl Spool {
    /// Opens the spool at `path`, creating it if needed, with the events a previous run left.
    /// A last line cut short by a crash is discarded, and so is any line that is not a JSON
    /// event (counted in [`Spool::skipped`]): one bad line never holds back the good ones. Fails
    /// with `ResourceBusy` when another pipeline has the spool open.
    pub fn open(path: &Path, max_events: usize) -> io::Result<Spool> {
        let lock = lock_beside(path)?;
        let max_events = max_events.max(1);
        let mut pending = VecDeque::new();
        let (mut dropped, mut skipped) = (0, 0);
        match File::open(path) {
            Ok(f) => {
                let mut reader = BufReader::new(f);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line)? > 0 {
                    // Without its newline the line was cut short by a crash.
                    if let Some(bytes) = line.strip_suffix(b"\n").filter(|b| !b.is_empty()) {
                        match std::str::from_utf8(bytes).ok().filter(|text| is_json(text)) {
                            Some(event) => {
                                if pending.len() == max_events {
                                    pending.pop_front();
                                    dropped += 1;
                                }
                                pending.push_back(event.to_string());
                            }
                            None => skipped += 1,
                        }
                    }
                    line.clear();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut spool = Spool {
            path: path.to_path_buf(),
            file,
            _lock: lock,
            pending,
            max_events,
            stale_lines: 0,
            dropped,
            skipped,
        };
        // Rewrite once so the file holds exactly the pending events, whatever the old one held.
        spool.compact()?;
        Ok(spool)
    }

    /// Lines of the file found at open that were not events and were left out.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Events lost to the bound since this spool was opened (including the previous run's
    /// excess found at open).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn front(&self) -> Option<&str> {
        self.pending.front().map(String::as_str)
    }

    /// Appends an event (one line, no newline in it). When full, the oldest event is dropped:
    /// returns whether one was.
    pub fn push(&mut self, event: &str) -> io::Result<bool> {
        debug_assert!(!event.contains('\n'));
        self.file.write_all(format!("{event}\n").as_bytes())?;
        self.pending.push_back(event.to_string());
        if self.pending.len() > self.max_events {
            self.pending.pop_front();
            self.dropped += 1;
            self.stale_lines += 1;
            self.compact_if_worth_it()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Forgets the oldest event, once it is delivered.
    pub fn pop_front(&mut self) -> io::Result<()> {
        if self.pending.pop_front().is_some() {
            self.stale_lines += 1;
            if self.pending.is_empty() {
                // The common end of an outage: emptying the file is cheap.
                self.file.set_len(0)?;
                self.stale_lines = 0;
            } else {
                self.compact_if_worth_it()?;
            }
        }
        Ok(())
    }

    fn compact_if_worth_it(&mut self) -> io::Result<()> {
        if self.stale_lines >= self.pending.len().max(COMPACT_MIN_STALE) {
            self.compact()?;
        }
        Ok(())
    }

    /// Leaves the file holding exactly the undelivered events for the next run, or removes it
    /// when everything was delivered.
    pub fn close(mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            drop(self.file);
            return fs::remove_file(&self.path);
        }
        self.compact()
    }

    /// Rewrites the file with the pending events only, atomically (temporary file, rename). On
    /// a failure (a full disk) the old file stays as it was and the temporary one goes.
    pub fn compact(&mut self) -> io::Result<()> {
        let tmp = with_suffix(&self.path, ".tmp");
        let written = (|| {
            let mut w = io::BufWriter::new(File::create(&tmp)?);
            for event in &self.pending {
                w.write_all(event.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.into_inner().map_err(|e| e.into_error())?.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.stale_lines = 0;
        Ok(())
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Takes the lock file beside the spool, `<spool>.lock`, for as long as the returned file lives.
fn lock_beside(path: &Path) -> io::Result<File> {
    let lock_path = with_suffix(path, ".lock");
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!("another pipeline has it open (it holds {})", lock_path.display()),
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("spool-{name}-{}", std::process::id()));
        let _ = fs::remove_file(&p);
        p
    }

    fn lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
    }

    #[test]
    fn keeps_order_and_drops_the_oldest_beyond_the_bound() {
        let path = temp("bound");
        let mut s = Spool::open(&path, 3).unwrap();
        for i in 0..5 {
            let dropped = s.push(&format!("{i}")).unwrap();
            assert_eq!(dropped, i >= 3);
        }
        assert_eq!((s.len(), s.dropped(), s.front()), (3, 2, Some("2")));
        s.pop_front().unwrap();
        assert_eq!(s.front(), Some("3"));
        s.compact().unwrap();
        assert_eq!(lines(&path), ["3", "4"]);
        fs::remove_file(&path).ok();
    }

    #[test]
    fn survives_reopening_in_order() {
        let path = temp("reopen");
        {
            let mut s = Spool::open(&path, 100).unwrap();
            for i in 0..10 {
                s.push(&format!("{{\"n\":{i}}}")).unwrap();
            }
            s.pop_front().unwrap();
            s.pop_front().unwrap();
            // Dropped without compaction, as a crash would leave it: delivered lines are still
            // in the file and will be sent again (at least once).
        }
        let mut s = Spool::open(&path, 100).unwrap();
        assert_eq!(s.len(), 10);
        s.pop_front().unwrap();
        s.pop_front().unwrap();
        s.compact().unwrap();
        drop(s);
        let s = Spool::open(&path, 100).unwrap();
        let got: Vec<String> = s.pending.iter().cloned().collect();
        assert_eq!(got, (2..10).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>());
        fs::remove_file(&path).ok();
    }

    #[test]
    fn reopening_keeps_the_newest_within_the_bound_and_skips_a_torn_line() {
        let path = temp("torn");
        fs::write(&path, "1\n2\n3\n4\n{\"cut\"").unwrap();
        let s = Spool::open(&path, 2).unwrap();
        assert_eq!((s.len(), s.dropped(), s.front()), (2, 2, Some("3")));
        assert_eq!(lines(&path), ["3", "4"]);
        fs::remove_file(&path).ok();
    }

    #[test]
    fn lines_that_are_no_event_are_skipped_and_counted_and_the_rest_kept() {
        let path = temp("bad-lines");
        let mut bytes = b"{\"n\":1}\n\xff\xfe not utf-8\nplain text\n{\"n\":2}\n".to_vec();
        bytes.extend_from_slice(b"{\"cut\":");
        fs::write(&path, bytes).unwrap();
        let s = Spool::open(&path, 100).unwrap();
        assert_eq!((s.len(), s.skipped(), s.front()), (2, 2, Some("{\"n\":1}")));
        drop(s);
        assert_eq!(lines(&path), ["{\"n\":1}", "{\"n\":2}"], "the file keeps the events only");
        fs::remove_file(&path).ok();
    }

    #[test]
    fn a_spool_is_owned_by_one_pipeline_at_a_time() {
        let path = temp("owned");
        let first = Spool::open(&path, 10).unwrap();
        let second = Spool::open(&path, 10).err().expect("the second open fails");
        assert_eq!(second.kind(), io::ErrorKind::ResourceBusy);
        assert!(second.to_string().contains("another pipeline"), "{second}");
        drop(first);
        let again = Spool::open(&path, 10).expect("free once the first is closed");
        again.close().unwrap();
        fs::remove_file(with_suffix(&path, ".lock")).ok();
    }

    #[test]
    fn a_rewrite_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary_one() {
        let path = temp("full");
        let mut s = Spool::open(&path, 10).unwrap();
        s.push("{\"n\":1}").unwrap();
        // The temporary file lands on a full disk: /dev/full takes no byte.
        let tmp = with_suffix(&path, ".tmp");
        std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
        let err = s.compact().expect_err("no space");
        assert_eq!(err.raw_os_error(), Some(28), "{err}");
        assert!(fs::symlink_metadata(&tmp).is_err(), "no temporary file left");
        assert_eq!(lines(&path), ["{\"n\":1}"], "the spool as it was");
        s.close().unwrap();
        fs::remove_file(with_suffix(&path, ".lock")).ok();
    }

    #[test]
    fn emptying_empties_the_file_and_long_runs_stay_compact() {
        let path = temp("compact");
        let mut s = Spool::open(&path, 1000).unwrap();
        s.push("0").unwrap();
        s.pop_front().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        s.push("1").unwrap();
        for i in 0..5000 {
            s.push(&format!("{}", 10_000 + i)).unwrap();
        }
        assert_eq!((s.len(), s.dropped()), (1000, 4001));
        assert!(lines(&path).len() <= 2000, "stale lines are compacted away");
        for _ in 0..900 {
            s.pop_front().unwrap();
        }
        assert_eq!(s.front(), Some("14900"));
        assert!(lines(&path).len() <= 100 + COMPACT_MIN_STALE);
        assert_eq!(lines(&path).last().map(String::as_str), Some("14999"));
        s.close().unwrap();
        assert_eq!(lines(&path).len(), 100, "closing leaves the pending events only");
        let mut s = Spool::open(&path, 1000).unwrap();
        while !s.is_empty() {
            s.pop_front().unwrap();
        }
        s.close().unwrap();
        assert!(!path.exists(), "an empty spool leaves no file");
    }
}
