"""The provider's metadata: valid for Airflow's runtime schema, found through the entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_feishu.get_provider_info import get_provider_info

ROOT = Path(__file__).parents[1]


def test_provider_info_matches_airflows_runtime_schema():
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_points_at_get_provider_info():
    (point,) = [
        e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_feishu")
    ]
    assert point.load() is get_provider_info


def test_every_class_path_in_provider_info_imports():
    """Airflow checks class paths only for apache-airflow-* distributions; we check ours here."""
    import importlib

    info = get_provider_info()
    paths = [c["hook-class-name"] for c in info["connection-types"]]
    paths += info.get("notifications", [])
    for path in paths:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path
    for group in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(group, []):
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_connection_form_declares_fields_and_behaviour():
    (feishu,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "feishu"]
    behaviour = feishu["ui-field-behaviour"]
    assert behaviour["relabeling"]["login"] == "App ID"
    assert behaviour["relabeling"]["password"] == "App Secret"
    assert set(behaviour["hidden-fields"]) <= {"host", "port", "login", "password", "schema", "extra", "description"}
    assert feishu["conn-fields"]["domain"]["schema"]["enum"][:2] == ["feishu", "lark"]


def test_extra_fields_start_empty_and_state_the_hooks_defaults():
    """Airflow's form saves every ``default`` it is given into the extra, freezing it there; so no
    field declares one, and each description states the default the hook applies instead."""
    from airflow_provider_feishu.api.retry_policy import RetryPolicy
    from airflow_provider_feishu.hooks.config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
    from airflow_provider_feishu.hooks.rate_limit import FEISHU_PER_MINUTE, FEISHU_PER_SECOND

    policy = RetryPolicy()
    hook_defaults = {
        "timeout": DEFAULT_TIMEOUT,
        "max_retries": DEFAULT_MAX_RETRIES,
        "retry_base_delay": policy.base_delay,
        "retry_max_delay": policy.max_delay,
        "rate_limit_per_second": FEISHU_PER_SECOND,
        "rate_limit_per_minute": FEISHU_PER_MINUTE,
        "max_rate_limit_wait": policy.max_rate_limit_wait,
    }
    checked = 0
    for conn_type in get_provider_info()["connection-types"]:
        for name, spec in conn_type["conn-fields"].items():
            assert "default" not in spec["schema"], name
            assert None not in spec["schema"].get("enum", []), f"{name}: the form would offer a literal 'null'"
            if name in hook_defaults:
                assert f"Default: {hook_defaults[name]:g}" in spec["description"], name
                checked += 1
    assert checked == 9  # 7 feishu + 2 webhook fields with a numeric default


@pytest.mark.parametrize("share", [0, 0.33, 1, 1.5, -0.5])
def test_rate_limit_share_field_admits_what_the_hook_accepts(share):
    """The form's field for ``rate_limit_share`` allows exactly the fractions the hook takes, (0, 1]."""
    from airflow.sdk import Connection

    from airflow_provider_feishu.api.errors import FeishuConfigError
    from airflow_provider_feishu.hooks.config import config_from_connection

    spec = get_provider_info()["connection-types"][0]["conn-fields"]["rate_limit_share"]
    assert "share" in spec["label"].lower() and "429" in spec["description"]
    form_allows = jsonschema.Draft202012Validator(spec["schema"]).is_valid(share)
    extra = json.dumps({"rate_limit_share": share})
    conn = Connection(conn_id="c", conn_type="feishu", login="cli_x", password="s", extra=extra)
    try:
        hook_share = config_from_connection(conn).rate_limit_share
    except FeishuConfigError:
        hook_share = None
    assert form_allows == (hook_share == share)


def test_providers_manager_sees_the_connection_type():
    from airflow.providers_manager import ProvidersManager

    try:  # Airflow 3.2+ moved hook lookup to the task SDK
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as HookManager
    except ImportError:  # pragma: no cover - Airflow 3.1
        HookManager = ProvidersManager

    assert "airflow-provider-feishu" in ProvidersManager().providers
    hook_info = HookManager().hooks["feishu"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_feishu.hooks.feishu.FeishuHook"
    assert hook_info.connection_id_attribute_name == "feishu_conn_id"


def test_airflow_providers_list_shows_the_provider():
    airflow_cli = Path(sys.executable).parent / "airflow"
    out = subprocess.run(
        [str(airflow_cli), "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=True,
    ).stdout
    listing = next(line for line in out.splitlines() if line.startswith("[{"))
    packages = {p["package_name"]: p for p in json.loads(listing)}
    assert packages["airflow-provider-feishu"]["version"] == get_provider_info()["versions"][0]


@pytest.mark.timeout(240)
def test_wheel_ships_the_package_only(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=200,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("airflow_provider_feishu-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names}
    assert top_level <= {"airflow_provider_feishu", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert "airflow_provider_feishu/py.typed" in names
    assert "airflow_provider_feishu/testing/default_tenant.json" in names
    entry = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry[0]).decode()
    assert "airflow_provider_feishu.get_provider_info:get_provider_info" in text


def test_connection_form_through_the_ui_api():
    """What the connection form gets from ``/ui/connections/hook_meta``, on every supported Airflow."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    from airflow_provider_feishu.version_compat import AIRFLOW_V_3_2_PLUS

    meta = {m.connection_type: m for m in HookMetaService.hook_meta_data()}
    assert {"feishu", "feishu_webhook"} <= set(meta)
    feishu = meta["feishu"]
    if AIRFLOW_V_3_2_PLUS:
        fields = feishu.standard_fields
        assert fields.login.title == "App ID" and fields.password.title == "App Secret"
        assert fields.port.hidden and not fields.host.hidden
        assert {"domain", "timeout", "proxy", "max_retries", "rate_limit_share"} <= set(feishu.extra_fields)
        assert meta["feishu_webhook"].standard_fields.password.title == "Webhook URL or token"
    else:
        # Airflow 3.1 customises forms only with the FAB provider installed; without it the form
        # is the generic one, whose Extra JSON takes domain, timeout, proxy and retries.
        assert feishu.standard_fields is None
        assert "extra" not in get_provider_info()["connection-types"][0]["ui-field-behaviour"]["hidden-fields"]


def test_transfers_are_registered_and_import():
    import importlib

    transfers = get_provider_info()["transfers"]
    assert [t["python-module"] for t in transfers] == ["airflow_provider_feishu.transfers.sql_to_feishu"]
    module = importlib.import_module(transfers[0]["python-module"])
    assert hasattr(module, "SqlToFeishuOperator")
    assert "airflow_provider_feishu.operators.send_file" in get_provider_info()["operators"][0]["python-modules"]
