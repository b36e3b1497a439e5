"""Each sample of an Inspect eval log mapped to one overthink Record (log_files.py reads the logs).

The mapping (one Inspect sample -> one Record):

* key: model `eval.model`; task `eval.task_registry_name or eval.task` without an `overthink/` prefix;
  version `eval.task_version`; sample `sample.id`; repeat `epoch - 1`; strategy `cot` (one chain of thought
  per call); mechanism `native`; budget from the generate config of the sample's own model call (the
  last `ModelEvent` of the evaluated model before scoring), else the log's `model_generate_config`
  merged with `plan.config`: `reasoning_tokens` -> a token budget, `reasoning_effort` -> an effort budget
  (`none` -> budget 0), neither -> `natural`.
* completion: answer `output.completion`; reasoning the `ContentReasoning` blocks of the output message
  (the summary of a redacted block); realized reasoning tokens `usage.reasoning_tokens` (source `api`),
  else estimated from the reasoning text (source `estimate`); `stop_reason` max_tokens / model_length is
  finish reason `length` and `extra["censored"]`, as overthink's own backends mark a cut trace.
* score: overthink's own tasks (registered as `overthink/<task>`) are re-scored by overthink's scorer on the
  overthink Sample rebuilt from `metadata["overthink_sample"]` (else from input / target / metadata), so
  they read like native runs; any other task keeps Inspect's score (`value_to_float`, C -> 1) and its
  scalar metadata, which become its strata.
* a sample with `sample.error` is an error record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inspect_ai.event import ModelEvent, SpanBeginEvent
from inspect_ai.log import EvalSample
from inspect_ai.model import ContentReasoning, GenerateConfig, ModelOutput
from inspect_ai.scorer import Score as InspectScore
from inspect_ai.scorer import value_to_float

from overthink.inspect.log_files import LogError, LogHeader
from overthink.inspect.tasks import SAMPLE_KEY
from overthink.models.hosted.base import estimate_tokens
from overthink.models.loops import is_looping
from overthink.types import (
    Budget,
    BudgetKind,
    Completion,
    Mechanism,
    Record,
    Sample,
    Score,
    Status,
    TokenSource,
    Usage,
    WorkKey,
    derive_seed,
)

__all__ = ["SAMPLE_KEY", "STRATEGY", "Converted", "budget_of", "overthink_sample", "to_record"]

STRATEGY = "cot"  # one chain of thought per model call, as overthink's default strategy
CENSORED_STOPS = frozenset({"max_tokens", "model_length"})  # Inspect's stop reasons of a cut generation
ATTACHMENT = "attachment://"
_NO_VALUE = {"I", "N", "no", "false"}  # strings value_to_float reads as 0 (the last two in any case)


# ----------------------------------------------------------------------------------------------- budgets


def budget_of(config: GenerateConfig) -> Budget:
    """The reasoning budget a generate config asked for (native: the provider's own control)."""
    if config.reasoning_tokens is not None:
        return Budget.parse(str(config.reasoning_tokens), Mechanism.NATIVE)
    if config.reasoning_effort is not None:
        if config.reasoning_effort == "none":
            return Budget(BudgetKind.NONE, 0, Mechanism.NATIVE)
        return Budget(BudgetKind.EFFORT, str(config.reasoning_effort), Mechanism.NATIVE)
    return Budget(BudgetKind.NATURAL, None, Mechanism.NATIVE)


def _model_call(sample: EvalSample, model: str) -> ModelEvent | None:
    """The evaluated model's last call before scoring (a grader's calls come after, or under a role)."""
    last: ModelEvent | None = None
    fallback: ModelEvent | None = None
    for event in sample.events:
        if isinstance(event, SpanBeginEvent) and event.type == "scorers":
            break
        if isinstance(event, ModelEvent):
            fallback = event
            if event.role is None and event.model == model and event.error is None:
                last = event
    return last or fallback


# ----------------------------------------------------------------------------------------------- texts


def _resolve(text: str, attachments: Mapping[str, str]) -> str:
    """Text as logged: `attachment://<hash>` (long text in events is stored once) resolved to itself."""
    if text.startswith(ATTACHMENT):
        return attachments.get(text[len(ATTACHMENT):], text)
    return text


def _texts(output: ModelOutput, attachments: Mapping[str, str]) -> tuple[str, str, bool]:
    """(answer, reasoning, redacted) of one model output."""
    if not output.choices:
        return "", "", False
    content = output.message.content
    answer = _resolve(output.completion, attachments)
    if isinstance(content, str):
        return answer, "", False
    parts: list[str] = []
    redacted = False
    for block in content:
        if isinstance(block, ContentReasoning):
            redacted = redacted or block.redacted
            text = (block.summary or "") if block.redacted else (block.reasoning or block.summary or "")
            parts.append(_resolve(text, attachments))
    return answer, "\n\n".join(p for p in parts if p), redacted


def _input_text(sample: EvalSample) -> tuple[str, str | None]:
    """(prompt, system) of a sample's input: the text itself, or its user and system messages."""
    if isinstance(sample.input, str):
        return sample.input, None
    users = [m.text for m in sample.input if m.role == "user"]
    systems = [m.text for m in sample.input if m.role == "system"]
    return "\n\n".join(users), ("\n\n".join(systems) or None)


def _target_text(target: str | list[str]) -> str:
    if isinstance(target, str):
        return target
    return target[0] if len(target) == 1 else json.dumps(list(target), ensure_ascii=False)


def _scalars(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar metadata of a foreign task's sample (its possible strata); NaN or infinity is None."""
    return {str(k): None if isinstance(v, float) and not math.isfinite(v) else v for k, v in metadata.items()
            if k != SAMPLE_KEY and (v is None or isinstance(v, (str, int, float, bool)))}


def _timestamp(*values: object) -> float:
    for value in values:
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


# ----------------------------------------------------------------------------------------------- records


@dataclass
class Converted:
    """One sample's record, and what the importer tallies of it."""

    record: Record
    rescored: bool = False


def overthink_sample(header: LogHeader, sample: EvalSample) -> Sample:
    """The overthink Sample behind an Inspect sample of an overthink task: the JSON the task kept in
    `metadata["overthink_sample"]`, else rebuilt from the sample's input, target and metadata."""
    kept = sample.metadata.get(SAMPLE_KEY)
    if kept is not None:
        try:
            data = json.loads(kept) if isinstance(kept, str) else kept
            return Sample.from_dict(data)
        except (TypeError, ValueError, KeyError) as exc:
            raise LogError(header.path, f"sample {sample.id}: metadata {SAMPLE_KEY!r} is not an overthink "
                                        f"sample ({type(exc).__name__}: {exc})") from None
    prompt, system = _input_text(sample)
    return Sample(id=str(sample.id), task=header.task, prompt=prompt, target=_target_text(sample.target),
                  metadata={k: v for k, v in sample.metadata.items() if k != SAMPLE_KEY}, system=system,
                  choices=tuple(sample.choices) if sample.choices else None)


def _inspect_score(header: LogHeader, sample: EvalSample) -> tuple[InspectScore | None, str | None]:
    """The score a foreign task keeps, and its scorer's name (None when the sample was not scored)."""
    scores = sample.scores or {}
    if header.scorer is not None and header.scorer in scores:
        return scores[header.scorer], header.scorer
    if len(scores) == 1:  # a log whose only score is still under Inspect's placeholder name
        name, score = next(iter(scores.items()))
        return score, name
    return None, None


def _score_value(header: LogHeader, sample: EvalSample, score: InspectScore, scorer: str) -> float:
    value = score.value
    if isinstance(value, (dict, list)):
        raise LogError(header.path, f"sample {sample.id}: scorer {scorer!r} gives a {type(value).__name__} of "
                                    "values, overthink needs one number per sample (choose another with --scorer)")
    number = value_to_float()(value)
    if number == 0.0 and isinstance(value, str) and value not in _NO_VALUE and value.lower() not in _NO_VALUE:
        try:
            float(value)
        except ValueError:  # value_to_float's 0 for anything it cannot read
            raise LogError(header.path, f"sample {sample.id}: score {value!r} of scorer {scorer!r} is neither a "
                                        "number nor C/I/P/N") from None
    return number


def to_record(header: LogHeader, sample: EvalSample, experiment: str) -> Converted:
    """One Inspect sample as one overthink Record (ok, or error for a sample that failed)."""
    call = _model_call(sample, header.model)
    config = call.config if call is not None else header.config
    budget = budget_of(config)
    repeat = sample.epoch - 1
    spec = header.spec
    rebuilt = overthink_sample(header, sample) if spec is not None else None
    sample_id = rebuilt.id if rebuilt is not None else str(sample.id)
    key = WorkKey(experiment=experiment, model=header.model, task=header.task, task_version=header.task_version,
                  sample_id=sample_id, budget=budget.label, mechanism=budget.mechanism.value, strategy=STRATEGY,
                  repeat=repeat)
    seed = config.seed if config.seed is not None else derive_seed(0, header.model, header.task,
                                                                   header.task_version, sample_id, repeat)
    if rebuilt is not None:
        prompt, target, metadata = rebuilt.prompt, rebuilt.target, dict(rebuilt.metadata)
    else:
        prompt, target, metadata = _input_text(sample)[0], _target_text(sample.target), _scalars(sample.metadata)
    created = _timestamp(sample.completed_at, sample.started_at, header.log.eval.created)

    def record(completion: Completion | None = None, score: Score | None = None, error: str | None = None) -> Record:
        return Record(key=key, seed=int(seed), status=Status.ERROR if error is not None else Status.OK,
                      budget_kind=budget.kind.value, requested_tokens=budget.tokens, prompt=prompt, target=target,
                      metadata=metadata, completion=completion, score=score, error=error, created_at=created,
                      error_kind="backend" if error is not None else None)

    if sample.error is not None:
        return Converted(record(error=f"InspectSampleError: {sample.error.message.strip() or 'the sample failed'}"))
    inspect_score, scorer = _inspect_score(header, sample)
    noted: dict[str, Any] = {}
    if rebuilt is not None and inspect_score is not None and scorer is not None:
        with suppress(LogError):  # overthink's own score is the one kept; Inspect's is only noted
            noted["inspect_score"] = _score_value(header, sample, inspect_score, scorer)
    completion = _completion(header, sample, call, noted)
    if spec is not None and rebuilt is not None:
        return Converted(record(completion, spec.score(rebuilt, completion.text)), rescored=True)
    if inspect_score is None or scorer is None:
        return Converted(record(error=f"Unscored: the sample has no score of scorer {header.scorer!r}"))
    value = _score_value(header, sample, inspect_score, scorer)
    if math.isnan(value):
        return Converted(record(error=f"Unscored: scorer {scorer!r} gave NaN"))
    details: dict[str, Any] = {"inspect_scorer": scorer}
    if isinstance(inspect_score.value, (str, int, float, bool)):
        details["inspect_value"] = inspect_score.value
    # Inspect does not say whether an answer was parsed: its scorer's answer, else the answer text
    extracted = inspect_score.answer if inspect_score.answer is not None else (completion.text or None)
    score = Score(value=value, correct=value == 1.0 if value in (0.0, 1.0) else None, extracted=extracted,
                  details=details)
    return Converted(record(completion, score))


def _completion(header: LogHeader, sample: EvalSample, call: ModelEvent | None, noted: dict[str, Any]) -> Completion:
    output = sample.output
    if not output.choices and call is not None:  # a solver that reset the output: its model call's, resolved
        output = call.output
    answer, reasoning, redacted = _texts(output, sample.attachments)
    usage = output.usage
    if usage is not None and usage.reasoning_tokens is not None:
        realized, source = int(usage.reasoning_tokens), TokenSource.API
    else:
        realized, source = estimate_tokens(reasoning), TokenSource.ESTIMATE
    output_tokens = int(usage.output_tokens) if usage is not None else estimate_tokens(answer) + realized
    # Providers count reasoning inside the output tokens (OpenAI, Anthropic); a count smaller than the
    # reasoning alone was counted apart from it.
    generated = output_tokens if output_tokens >= realized else output_tokens + realized
    stop = str(output.stop_reason) if output.choices else "unknown"
    censored = stop in CENSORED_STOPS
    extra: dict[str, Any] = {"source": "inspect", "inspect_log": header.path.name,
                             "inspect_task": header.inspect_task, "eval_id": header.log.eval.eval_id,
                             "sample_uuid": sample.uuid, "stop_reason": stop, "censored": censored, **noted}
    if redacted:
        extra["reasoning_redacted"] = True
    if sample.limit is not None:
        extra["limit"] = sample.limit.type
    return Completion(
        text=answer, reasoning=reasoning,
        usage=Usage(input_tokens=int(usage.input_tokens) if usage is not None else 0, output_tokens=output_tokens,
                    reasoning_tokens=realized, reasoning_source=source,
                    cost_usd=float(usage.total_cost or 0.0) if usage is not None else 0.0),
        finish_reason="length" if censored else stop,
        wall_time_s=float(sample.total_time or 0.0), answer_tokens=generated - realized,
        looping=is_looping(reasoning), total_generated=generated, extra=extra)
