"""Writing tuned settings into params.yaml's `models.<name>`, the section the train stage reads and DVC tracks,
so `dvc repro` retrains exactly the tuned model, `dvc params diff` / `git diff params.yaml` show what the search
changed, and `git checkout params.yaml` undoes it.

The file is edited round-trip (ruamel.yaml, as `dvc exp run -S` does): comments, key order, flow style and
every other section stay as the user wrote them; only the tuned keys change.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap


def _round_trip_yaml() -> YAML:
    yaml = YAML()
    yaml.width = 4096  # never re-wrap the user's long lines
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    # keep `null` spelt out, as PyYAML-style files have it, instead of ruamel's empty value
    yaml.representer.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def write_model_settings(path: Path, name: str, updates: Mapping[str, Any]) -> None:
    """Set `models.<name>.<key>` to each of `updates` in the params file at `path`, leaving the rest as is."""
    yaml = _round_trip_yaml()
    document = yaml.load(path.read_text(encoding="utf-8"))
    models = document.get("models") if isinstance(document, Mapping) else None
    if not isinstance(models, Mapping) or name not in models:
        raise ValueError(f"{path} has no models.{name} to write tuned settings to")
    settings = models[name]
    if not isinstance(settings, CommentedMap) or not settings:
        # `name: {}` or `name:` (no settings yet): a one-line mapping, as the models section writes them
        settings = CommentedMap(settings or {})
        settings.fa.set_flow_style()
        models[name] = settings
    for key, value in updates.items():
        settings[key] = value
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)
