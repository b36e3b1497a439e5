"""Price table lookups and overrides, API-key loading, and the batch queue's bookkeeping."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from overthink.errors import UserError
from overthink.models.base import BackendError
from overthink.models.hosted.batches import BatchApi, BatchOutcome, BatchQueue, BatchState, custom_id
from overthink.models.pricing import PriceTable, read_price_file
from overthink.models.secrets import api_key, scrub


def test_longest_prefix_wins_and_batches_cost_half() -> None:
    table = PriceTable()
    assert table.lookup("claude-opus-4-5-20251101") == table.prices["claude-opus-4-5"]
    assert table.lookup("claude-opus-4-1") == table.prices["claude-opus-4"]
    assert table.lookup("o3-mini-2025") == table.prices["o3-mini"]
    full = table.cost("gpt-5-mini", 1_000_000, 1_000_000)
    assert full == pytest.approx(0.25 + 2.0)
    assert table.cost("gpt-5-mini", 1_000_000, 1_000_000, batch=True) == pytest.approx(full / 2)
    assert table.cost("some-local-model", 10**6, 10**6) == 0.0


def test_price_file_overrides_and_rejects_bad_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "prices.json"
    good.write_text(json.dumps({"my-model": {"input": 1, "output": 4}, "gpt-5": {"input": 9, "output": 9}}))
    table = PriceTable.load(str(good))
    assert table.cost("my-model-v2", 500_000, 250_000) == pytest.approx(0.5 + 1.0)
    assert table.lookup("gpt-5") is not None and table.lookup("gpt-5").input_per_mtok == 9  # type: ignore[union-attr]
    toml = tmp_path / "prices.toml"
    toml.write_text("[local]\ninput = 0.1\noutput = 0.2\n")
    monkeypatch.setenv("OVERTHINK_PRICES", str(toml))
    assert PriceTable.load().lookup("local-7b") is not None
    for text, needle in [
        ("[1, 2]", "must map"),
        ('{"m": {"input": 1}}', "needs numeric"),
        ('{"m": {"input": -1, "output": 1}}', "negative"),
        ("{", "cannot read"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(UserError, match=needle):
            read_price_file(bad)


def test_api_key_from_file_or_env_and_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OT_TEST_KEY", raising=False)
    with pytest.raises(UserError, match="OT_TEST_KEY") as missing:
        api_key("OT_TEST_KEY")
    assert "Traceback" not in str(missing.value)
    assert api_key("OT_TEST_KEY", required=False) is None
    monkeypatch.setenv("OT_TEST_KEY", "  env-secret-value-123 ")
    assert api_key("OT_TEST_KEY") == "env-secret-value-123"
    key_file = tmp_path / "key.txt"
    key_file.write_text("file-secret-value-456\nignored\n")
    assert api_key("OT_TEST_KEY", str(key_file)) == "file-secret-value-456"  # the file wins
    assert scrub("got env-secret-value-123 and file-secret-value-456") == "got *** and ***"
    with pytest.raises(UserError, match="cannot read the API key file") as unreadable:
        api_key(None, str(tmp_path / "absent.txt"))
    assert "secret" not in str(unreadable.value)


class FakeBatches:
    """A provider whose batches end on the second poll; requests whose prompt says 'bad' fail."""

    def __init__(self, final: str = "ended") -> None:
        self.submitted: list[list[str]] = []
        self.polls: dict[str, int] = {}
        self.final = final
        self.params: dict[str, dict[str, Any]] = {}

    def api(self) -> BatchApi:
        return BatchApi(self.submit, self.status, self.results)

    async def submit(self, items: list[tuple[str, dict[str, Any]]]) -> str:
        self.submitted.append([cid for cid, _ in items])
        self.params.update(dict(items))
        return f"b{len(self.submitted)}"

    async def status(self, batch_id: str) -> str:
        self.polls[batch_id] = self.polls.get(batch_id, 0) + 1
        return self.final if self.polls[batch_id] > 1 else "running"

    async def results(self, batch_id: str) -> dict[str, BatchOutcome]:
        index = int(batch_id[1:]) - 1
        return {
            cid: BatchOutcome(error="failed")
            if "bad" in self.params[cid]["q"]
            else BatchOutcome(response={"echo": self.params[cid]["q"]})
            for cid in self.submitted[index]
        }


def _queue(fake: FakeBatches, state: Path, **kwargs: Any) -> BatchQueue:
    return BatchQueue(fake.api(), BatchState(state), window=0.01, poll_interval=0.001, **kwargs)


def test_queue_gathers_concurrent_requests_into_one_batch_and_dedupes(tmp_path: Path) -> None:
    fake = FakeBatches()

    async def go() -> list[Any]:
        queue = _queue(fake, tmp_path / "s.json")
        calls = [queue.run({"q": q}) for q in ("a", "b", "a", "bad")]
        out = await asyncio.gather(*calls, return_exceptions=True)
        await queue.aclose()
        return list(out)

    out = asyncio.run(go())
    assert len(fake.submitted) == 1 and len(fake.submitted[0]) == 3  # "a" twice is one request
    assert out[0] == out[2] == {"echo": "a"} and out[1] == {"echo": "b"}
    assert isinstance(out[3], BackendError)
    state = json.loads((tmp_path / "s.json").read_text())["requests"]
    assert set(state) == {custom_id({"q": "a"}), custom_id({"q": "b"})}  # the failure is forgotten


def test_queue_flushes_at_max_size_and_forgets_failed_batches(tmp_path: Path) -> None:
    fake = FakeBatches()

    async def sized() -> None:
        queue = BatchQueue(fake.api(), BatchState(tmp_path / "a.json"), window=60.0, max_size=2, poll_interval=0.001)
        await asyncio.wait_for(asyncio.gather(queue.run({"q": "x"}), queue.run({"q": "y"})), timeout=5)
        await queue.aclose()

    asyncio.run(sized())  # a 60 s window would time out: the full batch was sent at once
    dead = FakeBatches(final="failed")

    async def failing() -> None:
        queue = _queue(dead, tmp_path / "f.json")
        with pytest.raises(BackendError, match="run again to resubmit"):
            await queue.run({"q": "z"})
        await queue.aclose()

    asyncio.run(failing())
    assert json.loads((tmp_path / "f.json").read_text())["requests"] == {}


def test_custom_ids_are_stable_and_valid_for_both_providers() -> None:
    one = custom_id({"model": "m", "messages": [{"role": "user", "content": "é"}], "max_tokens": 5})
    two = custom_id({"max_tokens": 5, "messages": [{"content": "é", "role": "user"}], "model": "m"})
    assert one == two and len(one) <= 64 and one.replace("-", "").replace("_", "").isalnum()
    assert custom_id({"model": "m", "max_tokens": 6}) != custom_id({"model": "m", "max_tokens": 5})
