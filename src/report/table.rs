//! One report table, written as CSV and Parquet side by side (or either, see [`Formats`]), in
//! batches, atomically.
//!
//! Rows are appended into polars column builders (no per-cell allocation) and handed over as a
//! batch every [`BATCH_ROWS`] rows or [`BATCH_TEXT_BYTES`] bytes of text, whichever comes
//! first, so memory is bounded by one batch whatever the capture's size or its rows' length.
//! The table's [`Encoder`] writes each batch to both files, in the order handed over: at
//! once on the caller's thread, or on a background thread (see [`super::encoder`]). Both files
//! are written under temporary names in the output folder and renamed into place by
//! [`TableWriter::finish`]; a run that fails or is dropped leaves no half-written table.

use std::path::{Path, PathBuf};

use polars::io::SerWriter;
use polars::prelude::*;

use super::atomic::{PendingFile, SharedFile};
use super::encoder::{Encoder, TableOutput};
use super::parts::{whole_name, ParquetParts, ROW_GROUPS_PER_PART};

/// Rows per batch written to the files (one Parquet row group each). Smaller batches save
/// little memory and cost compression: 4 k rows took 9–13 MB off the peak RSS of a 1 GiB
/// capture and made its `transactions.parquet` 20 % larger.
pub const BATCH_ROWS: usize = 16 * 1024;

/// Bytes of text per batch at most. Text cells carry capture data (URIs and headers, each up
/// to the HTTP stage's head limit), so a count of rows alone would not bound a batch's memory.
/// A batch of the ordinary mix holds well under half of this (16 k transactions rows, the
/// widest table: about 5 MB), so it ends at [`BATCH_ROWS`].
pub const BATCH_TEXT_BYTES: usize = 16 * 1024 * 1024;

/// Rows reserved when a table's first batch starts; builders grow on demand, so a table with few
/// rows (most of the nine, on most captures) costs little. Later batches start at the rows the
/// batch before them reached: a busy table's builders are sized once, not regrown from 1 k
/// (each doubling copies the column and touches fresh pages, 15 % of a run's page faults).
const INITIAL_ROWS: usize = 1024;

/// The files a table is written to: CSV, Parquet, or both (the default). Each costs its
/// encoding: on a capture of many small transactions CSV took 18 % of a one-thread run and
/// Parquet 11 % (`BENCHMARKS.md`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Formats {
    pub csv: bool,
    pub parquet: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats { csv: true, parquet: true }
    }
}

/// Type of a column, as written to Parquet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Str,
    U64,
    U32,
    F64,
    Bool,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Str => "string",
            ColumnType::U64 => "uint64",
            ColumnType::U32 => "uint32",
            ColumnType::F64 => "float64",
            ColumnType::Bool => "bool",
        }
    }

    fn dtype(self) -> DataType {
        match self {
            ColumnType::Str => DataType::String,
            ColumnType::U64 => DataType::UInt64,
            ColumnType::U32 => DataType::UInt32,
            ColumnType::F64 => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
        }
    }
}

/// A column: its name, type and meaning. The README's column lists are generated from these.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub ty: ColumnType,
    pub doc: &'static str,
    /// The Zeek log field holding the same thing, if any (`conn.log: uid`).
    pub zeek: Option<&'static str>,
}

/// Shorthand for the column tables: `col("conn_id", Str, "Connection id", Some("uid"))`.
pub const fn col(name: &'static str, ty: ColumnType, doc: &'static str, zeek: Option<&'static str>) -> ColumnSpec {
    ColumnSpec { name, ty, doc, zeek }
}

/// A table: its file stem, meaning and columns.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub name: &'static str,
    pub doc: &'static str,
    pub columns: &'static [ColumnSpec],
}

/// One cell's value. `None` is written as an empty CSV cell and a Parquet null.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Str(Option<&'a str>),
    U64(Option<u64>),
    U32(Option<u32>),
    F64(Option<f64>),
    Bool(Option<bool>),
}

impl Value<'_> {
    fn text_len(&self) -> usize {
        match self {
            Value::Str(Some(text)) => text.len(),
            _ => 0,
        }
    }
}

enum ColumnBuilder {
    Str(StringChunkedBuilder),
    U64(PrimitiveChunkedBuilder<UInt64Type>),
    U32(PrimitiveChunkedBuilder<UInt32Type>),
    F64(PrimitiveChunkedBuilder<Float64Type>),
    Bool(BooleanChunkedBuilder),
}

