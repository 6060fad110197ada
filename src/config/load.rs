//! Loading: a TOML file, then the `KAFKA_GATEWAY_<SECTION>_<KEY>`
//! environment overrides, then [`Config::validate`]; and the error that
//! reports every problem at once with its key.

use std::fmt;
use std::path::Path;

use super::Config;

/// Prefix of the environment variables that override file settings.
pub const ENV_PREFIX: &str = "KAFKA_GATEWAY_";

/// One problem with the configuration, naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// Everything wrong with a configuration, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.problems {
            writeln!(f, "  {}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    pub(super) fn one(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                key: key.into(),
                message: message.into(),
            }],
        }
    }
}

const SECTIONS: &[&str] = &[
    "http",
    "kafka",
    "pipeline",
    "embedded",
    "schema_registry",
    "consumers",
    "shutdown",
    "auth",
    "cluster",
    "log",
    "tracing",
];

/// Tables inside a section, reached from the environment as
/// `KAFKA_GATEWAY_<SECTION>_<TABLE>_<KEY>`.
const SUBSECTIONS: &[(&str, &str)] = &[("http", "tls"), ("http", "cors")];

impl Config {
    /// Loads `file` (if any), applies the environment overrides in `env`,
    /// and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::one(path.display().to_string(), e.to_string()))?,
            None => String::new(),
        };
        Config::from_toml_and_env(&text, env)
    }

    /// Parses TOML text, applies environment overrides and validates.
    pub fn from_toml_and_env(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::one("(file)", e.to_string()))?;
        let mut problems = Vec::new();
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((section, key)) = SECTIONS.iter().find_map(|s| {
                rest.strip_prefix(s)
                    .and_then(|r| r.strip_prefix('_'))
                    .map(|k| (*s, k.to_string()))
            }) else {
                problems.push(ConfigProblem {
                    key: name.clone(),
                    message: format!("no such section; expected one of {}", SECTIONS.join(", ")),
                });
                continue;
            };
            let mut path = vec![section.to_string()];
            let mut key = key;
            if let Some((_, sub)) = SUBSECTIONS.iter().find(|(s, sub)| {
                *s == section && key.strip_prefix(sub).is_some_and(|r| r.starts_with('_'))
            }) {
                path.push(sub.to_string());
                key = key[sub.len() + 1..].to_string();
            }
            if let Err(name) = insert_at(&mut table, &path, key, env_value(&raw)) {
                problems.push(ConfigProblem {
                    key: name,
                    message: "must be a table".into(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                ConfigError::one(key, e.into_inner().message().to_string())
            })?;
        config.validate()?;
        Ok(config)
    }
}

/// Puts `value` at `key` in the table at `path` (made where missing);
/// `Err(name)` if something on the path is not a table.
fn insert_at(
    table: &mut toml::Table,
    path: &[String],
    key: String,
    value: toml::Value,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        table.insert(key, value);
        return Ok(());
    };
    match table
        .entry(first.as_str())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(inner) => insert_at(inner, rest, key, value),
        _ => Err(first.clone()),
    }
}

/// An environment value as TOML when it parses as one (numbers, booleans,
/// arrays), else as a plain string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}
