"""A real browser for the tests: Debian's headless Chromium driven by its
matching ``chromium-driver`` through Selenium, with the browser's console
and network logs (Chrome's performance log: every response's status, every
failed load) collected as the test goes."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing() -> list[str]:
    """What this machine lacks to run the browser (empty when nothing)."""
    found = []
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(path) is None:
            found.append(f"{path} (apt-get install {package})")
    try:
        import selenium  # noqa: F401 (only whether it is there)
    except ImportError:
        found.append("selenium (pip install selenium)")
    return found


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    #: Served from the browser's own cache (no request went out).
    cached: bool


@dataclass
class Logs:
    """What the browser logged, across every tab."""

    responses: list[Response] = field(default_factory=list)
    #: ``(url, error)`` of every load that failed (no response at all).
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Console messages of level SEVERE (errors, uncaught rejections).
    errors: list[str] = field(default_factory=list)

    def bad(self) -> list[str]:
        """Every 4xx or 5xx answer, failed load and console error."""
        return [
            *(f"{r.status} {r.url}" for r in self.responses if r.status >= 400),
            *(f"failed {url}: {error}" for url, error in self.failures),
            *(f"console: {message}" for message in self.errors),
        ]


class Browser:
    """Headless Chromium; ``open()`` loads a URL in a new tab."""

    def __init__(self, profile: Path, screenshots: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",  # root in a container has no user namespace to sandbox in
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=800,600",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(argument)
        # The first tab opens blank: the new-tab page Debian's Chromium shows
        # otherwise loads its search engine's site (a failed load in the log).
        startup = {"restore_on_startup": 4, "startup_urls": ["about:blank"]}
        options.add_experimental_option("prefs", {"session": startup})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_output=str(profile / "driver.log"))
        self.driver: Any = webdriver.Chrome(service=service, options=options)
        self.screenshots = screenshots
        self.logs = Logs()
        self._first = True
        #: The URL of each request, by its id (a failure names only the id).
        self._urls: dict[str, str] = {}

    def open(self, url: str) -> str:
        """Loads ``url`` in a new tab (the first in the window the browser
        opened with); the tab's handle."""
        if not self._first:
            # A blank tab: a new window would open the new-tab page, which
            # Debian's Chromium points at its search engine's site.
            made = self.driver.execute_cdp_cmd("Target.createTarget", {"url": "about:blank"})
            self.driver.switch_to.window(made["targetId"])
        self._first = False
        self.driver.get(url)
        handle: str = self.driver.current_window_handle
        return handle

    def to(self, tab: str) -> None:
        self.driver.switch_to.window(tab)

    def text(self, element: str) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.ID, element).text)

    def wait_for_text(self, element: str, text: str, timeout: float = 120.0) -> None:
        """Polls until the element shows ``text`` (the timeout is a safety net)."""
        from selenium.common.exceptions import NoSuchElementException
        from selenium.webdriver.support.ui import WebDriverWait

        def shows(_: Any) -> bool:
            try:
                return self.text(element) == text
            except NoSuchElementException:
                return False

        WebDriverWait(self.driver, timeout).until(shows, f"{element} never showed {text!r}")

    def attribute(self, script: str) -> Any:
        return self.driver.execute_script(f"return {script};")

    def click(self, element: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, element).click()

    def screenshot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def collect(self) -> Logs:
        """Moves what the browser logged since the last call into ``logs``."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                self._urls[params["requestId"]] = params["request"]["url"]
            elif message["method"] == "Network.responseReceived":
                response = params["response"]
                if response["url"].startswith("data:"):
                    continue
                cached = bool(response.get("fromDiskCache") or response.get("fromMemoryCache"))
                self.logs.responses.append(
                    Response(response["url"], int(response["status"]), cached)
                )
            elif message["method"] == "Network.loadingFailed":
                url = self._urls.get(params["requestId"], params["requestId"])
                self.logs.failures.append((url, params["errorText"]))
        for entry in self.driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                self.logs.errors.append(str(entry["message"]))
        return self.logs

    def close(self) -> None:
        self.driver.quit()
