"""Client for a Python backend: report provider call outcomes, ask which provider of a failover group to use.

Standard library only (no aiohttp, pydantic or other ``sidecar`` module), so a backend can import it without
the sidecar's dependencies::

    from sidecar.client import SidecarClient

    sidecar = SidecarClient("http://127.0.0.1:8090", token=os.environ["SIDECAR_TOKEN"],
                            groups={"ai": "anthropic", "email": "resend"})   # group -> fallback provider
    provider = sidecar.active("ai")            # never blocks: the last known answer, else the fallback
    try:
        call_provider(provider)
        sidecar.report(provider, ok=True, latency_ms=elapsed_ms)
    except ProviderError as exc:
        sidecar.report(provider, ok=False, latency_ms=elapsed_ms, error_type=type(exc).__name__)
    ...
    sidecar.close()                            # flushes what is queued (bounded wait)

The token needs the ``ingest`` scope (outcomes) and the ``read`` scope (failover). It is sent only in the
``Authorization`` header and never logged. Logs go to the ``sidecar.client`` logger.

Reporting (``POST /api/v1/breakers/outcomes``)
    ``report()`` appends to a bounded queue (``queue_size``, default 10,000) and returns; when the queue is full
    the outcome is dropped and counted. A daemon thread sends batches of up to ``batch_size`` (500) outcomes, or
    what has queued ``flush_interval`` (0.5 s) after the first one. When the sidecar is unreachable, times out or
    answers 429/5xx, the batch is retried with backoff (0.5 s doubling to 10 s, or ``Retry-After`` capped at 10 s)
    while the queue keeps absorbing; a request that timed out after the sidecar received it may be delivered
    twice. Outcomes the sidecar rejects (per item, or a batch answered with another 4xx) are counted, not
    retried; a batch refused for the token (401/403) is dropped and logged. Counters: ``stats``
    (``ClientStats``: sent, dropped, rejected, failed_requests).

Failover (``GET /api/v1/failover/{group}``)
    One daemon thread per client long-polls every group in ``groups`` (``wait=25s`` with the last ``ETag``, over
    non-blocking sockets; the wait is ``stale_after`` minus 5 s when that is shorter, at least 1 s), so a switch
    on the sidecar reaches ``active()`` within about a second. ``active()`` only reads what that thread stored:
    the sidecar's answer while it is fresh (an answer, including a 304, in the last ``stale_after`` seconds,
    default 30, at least 1.5), otherwise the fallback. While the sidecar is unreachable the thread retries with
    backoff (0.5 s doubling to 10 s). When every provider of a group is open and its policy is fail_closed, the
    sidecar answers 503 with the group and ``active: null``: ``active()`` then returns None so the backend can
    fail fast, and the group is polled every second until it recovers (or the answer goes stale, which brings
    back the fallback). ``on_change(group, active)``, if given, is called from that thread whenever
    ``active(group)`` changes; it must not block.

``close()`` stops polling at once and sends what is queued for at most ``timeout`` (1.5 s) seconds; outcomes
still unsent are counted as dropped. Threads do not survive ``fork()``: create the client in each worker process.
"""

from sidecar.client._client import SidecarClient
from sidecar.client._outcomes import ClientStats

__all__ = ["ClientStats", "SidecarClient"]
