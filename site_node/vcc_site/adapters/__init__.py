"""Edge adapters of a site node (gRPC servicers and their codec)."""
