//! Presets: the configuration of every figure the README and docs/results.md publish,
//! as TOML files in `experiments/`, built into the binary so `ioschain run --preset
//! NAME` works from any directory. A preset is a configuration file like `--config`'s:
//! flags given with it override it.

use crate::config::{Config, ConfigError};

/// Every preset: name, and the TOML (its first comment lines say what it is for).
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../experiments/default.toml")),
    (
        "intra-only",
        include_str!("../../experiments/intra-only.toml"),
    ),
    (
        "latency-0.6",
        include_str!("../../experiments/latency-0.6.toml"),
    ),
    (
        "cross-shard-50",
        include_str!("../../experiments/cross-shard-50.toml"),
    ),
    (
        "byzantine-one-sampler",
        include_str!("../../experiments/byzantine-one-sampler.toml"),
    ),
    (
        "byzantine-all-samplers",
        include_str!("../../experiments/byzantine-all-samplers.toml"),
    ),
    (
        "misbehaving-clients",
        include_str!("../../experiments/misbehaving-clients.toml"),
    ),
];

/// The configuration of preset `name`.
pub fn load(name: &str) -> Result<Config, ConfigError> {
    let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == name) else {
        return Err(ConfigError::Value {
            key: "--preset".into(),
            value: name.into(),
            allowed: format!(
                "one of {} (see `ioschain run --list-presets`)",
                PRESETS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    };
    let path = format!("experiments/{name}.toml");
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.into(),
        message: e.to_string().trim().to_string(),
    })
}

/// What a preset is for: its leading comment, as one line.
pub fn description(text: &str) -> String {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ioschain run --list-presets`: one preset per line with what it is for.
pub fn list() -> String {
    let width = PRESETS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    PRESETS
        .iter()
        .map(|(name, text)| format!("{name:width$}  {}\n", description(text)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_loads_validates_and_says_what_it_is_for() {
        for (name, text) in PRESETS {
            let mut config = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            config.resolve(2);
            config
                .validate(2)
                .unwrap_or_else(|e| panic!("{name} does not validate: {e}"));
            assert!(description(text).len() > 20, "{name} has no description");
            assert!(list().contains(name));
        }
        // Each file in experiments/ is a preset, and each preset's file is there.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".toml"))
            .collect();
        files.sort();
        let mut names: Vec<String> = PRESETS.iter().map(|(n, _)| format!("{n}.toml")).collect();
        names.sort();
        assert_eq!(files, names);
    }

    #[test]
    fn an_unknown_preset_is_refused_with_the_list() {
        let err = load("nope").unwrap_err().to_string();
        assert!(
            err.contains("--preset") && err.contains("intra-only"),
            "{err}"
        );
    }
}
