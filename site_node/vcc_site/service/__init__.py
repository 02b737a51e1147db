"""Use cases of a site node: calls through access and IVR, agents at their desks."""
