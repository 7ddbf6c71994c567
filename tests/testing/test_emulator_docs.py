"""What the docs and the start banner tell a user about the emulator matches the emulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_feishu.testing import FeishuEmulator
from airflow_provider_feishu.testing.cli import build_parser, start_banner

ROOT = Path(__file__).parents[2]
USER_TEXTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "airflow_provider_feishu/get_provider_info.py",
]


@pytest.mark.parametrize("path", USER_TEXTS, ids=lambda p: p.name)
def test_every_loopback_port_in_the_docs_is_the_emulators(path):
    default_port = build_parser().get_default("port")
    ports = {int(port) for port in re.findall(r"(?:127\.0\.0\.1|localhost):(\d+)", path.read_text())}
    assert ports <= {default_port}, (
        f"{path.name} names port(s) {ports - {default_port}}; the emulator listens on {default_port}"
    )


# Paths to notes that live outside the repository; docs and code cite the Feishu docs page instead.
OUTSIDE = ("/work/", "../shared", "shared/reference", "feishu-api.md", "airflow3-conventions.md")


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_docs_point_at_nothing_outside_the_repository(path):
    text = path.read_text()
    for outside in OUTSIDE:
        assert outside not in text, f"{path.name} points at {outside!r}, outside the repository"


def test_code_comments_cite_feishu_pages_not_notes_outside_the_repository():
    sources = [
        path
        for folder in ("airflow_provider_feishu", "tests", "dags_examples", "demo", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != Path(__file__)
    ]
    assert len(sources) > 100
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(outside in line for outside in OUTSIDE)
    ]
    why = "cite the Feishu docs page, as (Feishu docs: <page>), not a file outside the repository"
    assert not cited, why + ":\n" + "\n".join(cited)


def test_start_banner_lists_ids_a_user_can_paste():
    with FeishuEmulator() as emu:
        text = "\n".join(start_banner(emu, clock="x1", rate_limits=True))
        assert emu.base_url in text and emu.app_id in text
        for department in emu.tenant["departments"]:
            assert department["department_id"] in text
        for chat in emu.chats:
            assert chat["chat_id"] in text
        assert emu.users[0]["open_id"] in text
