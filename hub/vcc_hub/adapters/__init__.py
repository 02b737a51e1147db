"""The hub's edges: gRPC services and clients, the NATS consumer, protobuf codecs.

Protobuf messages exist only here; everything below (service, store, domain) speaks the
domain's types.
"""
