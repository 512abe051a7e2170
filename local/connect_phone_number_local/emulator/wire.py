"""Connect's rest-json wire format, derived from botocore's service model.

Routes (method and URI template), where each input member lives (URI label, query string or
body) and the constraints the service enforces all come from the model that boto3 ships, so
the emulator follows the same contract the clients are generated from.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape

# Absolute, so that this module also loads on its own (scripts/generate_iam_reference.py does).
from connect_phone_number_handler import validation

OPERATIONS = (
    "ClaimPhoneNumber",
    "DescribePhoneNumber",
    "ReleasePhoneNumber",
    "UpdatePhoneNumber",
    "UpdatePhoneNumberMetadata",
    "SearchAvailablePhoneNumbers",
    "ListPhoneNumbersV2",
    "ListPhoneNumbers",
    "ImportPhoneNumber",
    "AssociatePhoneNumberContactFlow",
    "DisassociatePhoneNumberContactFlow",
    "ListFlowAssociations",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
)

# The model stores these two patterns double-escaped (they would only match backslashes);
# these are the rules the service means. The tag patterns use \p{..} classes, which the
# handler's contract translates for Python's re (one translation for construct, handler and here).
_PATTERN_FIXES = {
    "PhoneNumber": re.compile(r"^\+[1-9]\d{1,14}$"),
    "PhoneNumberPrefix": re.compile(r"^\+?[0-9]{1,11}$"),
}


class WireError(Exception):
    """An error response: HTTP status, Connect error code and message."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def invalid(message: str) -> WireError:
    """InvalidParameterException, Connect's answer to a bad value."""
    return WireError(400, "InvalidParameterException", message)


@dataclass(frozen=True)
class Route:
    """One operation's HTTP method and URI template, compiled to match the raw (encoded) path."""

    operation: str
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    literal_length: int


@cache
def service_model() -> Any:
    """botocore's Connect service model."""
    return botocore.session.get_session().get_service_model("connect")


@cache
def routes() -> tuple[Route, ...]:
    """Routes for every emulated operation, most specific first."""
    built = []
    for name in OPERATIONS:
        operation = service_model().operation_model(name)
        template = operation.http["requestUri"].split("?")[0]
        labels = tuple(re.findall(r"\{(\w+)\+?\}", template))
        # A label may hold a raw ARN with '/' in it, so it matches greedily across segments.
        pieces = re.split(r"\{\w+\+?\}", template)
        regex = "^" + "(.+)".join(re.escape(piece) for piece in pieces) + "$"
        literal = len(re.sub(r"\{\w+\+?\}", "", template))
        built.append(Route(name, operation.http["method"], re.compile(regex), labels, literal))
    return tuple(sorted(built, key=lambda r: -r.literal_length))


def match(method: str, raw_path: str) -> tuple[str, dict[str, str]]:
    """The operation and its decoded URI labels for a request, or a 404 WireError."""
    for route in routes():
        found = route.pattern.match(raw_path)
        if found and route.method == method:
            return route.operation, {label: urllib.parse.unquote(value) for label, value in zip(route.labels, found.groups(), strict=True)}
    raise WireError(404, "UnknownOperationException", f"No Connect operation for {method} {raw_path}")


def parse_input(operation: str, labels: dict[str, str], query: str, body: bytes) -> dict[str, Any]:
    """Build the operation's input (member name to value) from the URI, query string and body."""
    model: OperationModel = service_model().operation_model(operation)
    shape = model.input_shape
    params: dict[str, Any] = {}
    document = parse_json(body)
    queries = urllib.parse.parse_qs(query, keep_blank_values=True)
    for member, member_shape in shape.members.items():
        location = member_shape.serialization.get("location")
        wire_name = member_shape.serialization.get("name", member)
        if location == "uri":
            if wire_name in labels:
                params[member] = labels[wire_name]
        elif location == "querystring":
            if wire_name in queries:
                values = queries[wire_name]
                params[member] = values if member_shape.type_name == "list" else _scalar(member_shape, values[0], wire_name)
        elif member in document:
            params[member] = document[member]
    validate(shape, params, path="")
    return params


