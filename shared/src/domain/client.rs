//! OAuth 2.0 clients: the `client_id` a token names, client authentication as presented
//! (RFC 6749 section 2.3.1: HTTP Basic or `client_id` and `client_secret` in the body), the
//! client a refresh token is bound to, and the `scope` a client asks for.

use super::{ApiKey, Invalid, KeyId, Role, Roles};

/// The `client_id` of tokens issued to no named client (a login that names none, a browser
/// session): keygate's own public client.
pub const DEFAULT_CLIENT_ID: &str = "keygate";

/// A client id: 1 to 128 characters of `A-Z a-z 0-9 _ - . :`. A confidential client's id is
/// an API key's `key_id`; a public client (a password login) names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    /// Parses a client id.
    pub fn parse(s: &str) -> Result<ClientId, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if ok {
            Ok(ClientId(s.to_owned()))
        } else {
            Err(Invalid("client_id must be 1-128 characters of A-Z a-z 0-9 _ - . :"))
        }
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this id has the form of an API key's `key_id` (16 lowercase hex digits). Such ids
    /// are reserved for confidential clients: a request naming one must authenticate it (RFC
    /// 6749 section 3.2.1), so a session whose `client_id` has this form was started by that
    /// authenticated client, whether or not the key exists today.
    pub fn names_api_key(&self) -> bool {
        names_api_key(&self.0)
    }
}

fn names_api_key(id: &str) -> bool {
    KeyId::parse(id).is_some()
}

/// The client of a token request once authenticated: the `client_id` its tokens name, and the
/// client its refresh tokens are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// No client named: keygate's own public client, [`DEFAULT_CLIENT_ID`].
    Default,
    /// A public client by its `client_id` alone; never an id that [`ClientId::names_api_key`].
    Public(ClientId),
    /// A confidential client (an API key) that proved it holds its key.
    Confidential(KeyId),
}

/// Why a client may not refresh a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// The session belongs to a confidential client and the request did not authenticate it
    /// (`invalid_client`).
    ClientAuthenticationRequired,
    /// The session belongs to another client (`invalid_grant`, RFC 6749 section 6).
    OtherClient,
}

impl Client {
    /// The `client_id` this client's tokens and sessions name.
    pub fn id(&self) -> &str {
        match self {
            Client::Default => DEFAULT_CLIENT_ID,
            Client::Public(id) => id.as_str(),
            Client::Confidential(key_id) => key_id.as_str(),
        }
    }

    /// Whether this client may refresh a session started for `issued_to` (the family's
    /// `client_id`). A confidential client's session (an API key's id) needs that client's
    /// authentication; a public client's, that client's id (no id names the default client).
    pub fn may_refresh(&self, issued_to: &str) -> Result<(), RefreshRefusal> {
        let same = self.id() == issued_to;
        match self {
            Client::Confidential(_) if same => Ok(()),
            Client::Confidential(_) => Err(RefreshRefusal::OtherClient),
            Client::Default | Client::Public(_) if names_api_key(issued_to) => {
                Err(RefreshRefusal::ClientAuthenticationRequired)
            }
            Client::Default | Client::Public(_) if same => Ok(()),
            Client::Default | Client::Public(_) => Err(RefreshRefusal::OtherClient),
        }
    }
}

/// How a client presented its credentials. A failed `Basic` attempt is answered with a
/// `WWW-Authenticate: Basic` challenge (RFC 6749 section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
}

/// A confidential client's credentials as presented: an id and a secret (an API key's
/// `key_id` and the API key). Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct ClientCredentials {
    pub method: ClientAuthMethod,
    id: String,
    secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("method", &self.method)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// The id as presented (not checked: an unknown or malformed id is `invalid_client`).
    pub fn presented_id(&self) -> &str {
        &self.id
    }
    /// The API key these credentials present: `None` unless the secret is a well-formed key
    /// whose id is the client id.
    pub fn api_key(&self) -> Option<ApiKey> {
        ApiKey::parse(&self.secret).filter(|k| k.key_id().as_str() == self.id)
    }
}

/// The client side of a token request.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// No client named at all.
    Anonymous,
    /// A public client: a `client_id` without a secret.
    Public(ClientId),
    /// A confidential client, still to be authenticated.
    Confidential(ClientCredentials),
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749 section 2.3.1 encodes
/// the Basic user and password this way); `None` for bad escapes or non-UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok())?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl ClientAuth {
    /// The client of a token request, from the Basic credentials (when they are the client's,
    /// not a user's) and the body's `client_id` and `client_secret`. Using both methods at once,
    /// a secret without an id, a malformed body `client_id`, or a body `client_id` other than
    /// the Basic one is malformed (`invalid_request`).
    pub fn from_request(
        basic: Option<(&str, &str)>,
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> Result<ClientAuth, Invalid> {
        let body_id = client_id.map(ClientId::parse).transpose()?;
        match (basic, body_id, client_secret) {
            (Some(_), _, Some(_)) => Err(Invalid("use one client authentication method, not both")),
            (Some((user, pass)), body_id, None) => {
                // Undecodable escapes cannot name a client: kept as given, they fail authentication.
                let id = form_decode(user).unwrap_or_else(|| user.to_owned());
                let secret = form_decode(pass).unwrap_or_else(|| pass.to_owned());
                if body_id.is_some_and(|b| b.as_str() != id) {
                    return Err(Invalid("client_id differs from the Basic credentials"));
                }
                Ok(ClientAuth::Confidential(ClientCredentials {
                    method: ClientAuthMethod::Basic,
                    id,
                    secret,
                }))
            }
            (None, Some(id), Some(secret)) => Ok(ClientAuth::Confidential(ClientCredentials {
                method: ClientAuthMethod::Post,
                id: id.0,
                secret: secret.to_owned(),
            })),
            (None, None, Some(_)) => Err(Invalid("client_secret requires client_id")),
            (None, Some(id), None) => Ok(ClientAuth::Public(id)),
            (None, None, None) => Ok(ClientAuth::Anonymous),
        }
    }
}

