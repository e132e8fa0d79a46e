"""Headless Chromium for tests: a Snakemake report opened, navigated and photographed.

The browser is driven through the Chrome DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so no client library and no port
are needed. Chromium comes from the distribution (Debian: ``apt-get install chromium``); nothing is
downloaded.

``SFTMIX_TEST_BROWSER`` says what a missing browser means: ``auto`` (default: the browser tests skip
and say why), ``require`` (CI, after .ci/run installed it: they fail), ``off`` (they skip).

Snakemake's report (9.x) is a single-page React app without URL routing: a page (a category, a
result) is the app's state, changed through the global ``app`` (``app.showCategory(name)``,
``app.setView({...})``), as its own menu does on a click. ``ReportPage`` does the same.

An HTML result (the report's table pages) is shown in an iframe. Opened from a file, the report and
the iframe's page have opaque origins, so the report's scripts cannot read the iframe's document;
the protocol can: ``Page.getFrameTree`` names the frame, ``Page.createIsolatedWorld`` gives a script
context in it (the frame's DOM, none of its scripts' globals), ``Runtime.evaluate`` runs there.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MODES = ("auto", "require", "off")


def find_chromium() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_mode() -> str:
    mode = os.environ.get("SFTMIX_TEST_BROWSER", "auto")
    if mode not in MODES:
        raise ValueError(f"SFTMIX_TEST_BROWSER must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def chromium_or_skip() -> str:
    """The browser's path; skips the test (with the reason) when there is none, fails instead under
    ``SFTMIX_TEST_BROWSER=require``."""
    import pytest

    mode = browser_mode()
    if mode == "off":
        pytest.skip("SFTMIX_TEST_BROWSER=off")
    path = find_chromium()
    if path is None:
        why = f"no headless browser on PATH (looked for {', '.join(NAMES)}; Debian: apt-get install chromium)"
        if mode == "require":
            pytest.fail(f"SFTMIX_TEST_BROWSER=require but {why}")
        pytest.skip(why)
    return path


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one page of ``width`` x ``height`` CSS pixels (device scale 1)."""

    def __init__(self, binary: str, width: int = 1600, height: int = 1000, timeout: float = 30.0):
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = tempfile.mkdtemp(prefix="sftmix-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def fds_3_and_4():  # the protocol's fixed descriptors in the browser process
            # moved out of the way first: a pipe end may already be 3 or 4, and dup2 onto itself
            # would keep it close-on-exec
            r, w = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w))
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [binary, "--headless", "--remote-debugging-pipe", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update",
                f"--user-data-dir={self._profile}", f"--window-size={width},{height}"]
        if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox (CI runs as root)
            args.append("--no-sandbox")
        self._proc = subprocess.Popen([*args, "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, close_fds=False, preexec_fn=fds_3_and_4)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._next_id = 0
        self._session: str | None = None
        try:
            page = next(t for t in self._call("Target.getTargets")["targetInfos"] if t["type"] == "page")
            self._session = self._call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
            self.call("Page.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                      mobile=False)
        except Exception:
            self.close()
            raise

    # -- the protocol ---------------------------------------------------------------------------

    def _send(self, method: str, params: dict, session: str | None) -> int:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError(f"Chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                err = self._proc.stderr.read().decode(errors="replace")[-2000:] if self._proc.poll() is not None else ""
                raise BrowserError(f"Chromium closed the protocol pipe (exit {self._proc.poll()}): {err}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _call(self, method: str, session: str | None = None, **params) -> dict:
        want = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._receive(deadline)  # events (no id) are not needed: pages are polled
            if msg.get("id") == want:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg["result"]

    def call(self, method: str, **params) -> dict:
        """A protocol command on the page."""
        return self._call(method, self._session, **params)

    # -- what tests use -------------------------------------------------------------------------

    def evaluate(self, expression: str, await_promise: bool = False):
        """The value of a JavaScript expression in the page (JSON-serializable values)."""
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in res:
            raise BrowserError(f"{expression[:80]}: {res['exceptionDetails'].get('exception', res['exceptionDetails'])}")
        return res["result"].get("value")

    def wait_for(self, expression: str, what: str) -> None:
        """Poll until ``expression`` is true in the page."""
        deadline = time.monotonic() + self.timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {self.timeout:.0f} s waiting for {what}")
            time.sleep(0.05)

    def settle(self) -> None:
        """Two animation frames and every image decoded: what was rendered is on screen."""
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", await_promise=True)
        self.wait_for("Array.from(document.images).every(i => i.complete)", "the page's images to load")

    def frames(self) -> list[dict]:
        """The page's child frames (iframes), depth first: ``{"id", "url"}`` each."""
        out, todo = [], list(self.call("Page.getFrameTree")["frameTree"].get("childFrames", []))
        while todo:
            node = todo.pop(0)
            out.append({"id": node["frame"]["id"], "url": node["frame"]["url"]})
            todo[:0] = node.get("childFrames", [])
        return out

    def evaluate_in_frame(self, frame_id: str, expression: str):
        """The value of a JavaScript expression in a child frame's document (a fresh isolated world
        of that frame: its DOM, whatever origin it has)."""
        ctx = self.call("Page.createIsolatedWorld", frameId=frame_id, worldName="sftmix-test")["executionContextId"]
        res = self.call("Runtime.evaluate", expression=expression, contextId=ctx, returnByValue=True)
        if "exceptionDetails" in res:
            raise BrowserError(f"{expression[:80]}: {res['exceptionDetails'].get('exception', res['exceptionDetails'])}")
        return res["result"].get("value")

    def wait_for_frame(self, url_end: str) -> str:
        """The id of the child frame whose URL ends with ``url_end``, once its document has loaded."""
        deadline = time.monotonic() + self.timeout
        while True:
            frame = next((f for f in self.frames() if f["url"].endswith(url_end)), None)
            if frame is not None:
                try:
                    if self.evaluate_in_frame(frame["id"], "document.readyState") == "complete":
                        return frame["id"]
                except BrowserError:  # replaced while asked (a new iframe for the next page)
                    pass
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {self.timeout:.0f} s waiting for a frame at {url_end}"
                                   f" (frames: {[f['url'] for f in self.frames()]})")
            time.sleep(0.05)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", f"{url} to load")

    def text(self) -> str:
        """The rendered text of the page (what a reader sees, not the source)."""
        return self.evaluate("document.body.innerText")

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png", optimizeForSpeed=True)["data"])

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._call("Browser.close")
            except (BrowserError, OSError):
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        if self._proc.stderr:
            self._proc.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ReportPage:
    """A Snakemake report (``--report x.html``, or ``report/report.html`` of an unpacked
    ``--report x.zip``) in a ``Chromium``, moved between its pages the way its menu does."""

    def __init__(self, browser: Chromium, html: Path):
        self.browser = browser
        browser.open(Path(html).resolve().as_uri())
        browser.wait_for("typeof app !== 'undefined' && document.querySelector('#loading-screen')"
                         ".style.display === 'none'", "the report app to start")
        browser.settle()

    def categories(self) -> dict[str, dict[str, list[str]]]:
        """category -> subcategory -> result paths, as the report holds them."""
        return self.browser.evaluate("categories")

    def results(self) -> dict[str, dict]:
        """result path -> caption (HTML), mime type, size, without the data."""
        return self.browser.evaluate(
            "Object.fromEntries(Object.entries(results).map(([k, v]) => "
            "[k, {caption: v.caption, mime_type: v.mime_type, size: v.size, labels: v.labels}]))")

    def show_menu(self) -> None:
        self.browser.evaluate("app.setView({navbarMode: 'menu', content: 'metadata'})")
        self.browser.settle()

    def show_category(self, category: str) -> None:
        # from the menu, as a reader gets there: the report's result list keeps the previous
        # category's entries when one category's page is replaced by another's directly
        self.show_menu()
        self.browser.evaluate(f"app.showCategory({json.dumps(category)})")
        self.browser.settle()

    def show_result(self, path: str) -> dict:
        """Open a result as a click on it in its category's page does (``show_category`` first):
        its info in the menu, an image or an HTML page (in an iframe) in the main pane. Returns, for
        an image, its natural size, shown width and on-screen box; for an HTML page, the iframe's
        frame id and on-screen box ({} for other results: the report offers them as downloads)."""
        p = json.dumps(path)
        self.browser.evaluate(f"app.showResultInfo({p})")
        mime = self.browser.evaluate(f"results[{p}].mime_type")
        image, page = mime.startswith("image/"), mime == "text/html"
        if image or page:  # what the result's view button does (result_view_button.js)
            content = "img" if image else "html"
            self.browser.evaluate(f"app.setView({{content: '{content}', contentPath: results[{p}].data_uri,"
                                  f" resultPath: {p}}})")
        if page:
            frame = self.browser.wait_for_frame(self.browser.evaluate(f"results[{p}].data_uri"))
            self.browser.settle()
            box = self.browser.evaluate(
                "(() => { const r = document.querySelector('#app iframe').getBoundingClientRect();"
                " return [r.left, r.top, Math.min(r.right, innerWidth), Math.min(r.bottom, innerHeight)]"
                ".map(Math.round); })()")
            return {"frame": frame, "box": box}
        self.browser.settle()
        if not image:
            return {}
        return self.browser.evaluate(
            "(() => { const i = document.querySelector('#app img:not(.h-4)'); if (!i) return {};"
            " const r = i.getBoundingClientRect();"
            " return {width: i.naturalWidth, height: i.naturalHeight, shown_width: i.width,"
            " box: [r.left, r.top, r.right, r.bottom].map(Math.round)}; })()")


    def page_text(self, shown: dict) -> str:
        """The rendered text of the HTML page a ``show_result`` opened (inside its iframe)."""
        return self.browser.evaluate_in_frame(shown["frame"], "document.body.innerText")


def screenshot_spread(png: bytes, box: tuple[int, int, int, int] | None = None) -> tuple[tuple[int, int], float]:
    """(size, standard deviation of the grey levels) of a PNG, or of its ``box`` (left, top, right,
    bottom): a blank page or an empty figure has almost none."""
    import io

    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png))
    size = img.size
    if box is not None:
        img = img.crop(tuple(box))
    return size, ImageStat.Stat(img.convert("L")).stddev[0]
