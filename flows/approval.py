"""The human step of `registry.require_approval` inside the retrain flow: pause for a reviewer's answer.

When the register stage leaves a version waiting as `candidate` (approval required, or numbers that
cannot be compared with the champion's), the flow run pauses with Prefect's `pause_flow_run` and a
typed form (`ApprovalInput`). The reviewer answers in the UI (Resume) or with
`prefect.flow_runs.resume_flow_run(flow_run_id, run_input={"approve": true, "reviewer": "ana"})`; the
flow then approves or rejects with the same functions as `recsys approve` / `recsys reject`, under the
same lock, into the same audit trail. Without an answer within `registry.approval_timeout_hours` the
flow ends normally and the candidate keeps waiting for `recsys approve`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from prefect import get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from pipeline import paths
from pipeline.config import RegistryParams, load_params
from pipeline.registry.audit import current_user
from pipeline.registry.locking import registry_lock
from pipeline.registry.promotion import CANDIDATE, registered_aliases
from pipeline.registry.review import approve, reject

# How often the paused run asks the API whether it was resumed (Prefect's default is 10 s too).
APPROVAL_POLL_SECONDS = 10
NO_REASON = "rejected in the Prefect UI without a reason"


class ApprovalInput(RunInput):
    """A reviewer's answer: approve the candidate (it becomes champion) or reject it, saying why."""

    approve: bool
    reason: str = ""
    reviewer: str = ""


@dataclass(frozen=True)
class PendingCandidate:
    tracking_uri: str
    model_name: str
    version: str
    model: str
    reasons: tuple[str, ...]


def pending_candidate(project_dir: Path) -> PendingCandidate | None:
    """The version reports/promotion.json left waiting, if it still holds `candidate` (a reviewer may have
    answered with `recsys approve` already, or a later round replaced it)."""
    promotion = project_dir / paths.PROMOTION_FILE
    if not promotion.is_file():
        return None
    report = json.loads(promotion.read_text(encoding="utf-8"))
    pending = report.get("pending")
    if not pending:
        return None
    client = MlflowClient(report["tracking_uri"])
    if registered_aliases(client, report["registered_model"]).get(CANDIDATE) != pending["version"]:
        return None
    return PendingCandidate(report["tracking_uri"], report["registered_model"], pending["version"], pending["model"],
                            tuple(report.get("reasons", ())))


def registry_settings(project_dir: Path) -> RegistryParams:
    params_file = project_dir / paths.PARAMS_FILE
    return load_params(params_file).registry if params_file.is_file() else RegistryParams()


def review_pending_candidate(project_dir: Path) -> str | None:
    """Pause for a reviewer when a candidate waits, then apply the answer; return what happened (None when
    nothing waited)."""
    pending = pending_candidate(project_dir)
    if pending is None:
        return None
    settings = registry_settings(project_dir)
    logger = get_run_logger()
    label = f"{pending.model} v{pending.version} of '{pending.model_name}'"
    description = "\n".join([
        f"## {label} waits for approval", "", *(f"- {reason}" for reason in pending.reasons), "",
        "Set **approve** to make it `champion`; leave it off and give a **reason** to reject it. "
        "`recsys review` and its model card (`model_card.md` of its MLflow run) show its numbers.",
    ])
    logger.info("%s waits for a reviewer; resume this flow run with an answer", label)
    try:
        answer = pause_flow_run(
            wait_for_input=ApprovalInput.with_initial_data(description=description, approve=False),
            timeout=int(settings.approval_timeout_hours * 3600),
            poll_interval=APPROVAL_POLL_SECONDS,
        )
    except FlowPauseTimeout:
        message = (f"no answer within {settings.approval_timeout_hours:g} h: {label} stays '{CANDIDATE}'; "
                   f"`recsys approve {pending.version}` or `recsys reject {pending.version} --why ...`")
        logger.warning(message)
        return message
    who = f"{answer.reviewer or current_user()} (Prefect)"
    client = MlflowClient(pending.tracking_uri)
    with registry_lock(pending.tracking_uri, settings.lock_timeout_seconds):
        if answer.approve:
            message = approve(client, pending.model_name, pending.version, who=who)
        else:
            message = reject(client, pending.model_name, pending.version, answer.reason or NO_REASON, who=who)
    logger.info(message)
    return message