/// A requested `scope` (RFC 6749 section 3.3): role names separated by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(Vec<Role>);

impl Scope {
    /// Parses a scope; an empty or malformed one is an error (`invalid_scope`).
    pub fn parse(s: &str) -> Result<Scope, Invalid> {
        s.split(' ')
            .map(Role::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Scope)
            .map_err(|_| Invalid("scope must be role names separated by single spaces"))
    }

    /// The granted roles narrowed to this scope, or `None` when it asks for a role that
    /// `granted` lacks.
    pub fn narrow(&self, granted: &Roles) -> Option<Roles> {
        if !self.0.iter().all(|r| granted.contains(r.as_str())) {
            return None;
        }
        Roles::new(self.0.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(ClientId::parse("my-app.v2:web_1").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(129)] {
            assert!(ClientId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_auth_methods() {
        let key = ApiKey::generate();
        let (id, secret) = (key.key_id().to_string(), key.expose());
        let ClientAuth::Confidential(c) = ClientAuth::from_request(Some((&id, &secret)), None, None).unwrap() else {
            panic!("not confidential");
        };
        assert_eq!(c.method, ClientAuthMethod::Basic);
        assert!(c.api_key().is_some());
        let ClientAuth::Confidential(c) = ClientAuth::from_request(None, Some(&id), Some(&secret)).unwrap() else {
            panic!("not confidential");
        };
        assert_eq!(c.method, ClientAuthMethod::Post);
        assert!(c.api_key().is_some());
        // Percent-encoded Basic components are decoded.
        let encoded = secret.replace('_', "%5F");
        let ClientAuth::Confidential(c) = ClientAuth::from_request(Some((&id, &encoded)), None, None).unwrap() else {
            panic!("not confidential");
        };
        assert!(c.api_key().is_some());
        // Another key's id does not match the secret.
        let other = ApiKey::generate().key_id().to_string();
        let ClientAuth::Confidential(c) = ClientAuth::from_request(None, Some(&other), Some(&secret)).unwrap() else {
            panic!("not confidential");
        };
        assert!(c.api_key().is_none());
        assert!(!format!("{c:?}").contains(&secret));

        assert!(ClientAuth::from_request(Some((&id, &secret)), None, Some(&secret)).is_err());
        assert!(ClientAuth::from_request(None, None, Some(&secret)).is_err());
        assert!(ClientAuth::from_request(Some((&id, &secret)), Some("other"), None).is_err());
        assert!(matches!(
            ClientAuth::from_request(None, Some("spa"), None),
            Ok(ClientAuth::Public(_))
        ));
        assert!(matches!(
            ClientAuth::from_request(None, None, None),
            Ok(ClientAuth::Anonymous)
        ));
    }

    #[test]
    fn api_key_ids_are_reserved_for_confidential_clients() {
        let key_id = ApiKey::generate().key_id().to_string();
        assert!(ClientId::parse(&key_id).unwrap().names_api_key());
        for public in [
            "spa",
            DEFAULT_CLIENT_ID,
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdef0",
        ] {
            assert!(!ClientId::parse(public).unwrap().names_api_key(), "{public}");
        }
    }

    #[test]
    fn a_refresh_token_refreshes_only_for_the_client_it_was_issued_to() {
        use RefreshRefusal::*;
        let key = ApiKey::generate().key_id().clone();
        let other_key = ApiKey::generate().key_id().clone();
        let spa = Client::Public(ClientId::parse("spa").unwrap());
        let confidential = Client::Confidential(key.clone());
        // A confidential client's session: its authentication, nothing less.
        assert_eq!(confidential.may_refresh(key.as_str()), Ok(()));
        assert_eq!(
            Client::Default.may_refresh(key.as_str()),
            Err(ClientAuthenticationRequired)
        );
        let naming_it = Client::Public(ClientId::parse(key.as_str()).unwrap());
        assert_eq!(naming_it.may_refresh(key.as_str()), Err(ClientAuthenticationRequired));
        assert_eq!(
            Client::Confidential(other_key).may_refresh(key.as_str()),
            Err(OtherClient)
        );
        // A public client's session: its id.
        assert_eq!(spa.may_refresh("spa"), Ok(()));
        assert_eq!(Client::Default.may_refresh("spa"), Err(OtherClient));
        assert_eq!(confidential.may_refresh("spa"), Err(OtherClient));
        assert_eq!(
            Client::Public(ClientId::parse("other-app").unwrap()).may_refresh("spa"),
            Err(OtherClient)
        );
        // The default client's session: no id, or its own.
        assert_eq!(Client::Default.may_refresh(DEFAULT_CLIENT_ID), Ok(()));
        let named_default = Client::Public(ClientId::parse(DEFAULT_CLIENT_ID).unwrap());
        assert_eq!(named_default.may_refresh(DEFAULT_CLIENT_ID), Ok(()));
        assert_eq!(spa.may_refresh(DEFAULT_CLIENT_ID), Err(OtherClient));
    }

    #[test]
    fn scopes_narrow_or_refuse() {
        let granted = Roles::parse(&["reader", "writer"]).unwrap();
        let s = Scope::parse("reader").unwrap();
        assert_eq!(s.narrow(&granted).unwrap().names(), ["reader"]);
        assert!(Scope::parse("reader admin").unwrap().narrow(&granted).is_none());
        for bad in ["", "reader  writer", " reader", "a!b"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
    }
}
