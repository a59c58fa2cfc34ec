//! `alert-users`: export the user accounts behind Microsoft Defender for Endpoint alerts.
//!
//! The job reads alert IDs, asks `GET /api/alerts/{id}/user` for each within the tenant's quota,
//! and writes a deduplicated user table (CSV or Parquet) plus not-found and failures files.
//! `main.rs` only parses flags and maps the result to an exit code; everything else is here.
//!
//! Data flow: `ids` → `pipeline` (the one concurrent stage; `limit`, `retry`, `client`, `auth`)
//! → `run` (the single owner of the outputs: `dedup`, `ledger`, `sink`), with `progress` watching.
//! With `--state`, `state` keeps every final answer: `run` commits them, `pipeline` reuses them.
//! `auth` signs in (`cloud` picks the hosts, `net` the trusted roots and proxies); `summary`
//! reports the run; `sim` is the built-in simulator of the API.

pub mod auth;
pub mod cli;
pub mod client;
pub mod cloud;
pub mod config;
pub mod dedup;
pub mod error;
pub mod ids;
pub mod ledger;
pub mod limit;
pub mod net;
pub mod pipeline;
pub mod progress;
pub mod retry;
pub mod run;
pub mod sim;
pub mod sink;
pub mod state;
pub mod summary;
pub mod user;

pub use config::Config;
pub use error::{Error, Result};
pub use run::run;
pub use summary::Summary;
