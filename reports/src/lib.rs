//! `ioschain-reports`: turns run output into tables, Markdown/HTML reports and run
//! comparisons (the regression gate).
//!
//! Filled by the reports issue. Empty for now.

pub mod compare;
pub mod report;
pub mod summary;
