"""The report's and the comparison's pages, HTML and Markdown, from the Jinja2 templates
of study/report/templates/ (package data: pyproject's [tool.setuptools.package-data]).

Escaping is the environments', so a value cannot be printed unescaped by forgetting a
call (issue item 6): the HTML templates (`*.html.j2`) autoescape every `{{ value }}`
(Jinja2's `Markup`: only the templates' own text and macros are markup); the Markdown
ones (`*.md.j2`) pass every `{{ value }}` through `escape.md_value` (their finalize).
render.py builds each page's context from plain values, never markup.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from study.report.escape import md_url, md_value


class Link(NamedTuple):
    """A table cell shown as a link: both its text and its target are escaped."""

    text: str
    href: str


@functools.cache
def _environment(markdown: bool):
    import jinja2

    options = {"finalize": md_value} if markdown else {"autoescape": True}
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("study.report", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )
    env.tests["link"] = lambda value: isinstance(value, Link)
    if markdown:
        env.filters["url"] = md_url  # the one value md_value passes as it is
    return env


def page(template: str, **context) -> str:
    """`template` (a file of templates/) rendered with `context`: HTML if it ends in
    .html.j2, Markdown if in .md.j2."""
    if not template.endswith((".html.j2", ".md.j2")):
        raise ValueError(f"{template}: expected a .html.j2 or .md.j2 template")
    return _environment(template.endswith(".md.j2")).get_template(template).render(context)
