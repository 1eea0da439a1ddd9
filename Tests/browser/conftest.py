"""Fixtures for the browser tests of ``/analytics.js``: the real gateway, a page server on another
loopback port, headless Chromium through Selenium. The helpers are in browser_harness.py.

- ``site`` → ``Site``; ``capture`` → ``Capture``; ``gateway`` → a started ``Gateway`` whose
  ``cors_origins`` is the site's origin and whose webhook destination posts to ``capture``.
- ``browser``: a headless Chromium WebDriver (``--headless=new --no-sandbox --disable-dev-shm-usage``,
  chromedriver at /usr/bin/chromedriver or ``$CHROMEDRIVER``).
- ``browser_setup`` → ``BrowserSetup``, with ``index.html`` and ``second.html`` loading
  ``<gateway>/analytics.js`` and calling ``analytics.load('browser-key')``.

Chromium, chromedriver and selenium are required with ``SWITCHYARD_CI=1``: when one is missing the
tests that need a browser fail, saying what to install. Otherwise they skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import pytest

from browser_harness import (
    CHROMEDRIVER, INSTALL_HINT, BrowserSetup, Capture, Gateway, Site, chromium_binary, missing_tools, page_html)


@pytest.fixture(scope="session")
def browser_tools() -> None:
    """Fails (under SWITCHYARD_CI=1) or skips when Chromium, chromedriver or selenium is missing."""
    missing = missing_tools()
    if not missing:
        return
    message = f"browser tests need {', '.join(missing)}; install with: {INSTALL_HINT}"
    if os.environ.get("SWITCHYARD_CI") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def site(tmp_path: Path) -> Iterable[Site]:
    server = Site(tmp_path / "site")
    yield server
    server.close()


@pytest.fixture
def capture() -> Iterable[Capture]:
    server = Capture()
    yield server
    server.close()


@pytest.fixture
def gateway(tmp_path: Path, site: Site, capture: Capture) -> Iterable[Gateway]:
    directory = tmp_path / "gateway"
    directory.mkdir()
    instance = Gateway(directory, site.origin, capture.url)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def browser(browser_tools: None, tmp_path: Path) -> Iterable[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    binary = chromium_binary()
    assert binary is not None
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-background-networking", "--disable-extensions",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def browser_setup(browser: Any, site: Site, gateway: Gateway, capture: Capture) -> BrowserSetup:
    site.write("index.html", page_html(gateway.url, "Home"))
    site.write("second.html", page_html(gateway.url, "Second page"))
    return BrowserSetup(site=site, gateway=gateway, capture=capture, driver=browser)

