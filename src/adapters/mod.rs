//! Adapters: the only code that talks to the outside world (PostgreSQL, GitHub, git,
//! Kubernetes manifests, the cache folder). Each turns what it reads into core types.

pub mod bounded;
pub mod cache;
pub mod coder_sql;
pub mod git;
pub mod github;
pub mod kube;
pub mod postgres;
pub mod registry;
pub mod repair;
