"""A private copy of the quickstart: its YAML and a freshly built model, in a temp folder."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from conftest import REPO


def make_quickstart(folder: Path) -> Path:
    """Returns the copied quickstart.yaml; its file:models/quickstart resolves inside folder."""
    spec = importlib.util.spec_from_file_location("make_quickstart", REPO / "examples/models/make_quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(folder / "models" / "quickstart")
    return Path(shutil.copy(REPO / "examples" / "quickstart.yaml", folder / "quickstart.yaml"))
