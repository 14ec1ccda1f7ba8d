"""`modeldeploy package` on the files people actually save, run as a user runs it.

The models are written and saved by real scripts in a temporary folder (so a
class defined in the saving script really is `__main__.TinyCNN`), then
packaged by the `modeldeploy` console script from another folder.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from test_cli_messages import modeldeploy

pytestmark = pytest.mark.unit

TINYNET = """\
import torch


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                        torch.nn.Flatten(), torch.nn.Linear(4, 10))

    def forward(self, x):
        return self.body(x)
"""

TRAIN_SCRIPT = """\
import torch


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.head = torch.nn.Linear(4, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


if __name__ == "__main__":
    torch.manual_seed(0)
    torch.save(TinyCNN(), "model.pt")
    raise SystemExit("training would go on here: package must never run this part")
"""


def _python(folder: Path, code: str) -> None:
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=folder, check=True, timeout=120)


def _saved_by(folder: Path, module: str, source: str, save: str) -> Path:
    """folder with module.py holding source, and what the code `save` saved with it."""
    folder.mkdir()
    (folder / f"{module}.py").write_text(source)
    _python(folder, f"import torch, {module}; torch.manual_seed(0); {save}")
    return folder


@pytest.fixture
def beside(tmp_path: Path) -> Path:
    """model.pt saved with torch.save(model), its class in tinynet.py next to it."""
    return _saved_by(tmp_path / "models", "tinynet", TINYNET, "torch.save(tinynet.TinyNet(), 'model.pt')")


def test_a_class_beside_the_model_is_found(beside: Path, tmp_path: Path) -> None:
    proc = modeldeploy("package", str(beside / "model.pt"), "--example-input", "2x1x8x8", "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "{name: OUTPUT__0, dataType: FP32, dims: [10]}" in proc.stdout


def test_a_class_from_the_saving_script_needs_model_class_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN_SCRIPT)
    subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True, timeout=120)
    assert (tmp_path / "model.pt").is_file()
    out = str(tmp_path / "out")
    proc = modeldeploy("package", str(tmp_path / "model.pt"), "--example-input", "2x1x8x8", "-o", out)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "model.pt was saved by a script that defined TinyCNN itself (__main__.TinyCNN), which cannot be " \
           "imported: pass --model-class SCRIPT.py:TinyCNN (found in" in proc.stderr
    assert "torch.jit.save(torch.jit.script(model), 'model.pt')" in proc.stderr
    proc = modeldeploy("package", str(tmp_path / "model.pt"), "--model-class", str(tmp_path / "train.py") + ":TinyCNN",
                       "--example-input", "2x1x8x8", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "training would go on here" not in proc.stderr


def test_a_state_dict_is_packaged_with_its_class(beside: Path, tmp_path: Path) -> None:
    _python(beside, "import torch, tinynet; torch.save({'state_dict': tinynet.TinyNet().state_dict()}, 'w.pt')")
    proc = modeldeploy("package", str(beside / "w.pt"), "--example-input", "2x1x8x8", "-o", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "w.pt holds weights only (a state dict): pass --model-class MODULE:CLASS" in proc.stderr
    proc = modeldeploy("package", str(beside / "w.pt"), "--model-class", "tinynet:TinyNet",
                       "--example-input", "2x1x8x8", "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr


def test_a_missing_module_says_how_to_fix_it(beside: Path, tmp_path: Path) -> None:
    (beside / "tinynet.py").unlink()
    proc = modeldeploy("package", str(beside / "model.pt"), "--example-input", "2x1x8x8", "-o", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "model.pt needs tinynet.TinyNet to rebuild the model (torch.save(model) stores the class's name, not " \
           "its code), and importing it failed: No module named 'tinynet'" in proc.stderr
    assert "--model-class path/to/tinynet.py:TinyNet" in proc.stderr


def test_a_wrong_example_shape_is_one_line_for_torchscript_and_eager(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    torch.jit.save(torch.jit.script(model), tmp_path / "scripted.pt")
    torch.save(model, tmp_path / "eager.pt")
    for name in ("scripted.pt", "eager.pt"):
        proc = modeldeploy("package", str(tmp_path / name), "--example-input", "8x15", "-o", str(tmp_path / "o"))
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "USAGE: the model refused the example input 8x15: mat1 and mat2 shapes cannot be " \
               "multiplied (8x15 and 16x64)" in proc.stderr
    proc = modeldeploy("package", str(tmp_path / "eager.pt"), "--example-input", "8x16", "--example-input", "8x2",
                       "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "forward() takes 1 input(s) (input), and 2 --example-input were given" in proc.stderr


OUTPUTS = """\
import torch


class Heads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x):
        y = self.head(x)
        return {"logits": y, "label": y.argmax(1)}


