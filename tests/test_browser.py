"""The report in a real browser: Debian's headless Chromium, driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe``: it reads protocol messages from file
descriptor 3 and writes replies and events to descriptor 4, each message JSON ended by a NUL byte.
That needs no network port and no client library. The page must draw something (the screenshot is
not blank), every image must decode, and the console must stay free of errors.
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from benchsuite.report import build
from synthetic_runs import write_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]

CHECK_PAGE = """JSON.stringify({
  images: Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0})),
  sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
  height: document.documentElement.scrollHeight
})"""


class Browser:
    """A headless Chromium and one page in it."""

    def __init__(self, profile: Path, timeout: float = 90.0) -> None:
        self.timeout = timeout
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # The shell moves the pipe ends to descriptors 3 and 4, where Chromium expects them.
        command = (f"exec {shlex.quote(CHROMIUM)} {' '.join(FLAGS)} --user-data-dir={shlex.quote(str(profile))} "
                   f"about:blank 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-")
        self.process = subprocess.Popen(["bash", "-c", command], pass_fds=(to_chrome_r, from_chrome_w),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.out = os.fdopen(to_chrome_w, "wb")
        self.inp = from_chrome_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from chromium")
            ready, _, _ = select.select([self.inp], [], [], remaining)
            if ready:
                chunk = os.read(self.inp, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict[str, Any] | None = None, session: bool = False) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.out.write(json.dumps(message).encode() + b"\0")
        self.out.flush()
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._receive(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def open(self, path: Path) -> None:
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return result["result"].get("value")

    def screenshot(self, height: int) -> Image.Image:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": 1280, "height": height,
                                                             "scale": 1}}, session=True)["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                errors.append(params.get("exceptionDetails", {}).get("text", "exception"))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.out.close()
        os.close(self.inp)


@pytest.fixture
def browser(tmp_path: Path):
    opened = Browser(tmp_path / "profile")
    yield opened
    opened.close()


def test_report_renders_in_chromium_with_every_image_and_no_console_errors(tmp_path, browser):
    tables = write_study(tmp_path / "runs")
    report = build(tables, tmp_path / "report.html", grid_config={"seeds": [0, 1, 2]})
    browser.open(report)
    page = json.loads(browser.evaluate(CHECK_PAGE))
    assert page["sections"] == ["what-ran", "leaderboards", "across-datasets", "precision-recall", "distributions",
                                "curves", "diagnostics", "samples", "diverged"]
    assert len(page["images"]) >= 9
    assert [image["alt"] for image in page["images"] if not image["ok"]] == []
    assert browser.console_errors() == []
    shot = browser.screenshot(min(page["height"], 3000))
    # Not blank: plenty of ink on the white page, and more than a handful of colours (figures).
    grey = shot.convert("L")
    ink = sum(grey.histogram()[:200]) / (grey.width * grey.height)
    assert ink > 0.01
    assert len(shot.getcolors(maxcolors=1 << 20) or []) > 50


def test_the_check_itself_catches_a_broken_image_and_a_console_error(tmp_path, browser):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><p>text</p><img alt="broken" src="data:image/png;base64,AAAA">'
                    "<script>console.error('boom')</script></body></html>")
    browser.open(page)
    checked = json.loads(browser.evaluate(CHECK_PAGE))
    assert [image["alt"] for image in checked["images"] if not image["ok"]] == ["broken"]
    assert any("boom" in error for error in browser.console_errors())
