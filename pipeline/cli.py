"""`recsys`: the commands a person types; stages stay under `python -m pipeline.stages.<name>`.

    recsys run [DVC ARGS...]       dvc repro --pull, with this environment's python and dvc first on PATH
    recsys run --quick             the quick profile (QUICK_MODELS) as a DVC experiment: dvc exp run --pull -S ...
    recsys review [--model-name]   registered versions, their metrics, aliases and promotion reasons
    recsys approve VERSION         move `champion` to VERSION (when registry.require_approval is on)
    recsys reject VERSION --why .. record why a candidate must not ship; it loses its `candidate` alias
    recsys rollback [--why ...]    move `champion` back to the version that held it before
    recsys audit                   the audit trail: every promotion, approval, rejection and rollback
    recsys recommend --users FILE --k 10 --out FILE.parquet [--model-uri URI]
                                   answer a file of requests with the served model (default: the champion)
    recsys tune [--models M ...]   Optuna search per model on warm validation; best settings into params.yaml
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pipeline import paths
from pipeline.config import RegistryParams, load_params
from pipeline.registry.audit import format_trail, read_trail
from pipeline.registry.batch import recommend_file
from pipeline.registry.locking import registry_lock
from pipeline.registry.requests import DEFAULT_K
from pipeline.registry.review import approve, format_versions, list_versions, reject, rollback
from pipeline.registry.tracking import tracking_uri
from pipeline.stages.cli import USER_ERRORS
from pipeline.stages.environment import DVC, stage_environment
from pipeline.tuning.run import run_tuning


def default_model_name() -> str:
    """The registered model named in ./params.yaml, else the default one."""
    return registry_settings().model_name


def registry_settings() -> RegistryParams:
    """The `registry` section of ./params.yaml, else the defaults."""
    return load_params().registry if paths.PARAMS_FILE.exists() else RegistryParams()


# A smoke-test-sized run (docs/operations.md): one model per family at a few epochs, one sparsity level,
# no leave-last-one-out. `dvc exp run -S` edits params.yaml in the workspace; `git checkout params.yaml`
# returns to the full profile.
QUICK_MODELS = {"popularity": (), "ease": (), "content": (), "bpr": ("epochs=10",), "multvae": ("epochs=10",),
                "gru4rec": ("epochs=3",)}
QUICK_SETTINGS = ("split.sparsity=[0.5]", "split.leave_last_out=false", "evaluation.bootstrap_samples=200")


def quick_profile(configured: list[str]) -> list[str]:
    """`-S` overrides: drop every configured model outside QUICK_MODELS, shorten the deep ones kept."""
    overrides = [*QUICK_SETTINGS, *(f"~models.{name}" for name in configured if name not in QUICK_MODELS)]
    # `++` sets a key whether or not params.yaml already has it (Hydra syntax, as `dvc exp run -S` parses it)
    overrides += [f"++models.{name}.{setting}" for name, settings in QUICK_MODELS.items() if name in configured
                  for setting in settings]
    return overrides


def run_pipeline(dvc_args: list[str]) -> int:
    """Run `dvc repro --pull` here (or the quick profile as an experiment), with the stages running in the
    environment `recsys` was installed in."""
    if dvc_args[:1] == ["--quick"]:
        profile = quick_profile(list(load_params().models))
        overrides = [argument for override in profile for argument in ("-S", override)]
        command = [*DVC, "exp", "run", "--pull", *overrides, *dvc_args[1:]]
    else:
        command = [*DVC, "repro", "--pull", *dvc_args]
    return subprocess.run(command, env=stage_environment(), check=False).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    # Listed for --help only: main() hands everything after `run` to dvc untouched, options included.
    commands.add_parser("run", help="run the pipeline: dvc repro --pull [DVC ARGS...]; --quick: the quick profile")
    for name, help_text in (("review", "list registered versions"), ("approve", "move `champion` to a version"),
                            ("reject", "reject a version, with the reason"),
                            ("rollback", "move `champion` back to the previous champion"),
                            ("audit", "show the audit trail")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--model-name", help="registered model (default: registry.model_name of params.yaml)")
        if name in ("approve", "reject"):
            command.add_argument("version", help=f"the version to {name}, as listed by `recsys review`")
        if name in ("reject", "rollback"):
            command.add_argument("--why", required=name == "reject", default="", help="the reason, kept in the audit trail")
    recommend = commands.add_parser("recommend", help="answer a file of requests with the served model")
    recommend.add_argument("--users", type=Path, required=True, help="requests: CSV, Parquet or JSON Lines")
    recommend.add_argument("--k", type=int, default=DEFAULT_K, help="list length where a row gives no `k`")
    recommend.add_argument("--out", type=Path, required=True, help="answers, written as Parquet")
    recommend.add_argument("--model-uri", help="default: models:/<registry.model_name>@champion")
    recommend.add_argument("--model-name", help="registered model (default: registry.model_name of params.yaml)")
    tune = commands.add_parser("tune", help="hyperparameter search (params.yaml `tune`, docs/tuning.md)")
    tune.add_argument("--models", nargs="+", help="models to tune, in order (default: every configured model)")
    tune.add_argument("--trials", type=int, help="trials per model (default: tune.trials)")
    tune.add_argument("--timeout", type=float, help="seconds per model (default: tune.timeout_seconds)")
    tune.add_argument("--no-write", action="store_true", help="report the best settings without writing params.yaml")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        sys.exit(run_pipeline(argv[1:]))
    args = build_parser().parse_args(argv)
    if args.command == "tune":
        sys.exit(run_tuning(args.models, args.trials, args.timeout, write=not args.no_write))
    mlflow.set_tracking_uri(tracking_uri())
    client = MlflowClient()
    try:
        model_name = args.model_name or default_model_name()
        if args.command == "review":
            print(format_versions(list_versions(client, model_name)))
        elif args.command == "audit":
            print(format_trail(read_trail(client, model_name)))
        elif args.command == "recommend":
            uri = args.model_uri or f"models:/{model_name}@champion"
            rows = recommend_file(uri, args.users, args.out, args.k)
            print(f"{rows} answers from {uri} written to {args.out}")
        else:
            with registry_lock(tracking_uri(), registry_settings().lock_timeout_seconds):
                if args.command == "approve":
                    print(approve(client, model_name, args.version))
                elif args.command == "reject":
                    print(reject(client, model_name, args.version, args.why))
                else:
                    print(rollback(client, model_name, args.why))
    except (*USER_ERRORS, MlflowException) as error:
        print(f"recsys: error: {error}", file=sys.stderr)
        sys.exit(1)
