//! Settings resolution: flags, then environment, then a TOML file.
//!
//! clap already merges a flag with its environment variable (`#[arg(env)]`);
//! this module adds the file underneath and hands every other module one
//! [`Settings`] value. Secrets live in [`Secret`] or [`DatabaseUrl`], whose
//! `Debug` and `Display` never show them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use url::Url;

/// What can go wrong while resolving settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file named by `--config` or `WALLETOPS_CONFIG` does not exist.
    #[error("config file {path} does not exist (named by --config or WALLETOPS_CONFIG)")]
    Missing { path: PathBuf },
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has unknown keys.
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    /// A database URL that cannot be used.
    #[error("invalid database URL: {0}")]
    DatabaseUrl(String),
    /// Any other setting with a bad value.
    #[error("invalid setting {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// A secret string: usable by the code that needs it, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A PostgreSQL connection URL, checked once. Its password never appears in
/// `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Url);

/// Supabase's transaction-mode pooler port: LISTEN/NOTIFY and prepared
/// statements do not work through it.
const TRANSACTION_POOLER_PORT: u16 = 6543;

impl DatabaseUrl {
    /// The full URL, password included, for the connection code alone.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The database name (the path without its slash), if any.
    pub fn database(&self) -> Option<&str> {
        let name = self.0.path().trim_start_matches('/');
        (!name.is_empty()).then_some(name)
    }

    /// The same server with another database.
    pub fn with_database(&self, name: &str) -> Self {
        let mut url = self.0.clone();
        url.set_path(&format!("/{name}"));
        Self(url)
    }

    /// Whether the server is on this machine: a loopback address, `localhost`,
    /// or a Unix socket folder (`?host=/path`).
    pub fn is_local(&self) -> bool {
        let socket = self
            .0
            .query_pairs()
            .any(|(k, v)| k == "host" && v.starts_with('/'));
        // postgres:// is not a special scheme to the url crate, so an IP
        // address comes back as an opaque host string.
        let host = self.0.host_str().unwrap_or("localhost");
        let ip = host.trim_start_matches('[').trim_end_matches(']');
        socket
            || host == "localhost"
            || ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether the URL chooses its TLS mode itself (`sslmode=...`).
    pub fn sets_ssl_mode(&self) -> bool {
        self.0
            .query_pairs()
            .any(|(k, _)| k == "sslmode" || k == "ssl-mode")
    }

    /// The URL with the password replaced, for messages.
    pub fn redacted(&self) -> String {
        let mut url = self.0.clone();
        if url.password().is_some() {
            // Cannot fail: the URL has a host, since it has a password.
            let _ = url.set_password(Some("********"));
        }
        url.to_string()
    }
}

impl FromStr for DatabaseUrl {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |m: &str| ConfigError::DatabaseUrl(m.to_string());
        let url = Url::parse(s.trim()).map_err(|e| {
            bad(&format!(
                "{e}; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            ))
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(bad(&format!(
                "scheme {:?} is not postgres:// or postgresql://",
                url.scheme()
            )));
        }
        if url.port() == Some(TRANSACTION_POOLER_PORT) {
            return Err(bad(
                "port 6543 is a transaction-mode pooler (Supabase); walletops needs \
                 LISTEN/NOTIFY and prepared statements: use the direct or session-mode \
                 connection (port 5432)",
            ));
        }
        Ok(Self(url))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The TOML file, section by section. Unknown keys are an error so that a
/// typo does not silently fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub operator: Option<String>,
    #[serde(default)]
    pub tron: TronFile,
    #[serde(default)]
    pub wallet: WalletFile,
    #[serde(default)]
    pub console: ConsoleFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TronFile {
    pub api_url: Option<String>,
    pub api_key: Option<Secret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletFile {
    pub master_key: Option<Secret>,
    pub master_key_file: Option<PathBuf>,
}

/// The `[console]` section. Key names and theme are checked by the console
/// itself, before it takes the terminal.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleFile {
    /// `color`, `mono` or `light`; `NO_COLOR` wins over it.
    pub theme: Option<String>,
    /// Rebindings: action name to one key or a list, e.g. `refresh = "F5"`.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyList>,
}

/// One key or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<String> {
        match self {
            KeyList::One(key) => vec![key.clone()],
            KeyList::Many(keys) => keys.clone(),
        }
    }
}

/// Values given on the command line or in the environment (clap merges the
/// two); each overrides the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub database_url: Option<Secret>,
    pub operator: Option<String>,
    pub tron_api_url: Option<String>,
    pub tron_api_key: Option<Secret>,
    pub master_key: Option<Secret>,
    pub master_key_file: Option<PathBuf>,
}

/// Where the wallet master key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// 64 hex characters given directly.
    Hex(Secret),
    /// A file holding the 64 hex characters.
    File(PathBuf),
}

/// Every resolved setting.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The configured database; `None` means the local cluster.
    pub database_url: Option<DatabaseUrl>,
    pub operator: Option<String>,
    pub tron_api_url: Option<Url>,
    pub tron_api_key: Option<Secret>,
    pub master_key: Option<MasterKeySource>,
    /// The file the settings came from, if one was read.
    pub config_file: Option<PathBuf>,
    /// The console's theme and key rebindings.
    pub console: ConsoleFile,
}

impl Settings {
    /// Resolves flags and environment (`overrides`) over the config file.
    pub fn resolve(overrides: Overrides) -> Result<Self, ConfigError> {
        let (file, config_file) = match &overrides.config {
            Some(path) => (load_file(path, true)?, Some(path.clone())),
            None => match default_config_path() {
                Some(path) => {
                    let file = load_file(&path, false)?;
                    (file, path.exists().then_some(path))
                }
                None => (FileConfig::default(), None),
            },
        };

        let database_url = overrides
            .database_url
            .map(|s| s.expose().to_string())
            .or(file.database_url)
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<DatabaseUrl>())
            .transpose()?;

