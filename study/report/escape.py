"""Escaping of record values for the report's Markdown and the terminal.

Everything a report prints from a record (a status, a failure message, a
hyperparameter value, a study or bin name) comes from files that anyone with write
access to the results folder, or a dataset's author, may have filled: it is text,
never markup. The pages are Jinja2 templates (study/report/pages.py) that escape every
value they print by construction: the HTML ones with Jinja2's autoescape, the Markdown
ones with `md_value` as the environment's finalize. `md_text` escapes for Markdown (a
table cell or a line of text: `<`, `>`, `&` as entities, Markdown's inline
metacharacters backslash-escaped, newlines and control characters as spaces);
`md_url` percent-encodes a relative link (an `MdUrl`, the one value `md_value` passes
as it is); `terminal_text` removes terminal escape sequences (an OSC 52 that fills the
clipboard, a clear screen) and turns other controls into spaces; `row_class` lets only
a known status become a CSS class.
"""

from __future__ import annotations

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
CLASSES = frozenset({"best", "differ", *TrialStatus})  # the classes templates/base.html.j2 styles


def terminal_text(value) -> str:
    """`value` for a terminal line: escape sequences removed, other control characters
    (C0 with tab and newline, DEL, C1) as spaces."""
    return _CONTROL.sub(" ", _SEQUENCE.sub("", str(value)))


def md_text(value) -> str:
    """`value` as Markdown that renders as the same text, on one line."""
    text = _CONTROL.sub(" ", str(value))
    text = _MD_INLINE.sub(r"\\\1", text)
    return "".join(_MD_ENTITIES.get(c, c) for c in text)


class MdUrl(str):
    """A percent-encoded relative link (`md_url`'s output): only letters, digits and
    `/ . - _ ~ %`, nothing that Markdown reads as markup inside a link target."""


def md_url(path: str) -> MdUrl:
    """A relative link for a Markdown image or link target, percent-encoded."""
    return MdUrl(urllib.parse.quote(str(path), safe="/.-_~"))


def md_value(value) -> str:
    """Every value a Markdown template prints: `md_text`, except a link made by `md_url`."""
    return value if isinstance(value, MdUrl) else md_text(value)


def row_class(name) -> str:
    """`name` as a table row's CSS class if it is one the page styles, else none."""
    return name if isinstance(name, str) and name in CLASSES else ""
