"""The SQLite store: one file, WAL, batched writes, versioned schema."""

from shadowdiff.store.schema import open_store
from shadowdiff.store.writer import ExchangeResult, RunWriter

__all__ = ["ExchangeResult", "RunWriter", "open_store"]
