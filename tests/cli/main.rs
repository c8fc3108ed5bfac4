//! The one integration-test binary: runs the real `migtag` executable with a cleared
//! environment and checks its output (insta snapshots), exit codes and side effects.

mod common;

mod check;
mod index_sources;
