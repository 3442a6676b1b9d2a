"""API conventions shared by every app: one error shape, one JSON parser, one rule per input.

Every API input goes through here once: the JSON parser refuses NaN/Infinity, numbers out
of range, NUL characters, lone surrogates, deep nesting and bodies over
``API_MAX_BODY_BYTES``; ``AwareDateTimeField`` / ``time_problem`` refuse naive times,
offsets PostgreSQL cannot store and years out of range; the exception handler answers
every refusal as JSON (a 400 naming the field, 409, 413), never a 500.
"""

import json
import math
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

# Times outside this range are refused: they are typos, and at the edges (years 1 and
# 9999) adding a day or a time zone overflows Python's datetime and PostgreSQL's range.
TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2999, 12, 31, tzinfo=UTC)
# PostgreSQL stores offsets up to ±15:59 only.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
# JSON numbers: integers must fit a signed 64-bit column.
INT_MAX = 2**63 - 1
JSON_MAX_DEPTH = 32


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object was changed by someone else; reload and try again."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this server accepts."
    default_code = "payload_too_large"


# --- one rule per kind of value ------------------------------------------------------


def time_problem(value: datetime) -> str | None:
    """Why ``value`` cannot be stored as an instant, or None when it can."""
    if timezone.is_naive(value):
        return str(_("Give a time zone offset (ISO 8601, e.g. 2025-03-01T09:30:00+01:00 or …Z)."))
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        return str(_("The UTC offset must be between -15:59 and +15:59."))
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not (TIME_MIN <= utc <= TIME_MAX):
        return str(_("The time must be between 1970 and 2999."))
    return None


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (NUL characters, lone surrogates), or None."""
    if "\x00" in value:
        return str(_("Text must not contain NUL characters."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return str(_("Text must be valid Unicode (no lone surrogates)."))
    return None


def http_url(value) -> str:
    """``value`` when it is an absolute http(s) URL, else "" (``javascript:``, ``data:``…).

    Links from imports and APIs are stored and rendered only through this, so a
    ``javascript:`` link can never become a clickable ``href``.
    """
    if not isinstance(value, str):
        return ""
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c in value for c in "\x00\r\n\t "):
        return ""
    return value


def number_problem(value: float) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return str(_("Give a finite number."))
    if isinstance(value, int) and abs(value) > INT_MAX:
        return str(_("The number is too large."))
    return None


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset, within ``time_problem``'s range.

    DRF would read a naive time in the server's time zone; a caller in another zone would
    then record the wrong start of impact without noticing, so a naive time is refused.
    """

    default_error_messages = {
        "naive": "Give a time zone offset (ISO 8601, e.g. 2025-03-01T09:30:00+01:00 or …Z).",
        "range": "{problem}",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise serializers.ValidationError(problem)
            parsed = _parse_iso(value)
            if parsed is not None:
                if timezone.is_naive(parsed):
                    self.fail("naive")
                problem = time_problem(parsed)
                if problem:
                    self.fail("range", problem=problem)
        return super().to_internal_value(value)

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


# --- JSON --------------------------------------------------------------------------

_NUL_ESCAPE = re.compile(rb"\\u0000", re.IGNORECASE)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.IGNORECASE)
# Only numbers with 19+ digits or a 3-digit exponent can overflow: the per-number checks
# (Python calls, slow on 100,000-row bodies) run only when the body has one.
_BIG_NUMBER = re.compile(rb"\d{19}|[eE][+-]?\d{3}")


def _reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _bounded_int(text):
    value = int(text)
    if abs(value) > INT_MAX:
        raise ValueError(f"{text[:30]} is too large")
    return value


