"""Which request failures are worth retrying, and the retry loop (exponential backoff, full jitter, bounded attempts).

The client's own retries are switched off so that this loop is the only one: it counts attempts, logs each retry
with a short secret-free reason, and turns the last failure into a `RequestFailed` the caller words for its user.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from climnorm.storage.options import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>(\w+)</Code>")
_TRANSIENT_STATUS = {408: "server", 429: "throttled", 500: "server", 502: "server", 503: "throttled", 504: "server"}
_NETWORK = (  # (substring of the client's message, short reason), first match wins
    ("ConnectionRefused", "connection refused"),
    ("Connection refused", "connection refused"),
    ("kind: Timeout", "timed out"),
    ("timed out", "timed out"),
    ("IncompleteBody", "response cut short"),
    ("body error", "response cut short"),
    ("kind: Connect", "cannot connect"),
    ("dns error", "cannot resolve host"),
    ("reset", "connection reset"),
    ("error sending request", "connection lost"),
    ("connection closed", "connection lost"),
)


@dataclass(frozen=True)
class Failure:
    """What went wrong with one request: `kind` is missing, denied, changed, throttled, server, network or other."""

    kind: str
    reason: str
    code: str | None = None  # S3's error code when the server sent one (NoSuchBucket, AccessDenied, ...)

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later."""
        return self.kind in ("throttled", "server", "network")


class RequestFailed(Exception):
    """A request failed for good (a permanent failure, or a transient one `attempts` times)."""

    def __init__(self, failure: Failure, attempts: int) -> None:
        self.failure = failure
        self.attempts = attempts
        super().__init__(f"{failure.reason} after {attempts} attempts")

    def problem(self, missing: str = "object not found") -> str:
        """One line for the user: what failed and, for transient failures, after how many attempts."""
        f, n = self.failure, self.attempts
        if f.kind == "missing":
            return missing
        if f.kind == "denied":
            return "access denied"
        if f.kind == "changed":
            return "changed while being read (its etag no longer matches)"
        if f.kind == "network":
            return f"server unreachable after {n} attempts ({f.reason})"
        if f.kind == "throttled":
            return f"server busy after {n} attempts ({f.reason})"
        if f.kind == "server":
            return f"server error after {n} attempts ({f.reason})"
        return f"request failed ({f.reason})"


def classify(exc: BaseException) -> Failure | None:
    """The `Failure` an exception from the S3 client stands for, or None if it is not a request failure."""
    from obstore import exceptions as obx

    text = str(exc)
    found = _CODE.search(text)
    code = found.group(1) if found else None
    if isinstance(exc, obx.NotFoundError | FileNotFoundError):
        return Failure("missing", "not found", code)
    if isinstance(exc, obx.PermissionDeniedError | obx.UnauthenticatedError):
        return Failure("denied", "access denied", code)
    if isinstance(exc, obx.PreconditionError):
        return Failure("changed", "etag changed", code)
    if not isinstance(exc, obx.BaseError | OSError | TimeoutError):
        return None
    status = _STATUS.search(text)
    if status:
        value = int(status.group(1))
        reason = f"HTTP {value}" + (f" {code}" if code else "")
        if value in (401, 403):
            return Failure("denied", reason, code)
        if value == 404:
            return Failure("missing", reason, code)
        if value == 412:
            return Failure("changed", reason, code)
        if value == 301:
            return Failure("other", f"{reason}: the bucket is in another region; set storage.region", code)
        return Failure(_TRANSIENT_STATUS.get(value, "other"), reason, code)
    for needle, reason in _NETWORK:
        if needle in text:
            return Failure("network", reason)
    if isinstance(exc, OSError | TimeoutError):
        return Failure("network", type(exc).__name__)
    return Failure("other", scrub(text.splitlines()[0] if text else type(exc).__name__, ())[:200])


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def backoff(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): full jitter on a capped exponential."""
    cap = min(policy.max_delay, policy.base_delay * (2 ** (attempt - 1)))
    return (rng or random).uniform(0.0, cap)


def with_retries(
    op: Callable[[], T],
    what: str,
    policy: RetryPolicy,
    secrets: Sequence[str] = (),
    on_attempt: Callable[[int], None] | None = None,
) -> T:
    """Run `op` until it succeeds, fails for good, or has failed `policy.max_attempts` times (`RequestFailed`)."""
    attempts = max(1, policy.max_attempts)
    for attempt in range(1, attempts + 1):
        if on_attempt is not None:
            on_attempt(attempt)
        try:
            return op()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            log.debug("%s: attempt %d failed: %s", what, attempt, scrub(str(exc).split("\n\n")[0], secrets))
            if not failure.transient or attempt == attempts:
                raise RequestFailed(failure, attempt) from None
            delay = backoff(policy, attempt)
            log.warning("%s: %s (attempt %d of %d), retrying in %.2f s", what, failure.reason, attempt, attempts, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
