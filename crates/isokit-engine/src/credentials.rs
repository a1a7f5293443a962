//! Registry credentials, sent with one request and never shown.

use std::fmt;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Serialize;

/// A username and password for one registry, handed to the daemon in the
/// `X-Registry-Auth` header of the request that needs them, so that nothing
/// is stored in `~/.docker`. `Debug` never shows the password, and every
/// form of it made here (the header, the token) is held as a secret too.
#[derive(Clone)]
pub struct RegistryCredentials {
    /// The registry host, such as `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub server_address: String,
    pub username: String,
    pub password: SecretString,
}

/// The daemon's auth config, as the header carries it.
#[derive(Serialize)]
struct AuthConfig<'a> {
    username: &'a str,
    password: &'a str,
    serveraddress: &'a str,
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
    /// daemon expects it. Exposed only where the header is set.
    pub(crate) fn header_value(&self) -> SecretString {
        let config = AuthConfig {
            username: &self.username,
            password: self.password.expose_secret(),
            serveraddress: &self.server_address,
        };
        // Sized up front, so that no copy of the password is ordinarily
        // left in a buffer outgrown and freed unwiped.
        let mut json = Vec::with_capacity(
            64 + 2 * (config.username.len() + config.password.len() + config.serveraddress.len()),
        );
        serde_json::to_writer(&mut json, &config).expect("three strings always serialize to JSON");
        let json = SecretSlice::from(json);
        SecretString::from(base64::engine::general_purpose::URL_SAFE.encode(json.expose_secret()))
    }

    /// The token that carries the password, as ECR hands it out and as
    /// `Authorization: Basic` sends it: `base64(user:password)`.
    fn token(&self) -> SecretString {
        let password = self.password.expose_secret();
        let mut pair = String::with_capacity(self.username.len() + 1 + password.len());
        pair.push_str(&self.username);
        pair.push(':');
        pair.push_str(password);
        let pair = SecretString::from(pair);
        SecretString::from(
            base64::engine::general_purpose::STANDARD.encode(pair.expose_secret().as_bytes()),
        )
    }

    /// The same credentials in bollard's form, for the calls bollard makes:
    /// made at the call, dropped with it.
    pub(crate) fn for_bollard(&self) -> bollard::auth::DockerCredentials {
        bollard::auth::DockerCredentials {
            username: Some(self.username.clone()),
            password: Some(self.password.expose_secret().to_string()),
            serveraddress: Some(self.server_address.clone()),
            ..Default::default()
        }
    }
}

/// Blots credentials out of what a registry or the daemon says, should
/// either ever echo them: the password bare, as the token that carries it,
/// or as the header that sends it. Every line of a push or a pull that is
/// shown, logged or put in an error passes through the one made for it.
pub(crate) struct Redactor {
    /// Longest first, so that no form is half-replaced through a shorter one.
    secrets: Vec<SecretString>,
}

impl Redactor {
    /// For a push or pull with these credentials; one without any has
    /// nothing to hide.
    pub(crate) fn new(credentials: Option<&RegistryCredentials>) -> Redactor {
        let secrets = match credentials {
            Some(credentials) if !credentials.password.expose_secret().is_empty() => vec![
                credentials.header_value(),
                credentials.token(),
                credentials.password.clone(),
            ],
            _ => Vec::new(),
        };
        Redactor { secrets }
    }

    /// `text`, with every form of the password replaced by `[redacted]`.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.secrets {
            let secret = secret.expose_secret();
            if text.contains(secret) {
                text = text.replace(secret, "[redacted]");
            }
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
            .decode(header.expose_secret())
            .expect("base64url");
        let value: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(value["username"], "AWS");
        assert_eq!(value["password"], "s3cr3t-token");
        assert_eq!(value["serveraddress"], "registry.test:5000");
    }

    #[test]
    fn echoed_passwords_are_blotted_out() {
        assert_eq!(
            Redactor::new(Some(&credentials())).clean("bad token s3cr3t-token for AWS"),
            "bad token [redacted] for AWS"
        );
    }

    #[test]
    fn echoed_tokens_and_headers_are_blotted_out_too() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:s3cr3t-token");
        let header = credentials().header_value();
        let header = header.expose_secret();
        assert_eq!(
            Redactor::new(Some(&credentials())).clean(&format!("Basic {token} / {header}")),
            "Basic [redacted] / [redacted]"
        );
        assert_eq!(
            credentials().token().expose_secret(),
            token,
            "the token is ECR's: base64 of user:password"
        );
    }
}
