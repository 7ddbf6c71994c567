"""The one id-list conversion every operator and notifier uses (issue 14, item 10)."""

from __future__ import annotations

import pytest

from airflow_provider_feishu.id_lists import id_list


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("None", []),  # what a template renders for a missing value
        ("ou_1", ["ou_1"]),
        ("ou_1, ou_2;ou_3 ou_4", ["ou_1", "ou_2", "ou_3", "ou_4"]),
        ("ou_1\nou_2\r\n ou_3,\n", ["ou_1", "ou_2", "ou_3"]),
        ("['ou_1', 'ou_2']", ["ou_1", "ou_2"]),
        ('["ou_1"]', ["ou_1"]),
        ("[]", []),
        (["ou_1", " ou_2 "], ["ou_1", "ou_2"]),
        (("ou_1",), ["ou_1"]),
    ],
)
def test_accepted_shapes(value, expected):
    assert id_list("open_ids", value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ([None, 1, "ou_1"], r"open_ids\[0\] must be an id string, got NoneType None"),
        (["ou_1", 1], r"open_ids\[1\] must be an id string, got int 1"),
        ('[null, "ou_1"]', r"open_ids\[0\] must be an id string"),
        ("['ou_1', 2]", r"open_ids\[1\] must be an id string, got int 2"),
        (["ou_1", " "], r"open_ids\[1\] is an empty id"),
        ("[oops", r"open_ids is not a list of ids"),
        ({"ou_1": 1}, r"open_ids must be a list of id strings .*got dict"),
        (b"ou_1", r"open_ids must be a list of id strings .*got bytes"),
        (42, r"open_ids must be a list of id strings .*got int"),
        ({"ou_1"}, r"open_ids must be a list of id strings .*got set"),
    ],
)
def test_anything_else_is_an_error_naming_the_argument_and_item(value, match):
    with pytest.raises(ValueError, match=match):
        id_list("open_ids", value)
