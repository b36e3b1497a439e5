"""The words we put around a sample, written in one place: the think/answer format and the budget ask.

Every backend sends the chat rendered here (models/prompt.py `RenderedPrompt`), so every backend asks
the same question in the same way; a difference in wording between backends would be a confound in
any comparison between them. Native budgets ask only for the answer format (the provider thinks in its
own channel); `prompt` budgets add the sentence of `BUDGET_WORDING` to the system message.
"""

from __future__ import annotations

from overthink.models.base import GenerationRequest
from overthink.models.generation import GenerationConfig
from overthink.models.prompt import BudgetWording, Oracle, RenderedPrompt
from overthink.types import Budget, Sample

FORMAT_INSTRUCTION = (
    "Think through the problem step by step inside <think> and </think>. "
    "Then write only the final answer inside <answer> and </answer>."
)
NO_THINKING_INSTRUCTION = "Write only the final answer inside <answer> and </answer>."
BUDGET_WORDING = BudgetWording(
    none="Do not think before answering: answer immediately.",
    tokens="You have a thinking budget of about {value} tokens. Use most of it to think before you answer.",
    effort="Think with {value} effort before you answer.",
)

Shots = tuple[tuple[str, str], ...]  # (question, worked answer) pairs for example anchoring


def budget_instruction(budget: Budget) -> str | None:
    """The sentence that requests a budget in the prompt (None for every mechanism but `prompt`)."""
    return BUDGET_WORDING.sentence(budget)


def system_prompt(sample: Sample, budget: Budget) -> str:
    """System message: the sample's own system text, the format, and any prompt-requested budget."""
    parts = [sample.system] if sample.system else []
    parts.append(FORMAT_INSTRUCTION)
    extra = budget_instruction(budget)
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)


def user_prompt(sample: Sample, shots: Shots = ()) -> str:
    """User message with optional worked examples first (example anchoring)."""
    if not shots:
        return sample.prompt
    blocks = [f"Example {i}:\n{question}\n{answer}" for i, (question, answer) in enumerate(shots, 1)]
    return "\n\n".join([*blocks, f"Now solve this one:\n{sample.prompt}"])


def render(sample: Sample, shots: Shots = ()) -> RenderedPrompt:
    """The rendered prompt of one item with its worked examples: what every backend is sent."""
    head = [sample.system] if sample.system else []
    user = user_prompt(sample, shots)
    return RenderedPrompt(
        messages=(("system", "\n\n".join([*head, FORMAT_INSTRUCTION])), ("user", user)),
        answer_only=(("system", "\n\n".join([*head, NO_THINKING_INSTRUCTION])), ("user", user)),
        wording=BUDGET_WORDING,
        shots=len(shots),
        oracle=Oracle(item=sample.id, target=sample.target, words=len(sample.prompt.split()),
                      metadata=sample.metadata),
    )


def request_for(sample: Sample, budget: Budget, seed: int, sampling: GenerationConfig | None = None,
                shots: Shots = ()) -> GenerationRequest:
    """A request for one item at one budget (the run side's one way to build one)."""
    return GenerationRequest(render(sample, shots), budget, seed, sampling or GenerationConfig())


def chat_messages(sample: Sample, budget: Budget, shots: Shots = ()) -> list[dict[str, str]]:
    """OpenAI-style message list at a budget (what `render(sample, shots).chat(budget)` gives)."""
    return render(sample, shots).chat(budget)


def prompt_chars(sample: Sample, shots: Shots = ()) -> int:
    """Characters of an item's prompt with its shots and ~600 for the instructions (cost estimates)."""
    return len(sample.prompt) + len(sample.system or "") + 600 + sum(len(q) + len(a) for q, a in shots)
