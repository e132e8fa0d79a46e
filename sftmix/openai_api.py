"""One OpenAI-compatible ``POST /chat/completions`` call with retries (standard library only).

Shared by the tagger (:class:`sftmix.tagging.OpenAITagger`) and the judge
(:class:`sftmix.judge.ChatClient`). The API key travels only in the request header: it is never
logged or put in an exception message.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger(__name__)


def chat_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def request_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def post_chat_completion(url: str, body: dict[str, Any], headers: dict[str, str], *, timeout: float,
                         retries: int, backoff: float) -> str:
    """The content of the first choice ("" when the response has none).

    HTTP 5xx/429, connection errors, timeouts and invalid JSON are retried up to ``retries``
    times, sleeping ``backoff * 2**(attempt-1)`` seconds; other HTTP errors and exhausted retries
    raise ``RuntimeError``.
    """
    data = json.dumps(body).encode("utf-8")
    retries = max(0, int(retries))
    last_error = ""
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff * 2 ** (attempt - 1)
            log.warning("retrying %s in %.2fs (attempt %d/%d): %s", url, delay, attempt + 1, retries + 1,
                        last_error)
            time.sleep(delay)
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                payload = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
            if exc.code >= 500 or exc.code == 429:
                continue
            raise RuntimeError(f"{url}: HTTP {exc.code} (not retried)") from None
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", None)
            last_error = type(exc).__name__ + (f": {reason}" if reason is not None else "")
            continue
        except ValueError:
            last_error = "invalid JSON in response"
            continue
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            log.warning("%s: response without choices[0].message.content", url)
            return ""
        return content if isinstance(content, str) else ""
    raise RuntimeError(f"{url}: giving up after {retries + 1} attempts ({last_error})")
