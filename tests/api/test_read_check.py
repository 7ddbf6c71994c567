"""The read report and the sans-IO read check, driven by a scripted Feishu (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.api.paging import Page, drive
from airflow_provider_feishu.api.read_check import ReadTarget, ReadTracker
from airflow_provider_feishu.api.read_report import ReadReport
from airflow_provider_feishu.api.receipts import ChatMember, MessageReaction, ReadReceipt
from airflow_provider_feishu.threshold import ReadThreshold

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULE = ReadThreshold(0.8)


def test_describe_names_a_few_of_the_missing():
    people = [f"ou_{i}" for i in range(90)]
    names = {p: f"Person {i}" for i, p in enumerate(people)}
    report = ReadReport.build(RULE, people, set(people[:76]), names=names)
    assert report.describe() == "read 76/90 (84.4%), need 80%; not yet: Person 76, Person 77, Person 78 +11; reached"
    assert report.reached and len(report.missing) == 14 and report.missing == report.unread
    short = ReadReport.build(ReadThreshold(0.8, min_read_count=5), people[:3], {people[0]})
    assert short.describe() == "read 1/3 (33.3%), need 80% and 5 reads; not yet: ou_1, ou_2"
    assert not short.reached


def test_acknowledgements_count_instead_of_reads_and_round_trip():
    report = ReadReport.build(
        RULE, ["a", "b", "c"], {"a", "b", "c"}, acknowledge="THUMBSUP", acknowledged={"a", "zz"}, chat_id="oc_1"
    )
    assert report.counted == ("a",) and report.missing == ("b", "c") and report.unread == ()
    assert report.describe().startswith("acknowledged with THUMBSUP 1/3 (33.3%), need 80%; not yet: b, c")
    assert ReadReport.from_dict(report.to_dict()) == report


def test_an_empty_audience_is_never_reached():
    report = ReadReport.build(RULE, [], set())
    assert not report.reached and "audience is empty" in report.describe()


class ScriptedFeishu:
    """Answers read_users / chat_members / reactions from tables, and records what was asked."""

    def __init__(self, members=(), readers=None, reactions=None, page_size=2):
        self.members = list(members)
        self.readers = readers or {}
        self.reactions = reactions or {}
        self.page_size = page_size
        self.asked: list[tuple[str, str]] = []

    def call(self, request):
        self.asked.append((request.name, request.path))
        if request.name == "chat_members":
            items = [ChatMember(m, m.upper()) for m in self.members]
        elif request.name == "read_users":
            mid = request.path.split("/")[-2]
            items = [ReadReceipt(u, T0) for u in self.readers.get(mid, [])]
        else:
            mid = request.path.split("/")[-2]
            items = [MessageReaction(u, "THUMBSUP", T0) for u in self.reactions.get(mid, [])]
        start = int((request.params or {}).get("page_token") or 0)
        end = start + self.page_size
        more = end < len(items)
        return Page(tuple(items[start:end]), str(end) if more else None, more)


def test_chat_check_follows_members_as_they_join_and_leave():
    feishu = ScriptedFeishu(members=["a", "b", "c", "d", "e"], readers={"om_1": ["a", "b", "c", "x"]})
    tracker = ReadTracker(ReadTarget(message_id="om_1", chat_id="oc_1"), RULE)
    first = drive(tracker.check(), feishu.call)
    assert first.read == ("a", "b", "c") and first.missing == ("d", "e") and not first.reached
    assert first.names["a"] == "A"
    feishu.members = ["a", "b", "c", "d"]  # e left; x read but was never a member
    feishu.readers["om_1"].append("d")
    second = drive(tracker.check(), feishu.call)
    assert second.verdict.read_count == 4 and second.verdict.total_count == 4 and second.reached


def test_per_person_check_asks_only_about_messages_not_yet_read():
    feishu = ScriptedFeishu(readers={"om_a": ["ou_a"]})
    target = ReadTarget(message_ids={"a@x.com": "om_a", "b@x.com": "om_b"})
    tracker = ReadTracker(target, RULE)
    report = drive(tracker.check(), feishu.call)
    assert report.read == ("a@x.com",) and report.missing == ("b@x.com",)
    feishu.asked.clear()
    feishu.readers["om_b"] = ["ou_b"]
    report = drive(tracker.check(), feishu.call)
    assert feishu.asked == [("read_users", "/open-apis/im/v1/messages/om_b/read_users")]
    assert report.reached and tracker.state()["known_read"] == ["a@x.com", "b@x.com"]


def test_per_person_acknowledgement():
    feishu = ScriptedFeishu(readers={"om_a": ["ou_a"], "om_b": ["ou_b"]}, reactions={"om_b": ["ou_b"]})
    target = ReadTarget(message_ids={"a": "om_a", "b": "om_b"}, acknowledge="THUMBSUP")
    report = drive(ReadTracker(target, ReadThreshold(1.0)).check(), feishu.call)
    assert report.acknowledged == ("b",) and report.read == ("a", "b") and report.missing == ("a",)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"message_id": "om_1"},
        {"message_ids": {}},
        {"message_ids": {"a": "om_1"}, "chat_id": "oc_1"},
        {"message_ids": {"a": ""}},
        {"message_id": "om_1", "chat_id": "oc_1", "user_id_type": "email"},
        {"message_id": "om_1", "chat_id": "oc_1", "acknowledge": ""},
    ],
)
def test_bad_targets_say_what_to_fix(kwargs):
    with pytest.raises(FeishuConfigError):
        ReadTarget(**kwargs)


def test_target_round_trips():
    target = ReadTarget(message_ids={"a": "om_a"}, acknowledge="OK", user_id_type="user_id")
    assert ReadTarget.from_dict(target.to_dict()) == target
