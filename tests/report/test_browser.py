"""The headless-browser harness (tests/browser.py) against pages whose console and DOM we know."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import BrowserError, Tab, chromium_path, open_page

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(chromium_path() is None, reason="no chromium (scripts/setup-peers.sh installs it)"),
]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>
<h1>Hello harness</h1><div id="late"></div>
<script>
console.log("plain log");
console.warn("careful: %s", "warned");
setTimeout(() => {
  const d = document.createElement("p"); d.id = "ready"; d.textContent = "arrived late"; document.body.appendChild(d);
  console.error("boom from console.error", 42);
}, 300);
setTimeout(() => { throw new TypeError("uncaught thing"); }, 350);
</script></body></html>"""


def test_console_dom_and_screenshot(tmp_path: Path) -> None:
    f = tmp_path / "p.html"
    f.write_text(PAGE)
    page = open_page(
        f,
        screenshot=tmp_path / "shot.png",
        wait_for="#ready",
        evaluate={"h1": "document.querySelector('h1').textContent", "n": "1 + 2"},
    )
    assert "Hello harness" in page.text and "arrived late" in page.text
    assert page.values == {"h1": "Hello harness", "n": 3}
    errors = [str(e) for e in page.errors]
    assert any("boom from console.error 42" in e for e in errors), errors
    assert any("TypeError: uncaught thing" in e for e in errors), errors
    assert [e.text for e in page.warnings] == ["careful: %s warned"]
    assert any(e.level == "log" and e.text == "plain log" for e in page.console)
    png = (tmp_path / "shot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    width = int.from_bytes(png[16:20], "big")
    assert width == 1280


def test_clean_page_has_no_errors(tmp_path: Path) -> None:
    f = tmp_path / "clean.html"
    f.write_text(
        "<!doctype html><html><head><meta charset='utf-8'></head><body><p id=x>fine</p></body></html>"
    )
    page = open_page(f, wait_for="#x")
    assert page.errors == [] and page.warnings == []
    assert page.text.strip() == "fine"
    assert page.screenshot is None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><link rel=icon href='data:,'></head>"
        "<body><img src='/missing.png'><p>served</p></body></html>"
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(tmp_path), **k)  # type: ignore[arg-type]

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


def test_network_failure_is_a_log_error(server: str) -> None:
    page = open_page(server + "index.html")
    assert "served" in page.text
    assert any(e.source == "network" and "404" in e.text for e in page.errors), [str(e) for e in page.console]


async def test_tab_step_by_step(tmp_path: Path) -> None:
    f = tmp_path / "count.html"
    f.write_text(
        "<!doctype html><html><head><meta charset='utf-8'></head><body><ul id=l></ul><script>"
        "let i=0; const t=setInterval(()=>{const li=document.createElement('li'); li.textContent='row '+(++i);"
        "document.getElementById('l').appendChild(li); if(i===3) clearInterval(t);}, 100);</script></body></html>"
    )
    async with Tab.launch() as tab:
        await tab.navigate(f)
        assert await tab.wait_until("document.querySelectorAll('#l li').length === 3 && 3") == 3
        assert "row 3" in await tab.text()
        with pytest.raises(BrowserError, match="no element matches '#never'"):
            await tab.wait_for("#never", timeout=0.5)
        with pytest.raises(BrowserError, match="ReferenceError"):
            await tab.evaluate("notDefinedAnywhere()")
        shot = await tab.screenshot(tmp_path / "s.png", full_page=False)
        assert shot.read_bytes()[:4] == b"\x89PNG"
        assert tab.errors == []
