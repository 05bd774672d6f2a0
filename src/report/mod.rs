//! Stage 6: the report tables and the summary.
//!
//! Every table is declared once as a [`table::TableSpec`] (names, types, meaning, Zeek
//! equivalent); the writers, the README's column lists and the tests all read those specs.
//! Every file is written atomically ([`atomic`]); a large table's Parquet in parts ([`parts`]).

pub mod atomic;
pub mod encoder;
pub mod parts;
pub mod summary;
pub mod table;
pub mod tables;

pub use atomic::write_atomically;
