"""Apache Airflow provider for Feishu / Lark.

Kept to the version on purpose: Airflow imports this package while it loads provider
metadata, and DAG files import our operators at parse time.
"""

from __future__ import annotations

__version__ = "0.1.0"
