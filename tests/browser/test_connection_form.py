"""The Connections page and the add-connection form of our two types, as Chromium renders them.

Airflow 3.2+ builds the typed form from ``get_provider_info()`` (labels, placeholders, hidden
fields, extra fields). Airflow 3.1 does so only with the FAB provider installed; without it (as
here) the form is the generic one, whose Extra Fields JSON takes our extras. Both are checked.
"""

from __future__ import annotations

import pytest
from airflow_pages import (
    choose,
    connection_types_offered,
    dropdown,
    dropdown_options,
    inputs,
    label_of,
    open_add_connection,
    open_section,
    placeholder_fits,
    save,
    shot,
    type_json,
    wait_until,
)
from selenium.webdriver.common.by import By

from airflow_provider_feishu.get_provider_info import (
    FEISHU_CONN_FIELDS,
    FEISHU_UI_FIELD_BEHAVIOUR,
    FEISHU_WEBHOOK_CONN_FIELDS,
    FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR,
)
from airflow_provider_feishu.hooks.config import DEFAULT_MAX_RETRIES
from airflow_provider_feishu.version_compat import AIRFLOW_V_3_2_PLUS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300, method="thread")]

STANDARD = {"host", "port", "login", "password", "schema"}
typed_form = pytest.mark.skipif(not AIRFLOW_V_3_2_PLUS, reason="Airflow 3.1 shows the generic form (see below)")


def test_connections_page_offers_both_types(airflow_ui, browser):
    offered = connection_types_offered(browser, airflow_ui.url)
    assert "Feishu" in offered
    assert "Feishu Webhook (custom bot)" in offered


@pytest.mark.parametrize(
    ("type_label", "behaviour", "conn_fields", "shot_name"),
    [
        ("Feishu", FEISHU_UI_FIELD_BEHAVIOUR, FEISHU_CONN_FIELDS, "connection-form"),
        ("Feishu Webhook (custom bot)", FEISHU_WEBHOOK_UI_FIELD_BEHAVIOUR, FEISHU_WEBHOOK_CONN_FIELDS, None),
    ],
)
@typed_form
def test_typed_form_shows_our_labels_placeholders_and_extras(
    airflow_ui, browser, type_label, behaviour, conn_fields, shot_name
):
    dialog = open_add_connection(browser, airflow_ui.url, type_label)
    fields = inputs(dialog)
    hidden = set(behaviour["hidden-fields"])
    shown = STANDARD - hidden
    # The fields we do not use are not in the form at all; the others carry our labels and hints.
    assert not hidden & set(fields), f"hidden fields rendered: {hidden & set(fields)}"
    assert shown <= set(fields)
    for name in shown:
        assert label_of(dialog, fields[name]) == behaviour["relabeling"][name]
        assert fields[name].get_attribute("placeholder") == behaviour["placeholders"][name]
        assert placeholder_fits(browser, fields[name]), f"the {name} placeholder is cut off"
    assert fields["password"].get_attribute("type") == "password"  # App Secret / webhook URL masked
    if shot_name:
        shot(dialog, shot_name)

    open_section(dialog, "Extra Fields")
    fields = inputs(dialog)
    for name, spec in conn_fields.items():
        element = fields.get(f"element_{name}")
        assert element is not None, f"extra field {name!r} missing"
        text = element.find_element(By.XPATH, "./ancestor::*[.//label][1]").text
        assert spec["label"] in text and spec["description"] in text
        # Nothing is prefilled: an empty field means "the hook's default" (its description says which).
        assert element.get_attribute("value") in ("", None), f"{name} is prefilled"
        if spec["schema"].get("format") == "password":
            assert element.get_attribute("type") == "password"
    assert dropdown_options(browser, dropdown(dialog, "Domain")) == ["feishu", "lark"]  # no literal "null"


def feishu_form_for_the_emulator(airflow_ui, browser, conn_id: str):
    """The Add Connection dialog of a Feishu connection ``conn_id`` to the emulator, standard fields filled."""
    emu = airflow_ui.emulator
    dialog = open_add_connection(browser, airflow_ui.url, "Feishu")
    fields = inputs(dialog)
    fields["connection_id"].send_keys(conn_id)
    fields["host"].send_keys(emu.base_url)
    fields["login"].send_keys(emu.app_id)
    fields["password"].send_keys(emu.app_secret)
    return dialog


def save_and_wait_for_the_row(browser, dialog, conn_id: str) -> None:
    save(dialog)
    wait_until(
        "the new connection in the list",
        lambda: browser.find_elements(By.XPATH, f"//td[normalize-space(.)='{conn_id}']"),
    )


@typed_form
def test_saving_the_feishu_form_stores_only_what_was_set(airflow_ui, browser):
    emu = airflow_ui.emulator
    dialog = feishu_form_for_the_emulator(airflow_ui, browser, "feishu_from_form")
    open_section(dialog, "Extra Fields")
    inputs(dialog)["element_timeout"].send_keys("20")
    inputs(dialog)["element_rate_limit_share"].send_keys("0.5")
    choose(browser, dropdown(dialog, "Domain"), "lark")
    save_and_wait_for_the_row(browser, dialog, "feishu_from_form")

    view = airflow_ui.hook_view("feishu_from_form")
    set_by_user = {k: v for k, v in view["extra"].items() if v not in (None, "")}
    assert set_by_user == {"timeout": 20, "domain": "lark", "rate_limit_share": 0.5}
    assert view["base_url"] == emu.base_url and view["app_id"] == emu.app_id
    assert view["timeout"] == 20.0
    assert view["rate_limit_share"] == 0.5
    assert view["max_attempts"] == DEFAULT_MAX_RETRIES + 1  # the hook's default, not one frozen in the extra


@pytest.mark.skipif(AIRFLOW_V_3_2_PLUS, reason="Airflow 3.2+ shows the typed form (checked above)")
def test_airflow_3_1_shows_the_generic_form_with_extra_json(airflow_ui, browser):
    """Documented difference: 3.1 without the FAB provider has no typed form; extras go in JSON."""
    dialog = open_add_connection(browser, airflow_ui.url, "Feishu")
    fields = inputs(dialog)
    assert {"host", "login", "password"} <= set(fields)
    assert fields["password"].get_attribute("type") == "password"
    assert not [n for n in fields if n.startswith("element_")]  # no typed extra fields
    open_section(dialog, "Extra Fields JSON")
    assert dialog.find_elements(By.XPATH, ".//*[normalize-space(text())='Extra Fields JSON']")


@pytest.mark.skipif(AIRFLOW_V_3_2_PLUS, reason="Airflow 3.2+ saves the typed form (checked above)")
def test_airflow_3_1_saves_the_generic_form_with_our_extras(airflow_ui, browser):
    """On 3.1 the extras typed into the generic form's Extra Fields JSON reach the hook as set."""
    emu = airflow_ui.emulator
    dialog = feishu_form_for_the_emulator(airflow_ui, browser, "feishu_from_generic_form")
    open_section(dialog, "Extra Fields JSON")
    type_json(browser, dialog, {"timeout": 20, "rate_limit_share": 0.5, "max_retries": 2})
    save_and_wait_for_the_row(browser, dialog, "feishu_from_generic_form")

    view = airflow_ui.hook_view("feishu_from_generic_form")
    assert view["extra"] == {"timeout": 20, "rate_limit_share": 0.5, "max_retries": 2}
    assert view["base_url"] == emu.base_url and view["app_id"] == emu.app_id
    assert view["timeout"] == 20.0 and view["max_attempts"] == 3 and view["rate_limit_share"] == 0.5

