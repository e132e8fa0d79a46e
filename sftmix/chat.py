"""Conversations -> token ids with a loss mask on assistant tokens only.

Works with any tokenizer whose chat template renders prefix-consistently (the embedded
default's, Qwen's and Llama-3's do): the tokens of assistant turn i are those that
``template(messages[:i+1])`` adds after ``template(messages[:i], add_generation_prompt=True)``.
Training (SFT) and scoring share this function, so "response tokens" mean the same thing in both.
"""

from __future__ import annotations

from typing import Any

IGNORE_INDEX = -100

# The embedded default's chat template (saved into the tokenizer). Turn = role tag, newline,
# content, eos. The generation prompt opens an assistant turn.
DEFAULT_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def _render_ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_conversation(tokenizer: Any, messages: list[dict[str, str]], max_length: int | None = None,
                        ) -> dict[str, list[int]]:
    """Token ids of a whole conversation and labels that are ``IGNORE_INDEX`` except on
    assistant tokens (the response, including its end-of-turn token).

    Truncation keeps the start (the prompt) and cuts the end; a conversation whose first
    response does not fit keeps no labelled token, which callers must treat as unusable.
    """
    full = _render_ids(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE_INDEX] * len(full)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prefix = _render_ids(tokenizer, messages[:i], add_generation_prompt=True)
        upto = _render_ids(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if full[: len(prefix)] != prefix or full[: len(upto)] != upto:
            raise ValueError("the chat template does not render this conversation prefix-consistently; "
                             "assistant tokens cannot be located")
        labels[len(prefix):len(upto)] = full[len(prefix):len(upto)]
    if max_length is not None and len(full) > max_length:
        full, labels = full[:max_length], labels[:max_length]
    return {"input_ids": full, "labels": labels}


def n_label_tokens(labels: list[int]) -> int:
    return sum(1 for t in labels if t != IGNORE_INDEX)
