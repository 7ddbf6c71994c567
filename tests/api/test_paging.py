"""Paging and the "who" listings, without I/O: parsers, the next-page step, the walk, the builders."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_provider_feishu.api import endpoints
from airflow_provider_feishu.api.errors import FeishuConfigError, FeishuProtocolError
from airflow_provider_feishu.api.paging import Page, all_pages, drive, next_page_request


def answer(request, data: dict) -> object:
    return request.parse(200, {}, json.dumps({"code": 0, "msg": "ok", "data": data}).encode())


def test_read_users_page_parses_receipts_with_aware_times():
    request = endpoints.read_users_request("om_1")
    page = answer(
        request,
        {"items": [{"user_id": "ou_a", "timestamp": "1609484183000", "user_id_type": "open_id"}], "has_more": False},
    )
    assert page.items[0].user_id == "ou_a"
    assert page.items[0].read_at == datetime(2021, 1, 1, 6, 56, 23, tzinfo=UTC)
    assert page.has_more is False and page.page_token is None
    assert request.params == {"user_id_type": "open_id", "page_size": "100"}


def test_reactions_leave_app_reactions_out():
    request = endpoints.message_reactions_request("om_1", emoji_type="THUMBSUP")
    page = answer(
        request,
        {
            "items": [
                {
                    "operator": {"operator_id": "cli_x", "operator_type": "app"},
                    "action_time": "1",
                    "reaction_type": {"emoji_type": "THUMBSUP"},
                },
                {
                    "operator": {"operator_id": "ou_b", "operator_type": "user"},
                    "action_time": "2000",
                    "reaction_type": {"emoji_type": "THUMBSUP"},
                },
            ],
            "has_more": False,
        },
    )
    assert [(r.user_id, r.emoji_type) for r in page.items] == [("ou_b", "THUMBSUP")]
    assert request.params == {"user_id_type": "open_id", "reaction_type": "THUMBSUP", "page_size": "50"}


def test_chat_members_page_and_empty_page_without_items():
    request = endpoints.chat_members_request("oc_1", page_token="tok")
    page = answer(request, {"items": [{"member_id": "ou_a", "name": "Li"}], "has_more": True, "page_token": "t2"})
    assert page.items[0].name == "Li" and page.page_token == "t2" and page.has_more
    assert request.params == {"member_id_type": "open_id", "page_size": "100", "page_token": "tok"}
    assert answer(request, {"has_more": False}).items == ()


@pytest.mark.parametrize(
    "data",
    [
        {"items": {}, "has_more": False},
        {"items": [1], "has_more": False},
        {"items": [], "has_more": "yes"},
        {"items": [{"user_id": "ou_a"}], "has_more": False},  # no timestamp
    ],
)
def test_malformed_pages_are_protocol_errors(data):
    with pytest.raises(FeishuProtocolError):
        answer(endpoints.read_users_request("om_1"), data)


def fake_pages(pages: dict[str | None, Page]):
    """A call that answers each page request from a table keyed by page_token."""
    asked: list[str | None] = []

    def call(request):
        token = (request.params or {}).get("page_token")
        asked.append(token)
        return pages[token]

    return call, asked


def test_all_pages_follows_tokens_over_three_pages():
    call, asked = fake_pages(
        {
            None: Page(("a", "b"), "t1", True),
            "t1": Page((), "t2", True),  # a page can be empty (bots left out) and still not be the last
            "t2": Page(("c",), None, False),
        }
    )
    items = drive(all_pages(lambda token: endpoints.chat_members_request("oc_1", page_token=token)), call)
    assert items == ["a", "b", "c"] and asked == [None, "t1", "t2"]


def test_a_repeated_page_token_stops_paging():
    call, _ = fake_pages({None: Page(("a",), "t1", True), "t1": Page(("b",), "t1", True)})
    with pytest.raises(FeishuProtocolError, match="repeated"):
        drive(all_pages(lambda token: endpoints.chat_members_request("oc_1", page_token=token)), call)


def test_has_more_without_a_token_is_a_protocol_error():
    build = lambda token: endpoints.read_users_request("om_1", page_token=token)  # noqa: E731
    with pytest.raises(FeishuProtocolError, match="no page_token"):
        next_page_request(build, Page((), None, True), set(), "read_users")
    assert next_page_request(build, Page((), "x", False), set(), "read_users") is None


def test_batch_message_ids_are_refused_by_read_users():
    with pytest.raises(FeishuConfigError, match="batch message"):
        endpoints.read_users_request("bm-123")


def test_reply_builder():
    request = endpoints.reply_message_request("om_1", "text", {"text": "hi"}, uuid="u1", reply_in_thread=True)
    assert request.path == "/open-apis/im/v1/messages/om_1/reply" and request.method == "POST"
    assert request.json == {"msg_type": "text", "content": '{"text":"hi"}', "uuid": "u1", "reply_in_thread": True}
    assert request.idempotent
    assert not endpoints.reply_message_request("om_1", "text", '{"text":"hi"}').idempotent
    with pytest.raises(FeishuConfigError):
        endpoints.reply_message_request("om_1", "text", "not json")
    with pytest.raises(FeishuConfigError):
        endpoints.reply_message_request("om_1", "text", {"text": "x"}, uuid="u" * 51)
    with pytest.raises(FeishuConfigError):
        endpoints.reply_message_request("om_1", "nope", {"text": "x"})


@pytest.mark.parametrize("bad", ["", " om_1", None, 5])
def test_bad_ids_are_refused_before_any_request(bad):
    for build in (endpoints.read_users_request, endpoints.message_reactions_request):
        with pytest.raises(FeishuConfigError):
            build(bad)
    with pytest.raises(FeishuConfigError):
        endpoints.chat_members_request(bad)


@pytest.mark.parametrize("stamp", ["-1", "1e12", "9" * 16, True, None, 253_402_300_800_000])
def test_implausible_read_times_are_protocol_errors(stamp):
    with pytest.raises(FeishuProtocolError, match="timestamp"):
        answer(endpoints.read_users_request("om_1"), {"items": [{"user_id": "ou_a", "timestamp": stamp}]})
