"""Send operators under dag.test() against the emulator, plus their argument handling."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_feishu.operators.send import (
    FeishuBatchSendOperator,
    FeishuSendMessageOperator,
    build_message,
    task_instance_uuid,
)
from airflow_provider_feishu.testing import FeishuEmulator
from airflow_provider_feishu.version_compat import AirflowFailException

DAGS_DIR = Path(__file__).parents[1] / "dags"
FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


def load_dag(file: str, dag_id: str):
    spec = importlib.util.spec_from_file_location(file.removesuffix(".py"), DAGS_DIR / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag if dag_id == "send_every_kind" else module.dags[dag_id]


@pytest.fixture
def emu(monkeypatch):
    with FeishuEmulator() as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emulator.connection_json(extra=FAST_RETRIES))
        yield emulator


class FakeTI:
    """Stands in for the task instance in direct execute() calls (only what the operators touch)."""

    def __init__(self, **ids):
        self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number = "d", "t", "r1", -1, 1
        self.__dict__.update(ids)
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


class MemoryTaskStateStore:
    """Stands in for Airflow 3.3's ``context["task_state_store"]`` in direct execute() calls (get/set/delete
    of JSON values); under dag.test() the real one (3.3+) or a Variable (3.1, 3.2) is used."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key, default=None):
        return json.loads(json.dumps(self.values[key])) if key in self.values else default

    def set(self, key, value, *, retention=None):
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key):
        self.values.pop(key, None)


def batch_context(ti: FakeTI, store: MemoryTaskStateStore | None = None) -> dict[str, object]:
    """What a batch send's execute() reads of its context: the task instance and its task state store."""
    return {"ti": ti, "task_state_store": store if store is not None else MemoryTaskStateStore()}


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, key=key, dag_ids=dag_run.dag_id, task_ids=task_id)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.timeout(120, method="thread")
def test_every_kind_under_dag_test(emu, capfd):
    ids = [u["open_id"] for u in emu.users[:3]]
    chat = emu.chats[0]["chat_id"]
    run = load_dag("send_messages_dags.py", "send_every_kind").test(
        run_conf={"open_ids": ids, "chat_id": chat, "title": "Release 1.2"}
    )
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == dict.fromkeys(
        ["batch_text", "batch_post", "batch_card", "chat_text", "chat_card", "user_post"], "success"
    )
    for task in ("batch_text", "batch_post", "batch_card"):
        bid = xcom(run, task)
        assert bid.startswith("bm-")
        assert xcom(run, task, "batch_send_result")["batch_message_id"] == bid
    emu.advance(10)  # batch delivery is asynchronous
    inbox = {m["msg_type"]: m for m in emu.delivered(ids[0])}
    assert inbox["text"]["content"] == {"text": "Hello Release 1.2"}
    assert inbox["post"]["content"]["post"]["zh_cn"]["title"] == "Release 1.2"
    chat_log = emu.chat_messages(chat)
    assert sorted(m["msg_type"] for m in chat_log) == ["interactive", "text"]
    assert xcom(run, "chat_text").startswith("om_")
    assert emu.app_secret not in capfd.readouterr().out


def test_batch_send_logs_invalid_ids_and_pushes_result(emu, capfd):
    good = emu.users[0]["open_id"]
    op = FeishuBatchSendOperator(task_id="t", text="hi", open_ids=[good, "ou_nobody"], department_ids="eng, nope")
    ti = FakeTI()
    bid = op.execute(batch_context(ti))
    assert bid.startswith("bm-")
    result = ti.pushed["batch_send_result"]
    assert result["invalid_open_ids"] == ["ou_nobody"] and result["invalid_department_ids"] == ["nope"]
    out, err = capfd.readouterr()
    assert "could not use 2 of the ids" in out + err
    assert "'hi'" not in out + err and '"hi"' not in out + err  # content is never logged


def test_batch_send_fails_without_retry_when_feishu_rejects_every_id(emu):
    op = FeishuBatchSendOperator(task_id="t", text="hi", open_ids=["ou_nobody"], department_ids="nope, od-gone")
    ti = FakeTI()
    with pytest.raises(AirflowFailException) as info:
        op.execute(batch_context(ti))
    text = str(info.value)
    assert "no valid recipient" in text
    assert "'ou_nobody'" in text and "'nope'" in text and "'od-gone'" in text
    assert ti.pushed["batch_send_result"]["invalid_department_ids"] == ["nope", "od-gone"]  # still inspectable


@pytest.mark.parametrize("code", [11203, 10003])  # missing scope; bad parameter
def test_batch_send_fails_at_once_on_a_permanent_error(emu, code):
    # AirflowFailException, not the FeishuError itself: any other exception lets Airflow retry the
    # task, which cannot fix a missing scope and would re-send whatever was accepted.
    op = FeishuBatchSendOperator(task_id="t", text="x", open_ids=[emu.users[0]["open_id"]])
    emu.inject("/open-apis/message/v4/batch_send/", code=code, status=200)
    with pytest.raises(AirflowFailException, match=f"code={code}"):
        op.execute(batch_context(FakeTI()))
    assert emu.request_count("batch_send") == 1


def test_send_message_is_idempotent_across_retries(emu):
    chat = emu.chats[0]["chat_id"]
    op = FeishuSendMessageOperator(task_id="t", receive_id=chat, receive_id_type="chat_id", text="deployed")
    context = {"ti": FakeTI()}
    first = op.execute(context)
    second = FeishuSendMessageOperator(
        task_id="t", receive_id=chat, receive_id_type="chat_id", text="deployed"
    ).execute(context)  # a retry of the same task instance
    assert first == second
    assert len(emu.chat_messages(chat)) == 1
    third = op.execute({"ti": FakeTI(run_id="r2")})
    assert third != first and len(emu.chat_messages(chat)) == 2