impl ColumnBuilder {
    fn new(spec: &ColumnSpec, rows: usize) -> Self {
        let name = PlSmallStr::from_static(spec.name);
        match spec.ty {
            ColumnType::Str => ColumnBuilder::Str(StringChunkedBuilder::new(name, rows)),
            ColumnType::U64 => ColumnBuilder::U64(PrimitiveChunkedBuilder::new(name, rows)),
            ColumnType::U32 => ColumnBuilder::U32(PrimitiveChunkedBuilder::new(name, rows)),
            ColumnType::F64 => ColumnBuilder::F64(PrimitiveChunkedBuilder::new(name, rows)),
            ColumnType::Bool => ColumnBuilder::Bool(BooleanChunkedBuilder::new(name, rows)),
        }
    }

    /// Appends a value; false when its type is not the column's.
    fn push(&mut self, value: Value<'_>) -> bool {
        match (self, value) {
            (ColumnBuilder::Str(b), Value::Str(v)) => b.append_option(v),
            (ColumnBuilder::U64(b), Value::U64(v)) => b.append_option(v),
            (ColumnBuilder::U32(b), Value::U32(v)) => b.append_option(v),
            (ColumnBuilder::F64(b), Value::F64(v)) => b.append_option(v),
            (ColumnBuilder::Bool(b), Value::Bool(v)) => b.append_option(v),
            _ => return false,
        }
        true
    }

    /// The column so far; the builder starts afresh with room for `next_rows`.
    fn take(&mut self, spec: &ColumnSpec, next_rows: usize) -> Column {
        let fresh = ColumnBuilder::new(spec, next_rows);
        match std::mem::replace(self, fresh) {
            ColumnBuilder::Str(b) => b.finish().into_column(),
            ColumnBuilder::U64(b) => b.finish().into_column(),
            ColumnBuilder::U32(b) => b.finish().into_column(),
            ColumnBuilder::F64(b) => b.finish().into_column(),
            ColumnBuilder::Bool(b) => b.finish().into_column(),
        }
    }
}

/// Error of a report table, naming the file.
#[derive(Clone, Debug)]
pub struct TableError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for TableError {}

/// Writes one table to `DIR/<name>.csv` and `DIR/<name>.parquet`.
pub struct TableWriter {
    spec: &'static TableSpec,
    builders: Vec<ColumnBuilder>,
    rows_pending: usize,
    /// Bytes of text in the pending rows.
    text_pending: usize,
    rows_written: u64,
    output: TableOutput,
}

impl TableWriter {
    /// A table whose batches are encoded by `encoder` (on the caller's thread with
    /// [`Encoder::inline`]).
    pub fn create(dir: &Path, spec: &'static TableSpec, encoder: &Encoder) -> Result<Self, TableError> {
        let files = TableFiles::create(dir, spec, encoder.formats(), encoder.in_background())?;
        Ok(TableWriter {
            spec,
            builders: spec.columns.iter().map(|c| ColumnBuilder::new(c, INITIAL_ROWS)).collect(),
            rows_pending: 0,
            text_pending: 0,
            rows_written: 0,
            output: encoder.output(files),
        })
    }

