//! The bands of `ioschain compare`: thresholds on `new / base` per kind of metric, their
//! defaults and the TOML file that overrides them (see the parent module's doc).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Better, Verdict};

/// Thresholds on `ratio = new / base`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Band {
    /// Below this ratio: fail.
    pub fail_below: f64,
    /// Below this ratio: warn.
    pub warn_below: f64,
    /// Above this ratio: warn.
    pub warn_above: f64,
    /// Above this ratio: fail.
    pub fail_above: f64,
}

impl Band {
    /// The default band of throughput (higher is better): 0.80 / 0.90 / 1.05 / 1.15.
    pub const THROUGHPUT: Band = Band {
        fail_below: 0.8,
        warn_below: 0.9,
        warn_above: 1.05,
        fail_above: 1.15,
    };

    /// The default band of latency (lower is better), the throughput band mirrored:
    /// 0.87 / 0.95 / 1.11 / 1.25.
    pub const LATENCY: Band = Band {
        fail_below: 0.87,
        warn_below: 0.95,
        warn_above: 1.11,
        fail_above: 1.25,
    };

    /// Checks `0 < fail_below ≤ warn_below ≤ 1 ≤ warn_above ≤ fail_above`, all finite.
    pub fn validate(&self) -> Result<(), String> {
        let Band {
            fail_below,
            warn_below,
            warn_above,
            fail_above,
        } = *self;
        let all = [fail_below, warn_below, warn_above, fail_above];
        if all.iter().any(|v| !v.is_finite()) {
            return Err("every threshold must be a finite number".to_owned());
        }
        if !(0.0 < fail_below
            && fail_below <= warn_below
            && warn_below <= 1.0
            && 1.0 <= warn_above
            && warn_above <= fail_above)
        {
            return Err(format!(
                "thresholds must satisfy 0 < fail_below ≤ warn_below ≤ 1 ≤ warn_above ≤ fail_above; \
                 got fail_below = {fail_below}, warn_below = {warn_below}, warn_above = {warn_above}, fail_above = {fail_above}"
            ));
        }
        Ok(())
    }

    pub(super) fn judge(&self, ratio: f64, better: Better) -> (Verdict, String) {
        let Band {
            fail_below,
            warn_below,
            warn_above,
            fail_above,
        } = *self;
        let recalibrate = "faster than expected: recalibrate the baseline";
        let (verdict, reason) = match better {
            Better::Higher if ratio < fail_below => (
                Verdict::Fail,
                format!("below {fail_below:.2}× base: regression"),
            ),
            Better::Higher if ratio < warn_below => (
                Verdict::Warn,
                format!("below {warn_below:.2}× base: possible regression"),
            ),
            Better::Higher if ratio > fail_above => (
                Verdict::Fail,
                format!("above {fail_above:.2}× base: {recalibrate}"),
            ),
            Better::Higher if ratio > warn_above => (
                Verdict::Warn,
                format!("above {warn_above:.2}× base: faster than expected"),
            ),
            Better::Lower if ratio > fail_above => (
                Verdict::Fail,
                format!("above {fail_above:.2}× base: regression"),
            ),
            Better::Lower if ratio > warn_above => (
                Verdict::Warn,
                format!("above {warn_above:.2}× base: possible regression"),
            ),
            Better::Lower if ratio < fail_below => (
                Verdict::Fail,
                format!("below {fail_below:.2}× base: {recalibrate}"),
            ),
            Better::Lower if ratio < warn_below => (
                Verdict::Warn,
                format!("below {warn_below:.2}× base: faster than expected"),
            ),
            _ => (
                Verdict::Pass,
                format!("within {warn_below:.2}×–{warn_above:.2}× of base"),
            ),
        };
        (verdict, reason)
    }
}

/// The bands of every metric kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bands {
    /// `tps.final`, `tps.provisional`.
    pub throughput: Band,
    /// `latency_us.*`.
    pub latency: Band,
    /// `efficiency`.
    pub efficiency: Band,
    /// `cost.*`.
    pub cost: Band,
}

impl Default for Bands {
    fn default() -> Bands {
        Bands {
            throughput: Band::THROUGHPUT,
            latency: Band::LATENCY,
            efficiency: Band::THROUGHPUT,
            cost: Band::LATENCY,
        }
    }
}

/// Why a bands file could not be used. Every variant names the file.
/// The underlying error is part of the message, not a `source()`, so error chains print
/// it once.
#[derive(Debug, thiserror::Error)]
pub enum BandsError {
    /// The file could not be read.
    #[error("{}: cannot read bands file: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Not TOML, an unknown section or key, or a value that is not a number.
    #[error(
        "{}: bad bands file (allowed: sections [throughput], [latency], [efficiency], [cost] with keys fail_below, warn_below, warn_above, fail_above): {error}",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser found wrong.
        error: toml::de::Error,
    },
    /// Thresholds out of order.
    #[error("{}: [{section}]: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The section.
        section: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBand {
    fail_below: Option<f64>,
    warn_below: Option<f64>,
    warn_above: Option<f64>,
    fail_above: Option<f64>,
}

impl RawBand {
    fn over(self, default: Band) -> Band {
        Band {
            fail_below: self.fail_below.unwrap_or(default.fail_below),
            warn_below: self.warn_below.unwrap_or(default.warn_below),
            warn_above: self.warn_above.unwrap_or(default.warn_above),
            fail_above: self.fail_above.unwrap_or(default.fail_above),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBands {
    #[serde(default)]
    throughput: Option<RawBand>,
    #[serde(default)]
    latency: Option<RawBand>,
    #[serde(default)]
    efficiency: Option<RawBand>,
    #[serde(default)]
    cost: Option<RawBand>,
}

impl Bands {
    /// Reads a bands file (TOML); keys left out keep their defaults.
    pub fn load(path: impl AsRef<Path>) -> Result<Bands, BandsError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| BandsError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Bands::from_toml(&text, path)
    }

    /// Parses the text of a bands file; `path` names it in errors.
    pub fn from_toml(text: &str, path: impl AsRef<Path>) -> Result<Bands, BandsError> {
        let path = path.as_ref();
        let raw: RawBands = toml::from_str(text).map_err(|error| BandsError::Parse {
            path: path.to_path_buf(),
            error,
        })?;
        let defaults = Bands::default();
        let throughput = raw.throughput.unwrap_or_default().over(defaults.throughput);
        let latency = raw.latency.unwrap_or_default().over(defaults.latency);
        let bands = Bands {
            throughput,
            latency,
            // The efficiency band follows a customised throughput band unless given, the
            // cost band a customised latency band.
            efficiency: raw.efficiency.unwrap_or_default().over(throughput),
            cost: raw.cost.unwrap_or_default().over(latency),
        };
        for (section, band) in [
            ("throughput", &bands.throughput),
            ("latency", &bands.latency),
            ("efficiency", &bands.efficiency),
            ("cost", &bands.cost),
        ] {
            band.validate().map_err(|message| BandsError::Invalid {
                path: path.to_path_buf(),
                section,
                message,
            })?;
        }
        Ok(bands)
    }
}
