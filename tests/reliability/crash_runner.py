"""Run one DAG through ``dag.test`` in this process, for the crash tests to SIGKILL part-way.

Usage: ``python crash_runner.py <dag_id> '<conf json>'``. The environment (AIRFLOW_HOME, the metadata
database, connections, CA bundle) is the test session's, inherited from the parent.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    """Run the DAG; exit 0 when the run succeeded."""
    from airflow.models import DagBag

    dag_id, conf = sys.argv[1], json.loads(sys.argv[2])
    dag = DagBag().dags[dag_id]
    dag_run = dag.test(run_conf=conf)
    return 0 if str(dag_run.state) == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
