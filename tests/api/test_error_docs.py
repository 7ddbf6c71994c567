"""docs/errors.md lists every Feishu code the protocol module classifies, with the right class."""

from __future__ import annotations

import re
from pathlib import Path

from airflow_provider_feishu.api import envelope

DOC = Path(__file__).parents[2] / "docs" / "errors.md"


def test_every_classified_code_is_documented_with_its_class():
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)`", DOC.read_text(), flags=re.MULTILINE))
    for code, (cls, _hint) in envelope._CODES.items():
        assert rows.get(str(code)) == cls.__name__, f"docs/errors.md: code {code} should say {cls.__name__}"
    assert set(rows) == {str(c) for c in envelope._CODES}
