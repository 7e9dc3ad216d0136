//! `ioschain-reports`: turns run output (`summary.json`, `timeline.csv`,
//! `latency.hlog`) into reports and comparisons. It reads files only; it never runs the
//! engine.
//!
//! - [`summary`]: loading `summary.json` (schema `ioschain.run/1`);
//! - [`timeline`]: `timeline.csv`, its column names (the writer uses them) and its reader;
//! - [`compare`]: the regression gate of `ioschain compare` (medians, asymmetric bands);
//! - [`report`]: Markdown and self-contained HTML reports with SVG charts, of runs and
//!   of sweeps;
//! - [`numbers`]: numbers formatted for people.

pub mod compare;
mod csv;
pub mod numbers;
pub mod report;
pub mod summary;
pub mod timeline;
