"""One OpenAI-compatible ``POST /chat/completions`` call with retries (``urllib`` + ``tenacity``).

Shared by the tagger (:class:`sftmix.tagging.OpenAITagger`) and the judge
(:class:`sftmix.judge.ChatClient`). The API key travels only in the request header: it is never
logged or put in an exception message.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

log = logging.getLogger(__name__)


class _Transient(Exception):
    """A failure worth another attempt (HTTP 5xx/429, connection error, timeout, invalid JSON)."""


def chat_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def request_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _post_once(url: str, data: bytes, headers: dict[str, str], timeout: float) -> Any:
    """The decoded JSON response of one POST; :class:`_Transient` for the failures worth retrying."""
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise _Transient(f"HTTP {exc.code}") from None
        raise RuntimeError(f"{url}: HTTP {exc.code} (not retried)") from None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None)
        raise _Transient(type(exc).__name__ + (f": {reason}" if reason is not None else "")) from None
    except ValueError:
        raise _Transient("invalid JSON in response") from None


def post_chat_completion(url: str, body: dict[str, Any], headers: dict[str, str], *, timeout: float,
                         retries: int, backoff: float) -> str:
    """The content of the first choice ("" when the response has none).

    HTTP 5xx/429, connection errors, timeouts and invalid JSON are retried up to ``retries``
    times, sleeping ``backoff * 2**(attempt-1)`` seconds; other HTTP errors and exhausted retries
    raise ``RuntimeError``.
    """
    attempts = max(0, int(retries)) + 1

    def log_retry(state: RetryCallState) -> None:
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning("retrying %s in %.2fs (attempt %d/%d): %s", url, delay, state.attempt_number + 1,
                    attempts, state.outcome.exception() if state.outcome else "")

    retrying = Retrying(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=backoff),
                        retry=retry_if_exception_type(_Transient), before_sleep=log_retry, reraise=True)
    try:
        payload = retrying(_post_once, url, json.dumps(body).encode("utf-8"), headers, timeout)
    except _Transient as exc:
        raise RuntimeError(f"{url}: giving up after {attempts} attempts ({exc})") from None
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        log.warning("%s: response without choices[0].message.content", url)
        return ""
    return content if isinstance(content, str) else ""