class Captioned(torch.nn.Module):
    def forward(self, x):
        return x, "hello"


class Caption(torch.nn.Module):
    def forward(self, x):
        return "hello"
"""


@pytest.mark.parametrize("model, message", [
    ("Heads", "BAD_ARTIFACT: forward() returns a dict (logits, label); Triton serves tensors by position: return its "
              "values as a tuple in a fixed order (out['logits'], out['label']), which become OUTPUT__0, OUTPUT__1, "
              "... in that order"),
    ("Captioned", "BAD_ARTIFACT: forward() returns a str at position 1 (OUTPUT__1); Triton serves tensors: return a "
                  "tensor or a tuple of tensors from forward()"),
    ("Caption", "BAD_ARTIFACT: forward() returns a str; Triton serves tensors: return a tensor or a tuple of "
                "tensors from forward()"),
])
def test_outputs_triton_cannot_serve_say_what_to_return(tmp_path: Path, model: str, message: str) -> None:
    folder = _saved_by(tmp_path / "models", "heads", OUTPUTS, f"torch.save(heads.{model}(), 'model.pt')")
    proc = modeldeploy("package", str(folder / "model.pt"), "--example-input", "2x4", "-o", str(tmp_path / "o"))
    assert proc.returncode == 16
    assert proc.stderr.strip() == message
    assert not (tmp_path / "o").exists()


TAGGER = """\
import torch


class Tagger(torch.nn.Module):
    \"\"\"Token ids in, one class per sample out (an argmax): integer inputs and a scalar per sample.\"\"\"

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, tokens):
        return self.head(self.embed(tokens).mean(dim=1)).argmax(dim=1)
"""


def save_tagger(folder: Path) -> Path:
    (folder / "tagger.py").write_text(TAGGER)
    _python(folder, "import torch, tagger; torch.manual_seed(0); torch.save(tagger.Tagger(), 'tagger.pt')")
    return folder / "tagger.pt"


def test_integer_inputs_take_a_range_and_scalar_outputs_get_triton_reshape(tmp_path: Path) -> None:
    model, out = save_tagger(tmp_path), tmp_path / "tagger"
    proc = modeldeploy("package", str(model), "--example-input", "8x4:int64", "-o", str(out))
    assert proc.returncode == 2
    assert "index out of range" in proc.stderr and "give its range: '8x4:int64[0,10)'" in proc.stderr
    proc = modeldeploy("package", str(model), "--example-input", "8x4:int64[0,10)", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "{name: OUTPUT__0, dataType: INT64, dims: [1], reshape: []}" in proc.stdout
    # What package prints, validate accepts.
    config = yaml.safe_load(proc.stdout.split("torchscript with the libtorch backend):\n", 1)[1])["config"]
    doc = {"apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "tagger"},
           "spec": {"model": {"uri": "file:tagger", "version": "1", "format": "python", "config": config}}}
    (tmp_path / "tagger.yaml").write_text(yaml.safe_dump(doc))
    proc = modeldeploy("validate", "--local", "-f", str(tmp_path / "tagger.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "'8x4:int64{1,5,7}'" in modeldeploy("package", "--help").stdout.replace("\n", " ").replace("  ", "")


def test_int8_that_makes_a_model_bigger_or_slower_says_so(beside: Path, tmp_path: Path) -> None:
    proc = modeldeploy("package", str(beside / "model.pt"), "--quantize", "int8", "--example-input", "2x1x8x8",
                       "-o", str(tmp_path / "q"))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"warning: int8 made this model [\d.]+× (bigger|slower)", proc.stderr), proc.stderr
    assert re.search(r"Linear layers only, which hold \d+% of this model's parameters", proc.stderr)
    assert "Not quantizing is recommended: rerun without --quantize." in proc.stderr


def test_int8_on_a_model_without_linear_layers_is_refused(tmp_path: Path) -> None:
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU()), tmp_path / "conv.pt")
    proc = modeldeploy("package", str(tmp_path / "conv.pt"), "--quantize", "int8", "--example-input", "1x1x8x8",
                       "-o", str(tmp_path / "q"))
    assert proc.returncode == 2 and "converts Linear layers, and this model has none" in proc.stderr


# -- package never overwrites what it did not write ----------------------------------------------------------

TRAINING_CODE = "# my training code\nimport torch\n\n\nclass Net(torch.nn.Module):\n" \
                "    def __init__(self):\n        super().__init__()\n        self.l = torch.nn.Linear(16, 4)\n\n" \
                "    def forward(self, x):\n        return self.l(x)\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A training folder: the user's model.py and the state dict it trained."""
    return _saved_by(tmp_path / "project", "model", TRAINING_CODE, "torch.save(model.Net().state_dict(), 'weights.pt')")


