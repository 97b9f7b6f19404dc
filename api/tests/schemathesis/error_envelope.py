"""A schemathesis check, loaded by api/tests/fuzz.rs through SCHEMATHESIS_HOOKS: every
answer with a status of 400 or more is the API's JSON error envelope,
{"error": {"code": <non-empty string>, "message": <string>, "details": <object>}}."""

import json

import schemathesis
from hypothesis.internal import lambda_sources

# CPython 3.11 before 3.11.8 may raise SystemError ("AST constructor recursion depth
# mismatch") from ast.parse. Hypothesis parses a filter lambda's source only to describe it,
# so a lambda it cannot parse is described as unknown instead of ending the run with a
# "Runtime Error" that says nothing about the API.
_describe = lambda_sources._lambda_description


def _describe_or_unknown(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _describe_or_unknown


@schemathesis.check
def error_envelope(ctx, response, case):
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    assert content_type.startswith("application/json"), (
        f"error {response.status_code} is not JSON (Content-Type {content_type!r})"
    )
    try:
        body = json.loads(response.content)
    except ValueError as err:
        raise AssertionError(f"error {response.status_code} body is not JSON: {err}") from err
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"error {response.status_code} has no `error` object"
    assert isinstance(error.get("code"), str) and error["code"], "the envelope has no code"
    assert isinstance(error.get("message"), str), "the envelope has no message"
    assert isinstance(error.get("details"), dict), "the envelope has no details object"
    return None
