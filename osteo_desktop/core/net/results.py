"""What a retrieve (C-GET, C-MOVE) or a send (C-STORE) came to: counts, what was stored, what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store import StoredInstance


@dataclass
class RetrieveResult:
    """Counts of a C-GET / C-MOVE (from the PACS's responses) and, for C-GET, what was stored."""

    operation: str
    completed: int = 0
    failed: int = 0
    warning: int = 0
    remaining: int | None = None
    status: int | None = None
    failed_sop_uids: list[str] = field(default_factory=list)
    stored: list[StoredInstance] = field(default_factory=list)
    store_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error_comment: str = ""

    @property
    def duplicates(self) -> int:
        return sum(1 for s in self.stored if not s.is_new)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "status": None if self.status is None else f"0x{self.status:04X}",
            "completed": self.completed,
            "failed": self.failed,
            "warning": self.warning,
            "stored": [str(s.path) for s in self.stored],
            "already_stored": self.duplicates,
            "failed_sop_uids": list(self.failed_sop_uids),
            "errors": list(self.store_errors),
            "seconds": round(self.seconds, 2),
        }


@dataclass
class SendResult:
    sent: list[str] = field(default_factory=list)  # SOP Instance UIDs acknowledged
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
