"""Files textae did not write cannot run code: pickled weights are refused before they are opened, the
training states that are pickles are read with ``weights_only=True``, recipes are read with
``yaml.safe_load``, and no model code is ever loaded from a folder. A malicious pickle here creates a
marker file when unpickled; every test checks that the marker never appears."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModel, BertConfig, BertModel

from tests.conftest import REPO, TINY_ENCODER, tiny_model
from tests.training.test_loop import tiny_recipe
from textae import TextAE
from textae.safe_loading import UnsafeWeightsError, refuse_pickled_weights
from textae.training import complete_checkpoints, load_recipe, train
from textae.training.recipe import RecipeError


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: it creates the marker file (any code could run)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious(path: Path, marker: Path, tensors: dict | None = None) -> Path:
    torch.save({**(tensors or {}), "payload": _Payload(marker)}, path)
    return path


def test_the_payload_is_live(tmp_path):
    """The check the other tests rely on: an unsafe load of the file does run its payload."""
    marker = tmp_path / "ran"
    _malicious(tmp_path / "x.bin", marker)
    torch.load(tmp_path / "x.bin", weights_only=False)  # what textae never does
    assert marker.exists()


def test_a_model_folder_with_only_pytorch_model_bin_is_refused(tmp_path, tokenizer):
    marker = tmp_path / "ran"
    saved = tmp_path / "saved"
    model = tiny_model("ae", tokenizer)
    model.save_pretrained(saved)
    assert (saved / "model.safetensors").exists() and not [p for p in saved.iterdir() if p.suffix in (".bin", ".pt", ".pkl")]
    bad = tmp_path / "bad"
    shutil.copytree(saved, bad)
    (bad / "model.safetensors").unlink()
    _malicious(bad / "pytorch_model.bin", marker, {k: v.clone() for k, v in model.state_dict().items()})
    for load in (AutoModel.from_pretrained, TextAE.from_pretrained):
        with pytest.raises(UnsafeWeightsError, match=r"only as a pickle \(pytorch_model\.bin\).*safetensors"):
            load(bad)
    # even asked for pickles explicitly, textae's loader does not open them
    with pytest.raises(UnsafeWeightsError):
        AutoModel.from_pretrained(bad, use_safetensors=False)
    assert not marker.exists()
    # the same folder with its safetensors file loads (a stray pickle beside it is never read)
    shutil.copy(saved / "model.safetensors", bad / "model.safetensors")
    loaded = AutoModel.from_pretrained(bad)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert not marker.exists()


def test_a_pretrained_encoder_given_as_a_pickle_is_refused(tmp_path):
    marker = tmp_path / "ran"
    folder = tmp_path / "bert"
    bert = BertModel(BertConfig(**{k: v for k, v in TINY_ENCODER.items() if k != "model_type"}, vocab_size=64))
    bert.config.save_pretrained(folder)
    _malicious(folder / "pytorch_model.bin", marker, dict(bert.state_dict()))
    recipe = tiny_recipe(tmp_path / "run", f"model.encoder_pretrained={folder}")
    with pytest.raises(UnsafeWeightsError, match="pytorch_model.bin"):
        train(recipe)
    with pytest.raises(UnsafeWeightsError):
        refuse_pickled_weights(folder)
    assert not marker.exists()


def test_a_checkpoint_with_pickled_weights_or_a_malicious_state_file_is_refused(tmp_path, caplog):
    marker = tmp_path / "ran"
    settings = ["train.max_steps=4", "train.save_every=2", "train.eval_every=0", "data.synthetic_train_size=64", "data.synthetic_eval_size=16"]
    train(tiny_recipe(tmp_path / "run", *settings), stop_after_step=2)
    (checkpoint,) = complete_checkpoints(tmp_path / "run")
    assert (checkpoint / "model.safetensors").exists()
    pristine = tmp_path / "pristine"
    shutil.copytree(checkpoint, pristine)

    # the weights as a pickle instead of safetensors: refused before accelerate would unpickle them
    (checkpoint / "model.safetensors").unlink()
    _malicious(checkpoint / "pytorch_model.bin", marker)
    with pytest.raises(ValueError, match="no model.safetensors"):
        train(tiny_recipe(tmp_path / "run", *settings), resume=True)
    assert not marker.exists()

    # a malicious optimizer state: accelerate's load_state reads it with torch.load(weights_only=True)
    shutil.rmtree(checkpoint)
    shutil.copytree(pristine, checkpoint)
    state = torch.load(checkpoint / "optimizer.bin", weights_only=True)
    _malicious(checkpoint / "optimizer.bin", marker, state)
    with pytest.raises(ValueError, match="objects other than tensors .* refused, nothing in it was run"):
        train(tiny_recipe(tmp_path / "run", *settings), resume=True)
    assert not marker.exists()

    # a malicious RNG state: refused the same way (accelerate then logs "Could not load random states"
    # and goes on; textae reseeds dropout per batch, so the run still ends as an uninterrupted one)
    shutil.rmtree(checkpoint)
    shutil.copytree(pristine, checkpoint)
    _malicious(checkpoint / "random_states_0.pkl", marker)
    resumed = train(tiny_recipe(tmp_path / "run", *settings), resume=True)
    assert not marker.exists()
    full = train(tiny_recipe(tmp_path / "full", *settings)).model.state_dict()
    assert all(torch.equal(v, full[k]) for k, v in resumed.model.state_dict().items())
    # what a run writes holds no pickled weights
    model_files = {p.name for p in resumed.model_dir.iterdir()}
    assert "model.safetensors" in model_files and not any(Path(n).suffix in (".bin", ".pt", ".pkl") for n in model_files)


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:builtins.open [{marker}, w]",
        "!!python/object/new:builtins.open [{marker}, w]",
        "!!python/name:os.system",
    ],
)
def test_a_recipe_with_a_python_tag_is_refused(tmp_path, payload):
    marker = tmp_path / "ran"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"model:\n  family: ae\ntrain:\n  seed: {payload.format(marker=json.dumps(str(marker)))}\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(recipe)
    # the same tag in a command-line override
    with pytest.raises((RecipeError, yaml.YAMLError)):
        load_recipe(None, [f"train.seed={payload.format(marker=json.dumps(str(marker)))}"])
    assert not marker.exists()


# ---- source scan: what no file of textae may do ----------------------------------------------------

UNSAFE_CALLS = {
    ("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("dill", "load"), ("dill", "loads"),
    ("joblib", "load"), ("cloudpickle", "load"), ("cloudpickle", "loads"), ("marshal", "loads"),
    ("yaml", "unsafe_load"), ("yaml", "full_load"), ("yaml", "unsafe_load_all"), ("yaml", "full_load_all"),
}


def _sources(*folders: str) -> list[Path]:
    files = [p for folder in folders for p in sorted((REPO / folder).rglob("*.py"))]
    assert files, folders
    return files


def _violations(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "trust_remote_code" and not (isinstance(node.value, ast.Constant) and node.value.value is False):
            found.append(f"{path.name}:{node.value.lineno}: trust_remote_code={ast.unparse(node.value)}")
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) or not isinstance(node.func.value, ast.Name):
            continue
        owner, name = node.func.value.id, node.func.attr
        keywords = {k.arg: k.value for k in node.keywords}
        where = f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)[:80]}"
        if (owner, name) in UNSAFE_CALLS:
            found.append(where)
        elif owner == "torch" and name == "load":
            flag = keywords.get("weights_only")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                found.append(where + " (torch.load without weights_only=True)")
        elif owner == "yaml" and name in ("load", "load_all"):
            loader = keywords.get("Loader")
            if loader is None or "SafeLoader" not in ast.unparse(loader):
                found.append(where + " (yaml.load without a SafeLoader)")
        elif owner == "np" and name == "load":
            flag = keywords.get("allow_pickle")
            if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is False):
                found.append(where + " (np.load with pickles)")
    return found


def test_the_scan_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch, yaml, pickle\n"
        "torch.load('x')\ntorch.load('x', weights_only=False)\nyaml.load(s)\nyaml.load(s, Loader=yaml.Loader)\n"
        "pickle.loads(b)\nAutoModel.from_pretrained(p, trust_remote_code=True)\n"
        "torch.load('x', weights_only=True)\nyaml.load(s, Loader=yaml.SafeLoader)\nyaml.safe_load(s)\n"
    )
    original = REPO
    try:
        globals()["REPO"] = tmp_path
        assert len(_violations(bad)) == 6
    finally:
        globals()["REPO"] = original


def test_no_source_file_unpickles_loads_unsafe_yaml_or_trusts_remote_code():
    found = [v for path in _sources("textae", "benchmarks") for v in _violations(path)]
    assert found == []
    text = "\n".join(p.read_text(encoding="utf-8") for p in _sources("textae", "benchmarks"))
    assert "trust_remote_code=True" not in text and "weights_only=False" not in text
