"""The hub's use cases over its store: the versioned directory, events, reports, work orders.

They speak domain types; gRPC and NATS reach them through ``vcc_hub.adapters``.
"""
