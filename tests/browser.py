"""Open a local HTML page in headless Chromium (Debian's `chromium`) and report what a reader would hit:
requests that leave the machine and images that do not render. Tests skip with a message without Chromium."""

from __future__ import annotations

import re
import shutil
import socketserver
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
)
# Chromium's own background traffic (component updates, clock check), not the page's: left out of the count.
# Page-facing Google hosts (fonts.googleapis.com, ajax.googleapis.com...) are not in this list and still count.
BROWSER_OWN_HOSTS = re.compile(
    r"(update\.googleapis\.com|clients\d*\.google\.com|optimizationguide-pa\.googleapis\.com"
    r"|accounts\.google\.com|[a-z0-9.-]*\.gvt1\.com|edgedl\.me\.gvt1\.com)(:\d+)?[/ ]"
)
# Runs after the page has loaded: the title becomes the number of images that did not render, and how many pixels
# the page is wider than the window (a table a reader would have to scroll the whole page sideways for).
_PROBE = (
    "<script>window.addEventListener('load',function(){var imgs=Array.prototype.slice.call(document.images);"
    "var broken=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).length;"
    "var wider=Math.max(0,document.documentElement.scrollWidth-window.innerWidth);"
    "document.title='probe:'+broken+'/'+imgs.length+'/'+wider;});</script>"
)


@dataclass
class PageCheck:
    external_requests: list[str]
    broken_images: int
    images: int
    dom: str
    wider_than_window: int = 0  # pixels the page is wider than the browser window


def chromium_available() -> bool:
    return bool(shutil.which("chromium") or shutil.which("chromium-browser"))


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium when run as root)")
    return path


class _Recorder(socketserver.StreamRequestHandler):
    """A proxy that answers nothing and remembers every request line: whatever reaches it left the page."""

    def handle(self) -> None:
        line = self.rfile.readline(4096).decode("latin-1").strip()
        if line:
            self.server.seen.append(line)  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")


def check_page(page: Path) -> PageCheck:
    """Load `page` (with a probe script appended to a copy beside it, so relative links still resolve) through
    a recording proxy; every http(s) request the page makes is counted as external."""
    exe = chromium()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8"
    )
    try:
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run(
                [
                    exe,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    f"--proxy-server=http://127.0.0.1:{server.server_address[1]}",
                    "--proxy-bypass-list=<-loopback>",
                    "--window-size=1280,900",
                    "--dump-dom",
                    probe.resolve().as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
    finally:
        probe.unlink(missing_ok=True)
        server.shutdown()
        server.server_close()
    match = re.search(r"<title>probe:(\d+)/(\d+)/(\d+)</title>", out.stdout)
    assert match, f"Chromium did not render {page} (exit {out.returncode}): {out.stderr[-500:]}"
    external = [r for r in server.seen if not BROWSER_OWN_HOSTS.search(r)]  # type: ignore[attr-defined]
    broken, images, wider = (int(match.group(i)) for i in (1, 2, 3))
    return PageCheck(external, broken, images, out.stdout, wider)