def _package_here(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modeldeploy.cli", "package", "weights.pt", "--model-class", "model.py:Net", "--example-input",
                           "4x16", "-o", ".", *extra], cwd=folder, capture_output=True, text=True, timeout=120)


def test_packaging_into_the_training_folder_keeps_the_users_model_py(project: Path) -> None:
    for extra in ((), ("--force",)):
        proc = _package_here(project, *extra)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip() == ("USAGE: -o .: model.py is this command's own input and would be "
                                       "overwritten; write the package to another folder")
    assert (project / "model.py").read_text() == TRAINING_CODE
    assert not (project / "model.pt").exists()


def test_a_model_pt_package_did_not_write_is_kept_unless_forced(beside: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.pt").write_bytes(b"someone's own weights")
    args = ("package", str(beside / "model.pt"), "--example-input", "2x1x8x8", "-o", str(out))
    proc = modeldeploy(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"USAGE: -o {out}: {out / 'model.pt'} is there and was not written by modeldeploy "
                                   "package; choose another folder, or pass --force to replace it")
    assert (out / "model.pt").read_bytes() == b"someone's own weights"
    assert modeldeploy(*args, "--force").returncode == 0
    assert torch.jit.load(str(out / "model.pt")) is not None


def test_repackaging_a_folder_package_wrote_needs_no_force(beside: Path, tmp_path: Path) -> None:
    args = ("package", str(beside / "model.pt"), "--example-input", "2x1x8x8", "-o", str(tmp_path / "o"))
    assert modeldeploy(*args).returncode == 0
    assert modeldeploy(*args).returncode == 0, "package refused to replace its own files"


def test_the_input_model_pt_is_never_the_output(beside: Path) -> None:
    proc = modeldeploy("package", str(beside / "model.pt"), "--example-input", "2x1x8x8", "-o", str(beside),
                       "--force")
    assert proc.returncode == 2
    assert f"{beside / 'model.pt'} is this command's own input" in proc.stderr


@pytest.mark.parametrize("where", ["a file", "unwritable"])
def test_an_output_that_cannot_be_a_folder_is_a_usage_error(beside: Path, tmp_path: Path, where: str) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    out = str(target) if where == "a file" else "/proc/modeldeploy-out"
    proc = modeldeploy("package", str(beside / "model.pt"), "--example-input", "2x1x8x8", "-o", out)
    assert proc.returncode == 2, proc.stderr
    expected = "is a file; give a folder" if where == "a file" else "cannot write there"
    assert proc.stderr.strip().startswith(f"USAGE: -o {out}: ") and expected in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_folder_as_the_model_and_a_negative_batch_size_are_usage_errors(beside: Path, tmp_path: Path) -> None:
    proc = modeldeploy("package", str(beside), "--example-input", "2x1x8x8", "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"USAGE: {beside} is a folder; give the model's file (TorchScript, torch.save(model) or a state dict), "
        "e.g. model.pt")
    proc = modeldeploy("package", str(beside / "model.pt"), "--example-input", "2x1x8x8", "-o", str(tmp_path / "o"),
                       "--max-batch-size", "-3")
    assert proc.returncode == 2 and "argument --max-batch-size: -3 is out of range" in proc.stderr
