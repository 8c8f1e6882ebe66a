"""The run store: one DuckDB file per run (``events.duckdb``), written in batches."""

from watchkeeper.store.duckdb import FILENAME, DuckReader, DuckStore, StepRecord

__all__ = ["FILENAME", "DuckReader", "DuckStore", "StepRecord"]
