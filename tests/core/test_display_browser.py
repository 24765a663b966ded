"""The notebook views in a real browser: headless Chromium renders one page holding every view.

The page is built from a tract full of content that would run script if it were taken as markup. A
trusted script at the end of the page proves the browser runs scripts; the hostile ones must not
have run (no node they would write, an unchanged title), their text must be on the page as text,
and the screenshot must show the views drawn (not a blank page).

Needs Chromium (Debian: ``apt-get install -y chromium``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from tract_core import Tract, TractConfig
from tract_core.testing import tool_reply

WRITE = "document.body.insertAdjacentHTML('beforeend','<p id=\"pwned-{0}\">pwned</p>');document.title='pwned'"
SCRIPT = f"<script>{WRITE.format('script')}</script>"
IMG = f'"><img src=x onerror="{WRITE.format("img")}">'
SVG = f"<svg><circle r=9 onmouseover=x /><script>{WRITE.format('svg')}</script></svg>"
CONTROL = "<script>document.body.insertAdjacentHTML('beforeend','<p id=\"control-ran\">scripts run</p>')</script>"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "this test renders the notebook views in Chromium: install it (Debian: apt-get install -y chromium)"
        )
    return found


class _Text(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.feed(markup)

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def _page(tmp: Path) -> tuple[str, dict[str, str]]:
    """Every view of a hostile tract on one page, and facts each view must show."""
    with Tract.open(tmp / "t.db", tract_id=f"notes{SCRIPT}", config=TractConfig(token_budget=300)) as t:
        t.system(f"Rules {SCRIPT}")
        user = t.user(f"Hello {IMG}", metadata={"tags": ["urgent"], "note": SVG})
        t.annotate(user, "pinned", reason=SVG)
        t.commit(tool_reply(("search", {"query": SVG}), text="Looking it up"))
        t.tool_result("call_0", "three results")
        t.branch("draft", switch=True)
        t.assistant("a draft answer")
        t.switch("main")
        t.assistant("the main answer")
        t.merge("draft")
        status, context, log = t.status(), t.compile(), t.log()
        views = [t, status, context, log, t.show(user), t.diff(user, "main"), t.snapshot(), t.health()]
        markup = "\n".join(view._repr_html_() for view in views)
    facts = {
        "tract": f"notes{SCRIPT}",
        "budget": f"{status.token_count} / 300 tokens",
        "branch": "HEAD -> main",
        "pinned": "PINNED",
        "tool call": f"⚙ search(query={json.dumps(SVG)})",
        "user text": f"Hello {IMG}",
        "tokens": f"{context.entries()[1].tokens} tok",
        "log": f"Log · {len(log)} commits",
        "diff": "+4 added",
        "snapshot": "+urgent",
        "health": "budget_pressure",
    }
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>tract views</title></head>"
        f"<body style='margin:12px'>{markup}{CONTROL}</body></html>"
    )
    return page, facts


def test_views_render_in_chromium_as_text_without_running_hostile_content(tmp_path: Path) -> None:
    chromium = _chromium()
    page, facts = _page(tmp_path)
    (tmp_path / "views.html").write_text(page, encoding="utf-8")
    shot = tmp_path / "views.png"
    run = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,900",
            f"--screenshot={shot}",
            "--dump-dom",
            (tmp_path / "views.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = run.stdout
    assert run.returncode == 0 and "<title>tract views</title>" in dom, run.stderr[-2_000:]
    assert '<p id="control-ran">scripts run</p>' in dom  # this browser runs the page's own scripts...
    assert "pwned</p>" not in dom and "<img" not in dom  # ...and none of the content's
    assert "&lt;script&gt;document.body.insertAdjacentHTML" in dom  # shown as text instead
    text = "".join(_Text(dom).chunks)
    missing = {name: fact for name, fact in facts.items() if fact not in text}
    assert not missing, missing

    with Image.open(shot) as image:
        assert image.size == (1200, 900)
        data = image.convert("RGB").resize((300, 225)).tobytes()
    pixels = [data[i : i + 3] for i in range(0, len(data), 3)]
    inked = sum(1 for pixel in pixels if min(pixel) < 200)
    colours = len(set(pixels))
    assert inked > 0.03 * len(pixels)  # text, bars, bubbles and the graph drawn on the page
    assert colours > 100  # role and lane colours, not a page of one colour
