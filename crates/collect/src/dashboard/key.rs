//! The API key: read from `MERAKI_DASHBOARD_API_KEY` or a file, never from a flag (flags land in
//! shell history and `ps`), and never printed: `Debug` and `Display` show `***`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A Dashboard API key. The only way to see it is [`ApiKey::expose`], used to build the
/// `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("no API key: set {} or pass --api-key-file", super::API_KEY_ENV)]
    Missing,
    #[error("cannot read the API key file {path}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API key file {0} is empty")]
    EmptyFile(PathBuf),
    #[error("the API key contains characters an HTTP header cannot carry")]
    NotAHeaderValue,
}

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Result<ApiKey, ApiKeyError> {
        let key = key.into().trim().to_owned();
        if key.is_empty() {
            return Err(ApiKeyError::Missing);
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiKeyError::NotAHeaderValue);
        }
        Ok(ApiKey(key))
    }

    /// The key from `--api-key-file` if given, else from the environment variable.
    pub fn from_file_or_env(file: Option<&Path>) -> Result<ApiKey, ApiKeyError> {
        match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ApiKeyError::Unreadable {
                        path: path.to_owned(),
                        source,
                    })?;
                ApiKey::new(text).map_err(|e| match e {
                    ApiKeyError::Missing => ApiKeyError::EmptyFile(path.to_owned()),
                    other => other,
                })
            }
            None => ApiKey::new(std::env::var(super::API_KEY_ENV).unwrap_or_default()),
        }
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_prints() {
        let key = ApiKey::new("  0123456789abcdef\n").unwrap();
        assert_eq!(key.expose(), "0123456789abcdef");
        assert_eq!(format!("{key} {key:?}"), "*** ApiKey(***)");
    }

    #[test]
    fn empty_or_unprintable_keys_are_refused() {
        assert!(matches!(ApiKey::new(" \n"), Err(ApiKeyError::Missing)));
        assert!(matches!(
            ApiKey::new("ab cd"),
            Err(ApiKeyError::NotAHeaderValue)
        ));
    }

    #[test]
    fn an_empty_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "\n").unwrap();
        let e = ApiKey::from_file_or_env(Some(&path)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("the API key file {} is empty", path.display())
        );
    }
}
