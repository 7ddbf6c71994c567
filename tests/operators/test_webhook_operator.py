"""FeishuWebhookOperator: templated fields, message kinds, and how failures end the task."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from airflow.sdk import DAG
from test_send_operators import FakeTI, MemoryTaskStateStore

from airflow_provider_feishu.api.errors import FeishuRateLimitError
from airflow_provider_feishu.operators.send_record import WEBHOOK_RECORD_KEY, SendRecord
from airflow_provider_feishu.operators.webhook import FeishuWebhookOperator
from airflow_provider_feishu.testing import FeishuEmulator
from airflow_provider_feishu.version_compat import AirflowFailException

FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "max_retries": 1}
HOOK_PATH = "/open-apis/bot/v2/hook/*"


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        signed = emulator.tenant["webhooks"][1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_FEISHU_WEBHOOK_DEFAULT",
            json.dumps(
                {
                    "conn_type": "feishu_webhook",
                    "password": emulator.webhook_url(1),
                    "extra": {"secret": signed["secret"], **FAST},
                }
            ),
        )
        yield emulator


def run(op: FeishuWebhookOperator, **context) -> None:
    context.setdefault("params", {})
    context.setdefault("ti", FakeTI())
    context.setdefault("task_state_store", MemoryTaskStateStore())
    op.render_template_fields(context)
    op.execute(context)


def make(**kwargs) -> FeishuWebhookOperator:
    with DAG("webhook_op", schedule=None, start_date=datetime(2026, 1, 1)):
        return FeishuWebhookOperator(task_id="post", **kwargs)


def test_templated_text_with_mentions(emu):
    op = make(text="{{ params.table }} loaded", at_user_ids="{{ params.oncall }}", at_all=True)
    run(op, params={"table": "orders", "oncall": "ou_1,ou_2"})
    assert emu.webhook_messages()[0]["content"] == {
        "text": '<at user_id="ou_1"></at> <at user_id="ou_2"></at> <at user_id="all">所有人</at> orders loaded'
    }


def test_templated_card(emu):
    run(make(title="{{ params.t }}", text="**{{ params.n }}** rows", template="green"), params={"t": "Load", "n": 3})
    assert emu.webhook_messages()[0]["content"] == {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": "Load"}, "template": "green"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "**3** rows"}}],
    }


def test_raw_card_as_rendered_json(emu):
    card = '{"header": {"title": {"tag": "plain_text", "content": "{{ params.t }}"}}, "elements": []}'
    run(make(card=card), params={"t": "Raw"})
    message = emu.webhook_messages()[0]
    assert message["msg_type"] == "interactive"
    assert message["content"] == {"header": {"title": {"tag": "plain_text", "content": "Raw"}}, "elements": []}


def test_template_fields_never_include_secrets():
    assert set(FeishuWebhookOperator.template_fields) == {
        "feishu_webhook_conn_id",
        "text",
        "title",
        "card",
        "at_user_ids",
    }
    with pytest.raises(TypeError):
        make(text="x", webhook_token="abc")  # no argument takes a token


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "needs text, title or card"),
        ({"card": {}, "text": "x"}, "not both"),
        ({"title": "x", "template": "pink"}, "template"),
        ({"text": "x", "at_user_ids": [None, "ou_1"]}, r"at_user_ids\[0\] must be an id string"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        make(**kwargs)


def test_refusal_fails_without_retry(emu):
    emu.inject(HOOK_PATH, status=200, code=19024, msg="Key Words Not Found")
    with pytest.raises(AirflowFailException, match="code=19024"):
        run(make(text="x"))


def test_possibly_delivered_fails_without_retry(emu):
    emu.inject(HOOK_PATH, kind="drop_after")
    with pytest.raises(AirflowFailException, match="may have been sent"):
        run(make(text="once"))
    assert len(emu.webhook_messages()) == 1


# --- one post per task instance, even across a killed worker (operators/send_record.py) ----------


def test_a_post_is_recorded_and_a_later_try_does_not_post_again(emu, capfd):
    store = MemoryTaskStateStore()
    run(make(text="once"), ti=FakeTI(try_number=1), task_state_store=store)
    assert SendRecord.from_json(store.values[WEBHOOK_RECORD_KEY]).state == "sent"
    run(make(text="once"), ti=FakeTI(try_number=2), task_state_store=store)
    assert len(emu.webhook_messages()) == 1
    out, err = capfd.readouterr()
    assert "already sent this webhook message" in out + err


def test_an_unfinished_post_blocks_the_next_try(emu):
    store = MemoryTaskStateStore()
    store.set(WEBHOOK_RECORD_KEY, SendRecord.sending(1).to_json())
    with pytest.raises(AirflowFailException, match=r"began sending this webhook message.*never learnt"):
        run(make(text="once"), ti=FakeTI(try_number=2), task_state_store=store)
    assert emu.webhook_messages() == []


def test_a_server_error_on_a_post_is_an_unknown_outcome(emu):
    store = MemoryTaskStateStore()
    emu.inject(HOOK_PATH, status=500, times=None)
    with pytest.raises(AirflowFailException, match="may have been sent"):
        run(make(text="x"), task_state_store=store)
    assert SendRecord.from_json(store.values[WEBHOOK_RECORD_KEY]).state == "sending"


def test_a_refused_post_leaves_no_record(emu):
    store = MemoryTaskStateStore()
    emu.inject(HOOK_PATH, times=None, status=200, code=11232, msg="frequency limited")
    with pytest.raises(FeishuRateLimitError):
        run(make(text="x"), task_state_store=store)
    assert WEBHOOK_RECORD_KEY not in store.values  # a retry may post


def test_rate_limit_stays_retryable(emu):
    emu.inject(HOOK_PATH, times=None, status=200, code=11232, msg="frequency limited")
    with pytest.raises(FeishuRateLimitError):
        run(make(text="x"))
    assert emu.webhook_messages() == []
