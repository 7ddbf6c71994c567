"""The one read-threshold rule shared by sensor, trigger and operator."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_feishu.threshold import ReadThreshold, format_percent, is_permanent_error


def test_reached_at_exact_threshold():
    verdict = ReadThreshold(0.8).judge(read_count=96, total_count=120, valid_user_ids_count=120)
    assert verdict.reached
    assert verdict.ratio == 0.8
    assert verdict.describe() == "read 96/120 (80.0%), need 80%: reached"


def test_below_threshold_line():
    verdict = ReadThreshold(0.8).judge(42, 120, 120)
    assert not verdict.reached
    assert verdict.describe() == "read 42/120 (35.0%), need 80%"


def test_early_partial_total_is_not_reached():
    # 1 read of 1 delivered, but 500 recipients: 0.2%, not 100%.
    verdict = ReadThreshold(0.8).judge(read_count=1, total_count=1, valid_user_ids_count=500)
    assert not verdict.reached
    assert verdict.total_count == 500
    assert verdict.delivered_count == 1
    assert "delivered 1/500 so far" in verdict.describe()


def test_not_scheduled_is_never_reached():
    verdict = ReadThreshold(0.1).judge(read_count=3, total_count=3, valid_user_ids_count=0)
    assert not verdict.reached
    assert not verdict.scheduled
    assert "not scheduled" in verdict.describe()


def test_zero_valid_recipients_names_both_meanings():
    # get_progress's valid_user_ids_count is 0 before scheduling AND when no id was valid (Feishu
    # docs: get_progress), so the line must not claim only the first.
    line = ReadThreshold(0.8).judge(read_count=0, total_count=0, valid_user_ids_count=0).describe()
    assert "no valid recipient" in line
    assert "not scheduled" in line


def test_min_read_count_also_required():
    rule = ReadThreshold(0.5, min_read_count=10)
    assert not rule.judge(5, 8, 8).reached
    assert rule.judge(10, 20, 20).reached
    assert "need 50% and 10 reads" in rule.judge(5, 8, 8).describe()


def test_decimal_thresholds_compare_exactly():
    # 0.1, 0.7, 0.57 have no exact binary float; k of n with k/n == threshold must be reached.
    assert ReadThreshold(0.1).judge(1, 10, 10).reached
    assert ReadThreshold(0.7).judge(7, 10, 10).reached
    assert ReadThreshold(0.57).judge(57, 100, 100).reached
    assert not ReadThreshold(0.57).judge(56, 100, 100).reached


@pytest.mark.parametrize("bad", [0, -0.1, 1.01, 80, float("nan"), True, "x", None])
def test_invalid_threshold_is_rejected(bad):
    with pytest.raises(ValueError, match="threshold"):
        ReadThreshold.parse(bad)


def test_percent_hint():
    with pytest.raises(ValueError, match=r"write 0\.8 for 80%"):
        ReadThreshold(80)


@pytest.mark.parametrize("bad", [-1, 1.5, "two", True])
def test_invalid_min_read_count(bad):
    with pytest.raises(ValueError, match="min_read_count"):
        ReadThreshold.parse(0.5, bad)


def test_parse_rendered_templates():
    rule = ReadThreshold.parse("0.8", "5")
    assert rule == ReadThreshold(0.8, 5)
    assert ReadThreshold.parse(1, None) == ReadThreshold(1.0)
    assert ReadThreshold.parse("1", "None").min_read_count is None


def test_format_percent():
    assert format_percent(0.8) == "80%"
    assert format_percent(0.825) == "82.5%"
    assert format_percent(0.57) == "57%"


def test_to_dict_is_plain_json():
    import json

    data = ReadThreshold(0.5).judge(3, 4, 4).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["reached"] is True and data["read_count"] == 3 and data["total_count"] == 4


def test_permanent_errors():
    from airflow_provider_feishu.api import errors

    assert is_permanent_error(errors.FeishuNotFoundError(api="read_user", code=230030, msg="x"))
    assert is_permanent_error(errors.FeishuTokenInvalidError(api="read_user", code=99991663, msg="x"))
    assert is_permanent_error(errors.FeishuConfigError("x"))
    assert not is_permanent_error(errors.FeishuRateLimitError(api="read_user", code=99991400, msg="x"))
    assert not is_permanent_error(errors.FeishuServerError(api="read_user", code=500, msg="x"))
    assert not is_permanent_error(errors.FeishuConnectionError("read_user", "x", may_have_arrived=True))


thresholds = st.decimals(min_value="0.001", max_value="1", places=3).map(float)
counts = st.integers(min_value=0, max_value=100_000)


@given(thresholds, counts, counts, counts, st.none() | st.integers(0, 1000))
def test_rule_matches_exact_arithmetic(threshold, read, delivered, valid, min_reads):
    read = min(read, delivered)
    verdict = ReadThreshold(threshold, min_reads).judge(read, delivered, valid)
    denominator = max(delivered, valid)
    expected = (
        valid > 0
        and denominator > 0
        and Fraction(read, denominator) >= Fraction(repr(threshold))
        and (min_reads is None or read >= min_reads)
    )
    assert verdict.reached == expected
    assert verdict.total_count == denominator
    # never an over-estimate of the share of all recipients
    assert verdict.ratio <= 1.0
    if valid:
        assert verdict.ratio <= read / valid + 1e-12


@given(thresholds, counts, counts)
def test_more_reads_never_unreach(threshold, read, total):
    read = min(read, total)
    rule = ReadThreshold(threshold)
    if rule.judge(read, total, total).reached and read < total:
        assert rule.judge(read + 1, total, total).reached
