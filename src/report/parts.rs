//! A table's Parquet, written in parts of at most [`ROW_GROUPS_PER_PART`] row groups.
//!
//! Why parts: a Parquet writer keeps the metadata of every page and row group it wrote until
//! it writes the file's footer (polars keeps about 1 KB a page: on a capture of small
//! transactions, 7.5 MB per GiB of capture). Ending a file every so many row groups bounds that
//! memory whatever the capture's size, as Spark's `maxRecordsPerFile` and DuckDB's
//! `FILE_SIZE_BYTES` do.
//!
//! Names: a table that fits in one part is `NAME.parquet`, as ever; one that needs more is
//! `NAME-00001.parquet`, `NAME-00002.parquet`, ... and no `NAME.parquet`, so a reader expecting
//! one file fails rather than reading a part of the table. `NAME*.parquet` reads either.
//! Every part is written under a temporary name and renamed into place only when the whole
//! table is (a failed run leaves none); the parts of an earlier run in the same folder that
//! this run did not write again are removed then, so the pattern never mixes two runs.

use std::path::{Path, PathBuf};

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;

use super::atomic::{PendingFile, SharedFile};

/// Row groups per Parquet part: with 16 k-row batches, 512 k rows (a part of the lab's
/// transactions is about 16 MB; of the generated mix's, 60 MB). A part's page records cost
/// about 4 MB at most on the widest table.
pub const ROW_GROUPS_PER_PART: usize = 32;

/// The Parquet parts of one table.
pub struct ParquetParts {
    dir: PathBuf,
    name: &'static str,
    schema: Schema,
    row_groups_per_part: usize,
    writer: BatchedWriter<SharedFile>,
    /// The part being written.
    current: PendingFile,
    /// Row groups in the part being written.
    row_groups: usize,
    /// Parts ended, waiting to be renamed into place with the last one.
    ended: Vec<PendingFile>,
}

impl ParquetParts {
    /// Starts the table's first part.
    pub fn create(dir: &Path, name: &'static str, schema: Schema, row_groups_per_part: usize) -> PolarsResult<Self> {
        let (writer, current) = start_part(dir, &whole_name(name), &schema)?;
        let row_groups_per_part = row_groups_per_part.max(1);
        Ok(ParquetParts { dir: dir.to_path_buf(), name, schema, row_groups_per_part, writer, current, row_groups: 0, ended: Vec::new() })
    }

    /// The first part's file, as named if the table fits in it.
    pub fn first(&self) -> &PendingFile {
        self.ended.first().unwrap_or(&self.current)
    }

    /// The part being written, which errors name.
    pub fn current(&self) -> &PendingFile {
        &self.current
    }

    /// Writes `batch` as one row group, in a new part if the current one is full.
    pub fn write_batch(&mut self, batch: &DataFrame) -> PolarsResult<()> {
        if self.row_groups == self.row_groups_per_part {
            self.writer.finish()?;
            let number = self.ended.len() + 2;
            let (writer, next) = start_part(&self.dir, &part_name(self.name, number), &self.schema)?;
            self.writer = writer;
            let mut ended = std::mem::replace(&mut self.current, next);
            if self.ended.is_empty() {
                ended.dest = self.dir.join(part_name(self.name, 1));
            }
            self.ended.push(ended);
            self.row_groups = 0;
        }
        self.writer.write_batch(batch)?;
        self.row_groups += 1;
        Ok(())
    }

    /// Ends the last part (its footer). The parts are renamed by [`ParquetParts::commit`].
    pub fn finish(&mut self) -> PolarsResult<()> {
        self.writer.finish().map(drop)
    }

    /// Renames every part into place, then removes the parts of an earlier run that this one
    /// did not replace. Returns the parts, or the file that failed.
    pub fn commit(&mut self) -> Result<usize, (PathBuf, std::io::Error)> {
        for part in self.ended.iter_mut().chain(std::iter::once(&mut self.current)) {
            part.commit().map_err(|e| (part.dest.clone(), e))?;
        }
        let written: Vec<&Path> = self.ended.iter().chain(std::iter::once(&self.current)).map(|part| part.dest.as_path()).collect();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| (self.dir.clone(), e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let stale = entry.file_name().to_str().is_some_and(|file| is_part_of(file, self.name)) && !written.contains(&path.as_path());
            if stale {
                std::fs::remove_file(&path).map_err(|e| (path.clone(), e))?;
            }
        }
        Ok(written.len())
    }
}

