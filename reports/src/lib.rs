//! `ioschain-reports`: turns run output (`summary.json`, `timeline.csv`,
//! `latency.hlog`) into reports and comparisons. It reads files only; it never runs the
//! engine.
//!
//! - [`summary`]: loading `summary.json` (schema `ioschain.run/1`);
//! - [`compare`]: the regression gate of `ioschain compare` (medians, asymmetric bands);
//! - [`report`]: Markdown and self-contained HTML reports with SVG charts;
//! - [`numbers`]: numbers formatted for people.

pub mod compare;
pub mod numbers;
pub mod report;
pub mod summary;
