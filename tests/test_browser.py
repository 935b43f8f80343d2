"""The web page in a real browser: Debian's headless Chromium driven by Playwright for Python.

Chromium comes from the system (`apt-get install chromium`; `.ci/run` installs it),
never from `playwright install`.  Without it these tests skip and say why.

``SEMSEARCH_SCREENSHOTS=1 pytest tests/test_browser.py -m slow`` writes the README's
screenshots (the sample corpus, the real model) into ``docs/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from semsearch import Index
from semsearch.reading import read_inputs
from semsearch.server import ServerConfig, create_app
from semsearch.server.running import BackgroundServer
from semsearch.tokens import TokenStore

from .conftest import REPO, SAMPLE_DATA
from .test_server import make_corpus

CHROMIUM = os.environ.get("SEMSEARCH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(or set SEMSEARCH_CHROMIUM); `.ci/run` does this")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


def served(path: Path) -> tuple[BackgroundServer, str, str]:
    """A server on 127.0.0.1 with a read and a write token."""
    with TokenStore(path / "index.db") as store:
        _, read = store.create("read", name="browser test")
        _, write = store.create("write", name="browser test")
    server = BackgroundServer(create_app(path, ServerConfig(query_backend="torch", rate=0))).start()
    return server, read, write


def shoot(page, path: Path) -> None:
    page.evaluate("() => { document.getElementById('toast').hidden = true; }")
    page.screenshot(path=str(path))


def use_token(page, secret: str) -> None:
    page.locator("#token").fill(secret)
    page.locator("#token-form button").click()


def exercise(browser, url: str, tokens: tuple[str, str], query: str, shots: Path, upload_dir: Path,
             projection: str = "pca") -> None:
    """Type a query, see highlights, explain, compare, facets, open a document, draw and lasso the map, upload.

    Everything but the upload runs with a read-only token.
    """
    read_token, write_token = tokens
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda dialog: (problems.append("dialog: " + dialog.message), dialog.dismiss()))
    page.goto(url + "/")
    use_token(page, read_token)
    page.locator("#main").focus()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"  # keyboard: / focuses the search box
    page.keyboard.type(query, delay=20)  # search as you type
    page.wait_for_selector(".hit mark")
    marks = [m.lower() for m in page.locator(".hit mark").all_inner_texts()]
    words = {w.lower() for w in query.split()}
    assert marks and all(any(m.startswith(w[:4]) for w in words) for m in marks)
    assert page.locator(".hit").count() >= 3
    page.locator(".hit .score").first.hover()
    explain = page.locator(".hit .explain").first
    assert explain.is_visible() and "BM25" in explain.inner_text()
    shoot(page, shots / "serve-search.png")

    page.locator("input[name=mode][value=compare]").check()
    page.wait_for_selector(".compare section:nth-child(3) .hit")
    assert [h.lower() for h in page.locator(".compare h2").all_inner_texts()] == ["dense", "keyword", "hybrid"]
    page.locator("input[name=mode][value=hybrid]").check()
    page.wait_for_selector("#results > ol.hits")

    page.locator("#copy-curl").click()
    assert page.locator("#copy-text").inner_text().startswith("curl -s")

    # Open the first hit: the document view, scrolled to its best chunk, with keyphrases and similar ones.
    first_title = page.locator(".hit h3 a").first.inner_text()
    page.locator(".hit h3 a").first.click()
    page.wait_for_selector("#doc-keywords li")
    page.wait_for_selector("#doc-similar li")
    assert page.locator("#doc-title").inner_text() == first_title
    assert page.locator("#best-chunk").count() == 1
    shoot(page, shots / "serve-document.png")
    page.go_back()
    page.wait_for_selector(".hit")

    # The map: points drawn, a hover names a document, a lasso selects and shows key phrases.
    page.goto(url + "/#/map?projection=" + projection)
    page.wait_for_function("() => document.getElementById('map-status').textContent.includes('projection')",
                           timeout=300_000)  # UMAP compiles (numba) on first use
    painted = page.evaluate("""() => { const c = document.getElementById('map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 100
    box = page.locator("#map").bounding_box()
    point = page.evaluate("() => MapView.toScreen(0)")
    page.mouse.move(box["x"] + point[0], box["y"] + point[1])
    page.wait_for_selector("#map-tip:not([hidden])")
    assert page.locator("#map-tip").inner_text()
    page.locator("#map-q").fill(query)
    page.wait_for_function("() => MapView.query !== null")
    page.locator("#map-lasso").click()
    # A lasso of up to 240 px square around the first document's point, inside the canvas.
    cx, cy = box["x"] + point[0], box["y"] + point[1]
    left, right = max(box["x"] + 3, cx - 120), min(box["x"] + box["width"] - 3, cx + 120)
    top, bottom = max(box["y"] + 3, cy - 120), min(box["y"] + box["height"] - 3, cy + 120)
    page.mouse.move(left, top)
    page.mouse.down()
    for x, y in ((right, top), (right, bottom), (left, bottom), (left, top)):
        page.mouse.move(x, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("#selection-keywords li")
    assert "documents selected" in page.locator("#map-selection").inner_text()
    shoot(page, shots / "serve-map.png")

    # The index page: counts; with a write token, upload a file and watch its job finish.
    page.goto(url + "/#/index")
    page.wait_for_selector("#index-info table")
    before = int(page.locator("#index-info tr:first-child td").inner_text())
    use_token(page, write_token)
    note = upload_dir / "uploaded-note.txt"
    note.write_text("A note uploaded from the browser about glaciers and rivers.")
    page.locator("#upload-files").set_input_files(str(note))
    page.locator("#upload-form button").click()
    page.wait_for_selector(".job[data-state=done]", timeout=60_000)
    page.wait_for_function(
        f"() => document.querySelector('#index-info tr:first-child td').textContent === '{before + 1}'")
    shoot(page, shots / "serve-index.png")

    # Narrow window: nothing wider than the viewport.
    page.set_viewport_size({"width": 380, "height": 800})
    page.goto(url + "/#/?q=" + query.replace(" ", "+"))
    page.wait_for_selector(".hit")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert not problems, problems
    context.close()


def test_web_page_in_chromium(browser, tmp_path, tiny_model):
    path = tmp_path / "index"
    docs = make_corpus(40)
    docs.append({"id": "xss", "title": '<img src=x onerror="alert(1)">vaccine', "metadata": {"topic": "science"},
                 "text": 'vaccine <script>alert("x")</script> immune <b>bold</b>'})
    with Index.open(path, model=tiny_model) as idx:
        idx.add([d["text"] for d in docs], ids=[d["id"] for d in docs], titles=[d["title"] for d in docs],
                metadata=[d["metadata"] for d in docs])
        idx.cluster("kmeans", k=4, name="topics")
    server, read, write = served(path)
    try:
        exercise(browser, server.url, (read, write), "vaccine immune", tmp_path, tmp_path)
        # Markup in titles and texts is shown as text, never run.
        page = browser.new_page()
        page.goto(server.url + "/")
        use_token(page, read)
        page.goto(server.url + "/#/?q=vaccine+script&mode=keyword")
        page.wait_for_selector(".hit")
        assert page.locator("#results img, #results script, #results b").count() == 0
        assert "<script>" in page.locator("#results").inner_text()
        # Facets: one click filters to that value.
        page.locator("#facets button[data-field=topic][data-value=food]").click()
        page.wait_for_function("() => document.querySelector('#facets button[aria-pressed=true]') !== null")
        page.wait_for_timeout(300)
        badges = page.locator(".hit .badges").all_inner_texts()
        assert badges and all("topic: food" in b for b in badges)
        page.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_screenshots_of_the_sample_corpus(browser, tmp_path, monkeypatch):
    """The README's screenshots: the sample corpus with the real bundled model."""
    path = tmp_path / "sample"
    monkeypatch.chdir(SAMPLE_DATA.parent)  # ids as the README shows them: data/articles/...
    with Index.open(path) as idx:
        idx.add_documents(read_inputs(["data/articles", "data/notes.jsonl"]))
        idx.cluster("kmeans", k=6, name="sample")
    shots = REPO / "docs" if os.environ.get("SEMSEARCH_SCREENSHOTS") else tmp_path
    server, read, write = served(path)
    try:
        exercise(browser, server.url, (read, write), "vaccines immune system", shots, tmp_path, projection="umap")
    finally:
        server.stop()
