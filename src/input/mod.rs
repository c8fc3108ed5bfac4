//! Parsers for text that users or reference data hand to migtag. Pure: text in, model out.

pub mod psql;
pub mod tables;
