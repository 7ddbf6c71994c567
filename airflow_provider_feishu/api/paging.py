"""Feishu's paging, with no I/O: a page parser, the "next page or done" step, and a walk over all pages.

Listing APIs (read_users, chat members, reactions, department users) answer ``items``,
``has_more`` and ``page_token``; the caller repeats the request with that token until ``has_more``
is false. A page may hold fewer or more items than ``page_size`` (chat members leave bots out and
keep members who joined together on one page, Feishu docs: chat-members/get), so only
``has_more`` ends a walk. A token that comes back twice would loop forever: that is a protocol error.

Transports drive a walk with :func:`drive` (sync) or :func:`adrive` (async): the steps are
generators that yield :class:`ApiRequest` objects and are sent back the parsed results.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow_provider_feishu.api.errors import FeishuProtocolError
from airflow_provider_feishu.api.results import section

if TYPE_CHECKING:
    from airflow_provider_feishu.api.endpoints import ApiRequest

T = TypeVar("T")
R = TypeVar("R")

#: A sans-IO procedure: yields the requests it needs, is sent each result, returns its outcome.
Steps = Generator["ApiRequest[Any]", Any, R]

#: Safety net for a server that keeps answering ``has_more`` with fresh tokens.
MAX_PAGES = 10_000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its items, and the token of the next page while ``has_more``."""

    items: tuple[T, ...]
    page_token: str | None
    has_more: bool


def parse_page(
    api: str, envelope: Mapping[str, Any], parse_item: Callable[[str, Mapping[str, Any]], T | None]
) -> Page[T]:
    """``data.items`` through ``parse_item`` (which returns None to leave an item out), plus the paging fields."""
    data = section(api, envelope, "data")
    raw_items = data.get("items")
    if raw_items is None:
        raw_items = []  # Feishu omits `items` on an empty page
    if not isinstance(raw_items, list):
        raise FeishuProtocolError(api=api, code=None, msg="unexpected response: 'data.items' is not a list")
    items: list[T] = []
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, Mapping):
            raise FeishuProtocolError(
                api=api, code=None, msg=f"unexpected response: 'data.items[{i}]' is not an object"
            )
        item = parse_item(api, raw)
        if item is not None:
            items.append(item)
    has_more = data.get("has_more", False)
    if not isinstance(has_more, bool):
        raise FeishuProtocolError(api=api, code=None, msg="unexpected response: 'data.has_more' is not a boolean")
    token = data.get("page_token")
    if token is not None and not isinstance(token, str):
        raise FeishuProtocolError(api=api, code=None, msg="unexpected response: 'data.page_token' is not a string")
    return Page(items=tuple(items), page_token=token or None, has_more=has_more)


def next_page_request(
    build: Callable[[str | None], ApiRequest[Page[T]]], page: Page[T], seen_tokens: set[str], api: str
) -> ApiRequest[Page[T]] | None:
    """The request for the page after ``page``, or None when the listing is complete.

    ``seen_tokens`` collects the tokens already followed; one that repeats raises
    :class:`FeishuProtocolError` instead of looping forever.
    """
    if not page.has_more:
        return None
    if not page.page_token:
        raise FeishuProtocolError(api=api, code=None, msg="unexpected response: has_more is true but no page_token")
    if page.page_token in seen_tokens:
        raise FeishuProtocolError(
            api=api, code=None, msg=f"unexpected response: page_token {page.page_token[:40]!r} repeated; paging stopped"
        )
    if len(seen_tokens) >= MAX_PAGES:
        raise FeishuProtocolError(api=api, code=None, msg=f"unexpected response: more than {MAX_PAGES} pages")
    seen_tokens.add(page.page_token)
    return build(page.page_token)


def all_pages(build: Callable[[str | None], ApiRequest[Page[T]]]) -> Steps[list[T]]:
    """Steps that fetch every page (first with no token) and return all items in order."""
    request: ApiRequest[Page[T]] | None = build(None)
    seen: set[str] = set()
    items: list[T] = []
    while request is not None:
        page: Page[T] = yield request
        items.extend(page.items)
        request = next_page_request(build, page, seen, request.name)
    return items


def drive(steps: Steps[R], call: Callable[[ApiRequest[Any]], Any]) -> R:
    """Run sans-IO ``steps`` with a sync ``call`` (e.g. ``FeishuHook.call``); errors propagate."""
    try:
        request = next(steps)
        while True:
            request = steps.send(call(request))
    except StopIteration as done:
        return done.value


async def adrive(steps: Steps[R], call: Callable[[ApiRequest[Any]], Awaitable[Any]]) -> R:
    """Run sans-IO ``steps`` with an async ``call`` (e.g. ``AsyncFeishuClient.call``)."""
    try:
        request = next(steps)
        while True:
            request = steps.send(await call(request))
    except StopIteration as done:
        return done.value
