"""The browser suite: Debian's headless Chromium against a real Airflow with the provider installed.

One ``airflow standalone`` for the whole session (API server, scheduler, dag-processor, triggerer on
127.0.0.1, SQLite in a temporary AIRFLOW_HOME, every user an admin, ``[core] test_connection`` on)
and one Chromium. The browser must be there: a missing Chromium fails the suite with the command
that installs it; it is never skipped. ``FEISHU_SCREENSHOTS=<dir>`` (``make screenshots``) also
saves the screenshots the docs show.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from airflow_processes import clean_env, standalone, wait_for

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_HINT = "install it with `make browser` (scripts/install-browser.sh: apt-get install chromium chromium-driver)"
BOOT_SECONDS = 180
# The flags that keep a headless Chromium quiet and offline: no GPU, no QUIC, no background fetches.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--hide-scrollbars",
)


@dataclass
class AirflowUI:
    """A running Airflow: its URL, its environment (for the CLI), the emulator it talks to."""

    url: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen
    emulator: FeishuEmulator

    def hook_view(self, conn_id: str, conn_type: str = "feishu") -> dict:
        """What the hook reads from connection ``conn_id`` as stored by Airflow, in a fresh process."""
        code = HOOK_VIEW.format(conn_id=conn_id, conn_type=conn_type)
        out = subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])


# Runs in the server's environment: the connection as Airflow stores it, and the hook's config of it.
HOOK_VIEW = """
import json
from airflow.models.connection import Connection
from airflow.utils.session import create_session
with create_session() as session:
    conn = session.query(Connection).filter_by(conn_id={conn_id!r}).one()
    extra = conn.extra_dejson
    if {conn_type!r} == "feishu":
        from airflow_provider_feishu.hooks.config import config_from_connection as parse
    else:
        from airflow_provider_feishu.hooks.webhook_config import webhook_config_from_connection as parse
    config = parse(conn)
view = {{"extra": extra, "base_url": config.base_url, "timeout": config.timeout,
        "max_attempts": config.retry.max_attempts, "app_id": getattr(config, "app_id", None),
        "rate_limit_share": getattr(config, "rate_limit_share", None)}}
print(json.dumps(view))
"""


@pytest.fixture(scope="session")
def airflow_ui(tmp_path_factory) -> Iterator[AirflowUI]:
    """``airflow standalone`` on 127.0.0.1 with the emulator behind ``feishu_default``, once per session."""
    root = tmp_path_factory.mktemp("browser-airflow")
    home = root / "airflow-home"
    home.mkdir()
    # An emulated minute per real second; half the recipients read within 10 minutes (10 real
    # seconds), so the example's wait logs a few checks before it reaches its threshold. Faster
    # clocks expire the app's 2-hour token within seconds, and the log would fill with renewals.
    reading = ReadingModel(seed=7, median_seconds=600, never_read_fraction=0.05, delivery_seconds=30)
    with FeishuEmulator(speed=60.0, reading=reading) as emu:
        env = clean_env(
            home,
            emu,
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        )
        log = root / "standalone.log"
        with standalone(env, log) as proc:
            url = env["AIRFLOW__API__BASE_URL"]

            def api_up() -> bool:
                try:
                    return requests.get(url + "/api/v2/version", timeout=5).status_code == 200
                except requests.RequestException:
                    return False

            wait_for(api_up, BOOT_SECONDS, "the API server to answer", log, proc)
            # The form's first request loads every provider's hook metadata: slow once, so warm it up.
            requests.get(url + "/ui/connections/hook_meta", timeout=BOOT_SECONDS)
            yield AirflowUI(url=url, env=env, log=log, proc=proc, emulator=emu)


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """Debian's headless Chromium through its chromedriver; Selenium Manager never downloads anything."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"The browser suite needs Chromium, but {', '.join(missing)} is missing: {INSTALL_HINT}.")
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="feishu-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    except WebDriverException as err:
        pytest.fail(f"Chromium did not start ({err.msg}); check `{CHROMIUM} --headless --version`, or {INSTALL_HINT}.")
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this suite after every other test, so that its Airflow (session-scoped: it starts once)
    does not run beside them; and check the docs site last, so that under ``make screenshots`` it
    shows this run's screenshots."""
    here = Path(__file__).parent
    items.sort(key=lambda item: (here in item.path.parents, item.path.name == "test_docs_site.py"))


@pytest.fixture(scope="session")
def browser(airflow_ui: AirflowUI, chromium):
    """Chromium signed in to the Airflow UI (every user is an admin, but the first visit still goes
    through the login redirect, which on Airflow 3.1 lands on the home page, not the one asked for)."""
    from airflow_pages import wait_until
    from selenium.webdriver.common.by import By

    chromium.get(airflow_ui.url + "/")

    def home_page_shown() -> bool:
        menu = chromium.find_element(By.TAG_NAME, "body").text.splitlines()
        return "/auth" not in chromium.current_url and "Admin" in menu

    wait_until("the Airflow UI to sign in", home_page_shown, seconds=BOOT_SECONDS)
    return chromium
