"""schemathesis hooks for keygate (.ci/schemathesis.toml loads this file).

`policy_refusals_only`: a request that conforms to openapi.yaml may be refused for what no
schema can say (a breached or predictable new password: `weak_password`; an unknown, expired
or spent reset token: `invalid_token`), never as malformed (`invalid_request`) nor with any
other 400. The operations that take a new password or a reset token accept 400 in
`positive_data_acceptance` (see the toml); this check narrows that 400 to those two codes,
and to one `invalid_request`: a username refused by RFC 8265's UsernameCaseMapped profile
(symbols beyond ASCII, unassigned code points, the bidi rule), which the `Username` pattern
cannot express (it excludes only spaces, controls and invisible characters). That refusal is
told by its fixed message (shared/src/domain/username.rs), which never quotes the input.
"""

import schemathesis

POLICY_CODES = {"weak_password", "invalid_token"}
USERNAME_PROFILE_REFUSAL = "username may hold only letters, digits and printable ASCII symbols"


@schemathesis.check
def policy_refusals_only(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    try:
        body = response.json()
        code = body.get("error")
        text = str(body.get("error_description", ""))
    except Exception:  # noqa: BLE001 - any non-JSON answer is itself the failure
        code, text = None, ""
    if code == "invalid_request" and text.startswith(USERNAME_PROFILE_REFUSAL):
        return None
    if code not in POLICY_CODES:
        raise AssertionError(
            f"A request that conforms to openapi.yaml was refused with 400 {code!r}; "
            f"only {sorted(POLICY_CODES)} are policy refusals"
        )
    return None
