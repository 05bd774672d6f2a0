//! Report tables.
