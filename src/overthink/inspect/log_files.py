"""Finding Inspect eval logs, checking their headers, and streaming their samples with inspect_ai itself.

Reading streams: a `.eval` log (a zip of zstd members) is read one sample member at a time through one
zip reader (Inspect's own `read_eval_log_samples` re-reads the zip directory for every sample, five times
slower); a `.json` log is parsed one sample at a time with ijson (Inspect's reader loads the whole file)
and validated by Inspect's own `EvalSample` model. Either way memory follows the largest sample, not the
log. What a sample means to overthink is logs.py's job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspect_ai.log import EvalLog, EvalSample, read_eval_log_async, read_eval_log_sample_async
from inspect_ai.model import GenerateConfig

from overthink.errors import UserError
from overthink.inspect.tasks import PREFIX
from overthink.registry import TASKS
from overthink.tasks.base import TaskSpec

__all__ = ["LOG_SUFFIXES", "LogError", "LogHeader", "find_logs", "iter_samples", "read_header"]

LOG_SUFFIXES = (".eval", ".json")


class LogError(UserError):
    """One log file cannot be imported: the message names the file and what is wrong with it (exit 2)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")


# ----------------------------------------------------------------------------------------------- finding


def _timestamped(name: str) -> bool:
    """Inspect's own names of JSON logs start with an ISO timestamp (so logs.json is no log)."""
    return len(name) > 19 and name[:4].isdigit() and name[4] == "-" and name[10] == "T"


def find_logs(paths: Sequence[Path]) -> list[Path]:
    """The log files named or held (recursively) by `paths`, each once, in a stable order.

    A directory contributes its `.eval` files and the `.json` files named as Inspect names logs
    (TIMESTAMP_task_id.json), the rule `inspect view` lists by; a file given by name is taken whatever
    its name, if it ends in .eval or .json.
    """
    if not paths:
        raise UserError("give at least one Inspect log file or directory of logs")
    found: dict[Path, None] = {}
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} does not exist; give Inspect log files (.eval, .json) or directories of them")
        if path.is_dir():
            held = sorted(p for p in path.rglob("*") if p.is_file() and (
                p.suffix == ".eval" or (p.suffix == ".json" and _timestamped(p.name))))
            if not held:
                raise UserError(f"{path} holds no Inspect logs (.eval files, or .json files named "
                                "TIMESTAMP_task_id.json as Inspect writes them); name other JSON logs one by one")
            found.update(dict.fromkeys(p.resolve() for p in held))
        elif path.suffix not in LOG_SUFFIXES:
            raise UserError(f"{path} is not an Inspect log: logs end in .eval or .json")
        else:
            found[path.resolve()] = None
    return list(found)


# ----------------------------------------------------------------------------------------------- headers


@dataclass(frozen=True)
class LogHeader:
    """What one log says about all of its samples, read before any sample is."""

    path: Path
    log: EvalLog  # header only: no samples
    model: str
    task: str  # overthink's name: the registry name or task name, without the overthink/ prefix
    inspect_task: str  # the name as Inspect wrote it
    task_version: str
    spec: TaskSpec | None  # overthink's own task of that name, whose scorer re-scores the samples
    scorer: str | None  # Inspect scorer whose score a foreign task keeps (None for overthink's tasks)
    config: GenerateConfig  # model_generate_config merged with plan.config: the budget of a sample without a call
    expected: int  # samples the log should hold (sample ids x epochs)
    warnings: tuple[str, ...] = ()


def _problem(exc: BaseException) -> str:
    """One line of what went wrong reading a log: the exception and the cause Inspect wraps it around."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        text += f" ({str(cause).strip().splitlines()[0]})"
    return text


def _check_json_log(path: Path) -> None:
    """A JSON file that is no Inspect log gets a clear message instead of Inspect's validation error."""
    import ijson  # type: ignore[import-untyped]

    keys: set[str] = set()
    try:
        with path.open("rb") as handle:
            for prefix, event, value in ijson.parse(handle):
                if prefix != "":
                    continue
                if event == "map_key":
                    keys.add(str(value))
                    if {"version", "eval"} <= keys:
                        return
                elif event != "start_map":  # a top-level array or value, or the end of the top-level object
                    break
    except OSError as exc:
        raise LogError(path, f"cannot read it ({exc.strerror})") from None
    except Exception as exc:  # ijson's errors on text that is not JSON
        raise LogError(path, f"not valid JSON, so not an Inspect log ({_problem(exc)})") from None
    raise LogError(path, "a JSON file but not an Inspect eval log (it has no top-level 'version' and 'eval')")


FOREIGN_PREFIX = "inspect:"  # names a foreign task that shares a bare name with one of overthink's


def _task_name(log: EvalLog) -> tuple[str, str]:
    """(overthink's name, Inspect's name). Only `overthink/<task>` is overthink's task: another task
    that happens to be called e.g. "zebra" is someone else's, kept apart as "inspect:zebra" so its
    records and traits never mix with (or get re-scored as) overthink's zebra."""
    inspect_task = log.eval.task_registry_name or log.eval.task
    if inspect_task.startswith(PREFIX):
        return inspect_task[len(PREFIX):], inspect_task
    return (FOREIGN_PREFIX + inspect_task if inspect_task in TASKS else inspect_task), inspect_task


def _scorer_names(log: EvalLog) -> list[str]:
    if log.results is not None and log.results.scores:
        return list(dict.fromkeys(s.name for s in log.results.scores))
    return [s.name for s in log.eval.scorers or []]


