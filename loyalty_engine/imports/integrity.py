"""Set-based integrity checks of the scan fact table (which has no FOREIGN KEYs, see models/scans.py)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class ScanIntegrity:
    lines_without_basket: int
    lines_without_product: int
    lines_not_matching_basket: int  # member_key or business_date differs from the basket's

    @property
    def ok(self) -> bool:
        return not (self.lines_without_basket or self.lines_without_product or self.lines_not_matching_basket)


def orphan_scan_lines(conn: Connection) -> ScanIntegrity:
    """Count scan lines whose basket or product is missing, or that disagree with their basket."""
    no_basket = conn.execute(text(
        "SELECT COUNT(*) FROM scan_lines l WHERE NOT EXISTS "
        "(SELECT 1 FROM transactions t WHERE t.transaction_id = l.transaction_id)")).scalar_one()
    no_product = conn.execute(text(
        "SELECT COUNT(*) FROM scan_lines l WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.id = l.product_key)"
    )).scalar_one()
    mismatch = conn.execute(text(
        "SELECT COUNT(*) FROM scan_lines l JOIN transactions t ON t.transaction_id = l.transaction_id "
        "WHERE l.business_date <> t.business_date "
        "OR (l.member_key IS NULL) <> (t.member_key IS NULL) OR l.member_key <> t.member_key")).scalar_one()
    return ScanIntegrity(int(no_basket), int(no_product), int(mismatch))
