"""Reports people read: the single-file HTML report, trends, and CI outputs."""
