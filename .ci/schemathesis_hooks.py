"""schemathesis hooks for keygate (.ci/schemathesis.toml loads this file).

`policy_refusals_only`: a request that conforms to openapi.yaml may be refused for what no
schema can say (a breached or predictable new password: `weak_password`; an unknown, expired
or spent reset token: `invalid_token`), never as malformed (`invalid_request`) nor with any
other 400. The operations that take a new password or a reset token accept 400 in
`positive_data_acceptance` (see the toml); this check narrows that 400 to those two codes.
"""

import schemathesis

POLICY_CODES = {"weak_password", "invalid_token"}


@schemathesis.check
def policy_refusals_only(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    try:
        code = response.json().get("error")
    except Exception:  # noqa: BLE001 - any non-JSON answer is itself the failure
        code = None
    if code not in POLICY_CODES:
        raise AssertionError(
            f"A request that conforms to openapi.yaml was refused with 400 {code!r}; "
            f"only {sorted(POLICY_CODES)} are policy refusals"
        )
    return None
