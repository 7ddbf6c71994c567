"""Notifiers as real callbacks: ``dag.test()`` of tests/dags/notify_failure.py against the emulator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_provider_feishu.testing import FeishuEmulator
from airflow_provider_feishu.version_compat import AIRFLOW_V_3_2_PLUS

DAGS = Path(__file__).parents[1] / "dags"
PLATFORM_CHAT = "oc_35045226853e38407cda43fb1cde7840"


def load_dag(name: str):
    spec = importlib.util.spec_from_file_location(f"test_dag_{name}", DAGS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values() if type(v).__name__ == "DAG")


@pytest.mark.timeout(120)
def test_failure_callbacks_post_exactly_one_card_each(airflow_db, monkeypatch, capsys, caplog):
    with FeishuEmulator() as emu:
        webhook = emu.tenant["webhooks"][1]
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json())
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
            json.dumps(
                {"conn_type": "feishu_webhook", "password": emu.webhook_url(1), "extra": {"secret": webhook["secret"]}}
            ),
        )
        dag = load_dag("notify_failure")
        run = dag.test()
        assert str(getattr(run.state, "value", run.state)) == "failed"

        im = [m for m in emu.chat_messages(PLATFORM_CHAT) if m["source"] == "im"]
        assert len(im) == 1 and im[0]["msg_type"] == "interactive"
        card = im[0]["content"]
        assert card["header"]["title"]["content"] == "Task failed: notify_failure.load"
        assert card["header"]["template"] == "red"
        lines = [e["text"]["content"] for e in card["elements"] if e["tag"] == "div"]
        assert "**DAG:** notify_failure" in lines and "**Task:** load" in lines
        assert f"**Run:** {run.run_id}" in lines
        if AIRFLOW_V_3_2_PLUS:  # Airflow 3.1's dag.test() leaves context["exception"] out of callbacks
            assert "**Error:** ValueError: the nightly load of 3 rows broke" in lines
        log_link = next(line for line in lines if line.startswith("[Open the task log]("))
        assert f"/dags/notify_failure/runs/{quote(run.run_id)}/tasks/load?try_number=1)" in log_link

        posts = emu.webhook_messages()
        cards = [p for p in posts if p["msg_type"] == "interactive"]
        texts = [p for p in posts if p["msg_type"] == "text"]
        assert len(cards) == 1 and cards[0]["content"] == card
        assert [t["content"] for t in texts] == [{"text": f"extract ok in {run.run_id}"}]
        assert emu.request_count("message_create") == 1 and emu.request_count("webhook") == 2

    out = capsys.readouterr()
    blob = "\n".join([out.out, out.err, *(r.getMessage() for r in caplog.records)])
    assert webhook["token"] not in blob and webhook["secret"] not in blob
    assert emu.app_secret not in blob
