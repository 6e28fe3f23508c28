"""The audit trail of the registry: who moved which alias, when and why, kept IN the tracking store.

Each event is one MLflow run in the experiment `<registered model>-audit`, its fields as run tags
(`audit.action`, `audit.version`, `audit.who`, ...). Runs are created atomically with unique ids, so
two writers never overwrite each other's entries, every machine that reaches the tracking store sees
the same trail, and the MLflow UI shows it as a table. The trail is also the champion's history:
`recsys rollback` replays it to find the version that held `champion` before the current one.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

AUDIT_EXPERIMENT_SUFFIX = "-audit"
TAG_PREFIX = "audit."
FIELDS = ("action", "version", "champion_before", "champion_after", "who", "when", "why")
MAX_WHY_CHARS = 2000  # well inside MLflow's tag value limit

# Actions; the first two are written by the register stage, the others by a person.
PROMOTE = "promote"
PENDING = "pending"
APPROVE = "approve"
REJECT = "reject"
ROLLBACK = "rollback"
CHAMPION_MOVES = (PROMOTE, APPROVE)


@dataclass(frozen=True)
class AuditEvent:
    action: str
    version: str
    champion_before: str  # "" when there was none
    champion_after: str
    who: str
    when: str  # ISO 8601 UTC with microseconds, so events sort by it
    why: str


def current_user() -> str:
    """Who acts: the login name, else $USER, so a trail written by a scheduler still names its account."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def audit_experiment_name(model_name: str) -> str:
    return f"{model_name}{AUDIT_EXPERIMENT_SUFFIX}"


def _experiment_id(client: MlflowClient, model_name: str, create: bool) -> str | None:
    name = audit_experiment_name(model_name)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None or not create:
        return None if experiment is None else experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as error:  # another process created it between our read and our create
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        created = client.get_experiment_by_name(name)
        assert created is not None
        return created.experiment_id


def record(
    client: MlflowClient,
    model_name: str,
    action: str,
    version: str,
    champion_before: str | None,
    champion_after: str | None,
    why: str,
    who: str | None = None,
) -> AuditEvent:
    """Append one event to the trail and return it; `who` defaults to the login name."""
    if len(why) > MAX_WHY_CHARS:
        raise ValueError(f"the reason is {len(why)} characters long; keep it under {MAX_WHY_CHARS}")
    event = AuditEvent(action, str(version), champion_before or "", champion_after or "", who or current_user(),
                       datetime.now(UTC).isoformat(timespec="microseconds"), why)
    experiment_id = _experiment_id(client, model_name, create=True)
    assert experiment_id is not None
    tags = {TAG_PREFIX + key: getattr(event, key) for key in FIELDS}
    run = client.create_run(experiment_id, run_name=f"{action} v{version}", tags=tags)
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    return event


def read_trail(client: MlflowClient, model_name: str) -> list[AuditEvent]:
    """Every event, oldest first; empty when nothing was recorded yet."""
    experiment_id = _experiment_id(client, model_name, create=False)
    if experiment_id is None:
        return []
    events, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        events += [AuditEvent(**{key: run.data.tags.get(TAG_PREFIX + key, "") for key in FIELDS}) for run in page]
        token = page.token
        if not token:
            break
    return sorted(events, key=lambda event: event.when)


def champion_history(events: Iterable[AuditEvent]) -> list[str]:
    """The versions that held `champion`, oldest first, as a stack: a promotion or approval pushes its
    version and a rollback pops the current one, so rolling back twice goes two champions back."""
    history: list[str] = []
    for event in events:
        if event.action in CHAMPION_MOVES and (not history or history[-1] != event.champion_after):
            history.append(event.champion_after)
        elif event.action == ROLLBACK and history and history[-1] == event.champion_before:
            history.pop()
    return history


def format_trail(events: list[AuditEvent]) -> str:
    """One line per event, newest last: when, who, action, version, champion change, why."""
    if not events:
        return "no audit events yet"
    lines = []
    for event in events:
        change = (f"champion {event.champion_before or '-'} -> {event.champion_after or '-'}"
                  if event.champion_before != event.champion_after else f"champion {event.champion_after or '-'}")
        lines.append(f"{event.when}  {event.who}  {event.action} v{event.version}  ({change})  {event.why}")
    return "\n".join(lines)
