"""Serve the retrain flow as a scheduled Prefect deployment (no work pool or worker needed).

`flow.serve` registers the deployment with the Prefect API and keeps this process polling for its
scheduled runs, which it executes locally, next to the DVC project and its data. Against a server:

    prefect server start                                   # terminal 1; UI on http://127.0.0.1:4200
    export PREFECT_API_URL=http://127.0.0.1:4200/api       # terminal 2, from the repository root
    python -m flows.serve                                  # nightly at 03:00 UTC by default
    prefect deployment run 'retrain-recommenders/nightly-retrain'   # trigger a run now

Change the schedule with `--cron "0 */6 * * *"` or `RETRAIN_CRON`, its time zone with
`--timezone Europe/Berlin` or `RETRAIN_TIMEZONE` (default UTC), and the project with
`--project-dir` or `RETRAIN_PROJECT_DIR` (default: the current directory). Stopping the process
pauses the schedule until it is served again.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from prefect.schedules import Cron

from flows.retrain import retrain

DEFAULT_CRON = "0 3 * * *"
DEPLOYMENT_NAME = "nightly-retrain"


def main(argv: list[str] | None = None) -> None:
    """Parse the schedule options and serve until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the retrain flow on a cron schedule.")
    parser.add_argument(
        "--cron",
        default=os.environ.get("RETRAIN_CRON", DEFAULT_CRON),
        help=f"when to retrain (default: $RETRAIN_CRON or '{DEFAULT_CRON}')",
    )
    parser.add_argument(
        "--timezone",
        default=os.environ.get("RETRAIN_TIMEZONE", "UTC"),
        help="IANA time zone of the cron expression (default: $RETRAIN_TIMEZONE or UTC)",
    )
    parser.add_argument("--name", default=DEPLOYMENT_NAME, help="deployment name")
    parser.add_argument(
        "--project-dir",
        default=os.environ.get("RETRAIN_PROJECT_DIR", "."),
        help="DVC project root; resolved now so runs do not depend on the runner's directory",
    )
    args = parser.parse_args(argv)
    retrain.serve(
        name=args.name,
        schedule=Cron(args.cron, timezone=args.timezone),
        parameters={"project_dir": str(Path(args.project_dir).resolve())},
        tags=["retrain", "dvc"],
        limit=1,  # one run at a time per served process; the file lock covers everything else
    )


if __name__ == "__main__":
    main()