def _too_deep(data) -> bool:
    """Nesting deeper than JSON_MAX_DEPTH; an iterative walk over containers only."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > JSON_MAX_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def json_loads_strict(raw: bytes):
    """Parse a request body, or raise ``ParseError`` saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise exceptions.ParseError("The body is not UTF-8.") from None
    if _NUL_ESCAPE.search(raw):
        raise exceptions.ParseError("Text must not contain NUL characters (\\u0000).")
    too_deep = f"JSON nested deeper than {JSON_MAX_DEPTH} levels."
    try:
        if _BIG_NUMBER.search(raw):
            data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)
        else:
            data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise exceptions.ParseError(too_deep) from None
    except ValueError as exc:
        raise exceptions.ParseError(f"JSON parse error - {exc}") from None
    if isinstance(data, (dict, list)) and _too_deep(data):
        raise exceptions.ParseError(too_deep)
    if _SURROGATE_ESCAPE.search(raw):
        try:
            # Lone surrogates (\ud800) parse but can be neither stored nor sent back;
            # a valid pair was joined by the parser and encodes fine.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise exceptions.ParseError("Text must be valid Unicode (no lone surrogates).") from None
    return data


def read_body(request, limit: int | None = None) -> bytes:
    """The raw body of a DRF or Django request, at most ``limit`` bytes (else 413)."""
    limit = limit or settings.API_MAX_BODY_BYTES
    django_request = getattr(request, "_request", request)
    try:
        length = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(f"The body is {length} bytes; at most {limit} per request.")
    raw = django_request.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    return raw


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with Beacon's limits (see ``json_loads_strict`` and ``read_body``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return {}
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
        return json_loads_strict(raw)


# --- errors ------------------------------------------------------------------------


class BulkRowsInvalid(Exception):
    """Some rows of a bulk push break the rules; nothing was stored.

    The one error shape of every bulk ingest API (metrics samples, batch runs, automation
    executions), answered 400: ``{"detail": …, "rows": [{"index", "key", "errors": {field:
    [messages]}}]}`` with ``index`` the 0-based position in the posted list (a single posted
    object is row 0) and ``key`` the row's own id when it has one.
    """

    def __init__(self, rows: list[dict], total: int):
        self.rows = sorted(rows, key=lambda row: row["index"])
        self.total = total
        super().__init__(f"{len(rows)} of {total} rows are invalid")

    @property
    def detail(self) -> str:
        return f"Nothing was saved: {len(self.rows)} of {self.total} rows are invalid."


def bulk_row(index: int, key, errors: dict) -> dict:
    return {"index": index, "key": None if key in (None, "") else str(key), "errors": errors}


class BulkRowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="0-based position in the posted list (a single object is 0).")
    key = serializers.CharField(allow_null=True, help_text="The row's own id (run_id, external_id, series).")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    rows = BulkRowErrorSerializer(many=True, required=False)


def exception_handler(exc, context):
    """One JSON error shape for the whole API: ``{"detail": …}`` or ``{field: [messages]}``.

    Domain ``ValidationError``s from services become a 400 per field; a value the database
    refuses (out of range, NUL) a 400, and Django's oversize-body error a 413.
    """
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES, which is in this module.
    from rest_framework.views import exception_handler as drf_exception_handler
    from rest_framework.views import set_rollback

    if isinstance(exc, BulkRowsInvalid):
        set_rollback()
        return Response({"detail": exc.detail, "rows": exc.rows}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
        else:
            detail = {"non_field_errors": exc.messages}
        set_rollback()
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DataError):
        set_rollback()
        return Response(
            {"detail": "A value is out of range or not allowed for its field."}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": PayloadTooLarge.default_detail}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return drf_exception_handler(exc, context)


# --- OpenAPI -----------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` for the whole request, or a list of messages per field.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}
_ERRORS = {
    "400": "Invalid input: messages per field (bulk APIs: per row, see BulkError).",
    "401": "Not signed in / no valid token.",
    "403": "Signed in without the role this call needs.",
    "404": "No such object.",
    "406": "The format asked for (Accept, ?format=) is not offered by this call.",
    "409": "Conflict with the current state.",
    "413": "Body larger than API_MAX_BODY_BYTES.",
    "415": "Unsupported media type.",
}


def schema_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents Beacon's error answers."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Error", ERROR_SCHEMA)
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            codes = ["400", "401", "403", "404", "406"]
            if method != "get":
                codes += ["409", "413", "415"]
            for code in codes:
                responses.setdefault(
                    code,
                    {
                        "description": _ERRORS[code],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
