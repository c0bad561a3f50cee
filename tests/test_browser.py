"""The course in a real browser: Debian's Chromium driven by Playwright, at a projector's 1280x720.

``archlab course`` (what ``make lab`` runs) serves a fresh copy of the course on 127.0.0.1;
Chromium opens every notebook with the file browser open, scrolls through it screen by screen
and checks what a reader would stumble on:

=============================  ==============================================================
check                          how
=============================  ==============================================================
diagrams are drawn             every ```mermaid block (markdown cells and outputs) became SVG
nothing wider than its panel   no output area, table or pre scrolls sideways, and none ends
                               right of the notebook panel
no error output                no rendered error or stderr output, and no output typeset
                               as math (a ``$`` in a Dockerfile read by MathJax)
navigation works               the "next →" link opens the next notebook in a new tab
the explorer works             after Run All, its widgets render, and choosing another host
                               changes the predicted transcript
=============================  ==============================================================

Screenshots of every screen go to a temporary directory, named in the warnings summary at the
end of the run (``ARCHLAB_BROWSER_ARTIFACTS`` chooses the directory). Playwright is only the
driver: the browser is Debian's ``chromium`` (``tools/system-deps`` installs it), never a
downloaded build. Without Chromium or Playwright the tests skip, unless
``ARCHLAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes them fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
REQUIRED = os.environ.get("ARCHLAB_REQUIRE_BROWSER") == "1"
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
LESSONS = [n for n in NOTEBOOKS if n[:2].isdigit()]
VIEWPORT = {"width": 1280, "height": 720}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


class BrowserArtifacts(UserWarning):
    """Where the browser test left its screenshots (shown in pytest's warnings summary)."""


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"ARCHLAB_REQUIRE_BROWSER=1 but the browser test cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def artifacts() -> Iterator[Path]:
    chosen = os.environ.get("ARCHLAB_BROWSER_ARTIFACTS")
    path = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="archlab-browser-"))
    path.mkdir(parents=True, exist_ok=True)
    yield path
    warnings.warn(BrowserArtifacts(f"browser test screenshots: {path}"), stacklevel=1)


@pytest.fixture(scope="module")
def course() -> Iterator[str]:
    """``archlab course`` on a fresh copy, as a learner starts it; yields the link it prints."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="archlab-course-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "archlab", "course", str(root), "--no-browser", "--port",
         str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        link = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("open the course: "):
                link = line.removeprefix("open the course: ").strip()
                break
            if not line:
                break
        if not link:
            said = proc.stderr.read() if proc.poll() is not None else ""
            pytest.fail(f"archlab course printed no link: {said}")
        yield link
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium (tools/system-deps)")
    profile = tempfile.mkdtemp(prefix="archlab-chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_FLAGS, viewport=VIEWPORT,
            headless=True)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _url(link: str, notebook: str) -> str:
    base, token = link.split("/lab/tree/")[0], link.rsplit("token=", 1)[1]
    return f"{base}/lab/tree/{notebook}?token={token}"


def _open(context: object, link: str, notebook: str) -> object:
    page = context.new_page()
    page.goto(_url(link, notebook))
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell",
                           timeout=60_000)
    # The file browser is open, as a reader has it (once JupyterLab has restored its layout:
    # a click while it restores would close the panel it is about to show).
    page.wait_for_selector("#filebrowser:not(.jp-mod-restoring)", state="attached",
                           timeout=60_000)
    page.wait_for_timeout(500)
    if not page.is_visible("#filebrowser"):
        page.click('.jp-SideBar [data-id="filebrowser"]')
        page.wait_for_selector("#filebrowser", state="visible")
    page.wait_for_timeout(1500)
    return page


# Per screen: what a reader would stumble on, measured in the page.
_CHECKS_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const right = panel.getBoundingClientRect().right + 1;
  const problems = [];
  const describe = el => (el.innerText || '').trim().slice(0, 80).replace(/\\s+/g, ' ');
  for (const el of panel.querySelectorAll(
      '.jp-OutputArea-output, .jp-OutputArea-output table, .jp-OutputArea-output pre, '
      + '.jp-RenderedMarkdown, .jp-RenderedMarkdown table, .jp-RenderedMarkdown pre')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
      problems.push('scrolls sideways: ' + describe(el));
    if (box.right > right)
      problems.push('wider than the panel by ' + Math.round(box.right - right) + ' px: '
                    + describe(el));
  }
  for (const el of panel.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"], '
      + '[data-mime-type="application/vnd.jupyter.error"]'))
    problems.push('error output: ' + describe(el));
  // No output is mathematics: a `$` in a Dockerfile or a prompt typeset as math garbles it.
  for (const el of panel.querySelectorAll('.jp-OutputArea-output mjx-container'))
    problems.push('typeset as math: ' + describe(el.closest('.jp-OutputArea-output')));
  return problems;
}
"""

