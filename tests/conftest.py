"""Shared tiny fixtures: a small prepared dataset generated once per session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from study.data.prepare import generate_dataset  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """6,000 generated rows, files of 1,000 rows."""
    path = tmp_path_factory.mktemp("data") / "tiny"
    generate_dataset(6_000, path, seed=11, chunk_size=3_000, rows_per_file=1_000)
    return path


LAPTOP = (1366, 768)  # the screenshot tests' window


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium at a laptop's width (selenium + Debian's chromium-driver)."""
    import shutil

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, (
        "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver;"
        " .ci/run installs them); deselect with -m 'not browser'"
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_window_size(*LAPTOP)
    yield driver
    driver.quit()