    /// Appends one row: one value per column, in the spec's order and types.
    pub fn push_row(&mut self, row: &[Value<'_>]) -> Result<(), TableError> {
        if row.len() != self.builders.len() {
            return Err(self.schema_error(format!("row has {} values for {} columns", row.len(), self.builders.len())));
        }
        // Check every type before appending anything, so a bad row leaves the columns aligned.
        if let Some(i) = row.iter().zip(self.spec.columns).position(|(v, c)| !value_fits(v, c.ty)) {
            return Err(self.schema_error(format!("column {}: value {:?} is not {}", self.spec.columns[i].name, row[i], self.spec.columns[i].ty.as_str())));
        }
        for (builder, value) in self.builders.iter_mut().zip(row) {
            builder.push(*value);
        }
        self.rows_pending += 1;
        self.text_pending += row.iter().map(Value::text_len).sum::<usize>();
        if self.rows_pending >= BATCH_ROWS || self.text_pending >= BATCH_TEXT_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Rows written so far (flushed or pending).
    pub fn rows(&self) -> u64 {
        self.rows_written + self.rows_pending as u64
    }

    fn schema_error(&self, message: String) -> TableError {
        TableError { path: self.output.path().to_path_buf(), message }
    }

    /// Hands the pending rows to the encoder as one batch. The rows count as written even if
    /// that fails: the builders start afresh either way, and a failed table is not written on.
    fn flush(&mut self) -> Result<(), TableError> {
        let next_rows = self.rows_pending.max(INITIAL_ROWS);
        self.hand_over(next_rows)
    }

    /// Hands the pending rows over as the table's last batch, to be encoded while the caller
    /// goes on: for a table that will get no more rows before [`TableWriter::finish`]. The
    /// builders keep no room for more (rows pushed after all still work, from nothing).
    pub fn flush_last(&mut self) -> Result<(), TableError> {
        self.hand_over(0)
    }

    /// Hands the pending rows over, the builders starting afresh with room for `next_rows`.
    fn hand_over(&mut self, next_rows: usize) -> Result<(), TableError> {
        if self.rows_pending == 0 {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows_pending);
        self.text_pending = 0;
        self.rows_written += rows as u64;
        let columns = self.builders.iter_mut().zip(self.spec.columns).map(|(b, spec)| b.take(spec, next_rows)).collect();
        let batch = DataFrame::new(rows, columns).map_err(|e| self.schema_error(e.to_string()))?;
        self.output.write(batch)
    }

    /// Flushes the last batch and returns once both files are complete and renamed into place.
    pub fn finish(mut self) -> Result<TableWritten, TableError> {
        self.flush_last()?;
        let parquet_parts = self.output.finish()?;
        Ok(TableWritten { name: self.spec.name, rows: self.rows_written, parquet_parts })
    }
}

/// What a table's writer wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableWritten {
    pub name: &'static str,
    pub rows: u64,
    /// Parquet files ([`super::parts`]): 1 for `NAME.parquet`, 0 without Parquet.
    pub parquet_parts: usize,
}

/// A table's files, open under temporary names, with their polars encoders. Each batch is
/// encoded on the thread that writes it, never spread over polars' thread pool: with small
/// batches that was no faster (lab mix, one thread: 683 against 690 ms; two threads: 508 against
/// 489 ms), and it made a one-thread run use two cores.
pub(super) struct TableFiles {
    csv: Option<(polars::io::csv::write::BatchedWriter<SharedFile>, PendingFile)>,
    parquet: Option<ParquetParts>,
    /// Whether a batch's Parquet is encoded on a thread of its own while this one writes its
    /// CSV: only for background encoding, never in a one-thread run.
    side_by_side: bool,
    /// The table's name in errors that concern all its files: its first file's final name.
    path: PathBuf,
}

impl TableFiles {
    fn create(dir: &Path, spec: &TableSpec, formats: Formats, side_by_side: bool) -> Result<Self, TableError> {
        let schema = Schema::from_iter(spec.columns.iter().map(|c| Field::new(PlSmallStr::from_static(c.name), c.ty.dtype())));
        let create = |extension: &str| {
            let file_name = format!("{}.{extension}", spec.name);
            PendingFile::create(dir, &file_name).map_err(|e| TableError { path: dir.join(&file_name), message: e.to_string() })
        };
        let csv = if formats.csv {
            let file = create("csv")?;
            let writer = CsvWriter::new(file.file.clone()).include_header(true).n_threads(1).batched(&schema).map_err(|e| file_error(&file, e))?;
            Some((writer, file))
        } else {
            None
        };
        let parquet = if formats.parquet {
            let parts = ParquetParts::create(dir, spec.name, schema, ROW_GROUPS_PER_PART)
                .map_err(|e| TableError { path: dir.join(whole_name(spec.name)), message: e.to_string() })?;
            Some(parts)
        } else {
            None
        };
        let first = csv.as_ref().map(|(_, file)| file).or(parquet.as_ref().map(ParquetParts::first));
        let path = first.map_or_else(|| dir.join(spec.name), |file| file.dest.clone());
        Ok(TableFiles { csv, parquet, side_by_side, path })
    }

    /// The table's name in errors that concern all its files.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Encodes one batch into each file. Side by side, the two formats of a batch take two
    /// cores: at the end of a run the last batches are all that is left to do, and a table's
    /// CSV and Parquet one after the other kept one core idle (5 % of a two-thread run of the
    /// generated 256 MiB capture, whose transactions fill less than one batch).
    pub(super) fn write(&mut self, batch: &DataFrame) -> Result<(), TableError> {
        let (csv, parquet) = (&mut self.csv, &mut self.parquet);
        if self.side_by_side && csv.is_some() && parquet.is_some() {
            let path = &self.path;
            return std::thread::scope(|scope| {
                let parquet_thread = std::thread::Builder::new()
                    .name("report-parquet".into())
                    .spawn_scoped(scope, || write_parquet(parquet, batch))
                    .map_err(|e| TableError { path: path.clone(), message: format!("cannot start a thread: {e}") })?;
                let csv_written = write_csv(csv, batch);
                let parquet_written = parquet_thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                csv_written.and(parquet_written)
            });
        }
        write_csv(csv, batch)?;
        write_parquet(parquet, batch)
    }

