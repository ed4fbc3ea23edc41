"""Text and links as the edges accept them: bounded, printable, and http(s) only.

Every string a client or an event sends passes through one of these types, so stored
data holds no NUL or control characters (PostgreSQL refuses NUL; terminals and logs
misread the rest); lone surrogates, which cannot be encoded as UTF-8, pydantic refuses
itself. The rule is
also written into the OpenAPI document as a ``pattern``, so that clients and fuzzers
know it; the validator says in words what is wrong.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

__all__ = ["ID_PATTERN", "LINE_PATTERN", "TEXT_PATTERN", "Line", "Text", "WebLink", "line", "text"]

#: One line: no control characters at all.
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
#: Free text: line breaks and tabs allowed, other control characters not.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
#: An id in a path: letters, digits and a few separators.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
_LINE = re.compile(LINE_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)


def _printable_line(value: str) -> str:
    if not _LINE.match(value):
        raise ValueError("must not contain control characters (NUL, line breaks, escapes)")
    return value


def _printable_text(value: str) -> str:
    if not _TEXT.match(value):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


def line(max_length: int, min_length: int = 0):
    """A one-line string of at most ``max_length`` characters (names, codes, labels)."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_printable_line),
        Field(json_schema_extra={"pattern": LINE_PATTERN}),
    ]


def text(max_length: int, min_length: int = 0):
    """Free text of at most ``max_length`` characters (needs, reasons, descriptions)."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_printable_text),
        Field(json_schema_extra={"pattern": TEXT_PATTERN}),
    ]


Line = line(200)
Text = text(5000)

#: http(s), then a host, and no spaces or control characters anywhere.
WEB_PATTERN = r"^[hH][tT][tT][pP][sS]?://[^\x00-\x20\x7f/$.?#][^\x00-\x20\x7f]*$"
_WEB = re.compile(WEB_PATTERN)


def _web_link(value: str) -> str:
    if not _WEB.match(value):
        raise ValueError("must be an http:// or https:// address")
    return value


#: A link people may follow from a page: http or https only (never javascript: or data:).
WebLink = Annotated[
    str,
    StringConstraints(max_length=500),
    AfterValidator(_printable_line),
    AfterValidator(_web_link),
    Field(json_schema_extra={"pattern": WEB_PATTERN}),
]
