//! Files that appear complete or not at all: written under a temporary name in the target
//! folder, flushed, then renamed into place, so a reader (or a failed run) never sees half a
//! file. They are not synced to disk: a report is made again from its capture, and syncing
//! every table cost a 1 GiB capture's two-thread run 4 % of its time, waiting for the disk.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// A buffered file shared with a polars writer, which owns its writer for good: keeping a
/// handle lets [`PendingFile::commit`] flush it and see the errors a drop would hide.
#[derive(Clone)]
pub struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).flush()
    }
}

/// A file being written under a temporary name; removed on drop unless committed.
pub struct PendingFile {
    temp: PathBuf,
    pub dest: PathBuf,
    pub file: SharedFile,
    committed: bool,
}

impl PendingFile {
    pub fn create(dir: &Path, file_name: &str) -> io::Result<Self> {
        let dest = dir.join(file_name);
        let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let file = File::create(&temp)?;
        Ok(PendingFile { temp, dest, file: SharedFile(Arc::new(Mutex::new(BufWriter::new(file)))), committed: false })
    }

    /// Flushes the file, then renames it to its final name.
    pub fn commit(&mut self) -> io::Result<()> {
        self.file.flush()?;
        fs::rename(&self.temp, &self.dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the temporary file is garbage either way.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut pending = PendingFile::create(dir, &name.to_string_lossy())?;
    pending.file.write_all(bytes)?;
    pending.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("affinity-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("summary.md");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }
}
