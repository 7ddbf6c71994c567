"""What the browser tests do on Airflow's React UI: open the connection form, read it, press Test.

Locators follow what Airflow 3.1-3.3 render (input ``name`` attributes, ``aria-label`` of the row
buttons, Chakra toasts); each helper waits for the UI instead of sleeping a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from airflow_provider_feishu.testing import FeishuEmulator

T = TypeVar("T")

# Airflow 3.3.2's Test button sends ``port: 0`` for a connection without a port, which the API then
# refuses with 400 "The host or port to test differs from the stored connection" whatever the
# provider does (fixed upstream after 3.3.2, apache/airflow#73298). This shim drops that bogus port
# from the one request, as the fixed UI does, so the tests can see what our hook answers.
PORT_FIX_SHIM = """
(() => {
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__testUrl = String(url);
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (body) {
    if (this.__testUrl && this.__testUrl.endsWith("/api/v2/connections/test") && typeof body === "string") {
      const payload = JSON.parse(body);
      if (payload.port === 0) {
        delete payload.port;
        body = JSON.stringify(payload);
      }
    }
    return send.call(this, body);
  };
})();
"""


def wait_until(what: str, probe: Callable[[], T], seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what}")
        time.sleep(0.2)


# The emulator's token format (every token it issued is also checked by value).
TOKEN = re.compile(r"\bt-g[0-9a-f]{39}\b")


def leaks(driver: WebDriver, emulator: FeishuEmulator, *secrets: str) -> list[str]:
    """Secrets, the emulator's app secret or any token it issued, found in the page's HTML."""
    html = driver.page_source
    found = [s for s in (*secrets, emulator.app_secret) if s and s in html]
    found += [t for t in emulator.world.tokens if t in html]
    return found + TOKEN.findall(html)


def body_text(driver: WebDriver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def api(driver: WebDriver, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call Airflow's REST API from the page, with the page's own session; returns (status, JSON)."""
    script = """
    const [method, path, body, done] = arguments;
    const init = {method, headers: {"Content-Type": "application/json"}};
    if (body !== null) init.body = JSON.stringify(body);
    fetch(path, init).then(r => r.text().then(t => done([r.status, t]))).catch(e => done([0, String(e)]));
    """
    status, text = driver.execute_async_script(script, method, path, body)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def type_options(driver: WebDriver, url: str, typed: str) -> tuple[WebElement, list[WebElement]]:
    """Open the Add Connection dialog and type ``typed`` into its type picker: (dialog, options)."""
    driver.get(url + "/connections")
    wait_until("the Add Connection button", lambda: driver.find_elements(By.XPATH, ADD_BUTTON))[0].click()
    dialog = wait_until("the dialog", lambda: driver.find_elements(By.CSS_SELECTOR, "[role=dialog]"))[0]

    def ready_pickers() -> list[WebElement]:
        # The picker stays disabled until the hook metadata of every provider has loaded.
        return [c for c in dialog.find_elements(By.CSS_SELECTOR, "input[role=combobox]") if c.is_enabled()]

    wait_until("the type picker", ready_pickers)[0].send_keys(typed)
    return dialog, wait_until("the type options", lambda: options_shown(driver))


def open_add_connection(driver: WebDriver, url: str, type_label: str) -> WebElement:
    """The Add Connection dialog with ``type_label`` chosen; returns the dialog."""
    dialog, options = type_options(driver, url, type_label)
    match = [o for o in options if o.text == type_label]
    assert match, f"{type_label!r} is not offered; options: {[o.text for o in options]}"
    match[0].click()
    wait_until("the form of the chosen type", lambda: dialog.find_elements(By.XPATH, SECTION.format("Standard Fields")))
    return dialog


ADD_BUTTON = "//button[contains(., 'Add Connection')]"
SECTION = ".//button[normalize-space(.)='{}']"


def options_shown(driver: WebDriver) -> list[WebElement]:
    """The options of the open react-select menu."""
    return driver.find_elements(By.CSS_SELECTOR, "[id*='-option-']")


def connection_types_offered(driver: WebDriver, url: str) -> list[str]:
    return [o.text for o in type_options(driver, url, "Feishu")[1]]


def open_section(dialog: WebElement, title: str) -> None:
    """Expand an accordion section of the form (Standard Fields, Extra Fields, Extra Fields JSON)."""
    button = dialog.find_element(By.XPATH, SECTION.format(title))
    if button.get_attribute("aria-expanded") != "true":
        button.click()
        wait_until(f"section {title!r} to open", lambda: button.get_attribute("aria-expanded") == "true")


def inputs(dialog: WebElement) -> dict[str, WebElement]:
    """The form's inputs and text areas by ``name`` (standard fields, and ``element_<extra>``)."""
    found = dialog.find_elements(By.CSS_SELECTOR, "input[name], textarea[name]")
    return {e.get_attribute("name"): e for e in found}


def label_of(dialog: WebElement, field: WebElement) -> str:
    """The visible label of a form row (the text before its input)."""
    row = field.find_element(By.XPATH, "./ancestor::*[.//label][1]")
    return row.find_element(By.TAG_NAME, "label").text.strip()


