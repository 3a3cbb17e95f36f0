"""Escaping of record values for the report's HTML and Markdown.

Everything a report prints from a record (a status, a failure message, a
hyperparameter value, a study or bin name) comes from files that anyone with write
access to the results folder, or a dataset's author, may have filled: it is text,
never markup. `html_text` escapes it for HTML text and attribute values; `md_text`
for Markdown (a table cell or a line of text: `<`, `>`, `&` as entities, Markdown's
inline metacharacters backslash-escaped, newlines and control characters as
spaces); `terminal_text` removes terminal escape sequences (an OSC 52 that fills
the clipboard, a clear screen) and turns other controls into spaces; `md_url`
percent-encodes a relative link; `row_class` lets only a known status become a CSS
class.
"""

from __future__ import annotations

import html
import re
import urllib.parse

from study.status import TrialStatus

# C0 and C1 controls, DEL, line/paragraph separators and bidirectional overrides
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
# terminal escape sequences, 7-bit (ESC ...) and 8-bit (CSI, OSC, DCS ... as C1): removed
# whole, so that neither their controls nor their arguments reach the terminal
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI: cursor, colours, clear screen
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS
    r"|\x1b[ -/]*[0-~]?"  # any other ESC sequence
)
_MD_INLINE = re.compile(r"([\\`*_\[\]|~])")  # emphasis, code, links, tables, strikethrough
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
CLASSES = frozenset({"best", "differ", *TrialStatus})  # the CSS classes render.CSS styles


def html_text(value) -> str:
    """`value` as HTML text, safe in an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def terminal_text(value) -> str:
    """`value` for a terminal line: escape sequences removed, other control characters
    (C0 with tab and newline, DEL, C1) as spaces."""
    return _CONTROL.sub(" ", _SEQUENCE.sub("", str(value)))


def md_text(value) -> str:
    """`value` as Markdown that renders as the same text, on one line."""
    text = _CONTROL.sub(" ", str(value))
    text = _MD_INLINE.sub(r"\\\1", text)
    return "".join(_MD_ENTITIES.get(c, c) for c in text)


def md_url(path: str) -> str:
    """A relative link for a Markdown image or link target, percent-encoded."""
    return urllib.parse.quote(str(path), safe="/.-_~")


def row_class(name) -> str:
    """`name` as a table row's CSS class if it is one the page styles, else none."""
    return name if isinstance(name, str) and name in CLASSES else ""