def parse_json(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object (an empty body is ``{}``); 400 SerializationException otherwise."""
    try:
        document = json.loads(body) if body.strip() else {}
    except ValueError:  # bad JSON, and bytes that are not UTF-8 (UnicodeDecodeError)
        raise WireError(400, "SerializationException", "The request body is not valid UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise WireError(400, "SerializationException", "The request body must be a JSON object")
    return document


def output_body(operation: str, result: dict[str, Any]) -> bytes:
    """The response body: JSON, or nothing at all for an operation whose model has no output members."""
    shape = service_model().operation_model(operation).output_shape
    return json.dumps(result).encode() if shape is not None and shape.members else b""


def _scalar(shape: Shape, value: str, wire_name: str) -> Any:
    """A query-string value as its shape's type (only strings and integers occur here)."""
    if shape.type_name != "integer":
        return value
    if re.fullmatch(r"-?[0-9]{1,18}", value) is None:
        raise invalid(f"Value '{value}' at '{wire_name}' must be an integer")
    return int(value)


def _label(path: str, name: str) -> str:
    joined = f"{path}.{name}" if path else name
    return joined[0].lower() + joined[1:]


def validate(shape: Shape, value: Any, *, path: str) -> None:
    """Enforce what the service enforces and botocore does not: max, enum, pattern, types."""
    kind = shape.type_name
    meta = shape.metadata
    where = path or shape.name
    if kind == "structure":
        if not isinstance(value, dict):
            raise invalid(f"Value at '{where}' must be an object")
        for required in shape.required_members:
            if value.get(required) in (None, ""):
                raise invalid(f"Value null at '{_label(path, required)}' failed to satisfy constraint: Member must not be null")
        for member, member_value in value.items():
            if member in shape.members:
                validate(shape.members[member], member_value, path=_label(path, member))
        return
    if kind == "string":
        if not isinstance(value, str):
            raise invalid(f"Value at '{where}' must be a string")
        if ("min" in meta and len(value) < meta["min"]) or ("max" in meta and len(value) > meta["max"]):
            raise invalid(f"Value at '{where}' failed to satisfy constraint: Member must have length between {meta.get('min', 0)} and {meta.get('max', 'any')}")
        if shape.enum and value not in shape.enum:
            raise invalid(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        _check_pattern(shape, value, where)
        return
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid(f"Value at '{where}' must be an integer")
        if ("min" in meta and value < meta["min"]) or ("max" in meta and value > meta["max"]):
            raise invalid(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must be between {meta.get('min')} and {meta.get('max')}")
        return
    if kind == "list":
        if not isinstance(value, list):
            raise invalid(f"Value at '{where}' must be a list")
        _check_size(meta, len(value), where)
        for item in value:
            validate(shape.member, item, path=where)
        return
    if kind == "map":
        if not isinstance(value, dict):
            raise invalid(f"Value at '{where}' must be a map")
        _check_size(meta, len(value), where)
        for key, item in value.items():
            validate(shape.key, key, path=f"{where}.key")
            validate(shape.value, item, path=f"{where}.value")


def _check_size(meta: dict[str, Any], size: int, where: str) -> None:
    if ("min" in meta and size < meta["min"]) or ("max" in meta and size > meta["max"]):
        raise invalid(f"Value at '{where}' failed to satisfy constraint: Member must have between {meta.get('min', 0)} and {meta.get('max', 'any')} items")


def _check_pattern(shape: Shape, value: str, where: str) -> None:
    fixed = _PATTERN_FIXES.get(shape.name)
    if fixed is not None:
        compiled, pattern = fixed, fixed.pattern
    elif shape.name == "TagKey":
        compiled, pattern = validation.tag_key_pattern(), validation.tag_key_pattern_source()
    elif shape.name == "TagValue":
        compiled, pattern = validation.tag_value_pattern(), validation.tag_value_pattern_source()
    else:
        return
    if not compiled.fullmatch(value):
        raise invalid(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}")


def error_body(error: WireError) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body for an error, as Connect sends them."""
    document = {"Message": error.message, **error.extra}
    return error.status, {"x-amzn-ErrorType": error.code, "Content-Type": "application/json"}, json.dumps(document).encode()
