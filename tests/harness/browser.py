"""A real browser for the login pages' tests: Debian's Chromium, headless, driven by selenium through
Debian's chromedriver (make deps installs both; nothing downloads a browser at run time).

`host_rules` maps the apps' names to loopback ports (Chromium's --host-resolver-rules), so that
https://wiki.example.com reaches a test's server as a browser would reach the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.harness.binaries import REPO_ROOT
from tests.harness.processes import HarnessError

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMEDRIVER: Final = Path("/usr/bin/chromedriver")
SCREENSHOTS: Final = REPO_ROOT / "test-artifacts" / "screenshots"


def chromium(profile: Path, host_rules: str = "") -> webdriver.Chrome:
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            raise HarnessError(
                f"{program} is missing: install Debian's chromium and chromium-driver (make deps)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root in a container: Chromium's own sandbox cannot start
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # no connection to Google's services: this machine has none
        "--disable-component-update",
        "--disable-sync",
        "--ignore-certificate-errors",  # the test apps' certificates are self-signed
        "--window-size=1000,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    if host_rules:
        options.add_argument(f"--host-resolver-rules={host_rules}")
    return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise HarnessError(f"chromium saved no screenshot at {path}")
    return path
