//! Registry credentials, sent with one request and never shown.

use std::fmt;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

/// A username and password for one registry, handed to the daemon in the
/// `X-Registry-Auth` header of the request that needs them, so that nothing
/// is stored in `~/.docker`. `Debug` never shows the password.
#[derive(Clone)]
pub struct RegistryCredentials {
    /// The registry host, such as `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub server_address: String,
    pub username: String,
    pub password: SecretString,
}

impl RegistryCredentials {
    pub fn new(
        server_address: impl Into<String>,
        username: impl Into<String>,
        password: SecretString,
    ) -> RegistryCredentials {
        RegistryCredentials {
            server_address: server_address.into(),
            username: username.into(),
            password,
        }
    }

    /// The `X-Registry-Auth` header value: base64url-encoded JSON, as the
    /// daemon expects it.
    pub(crate) fn header_value(&self) -> String {
        let json = serde_json::json!({
            "username": self.username,
            "password": self.password.expose_secret(),
            "serveraddress": self.server_address,
        });
        base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
    }

    /// The same credentials in bollard's form, for the calls bollard makes.
    pub(crate) fn for_bollard(&self) -> bollard::auth::DockerCredentials {
        bollard::auth::DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.expose_secret().to_string()),
            serveraddress: Some(self.server_address.clone()),
            ..Default::default()
        }
    }

    /// `text` with the password blotted out, should a registry or the
    /// daemon ever echo it: bare, as the ECR token that carries it
    /// (`base64(user:password)`), or as the header that sends it.
    pub(crate) fn redact(&self, text: &str) -> String {
        let password = self.password.expose_secret();
        if password.is_empty() {
            return text.to_string();
        }
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", self.username));
        let mut text = text.to_string();
        for secret in [self.header_value(), token, password.to_string()] {
            text = text.replace(&secret, "[redacted]");
        }
        text
    }
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("server_address", &self.server_address)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> RegistryCredentials {
        RegistryCredentials::new(
            "registry.test:5000",
            "AWS",
            SecretString::from("s3cr3t-token"),
        )
    }

    #[test]
    fn debug_never_shows_the_password() {
        let shown = format!("{:?}", credentials());
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(
            shown.contains("AWS") && shown.contains("registry.test:5000"),
            "{shown}"
        );
    }

    #[test]
    fn the_header_is_base64url_json_with_the_three_fields() {
        let header = credentials().header_value();
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(header)
            .expect("base64url");
        let value: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(value["username"], "AWS");
        assert_eq!(value["password"], "s3cr3t-token");
        assert_eq!(value["serveraddress"], "registry.test:5000");
    }

    #[test]
    fn echoed_passwords_are_blotted_out() {
        assert_eq!(
            credentials().redact("bad token s3cr3t-token for AWS"),
            "bad token [redacted] for AWS"
        );
    }

    #[test]
    fn echoed_tokens_and_headers_are_blotted_out_too() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:s3cr3t-token");
        let header = credentials().header_value();
        assert_eq!(
            credentials().redact(&format!("Basic {token} / {header}")),
            "Basic [redacted] / [redacted]"
        );
    }
}
