"""CDS Hooks 2.0 JSON Schemas (draft 2020-12): load once from package data, validate, explain errors.

Owns `service/schemas/*.schema.json`. Pure: imports neither flask nor requests. The request schema never
descends into prefetched FHIR resources, so validating a request costs little next to `json.loads`.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from typing import Any
from typing import Final
from urllib.parse import urlsplit

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema import FormatChecker
from jsonschema import ValidationError

REQUEST: Final = "request"
RESPONSE: Final = "response"
DISCOVERY: Final = "discovery"
FEEDBACK: Final = "feedback"
KINDS: Final[tuple[str, ...]] = (REQUEST, RESPONSE, DISCOVERY, FEEDBACK)

# Enough to fix a payload without flooding a log line or an OperationOutcome.
MAX_MESSAGES: Final = 10
# Instances are quoted in messages only as a short preview: a bad value may be a 5,000-entry Bundle.
_PREVIEW_CHARS: Final = 60

# What fastjsonschema (draft 7) checks exactly as jsonschema checks draft 2020-12 (annotations included).
_COMPILABLE_KEYWORDS: Final = frozenset({
    "$schema", "$id", "$ref", "$defs", "title", "description", "type", "enum", "const", "required", "properties",
    "additionalProperties", "items", "minItems", "minLength", "maxLength", "pattern", "format", "allOf", "anyOf",
    "if", "then", "else",
})
_NAMING_KEYWORDS: Final = frozenset({"properties", "$defs"})
_SCHEMA_PACKAGE: Final = "service"
_SCHEMA_DIR: Final = "schemas"
_RFC3339: Final = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_URI_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_PLAIN_KEY: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_JSON_TYPES: Final[tuple[tuple[type, str], ...]] = (
    (bool, "boolean"),  # before int: bool is a subclass of int
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


class SchemaError(ValueError):
    """An instance does not conform to one of our CDS Hooks schemas."""

    def __init__(self, kind: str, messages: list[str]) -> None:
        """Keep the schema kind and the readable messages (each names its JSON path)."""
        super().__init__(f"invalid CDS Hooks {kind}: " + "; ".join(messages))
        self.kind = kind
        self.messages = messages


def validate(kind: str, instance: object) -> None:
    """Raise SchemaError if `instance` does not conform to the `kind` schema."""
    messages = errors(kind, instance)
    if messages:
        raise SchemaError(kind, messages)


def errors(kind: str, instance: object) -> list[str]:
    """Return readable messages ("context.patientId: is a required property"), at most MAX_MESSAGES."""
    accepts = _compiled(kind)
    if accepts is not None and accepts(instance):
        return []
    found = sorted(_validator(kind).iter_errors(instance), key=_sort_key)
    # dict.fromkeys drops repeats (a pattern and its format, or a type checked by two subschemas).
    messages = list(dict.fromkeys(_message(error) for error in found))
    if len(messages) > MAX_MESSAGES:
        hidden = len(messages) - (MAX_MESSAGES - 1)
        messages = messages[: MAX_MESSAGES - 1] + [f"... and {hidden} more errors"]
    return messages


def preload() -> None:
    """Build every validator now (call at startup so a broken schema fails at boot, not on a request)."""
    for kind in KINDS:
        _validator(kind)
        _compiled(kind)


def schema(kind: str) -> dict[str, Any]:
    """Return the parsed `kind` schema (shared; do not mutate)."""
    if kind not in KINDS:
        raise ValueError(f"unknown schema kind {kind!r}; expected one of {', '.join(KINDS)}")
    return _load(kind)


@functools.cache
def _load(kind: str) -> dict[str, Any]:
    """Read `service/schemas/<kind>.schema.json` from package data once."""
    text = resources.files(_SCHEMA_PACKAGE).joinpath(_SCHEMA_DIR, f"{kind}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator(kind: str) -> Draft202012Validator:
    """Build the validator for `kind` once; the schema is checked against the metaschema first."""
    document = schema(kind)
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document, format_checker=_format_checker())


@functools.cache
def _compiled(kind: str) -> Callable[[object], bool] | None:
    """A yes/no check of the same schema compiled to Python by fastjsonschema; None if the schema uses a keyword
    it does not implement (it would ignore it). Only "yes" is trusted; "no" asks jsonschema, which also explains.

    On every request: jsonschema took 78 us to accept the bench body, the compiled check 8 us.
    """
    document = schema(kind)
    if not _compilable(document):
        return None
    check = fastjsonschema.compile(_ref_beside_keywords_as_all_of(document),
                                   formats={"date-time": _is_date_time, "uri": _is_uri})

    def accepts(instance: object) -> bool:
        try:
            check(instance)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return accepts


def _ref_beside_keywords_as_all_of(node: Any, *, named: bool = False) -> Any:
    """The schema with every {"$ref": R, ...more} written {"allOf": [{"$ref": R}], ...more}: draft 2020-12 applies
    both, draft 7 (fastjsonschema) would apply only the reference."""
    if isinstance(node, list):
        return [_ref_beside_keywords_as_all_of(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _ref_beside_keywords_as_all_of(value, named=not named and key in _NAMING_KEYWORDS)
           for key, value in node.items()}
    if not named and "$ref" in out and len(out) > 1:
        out["allOf"] = [{"$ref": out.pop("$ref")}, *out.get("allOf", [])]
    return out


def _keyword_uses(node: Any, *, named: bool = False) -> Iterator[tuple[str, Any]]:
    """(keyword, value) for every keyword a schema uses (names under properties and $defs are not keywords)."""
    if isinstance(node, list):
        for item in node:
            yield from _keyword_uses(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if not named:
                yield key, value
            yield from _keyword_uses(value, named=not named and key in _NAMING_KEYWORDS)


def _compilable(document: dict[str, Any]) -> bool:
    """Whether fastjsonschema checks `document` as jsonschema does: known keywords, and only strings compared by
    const and enum (draft 7 code compares with ==, and 1 == True in Python)."""
    uses = list(_keyword_uses(document))
    literals = [v for k, v in uses if k == "const"] + [x for k, v in uses if k == "enum" for x in v]
    return {k for k, _ in uses} <= _COMPILABLE_KEYWORDS and all(isinstance(x, str) for x in literals)


def _format_checker() -> FormatChecker:
    """Check date-time and uri with the standard library only (jsonschema's own need extra packages)."""
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    checker.checks("uri")(_is_uri)
    return checker


def _is_date_time(value: object) -> bool:
    """RFC 3339 section 5.6 date-time, with a real calendar date and time."""
    if not isinstance(value, str):
        return True  # format applies to strings only; "type" reports the rest
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    """Absolute URI with a scheme; http(s) URLs also need a host."""
    if not isinstance(value, str):
        return True
    if any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    if not _URI_SCHEME.match(parts.scheme):
        return False
    if parts.scheme.lower() in ("http", "https"):
        return bool(parts.hostname)
    return bool(value[len(parts.scheme) + 1 :])


def _sort_key(error: ValidationError) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """Order messages by JSON path (array indexes numerically) so related problems sit together."""
    steps = tuple((0, part, "") if isinstance(part, int) else (1, 0, part) for part in _full_path(error))
    return (steps, str(error.message))


def _full_path(error: ValidationError) -> list[str | int]:
    """Path of the offending value; for a missing property, the path it should have had."""
    parts: list[str | int] = list(error.absolute_path)
    if error.validator == "required":
        parts.append(_missing_property(error))
    return parts


def _path(parts: Iterable[str | int]) -> str:
    """Render a JSON path as `cards[0].source.label`; the root is `$`."""
    rendered = ""
    for part in parts:
        if isinstance(part, int):
            rendered += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            rendered += f".{part}" if rendered else part
        else:
            rendered += f"[{json.dumps(part)}]"
    return rendered or "$"


def _message(error: ValidationError) -> str:
    """One readable line for one error: `<path>: <what is wrong>`."""
    where = _path(_full_path(error))
    if error.validator == "required":
        return f"{where}: is a required property"
    return f"{where}: {_explain(error)}"


def _missing_property(error: ValidationError) -> str:
    """The property a `required` error is about (jsonschema only puts it in the message)."""
    # The message is f"{property!r} is a required property"; the repr round-trips through literal_eval.
    quoted = str(error.message).removesuffix(" is a required property")
    try:
        name = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return quoted
    return str(name)


def _explain(error: ValidationError) -> str:
    """Describe the failed keyword in plain words, quoting the instance only as a short preview."""
    keyword = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    if keyword is None:
        return "is not allowed here"  # a `false` schema (jsonschema gives it no path, so we use {"not": {}})
    if keyword == "not" and value == {}:
        reason = _description(error)
        return f"is not allowed here ({reason})" if reason else "is not allowed here"
    if keyword == "type":
        expected = " or ".join(value) if isinstance(value, list) else str(value)
        return f"expected {expected}, got {_json_type(instance)}"
    if keyword in ("enum", "const"):
        allowed = value if keyword == "enum" else [value]
        return f"{_preview(instance)} is not one of {', '.join(_preview(item) for item in allowed)}"
    if keyword == "minLength" and instance == "":
        return "must not be empty"
    if keyword == "maxLength":
        return f"is {len(instance)} characters long; at most {value} allowed"
    if keyword in ("minItems", "minProperties") and not instance:
        return "must not be empty (omit it instead)"
    declared_format = error.schema.get("format") if isinstance(error.schema, dict) else None
    if keyword in ("format", "pattern") and declared_format:
        # Our patterns back up a format (so the schema works without a format checker): say which format.
        return f"{_preview(instance)} is not a valid {declared_format}"
    if keyword == "pattern":
        return f"{_preview(instance)} does not match {value}"
    if keyword == "anyOf" and _only_required_branches(value):
        names = ", ".join(branch["required"][0] for branch in value)
        return f"needs at least one of: {names}"
    if keyword == "maxContains" and _description(error):
        return _description(error)
    text = str(error.message)
    return text if len(text) <= 200 else text[:200] + "..."


def _description(error: ValidationError) -> str:
    """The failing subschema's own description, used where the keyword alone says too little."""
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    return described if isinstance(described, str) else ""


def _only_required_branches(branches: object) -> bool:
    """True for anyOf lists like [{"required": ["reason"]}, {"required": ["userComment"]}]."""
    if not isinstance(branches, list):
        return False
    return all(isinstance(b, dict) and list(b) == ["required"] and len(b["required"]) == 1 for b in branches)


def _json_type(instance: object) -> str:
    """JSON name of a Python value's type (None is `null`)."""
    if instance is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(instance, python_type):
            return name
    return type(instance).__name__


def _preview(instance: object) -> str:
    """Short JSON rendering of a value for a message."""
    text = str(json.dumps(instance, default=repr))
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."
