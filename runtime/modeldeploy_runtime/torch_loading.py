"""Load what people save from torch: TorchScript, torch.save(model), or a state dict plus its class.

torch.save(model) pickles a *reference* to the model's class (module and
name), not its code, so loading needs that code importable:
- a class in a file beside the model (tinynet.py next to model.pt) is found,
  because the model's folder goes on the import path while loading;
- a class defined in the script that saved the model is recorded as
  `__main__.TinyCNN`, which no other program can import: `--model-class
  train.py:TinyCNN` names where it lives (the file is imported, not run as
  a script, so code under `if __name__ == "__main__":` does not run);
- a state dict (weights only) needs the class to build the model:
  `--model-class tinynet:TinyNet` (a class or a function, called with no
  arguments).
Everything else gets a message that says how to make a file that needs no
code: TorchScript. Unpickling runs code from the file: trusted files only.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pickle
import re
import sys
import types
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .errors import ExitCode, RuntimeFailure

NO_CODE_NEEDED = ("or save a file that needs no code: TorchScript, torch.jit.save(torch.jit.script(model), "
                  "'model.pt') (or torch.jit.trace(model, example))")


def load_model(path: Path, model_class: str | None = None) -> torch.nn.Module:
    """A module ready to trace, from any of the forms above."""
    if path.is_dir():
        raise RuntimeFailure(ExitCode.USAGE, f"{path} is a folder; give the model's file (TorchScript, "
                                             "torch.save(model) or a state dict), e.g. model.pt")
    if not path.is_file():
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{path} does not exist")
    if _is_torchscript(path):
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as err:
            raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} is a damaged TorchScript file: "
                                                        f"{last_error_line(err)}") from None
    provider = _import_provider(model_class, path.parent) if model_class else None
    with _on_import_path(path.resolve().parent):
        try:
            loaded = torch.load(str(path), map_location="cpu", weights_only=False,
                                pickle_module=_pickle_module(provider))
        except _MissingCode as missing:
            raise RuntimeFailure(ExitCode.USAGE, missing.advice(path)) from None
        except Exception as err:  # noqa: BLE001 - torch raises many kinds for a file that is not its own
            raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} is neither TorchScript nor a torch.save "
                                                        f"file: {last_error_line(err)}") from None
    if isinstance(loaded, torch.nn.Module):
        return loaded
    weights = _state_dict_of(loaded)
    if weights is None:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} holds a {type(loaded).__name__}, not a model; "
                                                    f"save the model itself, {NO_CODE_NEEDED}")
    if provider is None:
        raise RuntimeFailure(ExitCode.USAGE, f"{path.name} holds weights only (a state dict): pass --model-class "
                                             "MODULE:CLASS (e.g. tinynet.py:TinyNet, built with no arguments) "
                                             f"to build the model they belong to, {NO_CODE_NEEDED}")
    return _build_with(provider, weights, path)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _state_dict_of(loaded: Any) -> Mapping[str, torch.Tensor] | None:
    """The weights of a state dict, or of a checkpoint that holds one under a usual key."""
    if isinstance(loaded, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
        if loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
            return loaded
    return None


def _build_with(provider: _Provider, weights: Mapping[str, torch.Tensor], path: Path) -> torch.nn.Module:
    try:
        model = provider.target()
    except TypeError as err:
        raise RuntimeFailure(ExitCode.USAGE, f"--model-class {provider.spec}: {err}; name a class or function "
                                             "that builds the model with no arguments") from None
    if not isinstance(model, torch.nn.Module):
        raise RuntimeFailure(ExitCode.USAGE, f"--model-class {provider.spec} made a {type(model).__name__}, "
                                             "not a torch.nn.Module")
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise RuntimeFailure(ExitCode.USAGE, f"the weights in {path.name} do not fit {provider.spec}: "
                                             f"{last_error_line(err)}") from None
    return model


class _Provider:
    """The module and attribute --model-class names."""

    def __init__(self, spec: str, module: types.ModuleType, name: str):
        self.spec, self.module, self.name = spec, module, name

    def target(self) -> Any:
        return getattr(self.module, self.name)()

    def find(self, name: str) -> Any:
        return getattr(self.module, name, None)


def _import_provider(spec: str, model_dir: Path) -> _Provider:
    module_part, _, name = spec.rpartition(":")
    if not module_part or not name:
        raise RuntimeFailure(ExitCode.USAGE, f"--model-class {spec!r}: write MODULE:CLASS, e.g. tinynet:TinyNet "
                                             "or path/to/train.py:TinyCNN")
    try:
        if module_part.endswith(".py"):
            module = _import_file(Path(module_part), model_dir)
        else:
            with _on_import_path(model_dir.resolve(), Path.cwd()):
                module = importlib.import_module(module_part)
    except RuntimeFailure:
        raise
    except Exception as err:  # noqa: BLE001 - the user's module failed to import: say how
        raise RuntimeFailure(ExitCode.USAGE, f"--model-class {spec}: importing {module_part} failed: "
                                             f"{type(err).__name__}: {err}") from None
    if not hasattr(module, name):
        raise RuntimeFailure(ExitCode.USAGE, f"--model-class {spec}: {module_part} defines no {name}")
    return _Provider(spec, module, name)


def _import_file(file: Path, model_dir: Path) -> types.ModuleType:
    candidates = [file] if file.is_absolute() else [Path.cwd() / file, model_dir / file]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise RuntimeFailure(ExitCode.USAGE, f"--model-class: {file} not found (looked in "
                                             f"{', '.join(str(c.parent) for c in candidates)})")
    # Imported under its own name, never as __main__: its `if __name__ == "__main__":` block stays asleep.
    spec = importlib.util.spec_from_file_location(f"modeldeploy_user_{found.stem}", found)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with _on_import_path(found.resolve().parent):
        spec.loader.exec_module(module)
    return module


class _MissingCode(Exception):
    def __init__(self, module: str, name: str, error: Exception):
        super().__init__(f"{module}.{name}")
        self.module, self.name, self.error = module, name, error

    def advice(self, path: Path) -> str:
        if self.module == "__main__":
            where = _scripts_defining(self.name, [path.parent, Path.cwd()])
            hint = f" (found in {where[0]})" if where else ""
            return (f"{path.name} was saved by a script that defined {self.name} itself (__main__.{self.name}), "
                    f"which cannot be imported: pass --model-class SCRIPT.py:{self.name}{hint}, {NO_CODE_NEEDED}")
        return (f"{path.name} needs {self.module}.{self.name} to rebuild the model (torch.save(model) stores the "
                f"class's name, not its code), and importing it failed: {self.error}. Run from the folder that "
                f"holds {self.module.split('.')[0]}.py, or pass --model-class path/to/{self.module.split('.')[-1]}.py:"
                f"{self.name}, {NO_CODE_NEEDED}")


def _pickle_module(provider: _Provider | None) -> types.ModuleType:
    """A stand-in for the pickle module whose Unpickler finds classes --model-class names."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if provider is not None and (module == "__main__" or module == provider.module.__name__):
                found = provider.find(name)
                if found is not None:
                    return found
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError) as err:
                found = provider.find(name) if provider is not None else None
                if found is not None:
                    return found
                raise _MissingCode(module, name, err) from None

    stand_in = types.ModuleType("modeldeploy_pickle")
    stand_in.__dict__.update({k: getattr(pickle, k) for k in dir(pickle) if not k.startswith("__")})
    stand_in.Unpickler = Unpickler  # type: ignore[attr-defined]
    stand_in.load = lambda file, **kwargs: Unpickler(file, **kwargs).load()  # type: ignore[attr-defined]
    return stand_in


def _scripts_defining(name: str, folders: list[Path]) -> list[str]:
    """Python files in these folders that define class `name` (read, never run)."""
    found = []
    for folder in dict.fromkeys(f.resolve() for f in folders):
        for script in sorted(folder.glob("*.py"))[:200]:
            try:
                tree = ast.parse(script.read_text(errors="replace"))
            except (SyntaxError, OSError, ValueError):
                continue
            if any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body):
                found.append(str(script.relative_to(Path.cwd())) if script.is_relative_to(Path.cwd()) else str(script))
    return found


@contextmanager
def _on_import_path(*folders: Path) -> Iterator[None]:
    added = [str(f) for f in folders if str(f) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            sys.path.remove(folder)


def last_error_line(err: BaseException) -> str:
    """The line of an error worth reading: TorchScript puts 40 lines of its own trace first."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    meaningful = [line for line in lines if not line.startswith(("File ", "Traceback", "~", "^"))]
    line = (meaningful or lines or [type(err).__name__])[-1]
    return re.sub(r"^\w+(Error|Exception): ", "", line)
