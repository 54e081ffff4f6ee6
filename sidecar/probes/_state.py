"""The health state machine of one probe: results in, status and transitions out (pure, no I/O)."""

from __future__ import annotations

from ._model import HealthPolicy, ProbeResult, Status, Transition

MAX_ERROR_LENGTH = 200
OFFLINE_REASON = "sidecar offline"
UNDECIDED_REASON = "no decision yet"


def shorten_error(error: str | None) -> str:
    """``error`` on one line, at most :data:`MAX_ERROR_LENGTH` characters; ``"probe failed"`` when empty."""
    text = " ".join((error or "").split()) or "probe failed"
    if len(text) <= MAX_ERROR_LENGTH:
        return text
    return text[: MAX_ERROR_LENGTH - 1] + "…"


class ProbeHealth:
    """The status of one probe, moved by its results under a :class:`HealthPolicy`.

    Rules, with F = ``failures_to_down`` and R = ``successes_to_recover``:

    1. The status is ``unknown`` until the first decision. A first success
       decides at once (healthy, or degraded if slow); failures while unknown
       count toward down, and F consecutive ones make it down.
    2. From healthy or degraded, F consecutive failures make it down; fewer
       change only the counters, so one lost packet is not an outage.
    3. From down, R consecutive successes bring it back (healthy, or degraded
       if the last one was slow); fewer change only the counters.
    4. A success slower than ``degraded_after`` still counts as a success. Outside
       of down, each success moves healthy <-> degraded at once, by its own
       duration: a slow dependency is worth showing now, and slowness needs no
       debouncing against lost packets the way failures do.
    5. A failure observed while the sidecar itself is offline says nothing about
       the dependency: the status shows ``unknown`` with reason ``sidecar offline``
       and the counters stay as they were. The status the online results led to
       is kept underneath, and the next online result resumes from it (a down
       probe still needs R successes). A success is evidence whatever the
       self-check says, so it counts as if online.

    Each change of the shown status is returned once, as a :class:`Transition`,
    by the :meth:`observe` call that caused it. Results are expected in order.
    Not thread-safe: call it from the event loop.
    """

    def __init__(self, name: str, policy: HealthPolicy) -> None:
        self._name = name
        self._policy = policy
        self._settled: Status = "unknown"  # the status the online results led to
        self._settled_reason = UNDECIDED_REASON
        self._offline = False
        self._since: float | None = None
        self._last_result: ProbeResult | None = None
        self._last_error: str | None = None
        self._successes = 0
        self._failures = 0

    @property
    def name(self) -> str:
        """The probe's name."""
        return self._name

    @property
    def policy(self) -> HealthPolicy:
        """The policy this probe's status follows."""
        return self._policy

    @property
    def status(self) -> Status:
        """The current status; ``unknown`` while the sidecar is offline."""
        return "unknown" if self._offline else self._settled

    @property
    def reason(self) -> str:
        """Why the status is what it is."""
        return OFFLINE_REASON if self._offline else self._settled_reason

    @property
    def since(self) -> float | None:
        """When (the ``at`` of the result that caused it) the status last changed; ``None`` if never."""
        return self._since

    @property
    def last_result(self) -> ProbeResult | None:
        """The latest result observed, online or not."""
        return self._last_result

    @property
    def last_error(self) -> str | None:
        """The error of the latest failure, shortened; kept after recovery."""
        return self._last_error

    @property
    def consecutive_successes(self) -> int:
        """Successes since the last counted failure."""
        return self._successes

    @property
    def consecutive_failures(self) -> int:
        """Counted failures (not those while offline) since the last success."""
        return self._failures

    def observe(self, result: ProbeResult, *, offline: bool = False) -> Transition | None:
        """Fold in ``result``; the transition it caused, if any.

        ``offline`` is the sidecar's own connectivity self-check at the time of the result.
        """
        previous = self.status
        self._last_result = result
        if not result.ok:
            self._last_error = shorten_error(result.error)
        if offline and not result.ok:
            self._offline = True
        else:
            self._offline = False
            self._count(result.ok)
            self._settle(result)
        current = self.status
        if current == previous:
            return None
        self._since = result.at
        return Transition(self._name, previous, current, result.at, self.reason)

    def _count(self, ok: bool) -> None:
        if ok:
            self._successes, self._failures = self._successes + 1, 0
        else:
            self._successes, self._failures = 0, self._failures + 1

    def _settle(self, result: ProbeResult) -> None:
        policy = self._policy
        if not result.ok:
            if self._settled != "down" and self._failures >= policy.failures_to_down:
                self._set("down", f"{self._failures} consecutive failures: {self._last_error}")
            return
        if self._settled == "down" and self._successes < policy.successes_to_recover:
            return
        slow = policy.degraded_after is not None and result.duration > policy.degraded_after
        target: Status = "degraded" if slow else "healthy"
        if target == self._settled:
            return
        reasons = []
        if self._settled == "down":
            reasons.append(f"recovered after {self._successes} consecutive successes")
        if slow:
            reasons.append(f"slow: took {result.duration:.3f} s, over {policy.degraded_after:g} s")
        elif self._settled == "degraded":
            reasons.append(f"responding within {policy.degraded_after:g} s again")
        elif self._settled == "unknown":
            reasons.append("responding")
        self._set(target, "; ".join(reasons))

    def _set(self, status: Status, reason: str) -> None:
        self._settled, self._settled_reason = status, reason