def test_permanent_send_error_fails_without_retry(emu):
    op = FeishuSendMessageOperator(task_id="t", receive_id="oc_missing", receive_id_type="chat_id", text="x")
    emu.inject("/open-apis/im/v1/messages", code=230027, status=400)
    with pytest.raises(AirflowFailException, match="230027"):
        op.execute({"ti": FakeTI()})


def test_uuid_is_stable_and_short():
    ti = SimpleNamespace(dag_id="d" * 200, task_id="t", run_id="r", map_index=3)
    uuid = task_instance_uuid({"ti": ti})
    assert uuid == task_instance_uuid({"ti": ti}) and len(uuid) <= 50
    ti2 = SimpleNamespace(dag_id="d" * 200, task_id="t", run_id="r", map_index=4)
    assert task_instance_uuid({"ti": ti2}) != uuid


def test_batch_send_splits_rendered_ids_on_newlines_like_the_notifier(emu):
    users = [u["open_id"] for u in emu.users[:3]]
    op = FeishuBatchSendOperator(task_id="t", text="hi", open_ids="{{ params.ids }}")
    op.open_ids = f"{users[0]}\n{users[1]}\r\n {users[2]},\n"  # as a template renders a multi-line value
    ti = FakeTI()
    op.execute(batch_context(ti))
    assert ti.pushed["batch_send_result"]["invalid_open_ids"] == []
    emu.advance(10)  # batch delivery is asynchronous
    assert all(emu.delivered(u) for u in users)


def test_batch_send_rejects_non_string_ids_naming_the_item(emu):
    op = FeishuBatchSendOperator(task_id="t", text="hi", open_ids="{{ params.ids }}")
    op.open_ids = [None, 1, "ou_1"]  # as a native-object template could render it
    with pytest.raises(AirflowFailException, match=r"open_ids\[0\] must be an id string, got NoneType"):
        op.execute(batch_context(FakeTI()))
    assert emu.request_count("batch_send") == 0


def test_send_message_rejects_a_non_string_mention(emu):
    chat = emu.chats[0]["chat_id"]
    op = FeishuSendMessageOperator(
        task_id="t", receive_id=chat, receive_id_type="chat_id", text="x", mentions="{{ m }}"
    )
    op.mentions = ["ou_1", 7]
    with pytest.raises(AirflowFailException, match=r"mentions\[1\] must be an id string, got int 7"):
        op.execute({"ti": FakeTI()})


def test_build_message_needs_exactly_one_body():
    with pytest.raises(AirflowFailException, match="exactly one"):
        build_message(text="a", card={"elements": []})
    with pytest.raises(AirflowFailException, match="exactly one"):
        build_message()
    assert build_message(post=json.dumps({"post": {"zh_cn": {"title": "t", "content": []}}})).body == {
        "zh_cn": {"title": "t", "content": []}
    }


def test_templated_fields_hold_no_secret_names():
    for cls in (FeishuBatchSendOperator, FeishuSendMessageOperator):
        assert not {f for f in cls.template_fields if "secret" in f or "token" in f or "password" in f}


# --- parse-time checks of literal arguments (templates and XCom references wait for run time) -----

TOO_MANY = [f"ou_{i}" for i in range(201)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"open_ids": ["ou_1"]}, r"needs a body: give exactly one of text, post, card"),
        ({"text": "hi", "card": {"elements": []}, "open_ids": ["ou_1"]}, r"exactly one .*; got text, card"),
        ({"text": "hi"}, r"no recipient: give department_ids, open_ids, user_ids or union_ids"),
        ({"text": "hi", "open_ids": [], "department_ids": ""}, r"no recipient"),
        ({"text": "hi", "open_ids": TOO_MANY}, r"open_ids has 201 ids; Feishu takes at most 200"),
        ({"text": "hi", "user_ids": "\n".join(TOO_MANY)}, r"user_ids has 201 ids"),
        ({"text": "hi", "open_ids": [None, 1, "ou_1"]}, r"open_ids\[0\] must be an id string"),
    ],
)
def test_batch_send_literal_mistakes_fail_when_the_dag_is_parsed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeishuBatchSendOperator(task_id="t", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"receive_id": "oc_1"}, r"needs a body"),
        ({"receive_id": "oc_1", "text": "a", "post": {"zh_cn": {}}}, r"got text, post"),
        ({"receive_id": "", "text": "a"}, r"receive_id is empty"),
        ({"receive_id": "oc_1", "text": "a", "mentions": ["ou_1", 7]}, r"mentions\[1\] must be an id string"),
    ],
)
def test_send_message_literal_mistakes_fail_when_the_dag_is_parsed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeishuSendMessageOperator(task_id="t", **kwargs)


def test_templates_and_xcom_references_are_checked_after_rendering():
    from airflow.sdk import DAG, task

    FeishuBatchSendOperator(task_id="a", text="{{ params.t }}", open_ids="{{ params.ids }}")
    FeishuBatchSendOperator(task_id="b", text="x", card="{{ params.card }}", department_ids=["{{ params.d }}"])
    FeishuSendMessageOperator(task_id="c", receive_id="{{ params.chat }}", text="x", mentions="{{ params.m }}")

    @task
    def recipients() -> list[str]:
        return ["ou_1"]

    with DAG("parse_time_xcom_args", schedule=None):
        FeishuBatchSendOperator(task_id="d", text="x", open_ids=recipients())
