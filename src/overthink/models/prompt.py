"""The rendered prompt a backend receives: a chat, already written, and how to ask for a budget in words.

The model contract knows nothing of tasks: no sample, no scorer, no shots. The run side (prompts/)
writes the chat once, from a task's item and any prompt transforms (example anchoring), or takes it
from an Inspect conversation as it is, and every backend sends that same text. A backend only picks
the variant its budget needs and applies its own chat template, so a difference in wording between
backends, a confound in any comparison between them, cannot creep in.

Two variants exist because native reasoning happens in the provider's own channel: a hosted API's
native request asks only for the answer format (`answer_only=True`), while everything else sends the
think-then-answer chat (`messages`); asking a hosted reasoner for `<think>` tags as well would make it
think twice. Which one a backend sends is the backend's call (an OpenAI-compatible server's native
thinking still gets the full format, as it always has). A `prompt` budget is asked for by one sentence
appended to the system message (`wording`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from overthink.types import Budget, BudgetKind, Mechanism

Turn = tuple[str, str]  # (role, content)


@dataclass(frozen=True)
class BudgetWording:
    """The sentences that request a budget in the prompt (the paper's control for open weights);
    `tokens` and `effort` hold `{value}`."""

    none: str
    tokens: str
    effort: str

    def sentence(self, budget: Budget) -> str | None:
        if budget.mechanism is not Mechanism.PROMPT:
            return None
        if budget.kind is BudgetKind.NONE:
            return self.none
        if budget.kind is BudgetKind.TOKENS:
            return self.tokens.format(value=budget.value)
        if budget.kind is BudgetKind.EFFORT:
            return self.effort.format(value=budget.value)
        return None


@dataclass(frozen=True)
class Oracle:
    """What a scripted test double reads to answer like a model that solved the item (models/scripted.py).

    No real backend reads it: it exists so that dry runs and tests can be deterministic per item
    without the model contract carrying a task's sample. `words` is the question's length in words."""

    item: str
    target: str
    words: int
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedPrompt:
    """One item's prompt, rendered: the chats every backend sends, whatever the budget asks for."""

    messages: tuple[Turn, ...]  # think-then-answer chat, system message first
    answer_only: tuple[Turn, ...] | None = None  # the chat asking only for the answer (hosted native)
    wording: BudgetWording | None = None  # how `prompt` budgets are asked for (None: not in words)
    shots: int = 0  # worked examples placed in the chat (reported, never re-rendered)
    oracle: Oracle | None = None

    def chat(self, budget: Budget, *, answer_only: bool = False) -> list[dict[str, str]]:
        """The OpenAI-style message list to send at this budget (a fresh list: callers may keep it);
        `answer_only` asks for the answer-format chat (the think-then-answer one when there is none)."""
        if answer_only and self.answer_only is not None:
            return [{"role": role, "content": content} for role, content in self.answer_only]
        chat = [{"role": role, "content": content} for role, content in self.messages]
        sentence = self.wording.sentence(budget) if self.wording is not None else None
        if sentence:
            if chat and chat[0]["role"] == "system":
                chat[0]["content"] = "\n\n".join(part for part in (chat[0]["content"], sentence) if part)
            else:
                chat.insert(0, {"role": "system", "content": sentence})
        return chat

    def system_and_turns(self, budget: Budget, *, answer_only: bool = False) -> tuple[str, list[dict[str, str]]]:
        """(system text, the other messages) at this budget, for APIs that take the system apart."""
        chat = self.chat(budget, answer_only=answer_only)
        system = "\n\n".join(m["content"] for m in chat if m["role"] == "system")
        return system, [m for m in chat if m["role"] != "system"]

    @property
    def chars(self) -> int:
        """Characters of the think-then-answer chat (an input size for estimates, not a token count)."""
        return sum(len(content) for _, content in self.messages)
