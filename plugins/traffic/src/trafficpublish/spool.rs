//! A bounded, ordered queue of events kept in a file, for while Redis is unreachable. The file
//! holds one event per line; it outlives the process, so a later run sends what this one could
//! not. When the bound is reached the oldest events go, and are counted.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Below this many stale lines the file is not worth rewriting.
const COMPACT_MIN_STALE: usize = 256;

pub struct Spool {
    path: PathBuf,
    file: File,
    /// The events not yet delivered, oldest first; the file ends with exactly these lines.
    pending: VecDeque<String>,
    max_events: usize,
    /// Lines before the pending ones in the file (delivered or dropped), removed by the next
    /// compaction. Keeping them a while makes removal cost amortised O(1) per event.
    stale_lines: usize,
    dropped: u64,
}

impl Spool {
    /// Opens the spool at `path`, creating it if needed, with the events a previous run left.
    /// A last line cut short by a crash is discarded.
    pub fn open(path: &Path, max_events: usize) -> io::Result<Spool> {
        let max_events = max_events.max(1);
        let mut pending = VecDeque::new();
        let mut dropped = 0;
        match File::open(path) {
            Ok(f) => {
                let mut reader = BufReader::new(f);
                let mut line = String::new();
                while reader.read_line(&mut line)? > 0 {
                    if let Some(event) = line.strip_suffix('\n').filter(|e| !e.is_empty()) {
                        if pending.len() == max_events {
                            pending.pop_front();
                            dropped += 1;
                        }
                        pending.push_back(event.to_string());
                    }
                    line.clear();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut spool = Spool { path: path.to_path_buf(), file, pending, max_events, stale_lines: 0, dropped };
        // Rewrite once so the file holds exactly the pending events, whatever the old one held.
        spool.compact()?;
        Ok(spool)
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

    /// Rewrites the file with the pending events only, atomically (temporary file, rename).
    pub fn compact(&mut self) -> io::Result<()> {
        let mut tmp_name = self.path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        {
            let mut w = io::BufWriter::new(File::create(&tmp)?);
            for event in &self.pending {
                w.write_all(event.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.stale_lines = 0;
        Ok(())
    }
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
            let dropped = s.push(&format!("e{i}")).unwrap();
            assert_eq!(dropped, i >= 3);
        }
        assert_eq!((s.len(), s.dropped(), s.front()), (3, 2, Some("e2")));
        s.pop_front().unwrap();
        assert_eq!(s.front(), Some("e3"));
        s.compact().unwrap();
        assert_eq!(lines(&path), ["e3", "e4"]);
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
        fs::write(&path, "a\nb\nc\nd\npartial").unwrap();
        let s = Spool::open(&path, 2).unwrap();
        assert_eq!((s.len(), s.dropped(), s.front()), (2, 2, Some("c")));
        assert_eq!(lines(&path), ["c", "d"]);
        fs::remove_file(&path).ok();
    }

    #[test]
    fn emptying_empties_the_file_and_long_runs_stay_compact() {
        let path = temp("compact");
        let mut s = Spool::open(&path, 1000).unwrap();
        s.push("x").unwrap();
        s.pop_front().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        s.push("y").unwrap();
        for i in 0..5000 {
            s.push(&format!("e{i}")).unwrap();
        }
        assert_eq!((s.len(), s.dropped()), (1000, 4001));
        assert!(lines(&path).len() <= 2000, "stale lines are compacted away");
        for _ in 0..900 {
            s.pop_front().unwrap();
        }
        assert_eq!(s.front(), Some("e4900"));
        assert!(lines(&path).len() <= 100 + COMPACT_MIN_STALE);
        assert_eq!(lines(&path).last().map(String::as_str), Some("e4999"));
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
