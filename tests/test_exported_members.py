"""The public API is what ``__all__`` says: nothing missing, nothing undefined."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_PACKAGES = ["inferwatch", "inferwatch.core"]


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
