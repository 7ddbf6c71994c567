"""Every example DAG parses cleanly: no import error, no warning, no cycle, nothing started at import."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

try:  # Airflow 3.2+
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag

EXAMPLES = Path(__file__).parents[2] / "dags_examples"
FILES = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_there_are_examples():
    assert {p.stem for p in FILES} >= {"feishu_reminder_workflow", "feishu_quorum_gate", "feishu_failure_notifications"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_example_parses_without_errors_or_warnings(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(path))
    assert bag.import_errors == {}
    assert bag.captured_warnings == {}
    ours = [w for w in caught if "dags_examples" in str(w.filename) or "airflow_provider_feishu" in str(w.filename)]
    assert ours == [], [str(w.message) for w in ours]
    assert len(bag.dags) == 1
    dag = next(iter(bag.dags.values()))
    assert dag.dag_id == path.stem
    assert dag.description and dag.tags
    doc = path.read_text().split('"""')[1]
    assert "What it shows" in doc


def test_reminder_workflow_shape():
    bag = DagBag(dag_folder=str(EXAMPLES / "feishu_reminder_workflow.py"))
    dag = bag.dags["feishu_reminder_workflow"]
    assert dag.get_task("wait_round_1").on_deadline == ["remind_1"]
    assert dag.get_task("summarize").trigger_rule == "none_failed_min_one_success"
    assert {t.task_id for t in dag.get_task("report").upstream_list} == {"summarize"}


def test_who_has_read_shape():
    bag = DagBag(dag_folder=str(EXAMPLES / "feishu_who_has_read.py"))
    dag = bag.dags["feishu_who_has_read"]
    assert dag.get_task("buzz_the_unread").method == "buzz"
    assert dag.get_task("buzz_the_unread").trigger_rule == "all_done"
    assert dag.get_task("wait_for_readers").soft_fail
    assert {t.task_id for t in dag.get_task("report").upstream_list} == {"who_never_read"}