async def read_header(path: Path, scorer: str | None = None) -> LogHeader:
    """The header of one log, checked: a bad file is a LogError naming it and the problem."""
    if path.suffix == ".json":
        _check_json_log(path)
    try:
        log = await read_eval_log_async(str(path), header_only=True)
    except Exception as exc:
        kind = "not a readable Inspect .eval log (a zip of JSON members)" if path.suffix == ".eval" else \
            "not a readable Inspect log"
        raise LogError(path, f"{kind}: {_problem(exc)}") from None
    task, inspect_task = _task_name(log)
    spec = TASKS.get(task)
    warnings: list[str] = []
    if task.startswith(FOREIGN_PREFIX):
        warnings.append(f"{path.name}: task {inspect_task!r} is not overthink's (that would be "
                        f"{PREFIX}{inspect_task}); imported as {task!r} with Inspect's own scores")
    ids = log.eval.dataset.sample_ids
    if ids is None and path.suffix == ".eval":  # its samples are found by id (a JSON log is read in order)
        raise LogError(path, "the log does not list its sample ids (a log written by an old Inspect); "
                             "rewrite it with `inspect log convert` first")
    epochs = log.eval.config.epochs or 1
    expected = (len(ids) if ids is not None else log.eval.dataset.samples or 0) * epochs
    if log.status != "success":
        warnings.append(f"{path.name}: the eval's status is {log.status!r}, so it may hold fewer than its "
                        f"{expected} samples; imported the samples it holds")
    if log.invalidated:
        warnings.append(f"{path.name}: Inspect marks this log invalidated; imported it anyway")
    chosen: str | None = None
    if spec is None:
        names = _scorer_names(log)
        if scorer is not None:
            if names and scorer not in names:
                raise LogError(path, f"it has no scorer {scorer!r} (its scorers: {', '.join(names)})")
            chosen = scorer
        elif names:
            chosen = names[0]
            if len(names) > 1:
                warnings.append(f"{path.name}: several scorers ({', '.join(names)}); kept {chosen!r} "
                                "(choose another with --scorer)")
        elif expected:
            raise LogError(path, f"task {inspect_task!r} is not one of overthink's and the log has no scores "
                                 "(score it first with `inspect score`)")
    elif str(log.eval.task_version) not in ("0", spec.version):
        warnings.append(f"{path.name}: task {task} version {log.eval.task_version} in the log, "
                        f"{spec.version} in overthink: re-scored with overthink's current scorer")
    config = log.eval.model_generate_config.merge(log.plan.config)
    return LogHeader(path=path, log=log, model=log.eval.model, task=task, inspect_task=inspect_task,
                     task_version=str(log.eval.task_version), spec=spec, scorer=chosen, config=config,
                     expected=expected, warnings=tuple(warnings))


# ----------------------------------------------------------------------------------------------- samples


async def iter_samples(header: LogHeader) -> AsyncIterator[EvalSample]:
    """The log's samples one at a time; a sample Inspect cannot read is a LogError naming the file."""
    reader = _json_samples(header.path) if header.path.suffix == ".json" else _eval_samples(header)
    try:
        async for sample in reader:
            yield sample
    except LogError:
        raise
    except Exception as exc:
        raise LogError(header.path, f"a sample cannot be read: {_problem(exc)}") from None


async def _eval_samples(header: LogHeader) -> AsyncIterator[EvalSample]:
    """Members of a .eval zip through one reader (its directory parsed once), in Inspect's sample order."""
    location = str(header.path)
    ids = header.log.eval.dataset.sample_ids or []
    epochs = header.log.eval.config.epochs or 1
    exclude = {"store", "messages"}  # neither is read; the message history repeats the events
    try:
        from inspect_ai._util.async_zip import AsyncZipReader
        from inspect_ai._util.asyncfiles import AsyncFilesystem
    except ImportError:  # a later Inspect moved its zip reader: the public path (slower: a reader per sample)
        for sample_id in ids:
            for epoch in range(1, epochs + 1):
                try:
                    yield await read_eval_log_sample_async(location, sample_id, epoch, exclude_fields=exclude)
                except IndexError:
                    continue
        return
    async with AsyncFilesystem() as filesystem:
        reader = AsyncZipReader(filesystem, location)
        for sample_id in ids:
            for epoch in range(1, epochs + 1):
                try:
                    yield await read_eval_log_sample_async(location, sample_id, epoch, exclude_fields=exclude,
                                                           reader=reader)
                except IndexError:  # not in the log (an eval that stopped early): the header warned
                    continue


async def _json_samples(path: Path) -> AsyncIterator[EvalSample]:
    """Samples of a JSON log parsed one at a time (ijson) and validated by Inspect's own model.

    ijson cannot read NaN or Infinity, which Inspect writes for a non-finite number: from the first
    such sample on, the log is read whole by Inspect instead (its memory then follows the log).
    """
    import ijson

    try:
        from inspect_ai._util.constants import get_deserializing_context

        context: dict[str, Any] = get_deserializing_context()
    except ImportError:
        context = {}
    done = 0
    with path.open("rb") as handle:
        items = ijson.items(handle, "samples.item", use_float=True)
        while True:
            try:
                raw = next(items)
            except StopIteration:
                return
            except Exception as exc:
                if "NaN" not in str(exc) and "Infinity" not in str(exc) and "invalid char" not in str(exc):
                    raise
                break
            yield EvalSample.model_validate(raw, context=dict(context))
            done += 1
    log = await read_eval_log_async(str(path))
    for sample in (log.samples or [])[done:]:
        yield sample
