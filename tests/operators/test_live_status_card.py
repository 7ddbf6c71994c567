"""FeishuWaitForReadsOperator's live status card under dag.test(), deferrable and polling, over real HTTP."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

from airflow_provider_feishu.hooks.feishu import FeishuHook
from airflow_provider_feishu.operators.wait_for_reads import FeishuWaitForReadsOperator
from airflow_provider_feishu.testing import FeishuEmulator, ReadingModel

DAG_FILE = Path(__file__).parents[1] / "dags" / "live_status_card_dags.py"
FAST_RETRIES = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}
READERS = ReadingModel(median_seconds=300, sigma=0.5, never_read_fraction=0.0)
NOBODY_READS = ReadingModel(never_read_fraction=1.0)

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.timeout(120, method="thread")]


def load_dags() -> dict:
    spec = importlib.util.spec_from_file_location("live_status_card_dags", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dags


DAGS = load_dags()


def send_batch(emu: FeishuEmulator, n: int = 10) -> str:
    ids = [u["open_id"] for u in emu.users[:n]]
    return FeishuHook().batch_send_message("text", content={"text": "policy"}, open_ids=ids).batch_message_id


def card_lines(card: dict) -> list[str]:
    return [e["text"]["content"] for e in card["elements"]]


def status_cards(emu: FeishuEmulator, chat_id: str) -> list[dict]:
    return [m for m in emu.chat_messages(chat_id) if m["msg_type"] == "interactive"]


@pytest.mark.parametrize("flavour", ["deferrable", "polling"])
def test_card_follows_the_count_and_ends_with_the_outcome(monkeypatch, flavour):
    with FeishuEmulator(speed=300.0, reading=READERS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        chat = emu.chats[1]["chat_id"]
        bid = send_batch(emu)
        run = DAGS[f"live_card_{flavour}"].test(
            run_conf={"batch_message_id": bid, "threshold": 0.8, "chat_id": chat, "deadline": 60}
        )
        assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"wait": "success"}
        [message] = status_cards(emu, chat)  # one card, updated in place
        history = emu.card_history(message["message_id"])
        final = history[-1]
        assert final["header"]["template"] == "green"
        assert final["header"]["title"]["content"] == "Policy notice: Read threshold reached"
        assert card_lines(final)[0].startswith("**Policy notice read ") and "/10 (" in card_lines(final)[0]
        assert "· deadline " in card_lines(final)[0] and card_lines(final)[0].endswith("CST**")
        assert card_lines(final)[1] == "Target: 80% of recipients"
        # Progress updates only when the count changed: no two waiting cards in a row show the same line.
        waiting = [card_lines(c)[0] for c in history if c["header"]["template"] == "blue"]
        assert waiting and all(a != b for a, b in itertools.pairwise(waiting))
        assert message["content"] == final  # what the chat shows


@pytest.mark.parametrize("flavour", ["deferrable", "polling"])
def test_deadline_card_and_the_wait_does_not_fail(monkeypatch, flavour):
    with FeishuEmulator(reading=NOBODY_READS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        chat = emu.chats[1]["chat_id"]
        bid = send_batch(emu, 4)
        emu.advance(10)
        run = DAGS[f"live_card_{flavour}"].test(
            run_conf={"batch_message_id": bid, "threshold": 0.8, "chat_id": chat, "deadline": 1}
        )
        assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"wait": "success"}
        [message] = status_cards(emu, chat)
        history = emu.card_history(message["message_id"])
        assert len(history) == 2  # the count never moved: sent once, finished once
        assert history[-1]["header"]["template"] == "orange"
        assert card_lines(history[-1])[0].startswith("**Policy notice read 0/4 (0%) · deadline ")


@pytest.mark.parametrize(
    ("failure", "warning", "code"),
    [("send", "Could not send the status card", "230002"), ("update", "Could not update the status card", "230031")],
)
def test_a_card_failure_only_warns(monkeypatch, capfd, failure, warning, code):
    with FeishuEmulator(reading=NOBODY_READS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        bid = send_batch(emu, 4)
        emu.advance(10)
        if failure == "send":
            chat = emu.chats[2]["chat_id"]  # the bot is not a member: 230002
        else:
            chat = emu.chats[1]["chat_id"]
            emu.inject("/open-apis/im/v1/messages/*", status=400, code=230031, msg="too old", times=None)
        op = FeishuWaitForReadsOperator(
            task_id="w",
            batch_message_id=bid,
            threshold=0.5,
            deadline=0.6,
            poke_interval=0.2,
            deferrable=False,
            status_chat_id=chat,
        )
        result = op.execute({"ti": _TI()})
        logged = "".join(capfd.readouterr())
        assert result["status"] == "deadline" and result["total_count"] == 4
        assert warning in logged and code in logged


class _TI:
    dag_id, task_id, run_id, map_index = "d", "w", "r1", -1


def test_a_failed_wait_turns_the_card_red(monkeypatch):
    from airflow_provider_feishu.hooks.feishu import FeishuHook
    from airflow_provider_feishu.operators.live_status import LiveStatusCard
    from airflow_provider_feishu.version_compat import AirflowFailException

    with FeishuEmulator(reading=NOBODY_READS) as emu:
        monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", emu.connection_json(extra=FAST_RETRIES))
        card = LiveStatusCard(
            hook=FeishuHook(), chat_id=emu.chats[1]["chat_id"], title="Notice", target="80%", deadline=0.0
        )
        message_id = card.start((3, 9), uuid="sc-test")
        op = FeishuWaitForReadsOperator(task_id="w", batch_message_id="bm-x", threshold=0.8)
        event = {"status": "error", "message": "Cannot wait: code=230030", "status_card": card.to_dict()}
        with pytest.raises(AirflowFailException, match="230030"):
            op.execute_complete({}, event)
        final = emu.card(message_id)
        assert final["header"]["template"] == "red"
        assert card_lines(final)[0].startswith("**Notice read 3/9 (33%)")  # the last counts shown
        assert card_lines(final)[-1] == "Cannot wait: code=230030"
