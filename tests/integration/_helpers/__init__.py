"""Small programs the integration tests run as separate OS processes."""
