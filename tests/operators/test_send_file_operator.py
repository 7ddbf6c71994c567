"""FeishuSendFileOperator under dag.test() and directly, against the emulator over real HTTP."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from airflow_provider_feishu.operators.send_file import FeishuSendFileOperator
from airflow_provider_feishu.version_compat import AirflowFailException

DAG_FILE = Path(__file__).parents[1] / "dags" / "send_file_dags.py"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def emu(feishu_connection):
    """The emulator, with feishu_default pointing at it (the provider's own pytest fixture)."""
    return feishu_connection


class FakeTI:
    def __init__(self, run_id: str = "r1"):
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", "t", run_id, -1
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.timeout(120, method="thread")
def test_file_to_a_chat_and_image_to_a_person(emu, tmp_path):
    spec = importlib.util.spec_from_file_location("send_file_dags", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report, chart = tmp_path / "report.csv", tmp_path / "chart.png"
    report.write_text("region,sales\nnorth,10\n")
    chart.write_bytes(PNG)
    chat, person = emu.chats[1]["chat_id"], emu.users[0]["open_id"]
    run = module.dag.test(run_conf={"report": str(report), "chart": str(chart), "chat_id": chat, "open_id": person})
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {
        "report_to_chat": "success",
        "chart_to_person": "success",
    }
    [sent_file] = emu.chat_messages(chat)
    assert sent_file["msg_type"] == "file"
    upload = emu.upload(sent_file["content"]["file_key"])
    assert upload["file_name"].startswith("report-") and upload["file_type"] == "stream"
    assert upload["data"] == report.read_bytes()
    [sent_image] = emu.delivered(person)
    assert sent_image["msg_type"] == "image" and emu.upload(sent_image["content"]["image_key"])["data"] == PNG


def test_a_retried_task_sends_once(emu, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    chat = emu.chats[1]["chat_id"]
    ti = FakeTI()
    first = FeishuSendFileOperator(task_id="t", file_path=path, receive_id=chat, receive_id_type="chat_id")
    message_id = first.execute({"ti": ti})
    again = FeishuSendFileOperator(task_id="t", file_path=path, receive_id=chat, receive_id_type="chat_id")
    assert again.execute({"ti": FakeTI()}) == message_id  # same task instance: same uuid
    [message] = emu.chat_messages(chat)
    assert message["msg_type"] == "media"  # mp4 goes out as media
    assert ti.pushed["upload_key"] == message["content"]["file_key"]


def test_bad_input_fails_without_retry(emu, tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    op = FeishuSendFileOperator(task_id="t", file_path=empty, receive_id=emu.users[0]["open_id"])
    with pytest.raises(AirflowFailException, match="empty"):
        op.execute({"ti": FakeTI()})
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    op = FeishuSendFileOperator(task_id="t", file_path=text, receive_id=emu.users[0]["open_id"], as_image=True)
    with pytest.raises(AirflowFailException, match="not in a format"):
        op.execute({"ti": FakeTI()})
    assert emu.request_count("file_upload") == emu.request_count("image_upload") == 0
    with pytest.raises(ValueError, match="takes neither"):
        FeishuSendFileOperator(task_id="t", file_path=text, receive_id="ou_x", as_image=True, file_type="pdf")
