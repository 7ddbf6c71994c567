"""pytest fixtures for the Feishu emulator.

Installed as a pytest plugin (entry point ``pytest11``): with the provider installed, tests can
ask for these fixtures by name. The plugin only defines fixtures; nothing starts unless asked for.

* ``feishu_emulator``: a started :class:`FeishuEmulator` (default tenant, manual clock), stopped after
  the test.
* ``feishu_connection``: the same emulator, with ``AIRFLOW_CONN_FEISHU_DEFAULT`` set (via monkeypatch) to
  ``emu.connection_json()``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .emulator import FeishuEmulator


@pytest.fixture
def feishu_emulator() -> Iterator[FeishuEmulator]:
    with FeishuEmulator() as emu:
        yield emu


@pytest.fixture
def feishu_connection(feishu_emulator: FeishuEmulator, monkeypatch: pytest.MonkeyPatch) -> FeishuEmulator:
    monkeypatch.setenv("AIRFLOW_CONN_FEISHU_DEFAULT", feishu_emulator.connection_json())
    return feishu_emulator
