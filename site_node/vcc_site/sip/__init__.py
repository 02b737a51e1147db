"""The site's SIP user agent: callers' SIP calls become the site's calls, keys walk its
IVR, and the ACD's offers ring the agents' SIP phones (see README, "SIP edge")."""
