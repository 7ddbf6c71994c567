"""No secret leaks: a whole run's logs, trigger logs, XComs, rendered templates and errors hold no secret.

``dag.test()`` of tests/dags/reliability_secrets.py (send, deferred wait, wait-and-branch, remind,
report, a failing task with both notifiers) against the emulator, with one token expiry mid-run so
two tenant tokens are issued. Then the app secret, every token the emulator issued, and the
webhook's token and signing secret must appear nowhere we can read.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from _support import connect, issued_tokens, open_ids

from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(180, method="thread")]

DAG_FILE = Path(__file__).parents[1] / "dags" / "reliability_secrets.py"
PLATFORM_CHAT = "oc_35045226853e38407cda43fb1cde7840"
READERS = ReadingModel(median_seconds=300, sigma=0.5, never_read_fraction=0.3)


def load_dag():
    spec = importlib.util.spec_from_file_location("reliability_secrets", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def stored_texts(run: Any) -> dict[str, str]:
    """Every XCom and rendered-template row of the run, as JSON text, plus the task states."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    texts: dict[str, str] = {}
    with create_session() as session:
        for row in session.scalars(select(XComModel).where(XComModel.run_id == run.run_id)):
            texts[f"xcom {row.task_id}/{row.key}"] = json.dumps(XComModel.deserialize_value(row), default=str)
        for rtif in session.scalars(select(RTIF).where(RTIF.run_id == run.run_id)):
            texts[f"rendered {rtif.task_id}"] = json.dumps(rtif.rendered_fields, default=str)
    return texts


def test_a_whole_run_leaks_no_secret(monkeypatch, capfd, caplog):
    with FeishuEmulator(speed=100.0, reading=READERS) as emu:
        connect(monkeypatch, emu)
        webhook = emu.tenant["webhooks"][1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
            json.dumps(
                {"conn_type": "feishu_webhook", "password": emu.webhook_url(1), "extra": {"secret": webhook["secret"]}}
            ),
        )
        emu.inject("/open-apis/im/v1/batch_messages/*", kind="expire_token")  # a second token mid-run
        users = open_ids(emu, 20)
        run = load_dag().test(run_conf={"open_ids": users, "chat_id": PLATFORM_CHAT})
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        tokens = issued_tokens(emu)
        # the run did what it should, so every path was exercised
        assert states["wait"] == "success" and states["report"] == "success", states
        assert states["broken"] == "failed", states
        assert emu.request_count("tenant_access_token") >= 2 and len(tokens) >= 2
        assert len(emu.batches()) == 2
        assert len(emu.webhook_messages()) == 1

    out, err = capfd.readouterr()
    texts = stored_texts(run)
    assert any(k.startswith("xcom wait/") for k in texts) and any(k.startswith("rendered") for k in texts), texts
    texts["stdout (task and trigger logs)"] = out
    texts["stderr"] = err
    texts["caplog"] = caplog.text
    texts["exceptions"] = "\n".join(
        str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1] is not None
    )
    assert "the load broke" in out + caplog.text  # the failure really was logged
    secrets = {"app secret": emu.app_secret, "webhook token": webhook["token"], "webhook secret": webhook["secret"]}
    secrets.update({f"token {t[:4]}…": t for t in tokens})
    leaks = [(name, where) for name, secret in secrets.items() for where, text in texts.items() if secret in text]
    assert leaks == []
