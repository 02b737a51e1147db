"""Province statistics, the service-quality index and inter-city settlement at the hub."""
