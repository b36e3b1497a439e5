"""Chat templates and reasoning splits for OpenAI-compatible servers.

Forcing renders the chat template client-side (the server only sees raw text), so the template must be
the model's own: ChatML and Llama 3 are built in, any other is a Jinja string over `messages`.
"""

from __future__ import annotations

from typing import Any

TEMPLATES = {
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "<|im_start|>assistant\n"
    ),
    "llama3": (
        "<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
        "{{ m.content }}<|eot_id|>{% endfor %}<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
}


def render_prompt(template: str, messages: list[dict[str, str]]) -> str:
    """The chat template applied to the messages, in a sandbox (templates may come from config files)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    source = TEMPLATES.get(template, template)
    env = ImmutableSandboxedEnvironment(keep_trailing_newline=True)
    return env.from_string(source).render(messages=messages, add_generation_prompt=True)


def split_reasoning(message: dict[str, Any]) -> tuple[str, str]:
    """(reasoning, answer) from a chat message: the server's reasoning field, else split on </think>."""
    content = message.get("content") or ""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value, content
    if "</think>" in content:
        head, _, tail = content.partition("</think>")
        return head.replace("<think>", "", 1).strip("\n"), tail.lstrip("\n")
    return "", content