def placeholder_fits(driver: WebDriver, field: WebElement) -> bool:
    """Whether the input shows its whole placeholder (measured with the input's own font)."""
    script = """
    const el = arguments[0];
    const style = getComputedStyle(el);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = style.font;
    const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return ctx.measureText(el.placeholder).width <= room;
    """
    return bool(driver.execute_script(script, field))


def dropdown(dialog: WebElement, label: str) -> WebElement:
    """The react-select input of the extra field labelled ``label``."""
    row = dialog.find_element(
        By.XPATH, f".//*[normalize-space(text())='{label}']/ancestor::*[.//input[@role='combobox']][1]"
    )
    return row.find_element(By.CSS_SELECTOR, "input[role=combobox]")


def choose(driver: WebDriver, combo: WebElement, option: str) -> None:
    """Pick ``option`` in a react-select dropdown."""
    combo.click()
    match = wait_until(f"option {option!r}", lambda: [o for o in options_shown(driver) if o.text == option])
    match[0].click()


def dropdown_options(driver: WebDriver, combo: WebElement) -> list[str]:
    combo.click()
    texts = [o.text for o in wait_until("the dropdown options", lambda: options_shown(driver))]
    combo.click()  # closes the menu again (Escape would close the whole dialog)
    return texts


def type_json(driver: WebDriver, dialog: WebElement, value: Any) -> None:
    """Replace the text of the form's JSON editor (CodeMirror; Extra Fields JSON) with ``value``.

    The editor closes brackets and quotes as they are typed, and steps over a closing one typed
    next to it, so typing the JSON character by character gives exactly that JSON. Airflow 3.1's
    form reformats it when the editor loses focus.
    """
    editor = wait_until("the JSON editor", lambda: dialog.find_elements(By.CSS_SELECTOR, ".cm-content"))[0]
    editor.click()
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys(Keys.DELETE).perform()
    editor.send_keys(json.dumps(value))
    wait_until("the JSON typed", lambda: _json_or_none(editor.text) == value, seconds=10)
    # Leave the editor: on blur the form reformats the JSON, and a Save click that blurs it is lost.
    dialog.find_element(By.XPATH, ".//*[normalize-space(text())='Add Connection']").click()
    wait_until("the JSON reformatted", lambda: "\n" in editor.text and _json_or_none(editor.text) == value, seconds=10)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def save(dialog: WebElement) -> None:
    button = dialog.find_element(By.XPATH, ".//button[contains(., 'Save')]")
    wait_until("Save to be enabled", button.is_enabled)
    button.click()


def row_button(driver: WebDriver, url: str, conn_id: str, label: str) -> WebElement:
    """The button ``label`` (e.g. "Test Connection") in the Connections list row of ``conn_id``."""
    driver.get(url + "/connections")
    row = wait_until(
        f"the row of {conn_id!r}",
        lambda: driver.find_elements(By.XPATH, f"//tr[.//td[normalize-space(.)='{conn_id}']]"),
    )[0]
    return row.find_element(By.CSS_SELECTOR, f"button[aria-label='{label}']")


def press_test(driver: WebDriver, url: str, conn_id: str) -> str:
    """Press Test on the row of ``conn_id``; returns the text of the toast with the outcome."""
    row_button(driver, url, conn_id, "Test Connection").click()

    def outcome() -> str:
        # The toast's title can show before its description (the message): wait for both.
        texts = [t.text for t in driver.find_elements(By.XPATH, TOAST)]
        return next((t for t in texts if ("Successful" in t or "Failed" in t) and "\n" in t.strip()), "")

    return wait_until("the Test outcome", outcome)


TOAST = "//*[@data-scope='toast' and @data-part='root']"


def shot_toast(driver: WebDriver, name: str) -> None:
    """Screenshot of the Test outcome's toast alone (on the whole page it is too small to read)."""
    toasts = [t for t in driver.find_elements(By.XPATH, TOAST) if "Test Connection" in t.text]
    assert toasts, "no Test toast to screenshot"
    shot(toasts[-1], name)


def sent_test_requests(driver: WebDriver) -> list[dict]:
    """Bodies of the POSTs to /connections/test since the last call (from Chromium's network log)."""
    bodies = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.requestWillBeSent":
            continue
        request = message["params"]["request"]
        if request["method"] == "POST" and request["url"].endswith("/api/v2/connections/test"):
            bodies.append(json.loads(request.get("postData") or "{}"))
    return bodies


def with_port_fix(driver: WebDriver) -> str:
    """Install :data:`PORT_FIX_SHIM` in every page loaded from now on; returns its id to remove it."""
    added = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PORT_FIX_SHIM})
    return str(added["identifier"])


def without_port_fix(driver: WebDriver, identifier: str) -> None:
    driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})


def shot(target: WebDriver | WebElement, name: str) -> None:
    """Save a PNG of the page or of one element as ``$FEISHU_SCREENSHOTS/<name>.png`` (when set).

    ``make screenshots`` sets it to docs/img: the docs show what this run saw, never a hand edit.
    """
    directory = os.environ.get("FEISHU_SCREENSHOTS")
    if not directory:
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    path = Path(directory) / f"{name}.png"
    if isinstance(target, WebElement):
        target.screenshot(str(path))
    else:
        target.save_screenshot(str(path))