/// Opens a part, its batches encoded on the calling thread (see `TableFiles`).
fn start_part(dir: &Path, file_name: &str, schema: &Schema) -> PolarsResult<(BatchedWriter<SharedFile>, PendingFile)> {
    let file = PendingFile::create(dir, file_name)?;
    let writer = ParquetWriter::new(file.file.clone()).with_compression(ParquetCompression::Snappy).set_parallel(false).batched(schema)?;
    Ok((writer, file))
}

/// The file of a table written in one part.
pub(super) fn whole_name(name: &str) -> String {
    format!("{name}.parquet")
}

/// The file of part `number` (from 1) of a table written in several.
pub(super) fn part_name(name: &str, number: usize) -> String {
    format!("{name}-{number:05}.parquet")
}

/// Whether `file` is the table `name`'s Parquet, whole or a part.
fn is_part_of(file: &str, name: &str) -> bool {
    let Some(rest) = file.strip_prefix(name) else { return false };
    if rest == ".parquet" {
        return true;
    }
    rest.strip_prefix('-').and_then(|rest| rest.strip_suffix(".parquet")).is_some_and(|digits| digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File};

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("affinity-parts-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn schema() -> Schema {
        Schema::from_iter([Field::new("n".into(), DataType::UInt64)])
    }

    fn batch(from: u64, rows: u64) -> DataFrame {
        DataFrame::new(rows as usize, vec![Column::new("n".into(), (from..from + rows).collect::<Vec<u64>>())]).unwrap()
    }

    /// Writes `batches` batches of 3 rows, 2 row groups a part; returns the folder's files.
    fn write(dir: &Path, batches: u64) -> Vec<String> {
        let mut parts = ParquetParts::create(dir, "things", schema(), 2).unwrap();
        for i in 0..batches {
            parts.write_batch(&batch(i * 3, 3)).unwrap();
        }
        parts.finish().unwrap();
        let written = parts.commit().unwrap();
        let mut names: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(written, names.iter().filter(|name| is_part_of(name, "things")).count());
        names
    }

    fn values(path: &Path) -> Vec<u64> {
        let df = ParquetReader::new(File::open(path).unwrap()).finish().unwrap();
        df.column("n").unwrap().u64().unwrap().into_no_null_iter().collect()
    }

    #[test]
    fn a_table_that_fits_is_one_file() {
        for batches in [0, 1, 2] {
            let dir = temp_dir(&format!("one-{batches}"));
            assert_eq!(write(&dir, batches), ["things.parquet"]);
            assert_eq!(values(&dir.join("things.parquet")), (0..batches * 3).collect::<Vec<_>>());
            fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn a_larger_table_is_numbered_parts_in_order() {
        let dir = temp_dir("many");
        assert_eq!(write(&dir, 5), ["things-00001.parquet", "things-00002.parquet", "things-00003.parquet"]);
        let all: Vec<u64> = (1..=3).flat_map(|n| values(&dir.join(part_name("things", n)))).collect();
        assert_eq!(all, (0..15).collect::<Vec<_>>());
        assert_eq!(values(&dir.join("things-00003.parquet")), [12, 13, 14]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn parts_of_an_earlier_run_are_replaced_not_mixed() {
        let dir = temp_dir("stale");
        write(&dir, 5);
        fs::write(dir.join("things-extra.parquet"), b"not ours").unwrap();
        fs::write(dir.join("other-00001.parquet"), b"not ours").unwrap();
        assert_eq!(write(&dir, 3), ["other-00001.parquet", "things-00001.parquet", "things-00002.parquet", "things-extra.parquet"]);
        assert_eq!(write(&dir, 1), ["other-00001.parquet", "things-extra.parquet", "things.parquet"]);
        assert_eq!(write(&dir, 3), ["other-00001.parquet", "things-00001.parquet", "things-00002.parquet", "things-extra.parquet"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_table_dropped_unfinished_leaves_nothing() {
        let dir = temp_dir("dropped");
        let mut parts = ParquetParts::create(&dir, "things", schema(), 2).unwrap();
        for i in 0..5 {
            parts.write_batch(&batch(i, 1)).unwrap();
        }
        drop(parts);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_of_parts() {
        assert!(is_part_of("sessions.parquet", "sessions"));
        assert!(is_part_of("sessions-00012.parquet", "sessions"));
        assert!(!is_part_of("session_moves.parquet", "sessions"));
        assert!(!is_part_of("sessions-12.parquet", "sessions"));
        assert!(!is_part_of("sessions-0001x.parquet", "sessions"));
        assert!(!is_part_of("sessions.csv", "sessions"));
    }
}
