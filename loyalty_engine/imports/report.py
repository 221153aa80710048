"""What an import did, in counts that add up: read = inserted + updated + unchanged + duplicates + rejected."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ImportReport:
    kind: str
    path: str
    format: str = ""
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # scans: lines already loaded; other files: a key repeated later in the file
    rejected: int = 0
    placeholders_created: dict[str, int] = field(default_factory=dict)
    placeholders_filled: int = 0
    baskets_inserted: int = 0
    money_rounded: int = 0  # cells with digits below a cent, rounded half-up
    dst_gap: int = 0  # baskets whose naive time fell in a spring-forward gap
    dst_ambiguous: int = 0  # baskets whose naive time fell in a fall-back overlap
    prices_learned: int = 0  # products.regular_price_cents filled from the scans
    rejects_path: str | None = None
    seconds: float = 0.0

    def add_placeholders(self, what: str, count: int) -> None:
        if count:
            self.placeholders_created[what] = self.placeholders_created.get(what, 0) + count

    @property
    def balanced(self) -> bool:
        return self.read == self.inserted + self.updated + self.unchanged + self.duplicates + self.rejected

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data

    def summary_lines(self) -> list[str]:
        noun = "lines" if self.kind == "scans" else "rows"
        counts = [f"read {self.read:,}", f"inserted {self.inserted:,}"]
        if self.kind != "scans":
            counts += [f"updated {self.updated:,}", f"unchanged {self.unchanged:,}"]
        counts += [f"skipped as duplicate {self.duplicates:,}", f"rejected {self.rejected:,}"]
        lines = [f"{self.kind} {noun}: " + ", ".join(counts)]
        if self.kind == "scans":
            lines.append(f"baskets inserted: {self.baskets_inserted:,}")
        created = ", ".join(f"{what} {n:,}" for what, n in sorted(self.placeholders_created.items()))
        lines.append(f"placeholders created: {created or 'none'}")
        if self.placeholders_filled:
            lines.append(f"placeholders filled in: {self.placeholders_filled:,}")
        if self.prices_learned:
            lines.append(f"regular prices learned from scans: {self.prices_learned:,} products")
        if self.money_rounded:
            lines.append(f"money values rounded half-up to cents: {self.money_rounded:,}")
        if self.dst_gap or self.dst_ambiguous:
            lines.append(f"daylight saving: {self.dst_gap:,} basket times in a spring-forward gap (read on the "
                         f"pre-change clock), {self.dst_ambiguous:,} in a fall-back overlap (read as the first occurrence)")
        if self.rejects_path:
            lines.append(f"rejects written to {self.rejects_path}")
        rate = f" ({self.read / self.seconds:,.0f} {noun}/s)" if self.seconds > 0 and self.read else ""
        lines.append(f"took {self.seconds:.1f} s{rate}")
        return lines
