"""Two register runs at once into one SQLite store, as two real processes: the promotion lock
(pipeline/registry/locking.py) must serialise their decisions so the registry stays consistent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline import paths
from pipeline.registry.audit import champion_history, read_trail
from pipeline.registry.locking import lock_path, registry_lock
from tests.registry.conftest import MODEL_NAME, Project, new_project

REPOSITORY = Path(__file__).resolve().parents[2]
# Each process waits (up to BARRIER_SECONDS) at the moment it reads the champion until the other one reads
# it too. Without the lock both then read "no champion" and both promote their own winner; with it, the
# second is still waiting for the lock, so the first gives up waiting and decides alone.
BARRIER_SECONDS = 4
RACING_REGISTER = textwrap.dedent(f"""
    import pathlib, sys, time
    from pipeline.stages import register

    barrier, me = pathlib.Path(sys.argv[1]), sys.argv[2]
    read_champion = register.current_champion

    def current_champion_after_the_other(*args, **kwargs):
        (barrier / me).touch()
        deadline = time.monotonic() + {BARRIER_SECONDS}
        while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        return read_champion(*args, **kwargs)

    register.current_champion = current_champion_after_the_other
    register.main()
""")


def race(projects: list[Project], store: str, barrier: Path) -> list[dict]:
    """Run the register stage of every project at the same time against `store`; return their reports."""
    barrier.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PYTHONPATH": str(REPOSITORY)}
    processes = [
        subprocess.Popen([sys.executable, "-c", RACING_REGISTER, str(barrier), str(position)], cwd=project.root,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for position, project in enumerate(projects)
    ]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output
    return [json.loads((project.root / paths.PROMOTION_FILE).read_text()) for project in projects]


@pytest.mark.slow  # two fresh interpreters logging four models: about a minute on two busy cores
@pytest.mark.timeout(400)
def test_two_register_runs_at_once_leave_one_consistent_champion(tmp_path: Path, empty_store: Path) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = new_project(tmp_path / "first", empty_store)
    second = new_project(tmp_path / "second", empty_store)
    first.write_metrics(popularity=0.1, ease=0.3)
    second.write_metrics(popularity=0.1, ease=0.4)
    reports = race([first, second], first.uri, tmp_path / "barrier")

    # The decisions were taken one after the other: exactly one saw no champion, the other saw its result.
    earlier, later = sorted(reports, key=lambda report: report["previous_champion"] is not None)
    assert earlier["previous_champion"] is None and earlier["promoted"]
    assert later["previous_champion"]["version"] == earlier["champion"]["version"]

    client = first.client()
    aliases = {alias: str(v) for alias, v in client.get_registered_model(MODEL_NAME).aliases.items()}
    versions = {str(v.version): v for v in client.search_model_versions(f"name = '{MODEL_NAME}'")}
    values = {number: float(v.tags["warm/valid/ndcg_at_10"]) for number, v in versions.items()}
    assert len(versions) == 4 and aliases["champion"] != aliases["challenger"]
    assert values[aliases["champion"]] == 0.4  # the better round's EASE, whichever process came first
    assert values[aliases["challenger"]] == 0.3
    history = champion_history(read_trail(client, MODEL_NAME))
    assert history[-1] == aliases["champion"] and len(history) == len(set(history))


def test_the_lock_is_scoped_to_the_store(tmp_path: Path) -> None:
    database = tmp_path / "store" / "mlflow.db"
    assert lock_path(f"sqlite:///{database}") == tmp_path / "store" / "mlflow.db.promotion.lock"
    assert lock_path("http://mlflow.internal:5000") is None
    with registry_lock(f"sqlite:///{database}", timeout_seconds=5):
        with pytest.raises(RuntimeError, match="another process has held the promotion lock"):
            with registry_lock(f"sqlite:///{database}", timeout_seconds=0.1):
                pass
    with registry_lock(f"sqlite:///{database}", timeout_seconds=0.1):  # released again
        pass
