//! Access control: bearer tokens, each with a role.
//!
//! Roles are ordered: `read` runs `SELECT`, `EXPLAIN`, `SHOW`, `DESCRIBE` (and reads
//! `/metrics`); `write` adds ingest and `INSERT`/`DELETE`/`FLUSH`; `admin` adds DDL, sources and
//! cancelling other clients' queries. Tokens come from `--auth-file` (TOML or JSON, see
//! [`Tokens::from_file`]) and/or `STRATA_TOKENS=token:role,...`. Without any token, auth is off:
//! every client is an anonymous admin, which the server allows on a loopback address only (or
//! with `--insecure-no-auth`).
//!
//! HTTP clients send `Authorization: Bearer <token>`; the PostgreSQL endpoint calls
//! [`Auth::check_password`] with the password (the token) the client sent.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use strata_query::Access;

/// A role: what a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries only.
    Read,
    /// Queries, ingest, INSERT, DELETE.
    Write,
    /// Everything.
    Admin,
}

impl Role {
    /// Parses `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Whether the role allows statements (or endpoints) that need `access`.
    pub fn allows(self, access: Access) -> bool {
        match access {
            Access::Read => true,
            Access::Write => self >= Role::Write,
            Access::Admin => self == Role::Admin,
        }
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (from the auth file), `token-N` otherwise; empty when auth is off.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// The principal of every request when auth is off.
    pub fn anonymous() -> Principal {
        Principal {
            name: String::new(),
            role: Role::Admin,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials (401).
    #[error("authentication required: send Authorization: Bearer <token>")]
    Missing,
    /// Unknown token (401).
    #[error("the token is not valid")]
    Invalid,
    /// Known token, insufficient role (403).
    #[error("the token's role \"{role}\" may not do this; it needs the {needed} role")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// The least role that would do.
        needed: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: String,
    role: Role,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_token: HashMap<String, Principal>,
}

impl Tokens {
    /// Reads `path`: JSON when it ends in `.json`, TOML otherwise, with a list of tokens:
    ///
    /// ```toml
    /// [[tokens]]
    /// token = "s3cret"
    /// role = "admin"        # read | write | admin
    /// name = "ops"          # optional, shown in system.queries
    /// ```
    ///
    /// or `{"tokens": [{"token": "s3cret", "role": "admin", "name": "ops"}]}`.
    pub fn from_file(path: &Path) -> anyhow::Result<Tokens> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the auth file {}: {e}", path.display()))?;
        let file: TokenFile = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("the auth file {}: {e}", path.display()))?
        } else {
            toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("the auth file {}: {e}", path.display()))?
        };
        let mut tokens = Tokens::default();
        for entry in file.tokens {
            tokens.add(entry.token, entry.role, entry.name)?;
        }
        Ok(tokens)
    }

    /// Adds `token:role,...` (the `STRATA_TOKENS` variable) to these tokens.
    pub fn add_list(&mut self, list: &str) -> anyhow::Result<()> {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (token, role) = item.rsplit_once(':').ok_or_else(|| {
                anyhow::anyhow!("STRATA_TOKENS: expected token:role, got an item without ':'")
            })?;
            let role = Role::parse(role).ok_or_else(|| {
                anyhow::anyhow!("STRATA_TOKENS: unknown role \"{role}\"; use read, write or admin")
            })?;
            self.add(token.to_string(), role, None)?;
        }
        Ok(())
    }

    fn add(&mut self, token: String, role: Role, name: Option<String>) -> anyhow::Result<()> {
        if token.len() < 8 {
            anyhow::bail!("a token must have at least 8 characters");
        }
        let name = name.unwrap_or_else(|| format!("token-{}", self.by_token.len() + 1));
        if self
            .by_token
            .insert(token, Principal { name, role })
            .is_some()
        {
            anyhow::bail!("a token is listed twice");
        }
        Ok(())
    }

    /// Whether no token is configured (auth off).
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }
}

/// The access-control configuration of a server.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Tokens,
}

impl Auth {
    /// Auth with `tokens` (none: auth off).
    pub fn new(tokens: Tokens) -> Auth {
        Auth { tokens }
    }

    /// Whether clients must authenticate.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Who sent `token` (`None`: no credentials were sent).
    pub fn authenticate(&self, token: Option<&str>) -> Result<Principal, AuthError> {
        if !self.enabled() {
            return Ok(Principal::anonymous());
        }
        let token = token.ok_or(AuthError::Missing)?;
        // Compare against every token in constant time per byte, so timing tells nothing.
        let mut found = None;
        for (known, principal) in &self.tokens.by_token {
            if constant_time_eq(known.as_bytes(), token.as_bytes()) {
                found = Some(principal.clone());
            }
        }
        found.ok_or(AuthError::Invalid)
    }

    /// The principal of an `Authorization` header value (`Bearer <token>`).
    pub fn authenticate_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let token = header.and_then(|h| {
            let (scheme, token) = h.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
        if header.is_some() && token.is_none() && self.enabled() {
            return Err(AuthError::Invalid);
        }
        self.authenticate(token)
    }

    /// For the PostgreSQL endpoint: the principal whose token is `password` (the user name is
    /// not checked; it is informational).
    #[allow(dead_code)] // lead: the PostgreSQL endpoint (server/src/pg/) calls this.
    pub fn check_password(&self, _user: &str, password: &str) -> Result<Principal, AuthError> {
        self.authenticate(Some(password))
    }
}

/// Fails with [`AuthError::Forbidden`] when `principal` may not do what needs `access`.
pub fn authorize(principal: &Principal, access: Access) -> Result<(), AuthError> {
    if principal.role.allows(access) {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            role: principal.role.as_str(),
            needed: match access {
                Access::Read => "read",
                Access::Write => "write",
                Access::Admin => "admin",
            },
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Read.allows(Access::Read));
        assert!(!Role::Read.allows(Access::Write));
        assert!(Role::Write.allows(Access::Write));
        assert!(!Role::Write.allows(Access::Admin));
        assert!(Role::Admin.allows(Access::Admin));
    }

    #[test]
    fn tokens_from_a_list_and_headers() {
        let from_list = |list: &str| {
            let mut tokens = Tokens::default();
            tokens.add_list(list).map(|_| tokens)
        };
        let auth = Auth::new(from_list("reader-token:read, writer-token:write").unwrap());
        assert_eq!(auth.authenticate_header(None), Err(AuthError::Missing));
        assert_eq!(
            auth.authenticate_header(Some("Bearer nope-nope-nope")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            auth.authenticate_header(Some("Basic abc")),
            Err(AuthError::Invalid)
        );
        let p = auth
            .authenticate_header(Some("Bearer writer-token"))
            .unwrap();
        assert_eq!(p.role, Role::Write);
        assert!(authorize(&p, Access::Admin).is_err());
        assert!(from_list("short:read").is_err());
        assert!(from_list("longenough:root").is_err());
    }

    #[test]
    fn tokens_from_toml() {
        let file: TokenFile = toml::from_str(
            "[[tokens]]\ntoken = \"abcdefghij\"\nrole = \"admin\"\nname = \"ops\"\n",
        )
        .unwrap();
        assert_eq!(file.tokens.len(), 1);
        assert_eq!(file.tokens[0].role, Role::Admin);
    }

    #[test]
    fn auth_off_is_anonymous_admin() {
        let auth = Auth::default();
        assert_eq!(auth.authenticate(None).unwrap().role, Role::Admin);
    }
}
