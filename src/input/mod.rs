//! Parsers for text that users or reference data hand to migtag. Pure: text in, model out.

pub mod conninfo;
pub mod psql;
pub mod tables;
