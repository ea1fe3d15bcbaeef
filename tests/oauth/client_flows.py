"""A standard OAuth 2.0 client library (authlib) against a running keygate, with no
keygate-specific code: endpoints from discovery, every grant it advertises but the API-key
extension, client_secret_basic and client_secret_post, refresh (bound to its client) and
revocation (RFC 7009).

Usage: client_flows.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD
Exits non-zero (with the failed assertion) when a flow does not behave as OAuth 2.0 says.
"""

import sys

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except OAuthError as e:
        assert e.error == code, f"expected {code}, got {e.error}: {e.description}"
        return
    raise AssertionError(f"expected the OAuth error {code}, got a token")


def validate(session):
    """The access token, as a resource server sees it (keygate's nginx auth_request check)."""
    r = session.get(f"{issuer}/auth/validate")
    assert r.status_code == 200, (r.status_code, r.text)
    return r.headers["X-Auth-Subject"], r.headers["X-Auth-Roles"]


issuer, client_id, client_secret, username, password = sys.argv[1:6]
meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer, meta
token_url, revoke_url = meta["token_endpoint"], meta["revocation_endpoint"]
for grant in ("client_credentials", "password", "refresh_token"):
    assert grant in meta["grant_types_supported"], meta
for method in ("client_secret_basic", "client_secret_post", "none"):
    assert method in meta["token_endpoint_auth_methods_supported"], meta

# client_credentials, client_secret_basic: the key's roles.
basic = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")
token = basic.fetch_token(token_url, grant_type="client_credentials")
assert token["token_type"] == "Bearer" and "refresh_token" not in token, token
assert validate(basic) == (f"apikey:{client_id}", "reader,writer"), validate(basic)
print("client_credentials (client_secret_basic): ok")

# client_credentials, client_secret_post, narrowed by scope.
post = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_post", scope="reader")
post.fetch_token(token_url, grant_type="client_credentials")
assert validate(post) == (f"apikey:{client_id}", "reader"), validate(post)
expect_error("invalid_scope", post.fetch_token, token_url, grant_type="client_credentials", scope="root")
print("client_credentials (client_secret_post, scope): ok")

# Wrong client secrets, either way.
for method in ("client_secret_basic", "client_secret_post"):
    bad = OAuth2Session(client_id, client_secret[:-2] + "AA", token_endpoint_auth_method=method)
    expect_error("invalid_client", bad.fetch_token, token_url, grant_type="client_credentials")
print("invalid_client: ok")

# password grant, a public client; refresh; revoke.
public = OAuth2Session("authlib-test", token_endpoint_auth_method="none")
first = public.fetch_token(token_url, username=username, password=password)
assert first["refresh_token"] and first["expires_in"] > 0, first
subject, roles = validate(public)
assert roles == "reader", roles
print("password (none): ok")

second = public.refresh_token(token_url)
assert second["refresh_token"] != first["refresh_token"], "the refresh token did not rotate"
assert validate(public)[0] == subject
print("refresh_token: ok")

r = public.revoke_token(revoke_url, token=second["refresh_token"], token_type_hint="refresh_token")
assert r.status_code == 200, (r.status_code, r.text)
expect_error("invalid_grant", public.refresh_token, token_url, refresh_token=second["refresh_token"])
print("revoke: ok")

# password grant by a confidential client (client_secret_basic): the token names the client.
confidential = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")
confidential.fetch_token(token_url, username=username, password=password)
assert validate(confidential)[0] == subject
third = confidential.refresh_token(token_url)
assert third["refresh_token"], third
print("password and refresh (client_secret_basic): ok")

# That refresh token is bound to the confidential client: without its authentication it is
# invalid_client, and the refusal rotates nothing (the client still refreshes with it).
expect_error("invalid_client", public.refresh_token, token_url, refresh_token=third["refresh_token"])
fourth = confidential.refresh_token(token_url)
assert fourth["refresh_token"] != third["refresh_token"], fourth
print("refresh token bound to its client: ok")
