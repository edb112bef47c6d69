"""shadowdiff: differential regression testing for HTTP/JSON services."""

__version__ = "0.1.0"
