"""The public API is what ``__all__`` says: nothing missing, nothing undefined."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_PACKAGES = ["inferwatch", "inferwatch.core"]
EMBEDDING_API = ["LogRejected", "Watcher"]


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_names_resolve(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicate names in __all__"
    missing = [member for member in exported if not hasattr(module, member)]
    assert missing == []


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_public_classes_and_functions_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", "").startswith("inferwatch")
    }
    assert public - set(module.__all__) == set()


def test_the_embedding_api_is_public() -> None:
    import inferwatch

    for name in EMBEDDING_API:
        assert name in inferwatch.__all__
        member = getattr(inferwatch, name)
        assert inspect.isclass(member) and member.__module__.startswith("inferwatch.")
