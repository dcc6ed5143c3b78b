"""Model names and versions never lead a write outside its root."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from inferwatch.cli import app
from inferwatch.examples import load_example_frame
from inferwatch.modeldir import ModelMetadata, contained, load_model_dir
from inferwatch.retrain import ModelRegistry

HOSTILE = ["../escape", "../../escape", "a/b", ".hidden", "..", "x\\..\\y", "a b", ""]


@pytest.mark.parametrize("bad", HOSTILE)
def test_metadata_refuses_a_name_or_version_that_is_not_a_plain_word(bad: str) -> None:
    base = {"name": "iris", "version": "1", "task": "classification", "feature_names": ["a"]}
    for key in ("name", "version"):
        with pytest.raises(ValidationError):
            ModelMetadata(**(base | {key: bad}))
    assert ModelMetadata(**(base | {"version": "v1.2-rc+3"})).version == "v1.2-rc+3"


def test_registry_never_writes_outside_its_root(tmp_path: Path, iris_model_dir: Path) -> None:
    root = tmp_path / "registry"
    registry = ModelRegistry(root)
    bundle = load_model_dir(iris_model_dir)
    for bad in ("../../escape", "../iris"):
        # model_copy skips validation, as a bug elsewhere could: the registry still refuses
        hostile = bundle.metadata.model_copy(update={"version": bad})
        with pytest.raises(ValueError):
            registry.promote(type(bundle)(hostile, bundle.schema, bundle.profile, bundle.model))
    assert not list(tmp_path.glob("escape*")) and not (tmp_path / "iris").exists()
    registry.promote(bundle)
    (root / "iris" / "CURRENT").write_text("../../../etc")
    with pytest.raises(ValueError):
        registry.current_dir("iris")
    with pytest.raises(ValueError):
        contained(root, "..", "x")


def test_init_refuses_a_name_that_leaves_the_models_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features, target = load_example_frame("iris")
    model = LogisticRegression(max_iter=300).fit(features, target)
    joblib.dump(model, tmp_path / "m.joblib")
    features.assign(species=target).to_csv(tmp_path / "ref.csv", index=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["init", str(tmp_path / "m.joblib"), "--reference", str(tmp_path / "ref.csv")]
    for flag, value in (("--name", "../../escape"), ("--version", "../1")):
        result = CliRunner().invoke(app, [*args, flag, value])
        assert result.exit_code == 2
        assert value in result.output and "Traceback" not in result.output
    assert not list(tmp_path.rglob("escape*"))
    odd = tmp_path / "my model (1).joblib"
    joblib.dump(model, odd)
    done = CliRunner().invoke(app, ["init", str(odd), "--reference", str(tmp_path / "ref.csv")])
    assert done.exit_code == 0, done.output
    assert (work / ".inferwatch" / "models" / "my_model__1_" / "metadata.json").exists()
