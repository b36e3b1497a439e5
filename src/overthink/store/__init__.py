"""The record store: schema and named migrations, the one writer (absorb) and typed read queries.

The only package that holds an SQLite connection or writes SQL (tests/runner/test_layers.py checks
it). A run writes through `Store.write_many`, `overthink merge` through `merge_stores`, an Inspect
import through `Store.absorb_store`: all three under one rule (store/absorb.py). Readers call
`Store`'s query methods and get sets, dicts, frames and dataclasses, never a cursor.
"""

from overthink.store.absorb import RECORD_RULE, Absorbed
from overthink.store.cells import CellRow
from overthink.store.queries import DEFAULT_MAX_ATTEMPTS, Contents, TaskProfile
from overthink.store.samples import SampleRow
from overthink.store.schema import APP_ID, MIGRATIONS, STEPS, error_class, record_columns
from overthink.store.store import Store, StoreError

__all__ = ["APP_ID", "DEFAULT_MAX_ATTEMPTS", "MIGRATIONS", "RECORD_RULE", "STEPS", "Absorbed", "CellRow",
           "Contents", "SampleRow", "Store", "StoreError", "TaskProfile", "error_class", "record_columns"]
