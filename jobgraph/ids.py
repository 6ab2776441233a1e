"""Element IDs are validated before they are ever used to build a path."""
from __future__ import annotations

import re

DEFAULT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


class InvalidElementId(ValueError):
    """The element is not a valid ID for this job; it never reaches a path."""

    reason = "invalid-id"


def validate_id(element: bytes | str, pattern: str = DEFAULT_ID_PATTERN) -> str:
    """Return `element` as str if it matches `pattern` (a full match), else raise InvalidElementId."""
    if isinstance(element, bytes):
        try:
            text = element.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidElementId(f"element is not UTF-8: {element[:64]!r}") from exc
    else:
        text = element
    if not re.fullmatch(pattern, text):
        raise InvalidElementId(f"element {text[:140]!r} does not match the ID pattern {pattern!r}")
    return text
