"""The documentation site as a reader sees it: built with ``mkdocs build --strict``, opened in Chromium.

Checks that every page of the nav renders (a title, no raw Markdown or snippet markers, every
image loads), that nested lists stay nested (Getting started, step 3 once rendered its sub-list as
top-level items 4-6), and that the theme's search and code copy buttons are there.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from airflow_pages import wait_until
from selenium.webdriver.common.by import By

# The docs site is the same whatever Airflow is installed: checked once, on the newest (one_airflow).
pytestmark = [pytest.mark.browser, pytest.mark.one_airflow, pytest.mark.timeout(300, method="thread")]

ROOT = Path(__file__).parents[2]
MKDOCS = str(Path(sys.executable).parent / "mkdocs")


def nav_pages() -> list[str]:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    return [next(iter(entry.values())) for entry in config["nav"]]


def page_url(base: str, source: str) -> str:
    return base + ("/" if source == "index.md" else f"/{source.removesuffix('.md')}/")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    """The site built from this checkout, served on 127.0.0.1 (search needs http, not file://)."""
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [MKDOCS, "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        check=True,
        timeout=180,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    handler = functools.partial(QuietHandler, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize("source", nav_pages())
def test_page_renders_as_written(site, chromium, source):
    requested_urls(chromium)  # forget earlier pages' requests
    chromium.get(page_url(site, source))
    article = wait_until("the article", lambda: chromium.find_elements(By.CSS_SELECTOR, "article"))[0]
    assert article.find_elements(By.TAG_NAME, "h1"), f"{source} has no title"
    text = article.text
    for marker in ("--8<--", "```", "]("):
        assert marker not in text, f"{source} shows raw Markdown {marker!r}"
    broken = chromium.execute_script(
        "return [...document.querySelectorAll('article img')]"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'))"
    )
    assert not broken, f"{source}: images that do not load: {broken}"
    outside = [u for u in requested_urls(chromium) if not u.startswith((site, "data:", "blob:"))]
    assert not outside, f"{source} loads from outside the site: {outside}"


def requested_urls(driver) -> list[str]:
    """URLs the page requested since the last call (from Chromium's network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_getting_started_step_3_keeps_its_sub_list_nested(site, chromium):
    chromium.get(page_url(site, "index.md"))
    heading = chromium.find_element(By.XPATH, "//h2[starts-with(normalize-space(.), '3. Create the Feishu')]")
    steps = heading.find_element(By.XPATH, "following-sibling::ol[1]")
    items = steps.find_elements(By.XPATH, "./li")
    assert len(items) == 4, [i.text[:40] for i in items]
    assert items[3].text.startswith("Publish a version")
    scopes = items[2].find_elements(By.XPATH, "./ul/li")
    assert len(scopes) == 3 and scopes[0].text.startswith("batch messages")


def test_theme_has_search_and_code_copy_buttons(site, chromium):
    chromium.get(page_url(site, "index.md"))
    assert chromium.find_elements(By.CSS_SELECTOR, "input.md-search__input")
    blocks = chromium.find_elements(By.CSS_SELECTOR, "article pre > code")
    assert blocks
    copy_buttons = "button[data-clipboard-target], button.md-clipboard"  # Material 9.8 / older
    wait_until("copy buttons", lambda: len(chromium.find_elements(By.CSS_SELECTOR, copy_buttons)) >= len(blocks))


def test_docs_show_the_screenshots_of_the_browser_run(site, chromium):
    chromium.get(page_url(site, "ui.md"))
    shown = chromium.execute_script(
        "return [...document.querySelectorAll('article img')]"
        ".filter(i => i.naturalWidth > 0).map(i => i.getAttribute('src').split('/').pop())"
    )
    assert {"connection-form.png", "test-connection.png", "wait-task-log.png"} <= set(shown)


NESTED_TOO_SHALLOW = re.compile(r"^ {1,3}([*+-]|\d+\.) ")


def test_no_list_is_nested_with_fewer_than_four_spaces():
    """Python-Markdown nests a list only under 4 spaces; fewer flattens it (the step-3 bug)."""
    found = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        fenced = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced and NESTED_TOO_SHALLOW.match(line):
                found.append(f"{path.name}:{number}: {line.strip()[:60]}")
    assert not found, "indent nested list items by 4 spaces:\n" + "\n".join(found)
