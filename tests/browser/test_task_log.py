"""After a run of the example reminder workflow, the wait task's log page in Airflow's UI.

The wait (``FeishuWaitForReadsOperator``, deferred to the triggerer) logs one readable line per
check, such as ``read 42/120 (35.0%), need 80%``; the page must show them and no secret or token.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from airflow_pages import body_text, leaks, shot, wait_until
from airflow_processes import airflow, dag_parsed, json_rows, last_run_state, wait_for

# Checked on the newest Airflow only (one_airflow; about 100 s of the run): on Airflow 3.1 our check
# lines under a real triggerer are checked by tests/e2e/test_standalone.py, and that no log holds a
# secret by tests/reliability/test_no_secret_leaks.py; what this adds is Airflow's log page itself.
pytestmark = [pytest.mark.browser, pytest.mark.one_airflow, pytest.mark.timeout(600, method="thread")]

DAG_ID = "feishu_reminder_workflow"
TASK_ID = "wait_round_1"
CHECK_LINE = re.compile(r"read \d+/\d+ \(\d+\.\d%\), need 80%")


def test_wait_task_log_page_shows_readable_checks_and_no_secret(airflow_ui, browser):
    env, log, proc, emu = airflow_ui.env, airflow_ui.log, airflow_ui.proc, airflow_ui.emulator
    wait_for(lambda: dag_parsed(env, DAG_ID), 180, "the dag-processor to parse the example DAG", log, proc)
    airflow(env, "dags", "trigger", DAG_ID, "--conf", json.dumps({"wait_minutes": 5, "poke_seconds": 3}))
    state = wait_for(lambda: last_run_state(env, DAG_ID), 300, "the DAG run to finish", log, proc)
    assert state == "success", log.read_text()[-4000:]
    (run,) = json_rows(airflow(env, "dags", "list-runs", DAG_ID, "-o", "json"))

    browser.get(f"{airflow_ui.url}/dags/{DAG_ID}/runs/{quote(run['run_id'])}/tasks/{TASK_ID}")
    text = wait_until(
        "the check lines in the log", lambda: CHECK_LINE.search(body_text(browser)) and body_text(browser)
    )
    assert CHECK_LINE.search(text)
    assert not leaks(browser, emu)
    shot(browser, "wait-task-log")
