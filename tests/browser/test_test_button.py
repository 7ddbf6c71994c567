"""The Test button of the Connections list, with ``[core] test_connection = Enabled``.

Airflow 3.3.2's button sends ``port: 0`` for a connection without a port and the API answers 400
"The host or port to test differs from the stored connection" before our hook runs (fixed upstream
after 3.3.2, apache/airflow#73298; see docs/ui.md). The first test pins that behaviour; on 3.3.2
the others send the same request without the bogus port (``with_port_fix``), as a fixed Airflow
does, and read what our hook answers in the toast the user sees. Airflow 3.1.8's button sends
``port: 0`` too, but its API does not compare ports: there the real button is tested as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

import airflow
import pytest
from airflow_pages import api, leaks, press_test, sent_test_requests, shot_toast, with_port_fix, without_port_fix

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300, method="thread")]

#: Whether this Airflow's Test button gets the 400 for a connection without a port.
PORT_0_BUG = airflow.__version__ == "3.3.2"


def add_connection(browser, airflow_ui, conn_id: str, **fields) -> None:
    """Store a connection through Airflow's REST API (what the form's Save does)."""
    browser.get(airflow_ui.url + "/connections")
    api(browser, "DELETE", f"/api/v2/connections/{conn_id}")
    status, answer = api(browser, "POST", "/api/v2/connections", {"connection_id": conn_id, **fields})
    assert status == 201, answer


@pytest.fixture
def port_fix(browser) -> Iterator[None]:
    if not PORT_0_BUG:
        yield
        return
    identifier = with_port_fix(browser)
    try:
        yield
    finally:
        without_port_fix(browser, identifier)


@pytest.fixture
def good_connection(browser, airflow_ui) -> str:
    emu = airflow_ui.emulator
    add_connection(
        browser,
        airflow_ui,
        "feishu_ui_good",
        conn_type="feishu",
        host=emu.base_url,
        login=emu.app_id,
        password=emu.app_secret,
    )
    return "feishu_ui_good"


@pytest.mark.skipif(not PORT_0_BUG, reason="the port-0 bug is Airflow 3.3.2's")
def test_airflow_3_3_2_button_sends_port_0_and_gets_400(airflow_ui, browser, good_connection):
    sent_test_requests(browser)  # forget earlier requests
    toast = press_test(browser, airflow_ui.url, good_connection)
    (body,) = sent_test_requests(browser)
    assert body["port"] == 0
    assert "Test Connection Failed" in toast and "Bad Request" in toast


def test_good_connection_says_connected_as_the_app(airflow_ui, browser, good_connection, port_fix):
    emu = airflow_ui.emulator
    toast = press_test(browser, airflow_ui.url, good_connection)
    assert "Test Connection Successful" in toast, toast
    assert f"Connected to {emu.base_url} as app {emu.app_id}." in toast
    assert not leaks(browser, emu)
    shot_toast(browser, "test-connection")


def test_wrong_secret_shows_our_error_and_no_secret(airflow_ui, browser, port_fix):
    emu = airflow_ui.emulator
    wrong = "wrong-secret-0123456789abcdef"
    add_connection(
        browser,
        airflow_ui,
        "feishu_ui_wrong",
        conn_type="feishu",
        host=emu.base_url,
        login=emu.app_id,
        password=wrong,
    )
    toast = press_test(browser, airflow_ui.url, "feishu_ui_wrong")
    assert "Test Connection Failed" in toast, toast
    assert "10014" in toast and "App Secret" in toast, toast
    assert not leaks(browser, emu, wrong)
    shot_toast(browser, "test-connection-wrong-secret")


def test_webhook_test_names_the_webhook_not_a_temporary_connection(airflow_ui, browser, port_fix):
    emu = airflow_ui.emulator
    url = emu.webhook_url(0)
    add_connection(browser, airflow_ui, "feishu_ui_webhook", conn_type="feishu_webhook", password=url)
    toast = press_test(browser, airflow_ui.url, "feishu_ui_webhook")
    assert "Test Connection Successful" in toast, toast
    assert emu.base_url in toast and "Nothing was sent" in toast
    # Airflow tests a copy under a random id; naming it would only confuse (issue 12).
    assert "connection '" not in toast, toast
    assert not leaks(browser, emu, url.rsplit("/", 1)[1])
