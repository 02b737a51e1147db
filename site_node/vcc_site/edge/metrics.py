"""Prometheus metrics of the access edge."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PLACED = Counter("vcc_edge_calls_placed_total", "Calls the edge placed at a site", ["site"])
REFUSED = Counter(
    "vcc_edge_calls_refused_total", "Calls no live site of the caller's area took", ["area"]
)
LOST = Counter("vcc_edge_calls_lost_total", "Calls lost with their site", ["site"])
OFFER_SECONDS = Histogram(
    "vcc_edge_offer_seconds",
    "Access.OfferCall at a site, request to first step",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
