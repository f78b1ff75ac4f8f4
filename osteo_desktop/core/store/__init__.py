"""The local study store: DICOM files in a folder, indexed in SQLite, with screening results and an
audit trail (Qt-free; used by `osteo-node`, `osteo-pacs`, `osteo-screen --store` and the viewer).

* `LocalStore(folder)`: open (creating or migrating) a store; `add_received`, `add_bytes`,
  `add_file`, `add_dataset` add instances atomically; `reconcile()` makes index and files agree;
  `record_result(row, ...)` and `audit(action, ...)` write the audit trail.
* `worklist(store, WorklistQuery(...))`: studies with their screening badges.
* `default_store_dir()`: the store folder used when none is given.

Errors: `StoreError` and its subclasses (core.errors), each naming the file and the fix.
"""

from __future__ import annotations

from .files import DB_NAME, STUDIES_DIR, InstanceHeader, content_digest, read_header
from .location import default_store_dir, user_config_dir, user_data_dir
from .records import CONFLICT, DUPLICATE, STORED, AuditEntry, InstanceRow, ReconcileReport, ResultRow, StoredInstance
from .schema import SCHEMA_VERSION
from .store import InvalidInstanceError, LocalStore, os_user, utc_now
from .worklist import BADGES, FAILED, NOT_SCREENED, SCREENED, SUSPECTED, UNSCREENED, StudySummary, WorklistQuery, film_badge, worklist

__all__ = [
    "BADGES",
    "CONFLICT",
    "DB_NAME",
    "DUPLICATE",
    "FAILED",
    "NOT_SCREENED",
    "SCHEMA_VERSION",
    "SCREENED",
    "STORED",
    "STUDIES_DIR",
    "SUSPECTED",
    "UNSCREENED",
    "AuditEntry",
    "InstanceHeader",
    "InstanceRow",
    "InvalidInstanceError",
    "LocalStore",
    "ReconcileReport",
    "ResultRow",
    "StoredInstance",
    "StudySummary",
    "WorklistQuery",
    "content_digest",
    "default_store_dir",
    "film_badge",
    "os_user",
    "read_header",
    "user_config_dir",
    "user_data_dir",
    "utc_now",
    "worklist",
]
