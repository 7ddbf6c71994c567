"""The live status card builder and its update pacing (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_feishu.status_card import (
    CardPacer,
    card_from_spec,
    card_timezone,
    status_card,
    status_line,
    target_text,
)

DEADLINE = datetime(2026, 11, 25, 8, 0, tzinfo=UTC).timestamp()


def test_status_line_reads_like_the_issue():
    line = status_line("Notice", 54, 90, DEADLINE, card_timezone("Asia/Shanghai"))
    assert line == "Notice read 54/90 (60%) · deadline 16:00 CST"
    assert status_line("Notice", None, None, DEADLINE, UTC) == "Notice no count yet · deadline 08:00 UTC"
    assert "(-)" in status_line("Notice", 0, 0, DEADLINE, UTC)


def test_card_colours_and_lines_follow_the_status():
    colours = {
        status: status_card(
            title="Notice", status=status, read_count=1, total_count=2, deadline=DEADLINE, target="50%"
        )["header"]["template"]
        for status in ("waiting", "reached", "deadline", "error")
    }
    assert colours == {"waiting": "blue", "reached": "green", "deadline": "orange", "error": "red"}
    card = status_card(
        title="Notice", status="error", read_count=None, total_count=None, deadline=DEADLINE, target="t", detail="boom"
    )
    assert card["config"]["update_multi"] is True
    assert [e["text"]["content"] for e in card["elements"]][1:] == ["Target: t", "boom"]


def test_card_from_a_spec_matches_the_builder():
    spec = {"title": "Notice", "target": target_text(0.8, 10), "deadline": DEADLINE, "timezone": "UTC"}
    assert card_from_spec(spec, "waiting", (3, 4)) == status_card(
        title="Notice", status="waiting", read_count=3, total_count=4, deadline=DEADLINE, target=spec["target"]
    )
    assert spec["target"] == "80% of recipients and at least 10 reads"


def test_pacer_updates_only_on_a_change_and_not_too_often():
    pacer = CardPacer(min_interval=1.0)
    assert pacer.due((1, 10), now=100.0)
    pacer.shown((1, 10), 100.0)
    assert not pacer.due((1, 10), now=200.0)  # unchanged: never
    assert not pacer.due((2, 10), now=100.5)  # changed, but too soon after the last update
    assert pacer.due((2, 10), now=101.0)


def test_bad_timezone_is_a_clear_error():
    with pytest.raises(ValueError, match="IANA time zone"):
        card_timezone("Mars/Olympus")
