"""Traffic sources: recorded files turned into a stream of exchanges."""
