"""The access edge: the process between the phone network and the sites.

``ledger`` (every call and its state), ``service`` (routing a caller to the nearest live
site, following a call to the site that has it), ``grpc_edge`` (the ``Edge`` gRPC
service), ``client`` (what callers and tools use to reach the edge process) and ``app``
(the process's composition root and settings).
"""
