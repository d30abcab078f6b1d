"""Requests through huggingface_hub's session, bounded in time, size and retries.

QUANTPICK_TIMEOUT (seconds, default 15) bounds:
- an API request (the listing) and the header read as a whole: connecting, waiting and the whole body, across
  retries. The deadline is checked as each piece of the body arrives, so a server that drips one byte at a
  time is given up within about twice the timeout;
- a download's silence: a file whose server sends no byte for that long, across retries, is given up.
429 and 5xx answers are retried (3 times, waiting as Retry-After says, at most RETRY_AFTER_CAP seconds);
4xx answers never are.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from quantpick import __version__

DEFAULT_TIMEOUT = 15.0
RETRIES = 3
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_CAP = 30.0
BACKOFF_SECONDS = (0.5, 1.0, 2.0)


def timeout_seconds() -> float:
    try:
        value = float(os.environ.get("QUANTPICK_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value <= 24 * 3600 else DEFAULT_TIMEOUT


class DeadlineExceeded(TimeoutError):
    """The whole request took longer than QUANTPICK_TIMEOUT."""


class BodyTooLarge(ValueError):
    """The server sent more than the request may take."""


class RetryableStatus(Exception):
    """A 429/5xx answer, after its retries."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass
class Deadline:
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise DeadlineExceeded(f"no complete answer within {timeout_seconds():g} s (QUANTPICK_TIMEOUT)")


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """How long to wait before retry `attempt` (1-based): Retry-After seconds when given, else a backoff."""
    if retry_after is not None:
        try:
            return min(max(float(retry_after.strip()), 0.0), RETRY_AFTER_CAP)
        except ValueError:
            pass  # an HTTP date: the backoff is close enough
    return BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]


def hub_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The user agent and the token, chosen as huggingface_hub chooses it.

    Not huggingface_hub's build_hf_headers: unless telemetry is off, it first asks the Hub for its registry
    of AI-agent harnesses (one more request, up to 3 s, and a file written in HF_HOME) to tag the user agent.
    """
    import platform

    from huggingface_hub import __version__ as hub_version
    from huggingface_hub import constants, get_token

    headers = {"user-agent": f"quantpick/{__version__}; hf_hub/{hub_version}; python/{platform.python_version()}"}
    token = None if constants.HF_HUB_DISABLE_IMPLICIT_TOKEN else get_token()
    if token:
        headers["authorization"] = f"Bearer {token}"
    headers.update(extra or {})
    return headers


@contextmanager
def stream(url: str, *, headers: dict[str, str], params: dict[str, Any] | None = None) -> Iterator[Any]:
    """One GET through huggingface_hub's session, its answer streamed; 4xx raised as huggingface_hub errors."""
    from huggingface_hub import get_session, hf_raise_for_status

    with get_session().stream("GET", url, headers=headers, params=params, timeout=timeout_seconds()) as response:
        if response.status_code >= 400 and response.status_code not in RETRY_STATUSES:
            response.read()
            hf_raise_for_status(response)
        yield response


def get_bytes(
    url: str,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    stop: Any = None,
) -> bytes:
    """The body of a GET, within the deadline and `max_bytes`; 429/5xx retried.

    `stop(buffer)` may end the read early (the header reader stops once it has the keys it needs).
    """
    deadline = Deadline.after(timeout_seconds())
    attempt = 0
    while True:
        attempt += 1
        buffer = bytearray()
        with stream(url, headers=hub_headers(headers), params=params) as response:
            if response.status_code in RETRY_STATUSES:
                response.read()
                if attempt > RETRIES:
                    raise RetryableStatus(response.status_code)
                delay = retry_delay(attempt, response.headers.get("Retry-After"))
                if delay > deadline.remaining() + timeout_seconds():
                    raise RetryableStatus(response.status_code)
                time.sleep(delay)
                deadline = Deadline.after(timeout_seconds())  # the wait was asked for: a new budget
                continue
            for chunk in response.iter_bytes():
                buffer += chunk
                deadline.check()
                if len(buffer) > max_bytes:
                    if stop is not None:
                        return bytes(buffer[:max_bytes])
                    raise BodyTooLarge(f"the answer is larger than {max_bytes} bytes")
                if stop is not None and stop(buffer):
                    break
        return bytes(buffer)