_MERMAID_JS = """
() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const blocks = [...panel.querySelectorAll('.jp-RenderedMermaid, pre > code.language-mermaid')];
  return blocks.map(b => ({drawn: !!b.querySelector('svg, img[src^="data:image/svg"]'),
                           text: (b.innerText || '').slice(0, 60)}));
}
"""


def _scroll_through(page: object, name: str, artifacts: Path) -> tuple[list[str], list[dict]]:
    """Screen by screen from the top: a screenshot and the checks on each."""
    scroller = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"
    page.eval_on_selector(scroller, "el => el.scrollTo(0, 0)")
    problems: list[str] = []
    mermaid: dict[str, bool] = {}
    for screen in range(200):
        page.wait_for_timeout(700)  # markdown and Mermaid render as cells come into view
        page.screenshot(path=str(artifacts / f"{name[:-6]}-{screen:02d}.png"))
        problems += page.evaluate(_CHECKS_JS)
        for block in page.evaluate(_MERMAID_JS):
            mermaid[block["text"]] = mermaid.get(block["text"], False) or block["drawn"]
        done = page.eval_on_selector(
            scroller, "el => { const before = el.scrollTop; el.scrollBy(0, el.clientHeight - 60);"
                      " return el.scrollTop === before; }")
        if done:
            break
    blocks = [{"text": t, "drawn": d} for t, d in mermaid.items()]
    return sorted(set(problems)), blocks


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_reads_well_at_1280(notebook, course, browser, artifacts):
    page = _open(browser, course, notebook)
    try:
        problems, mermaid = _scroll_through(page, notebook, artifacts)
        assert problems == [], f"{notebook}: {problems}"
        undrawn = [b["text"] for b in mermaid if not b["drawn"]]
        assert undrawn == [], f"{notebook}: Mermaid blocks not drawn: {undrawn}"
        source = (REPO / "notebooks" / notebook).read_text()
        if "```mermaid" in source or "diagrams." in source:
            assert mermaid, f"{notebook}: its diagrams were not found on the page"
    finally:
        page.close()


@pytest.mark.parametrize("notebook", LESSONS[:-1])
def test_next_link_opens_the_next_notebook(notebook, course, browser, artifacts):
    following = LESSONS[LESSONS.index(notebook) + 1]
    page = _open(browser, course, notebook)
    try:
        # JupyterLab rewrites a relative href, so the link is found by its text.
        page.click('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedMarkdown '
                   'a:text-is("next →") >> nth=0')
        page.wait_for_selector(f'.lm-TabBar-tab.lm-mod-current:has-text("{following}")',
                               timeout=30_000)
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
        page.screenshot(path=str(artifacts / f"next-{notebook[:2]}-to-{following[:2]}.png"))
    finally:
        page.close()


def test_explorer_widgets_render_and_answer(course, browser, artifacts):
    page = _open(browser, course, "08-Explorer.ipynb")
    try:
        page.click('.lm-MenuBar-itemLabel:text-is("Run")')
        page.click('.lm-Menu-itemLabel:text-is("Run All Cells")')
        form = page.wait_for_selector(".archlab-explorer", timeout=120_000)
        form.evaluate("el => el.scrollIntoView({block: 'start'})")  # the form's controls
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "explorer-form.png"))
        host = form.query_selector("select")
        assert host is not None, "the explorer's host dropdown did not render"
        before = form.inner_text()
        host.select_option("raspberry-pi-os-32")
        page.wait_for_function(
            "() => document.querySelector('.archlab-explorer').innerText"
            ".includes('# on raspberry-pi-os-32')", timeout=30_000)
        after = form.inner_text()
        assert after != before
        page.screenshot(path=str(artifacts / "explorer-after-choice.png"))
    finally:
        page.close()
