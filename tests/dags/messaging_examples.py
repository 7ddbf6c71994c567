"""The messaging example DAGs (airflow DAG files in dags_examples/), compiled here for dag.test().

dag.test() runs only DAGs of the dags folder (tests/dags); compiling each example's own source
under this file's name puts its DAG here unchanged.
"""

from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "dags_examples"

for _name in ("feishu_sql_report", "feishu_live_status_card"):
    exec(compile((EXAMPLES / f"{_name}.py").read_text(encoding="utf-8"), __file__, "exec"))
