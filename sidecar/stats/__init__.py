"""RED statistics (rate, errors, duration) from spans and timed log records: pure, no HTTP, no storage.

Extraction is a pair of pure functions; :class:`Stats` is the only stateful part. Wiring::

    stats = Stats(StatsConfig(max_series=10_000), clock=time.time)
    registry.register(stats.collector())
    stats.record_many(o for o in map(observation_from_span, spans) if o is not None)
    stats.query(service="shop", window="5m")  # GET /api/v1/stats
    stats.lookup("shop", "/cart", "5m").p95  # breakers, alerting
    stats.dependency("postgresql", "5m").error_ratio

Series are (kind, service, route, method). Server spans and log records with ``duration_ms`` and
``action`` are ``request`` series (a log's route is its action, its method ``"log"``); client spans
are ``dependency`` series whose service is the dependency's name, route and method empty. An error
is a span with status error, an HTTP status >= 500, or a log record at ERROR or above. Durations
are seconds. Windows 1m, 5m and 1h are rings of 10 s, 1 min and 10 min DDSketch buckets (1 %
relative accuracy, ddsketch's logarithmic mapping), moved by the injected clock only; a closed
bucket is one compact ``bytes`` object (see ``_series`` for the memory per series and its bound).
"""

from ._collector import StatsCollector
from ._extract import observation_from_log, observation_from_span
from ._latency import LatencySketch
from ._model import QUANTILES, WINDOWS, Kind, Observation, SeriesStats, StatsConfig, Window
from ._series import DURATION_BUCKETS
from ._stats import Stats

__all__ = [
    "DURATION_BUCKETS",
    "QUANTILES",
    "WINDOWS",
    "Kind",
    "LatencySketch",
    "Observation",
    "SeriesStats",
    "Stats",
    "StatsCollector",
    "StatsConfig",
    "Window",
    "observation_from_log",
    "observation_from_span",
]
