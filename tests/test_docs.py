"""The documentation: the README is a short guide whose links hold, and the MkDocs site
(mkdocs.yml, docs/) builds with every warning an error (broken links, missing pages,
pages left out of the nav)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 200

ISO_DATE = re.compile(r"20\d\d-\d\d-\d\d")
# a commit-like word: 7 to 40 hex digits with at least one letter and one digit (so plain
# numbers such as 2500000 and words such as "defaced" pass)
COMMIT = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b")
# [text](target) and ![alt](target); targets without a scheme are relative links
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _slug(heading: str) -> str:
    """GitHub's and MkDocs' anchor of a heading: lower case, punctuation dropped, spaces
    to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_readme_is_a_short_guide():
    lines = _readme().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"
    head = "\n".join(lines[:100])
    assert "prepare" in head, "own data (`prepare`) must come within the first 100 lines"
    assert "python run_study.py --trials 50" in head and "bash .ci/run" in head


def test_readme_has_no_dates_commits_or_history():
    text = _readme()
    assert not ISO_DATE.findall(text), ISO_DATE.findall(text)
    assert not COMMIT.findall(text), COMMIT.findall(text)


def test_the_documentation_pages_have_no_dates_or_commits():
    """Dated figures and their commits belong to bench/README.md; the generated reference
    pages are left to their generator."""
    found = {}
    for page in sorted((ROOT / "docs").rglob("*.md")):
        if "reference" in page.relative_to(ROOT / "docs").parts:
            continue
        text = page.read_text(encoding="utf-8")
        hits = ISO_DATE.findall(text) + COMMIT.findall(text)
        if hits:
            found[str(page.relative_to(ROOT))] = hits
    assert not found, found


def test_every_relative_link_of_the_readme_exists():
    text = _readme()
    headings = {_slug(h) for h in re.findall(r"^#+\s+(.*)$", text, re.MULTILINE)}
    links = LINK.findall(text)
    assert links, "README.md links into the documentation"
    broken = []
    for target in links:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        if not path:
            if anchor not in headings:
                broken.append(target)
            continue
        if not (README.parent / path).exists():
            broken.append(target)
    assert not broken, f"README.md links to what does not exist: {broken}"


def test_the_readme_links_into_the_documentation():
    """The README points to the site's main pages (the site's nav, pages left out of it
    included, is checked by mkdocs --strict)."""
    text = _readme()
    for page in ("docs/index.md", "docs/data.md", "docs/concepts.md",
                 "docs/reference/cli.md", "docs/reference/config.md"):  # fmt: skip
        assert f"({page})" in text, page


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's banner about MkDocs 2
    )  # fmt: skip
    return done, out


def test_the_site_builds_with_warnings_as_errors(site):
    done, out = site
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "index.html").is_file()
    for page in ("reference/cli", "reference/config", "concepts", "data", "deployment"):
        assert (out / page / "index.html").is_file(), page


def test_the_site_shows_its_screenshots(site):
    done, out = site
    assert done.returncode == 0, done.stdout + done.stderr
    images = sorted((ROOT / "docs" / "img").glob("*.png"))
    assert images, "docs/img/ holds the screenshots"
    for image in images:
        assert image.stat().st_size < 300_000, f"{image.name}: keep screenshots small"
        assert (out / "img" / image.name).is_file()


def test_the_layout_page_names_every_module():
    """docs/layout.md, the map of the package, names every module of study/."""
    page = (ROOT / "docs" / "layout.md").read_text()
    missing = []
    for path in sorted((ROOT / "study").rglob("*.py")):
        if path.name == "__init__.py" and path.parent.name != "study":
            continue
        name = path.name if path.parent.name != "study" else f"{path.name}"
        if f"`{name}`" not in page and f"`{path.parent.name}/{name}`" not in page:
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"docs/layout.md names no {missing}"