    /// Ends the files (Parquet footer) and renames them into place. Returns the Parquet parts.
    pub(super) fn close(&mut self) -> Result<usize, TableError> {
        if let Some((writer, file)) = &mut self.csv {
            writer.finish().map_err(|e| file_error(file, e))?;
        }
        if let Some(parts) = &mut self.parquet {
            parts.finish().map_err(|e| file_error(parts.current(), e))?;
        }
        if let Some((_, file)) = &mut self.csv {
            file.commit().map_err(|e| file_error(file, e))?;
        }
        match &mut self.parquet {
            Some(parts) => parts.commit().map_err(|(path, e)| TableError { path, message: e.to_string() }),
            None => Ok(0),
        }
    }
}

fn write_csv(csv: &mut Option<(polars::io::csv::write::BatchedWriter<SharedFile>, PendingFile)>, batch: &DataFrame) -> Result<(), TableError> {
    match csv {
        Some((writer, file)) => writer.write_batch(batch).map_err(|e| file_error(file, e)),
        None => Ok(()),
    }
}

fn write_parquet(parquet: &mut Option<ParquetParts>, batch: &DataFrame) -> Result<(), TableError> {
    match parquet {
        Some(parts) => parts.write_batch(batch).map_err(|e| file_error(parts.current(), e)),
        None => Ok(()),
    }
}

fn file_error(file: &PendingFile, error: impl std::fmt::Display) -> TableError {
    TableError { path: file.dest.clone(), message: error.to_string() }
}

fn value_fits(value: &Value<'_>, ty: ColumnType) -> bool {
    matches!(
        (value, ty),
        (Value::Str(_), ColumnType::Str)
            | (Value::U64(_), ColumnType::U64)
            | (Value::U32(_), ColumnType::U32)
            | (Value::F64(_), ColumnType::F64)
            | (Value::Bool(_), ColumnType::Bool)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::encoder::Encoding;
    use std::fs::{self, File};

    static TEST_TABLE: TableSpec = TableSpec {
        name: "things",
        doc: "test",
        columns: &[
            col("name", ColumnType::Str, "a name", None),
            col("count", ColumnType::U64, "a count", None),
            col("port", ColumnType::U32, "a port", None),
            col("ts", ColumnType::F64, "a time", None),
            col("flag", ColumnType::Bool, "a flag", None),
        ],
    };

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("affinity-table-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn writes_csv_and_parquet_atomically() {
        let dir = temp_dir("write");
        let mut writer = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).unwrap();
        writer
            .push_row(&[Value::Str(Some("a,b")), Value::U64(Some(3)), Value::U32(Some(443)), Value::F64(Some(1.5)), Value::Bool(Some(true))])
            .unwrap();
        writer.push_row(&[Value::Str(None), Value::U64(None), Value::U32(None), Value::F64(None), Value::Bool(None)]).unwrap();
        // Nothing visible under the final names before finish.
        assert!(!dir.join("things.csv").exists());
        assert_eq!(writer.finish().unwrap().rows, 2);
        let csv = fs::read_to_string(dir.join("things.csv")).unwrap();
        assert_eq!(csv, "name,count,port,ts,flag\n\"a,b\",3,443,1.5,true\n,,,,\n");
        let df = ParquetReader::new(File::open(dir.join("things.parquet")).unwrap()).finish().unwrap();
        assert_eq!(df.shape(), (2, 5));
        assert_eq!(df.column("port").unwrap().dtype(), &DataType::UInt32);
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
        assert!(leftovers.is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn writes_only_the_formats_asked_for() {
        for (csv, parquet) in [(true, false), (false, true)] {
            let dir = temp_dir(&format!("formats-{csv}-{parquet}"));
            let encoder = Encoder::start(Encoding::Inline, Formats { csv, parquet }).unwrap();
            let mut writer = TableWriter::create(&dir, &TEST_TABLE, &encoder).unwrap();
            writer.push_row(&row("x")).unwrap();
            assert_eq!(writer.finish().unwrap(), TableWritten { name: "things", rows: 1, parquet_parts: usize::from(parquet) });
            let mut names: Vec<String> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            let expected: Vec<&str> = [("things.csv", csv), ("things.parquet", parquet)].iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect();
            assert_eq!(names, expected);
            fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn rejects_misshapen_rows_and_leaves_no_temp_files_when_dropped() {
        let dir = temp_dir("reject");
        let mut writer = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).unwrap();
        assert!(writer.push_row(&[Value::Str(Some("x"))]).is_err());
        let wrong_type = [Value::U64(Some(1)), Value::U64(Some(3)), Value::U32(None), Value::F64(None), Value::Bool(None)];
        assert!(writer.push_row(&wrong_type).is_err());
        assert_eq!(writer.rows(), 0);
        drop(writer);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    fn row(name: &str) -> [Value<'_>; 5] {
        [Value::Str(Some(name)), Value::U64(Some(1)), Value::U32(None), Value::F64(None), Value::Bool(Some(false))]
    }

    fn row_group_sizes(path: &Path) -> Vec<usize> {
        let mut reader = ParquetReader::new(File::open(path).unwrap());
        reader.get_metadata().unwrap().row_groups.iter().map(|group| group.num_rows()).collect()
    }

    #[test]
    fn a_batch_ends_at_batch_rows() {
        let dir = temp_dir("rows");
        let mut writer = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).unwrap();
        for _ in 0..=BATCH_ROWS {
            writer.push_row(&row("x")).unwrap();
        }
        assert_eq!(writer.finish().unwrap().rows, BATCH_ROWS as u64 + 1);
        assert_eq!(row_group_sizes(&dir.join("things.parquet")), [BATCH_ROWS, 1]);
        let csv = fs::read_to_string(dir.join("things.csv")).unwrap();
        assert_eq!(csv.lines().count(), BATCH_ROWS + 2);
        assert_eq!(csv.lines().nth(BATCH_ROWS + 1), Some("x,1,,,false"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_table_past_one_part_has_numbered_parquet_parts_and_one_csv() {
        let dir = temp_dir("parts");
        let mut writer = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).unwrap();
        let rows = ROW_GROUPS_PER_PART * BATCH_ROWS + 1;
        for _ in 0..rows {
            writer.push_row(&row("x")).unwrap();
        }
        let written = writer.finish().unwrap();
        assert_eq!(written, TableWritten { name: "things", rows: rows as u64, parquet_parts: 2 });
        let mut names: Vec<String> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["things-00001.parquet", "things-00002.parquet", "things.csv"]);
        assert_eq!(row_group_sizes(&dir.join("things-00001.parquet")), vec![BATCH_ROWS; ROW_GROUPS_PER_PART]);
        assert_eq!(row_group_sizes(&dir.join("things-00002.parquet")), [1]);
        assert_eq!(fs::read_to_string(dir.join("things.csv")).unwrap().lines().count(), rows + 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn rows_after_a_last_flush_still_reach_the_files_in_order() {
        let dir = temp_dir("last");
        let mut writer = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).unwrap();
        writer.push_row(&row("a")).unwrap();
        writer.push_row(&row("b")).unwrap();
        writer.flush_last().unwrap();
        writer.flush_last().unwrap();
        writer.push_row(&row("c")).unwrap();
        assert_eq!(writer.finish().unwrap().rows, 3);
        assert_eq!(row_group_sizes(&dir.join("things.parquet")), [2, 1]);
        let csv = fs::read_to_string(dir.join("things.csv")).unwrap();
        let names: Vec<&str> = csv.lines().skip(1).map(|l| &l[..1]).collect();
        assert_eq!(names, ["a", "b", "c"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn long_text_ends_a_batch_early() {
        let dir = temp_dir("text");
        let mut writer = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).unwrap();
        let long = "u".repeat(BATCH_TEXT_BYTES / 4);
        // The fourth row reaches the limit and ends the batch; the fifth starts the next.
        for name in [&long, &long, &long, &long, "short"] {
            writer.push_row(&row(name)).unwrap();
        }
        assert_eq!(writer.rows(), 5);
        assert_eq!(writer.finish().unwrap().rows, 5);
        assert_eq!(row_group_sizes(&dir.join("things.parquet")), [4, 1]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unwritable_folder_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("affinity-table-missing-{}", std::process::id()));
        let error = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).err().unwrap();
        assert_eq!(error.path, dir.join("things.csv"));
        assert!(!dir.exists());
    }

    #[test]
    fn empty_table_still_has_a_header() {
        let dir = temp_dir("empty");
        let writer = TableWriter::create(&dir, &TEST_TABLE, &Encoder::inline()).unwrap();
        assert_eq!(writer.finish().unwrap().rows, 0);
        assert_eq!(fs::read_to_string(dir.join("things.csv")).unwrap(), "name,count,port,ts,flag\n");
        fs::remove_dir_all(dir).unwrap();
    }
}