        let tron_api_url = overrides
            .tron_api_url
            .or(file.tron.api_url)
            .map(|s| {
                Url::parse(&s).map_err(|e| ConfigError::Invalid {
                    name: "TRON_API_URL",
                    message: format!("{e}; expected e.g. https://api.trongrid.io"),
                })
            })
            .transpose()?;

        let master_key = match (
            overrides.master_key.or(file.wallet.master_key),
            overrides.master_key_file.or(file.wallet.master_key_file),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "WALLET_MASTER_KEY",
                    message: "both WALLET_MASTER_KEY and WALLET_MASTER_KEY_FILE are set; keep one"
                        .into(),
                });
            }
            (Some(hex), None) => Some(MasterKeySource::Hex(hex)),
            (None, Some(path)) => Some(MasterKeySource::File(path)),
            (None, None) => None,
        };

        Ok(Self {
            database_url,
            operator: overrides.operator.or(file.operator),
            tron_api_url,
            tron_api_key: overrides.tron_api_key.or(file.tron.api_key),
            master_key,
            config_file,
            console: file.console,
        })
    }
}

/// `$XDG_CONFIG_HOME/walletops/config.toml`, or `~/.config/walletops/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("walletops").join("config.toml"))
}

/// An XDG base directory: the variable when set to an absolute path, else
/// `$HOME/<fallback>`.
pub fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(fallback)))
}

fn load_file(path: &Path, required: bool) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        // toml's message spans several lines with a source excerpt; keep it on one.
        message: e.message().to_string() + &line_of(&text, e.span()),
    })
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    span.map(|s| format!(" (line {})", text[..s.start].lines().count().max(1)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_its_password() {
        let url: DatabaseUrl = "postgres://app:hunter2@db.example.com:5432/walletops"
            .parse()
            .unwrap();
        assert!(!format!("{url}").contains("hunter2"));
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.expose().contains("hunter2"));
        assert_eq!(url.database(), Some("walletops"));
        assert!(!url.is_local());
    }

    #[test]
    fn local_servers_are_recognised() {
        for local in [
            "postgres://u@127.0.0.1:5432/d",
            "postgres://u@localhost/d",
            "postgres://u@[::1]/d",
            "postgres://u@localhost/d?host=%2Fvar%2Frun",
        ] {
            let url: DatabaseUrl = local.parse().unwrap();
            assert!(url.is_local(), "{local}");
        }
        let explicit: DatabaseUrl = "postgres://u@127.0.0.1/d?sslmode=require".parse().unwrap();
        assert!(explicit.sets_ssl_mode());
    }

    #[test]
    fn database_url_refuses_the_transaction_pooler_and_other_schemes() {
        let err = "postgres://u:p@aws-0-eu.pooler.supabase.com:6543/postgres"
            .parse::<DatabaseUrl>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("transaction-mode pooler"), "{err}");
        assert!(!err.contains(":p@"), "{err}");
        assert!("mysql://x@y/z".parse::<DatabaseUrl>().is_err());
        assert!("not a url".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Settings {
            database_url: Some("postgres://a:topsecret@h/d".parse().unwrap()),
            operator: None,
            tron_api_url: None,
            tron_api_key: Some(Secret::new("apikey123")),
            master_key: Some(MasterKeySource::Hex(Secret::new("ab".repeat(32)))),
            config_file: None,
            console: ConsoleFile::default(),
        };
        let debug = format!("{s:?}");
        for secret in ["topsecret", "apikey123", &"ab".repeat(32)] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn flags_and_environment_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "database_url = \"postgres://file@h/d\"\noperator = \"file@example.com\"\n\
             [tron]\napi_url = \"http://127.0.0.1:9090\"\n",
        )
        .unwrap();
        let s = Settings::resolve(Overrides {
            config: Some(path),
            operator: Some("flag@example.com".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.operator.as_deref(), Some("flag@example.com"));
        assert_eq!(
            s.database_url.unwrap().expose(),
            "postgres://file@h/d",
            "the file fills what flags leave out"
        );
        assert_eq!(s.tron_api_url.unwrap().as_str(), "http://127.0.0.1:9090/");
    }

    #[test]
    fn the_console_section_carries_theme_and_key_rebindings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[console]\ntheme = \"light\"\n[console.keys]\nrefresh = \"F5\"\nquit = [\"q\", \"ctrl-q\"]\n",
        )
        .unwrap();
        let s = Settings::resolve(Overrides {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.console.theme.as_deref(), Some("light"));
        assert_eq!(s.console.keys["refresh"].keys(), ["F5"]);
        assert_eq!(s.console.keys["quit"].keys(), ["q", "ctrl-q"]);

        std::fs::write(&path, "[console]\nkeyz = {}\n").unwrap();
        let err = Settings::resolve(Overrides {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("keyz"), "{err}");
    }

    #[test]
    fn bad_files_give_one_clear_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "database_url = \n").unwrap();
        let err = Settings::resolve(Overrides {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("is invalid"), "{err}");
        assert!(!err.contains('\n'), "{err}");

        std::fs::write(&path, "databse_url = \"x\"\n").unwrap();
        let err = Settings::resolve(Overrides {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("databse_url"), "{err}");

        let missing = Settings::resolve(Overrides {
            config: Some(dir.path().join("nope.toml")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(missing, ConfigError::Missing { .. }));
    }
}
