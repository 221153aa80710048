"""PostgreSQL's own CPU for writing list lines: COPY into ``shopping_list_lines`` against a bare table.

Takes the largest active build in the database (e.g. the one ``bench_scale.py --database-url``
leaves behind), reads its lines back as COPY text, then, in transactions that are rolled back:

1. deletes them and COPYs them back into ``shopping_list_lines`` (its indexes, its foreign keys
   to lists and offers, the JSON reason);
2. COPYs them into a temporary table with just a ``bigserial`` primary key (the bare load).

It prints the server backend's CPU seconds for each (``utime + stime`` from ``/proc/PID/stat``,
so the database must run on this machine), which does not depend on how loaded the machine is,
and the wall time, which does. One backend's CPU per line bounds what one writer can store per
second; parallel writers divide the wall time, not the CPU.

    python benchmarks/bench_list_copy_cpu.py postgresql://postgres@127.0.0.1:5432/bench
"""
from __future__ import annotations

import io
import os
import sys
import time

import psycopg

COLUMNS = ("list_id, line_no, offer_id, description, benefit_text, department, category, brand_loyalty, "
           "usage_tier, benefit_kind, benefit_value, min_quantity, redemption_limit, face_value_cents, valid_from, "
           "valid_to, probability, expected_value_cents, reason, redeemed_count")


def backend_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_copy(conn: psycopg.Connection, pid: int, table: str, data: bytes) -> tuple[float, float]:
    cpu0, t0 = backend_cpu(pid), time.perf_counter()
    with conn.cursor().copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
        for start in range(0, len(data), 1 << 20):
            copy.write(data[start:start + (1 << 20)])
    return backend_cpu(pid) - cpu0, time.perf_counter() - t0


def main(argv: list[str]) -> None:
    conn = psycopg.connect(argv[0].replace("postgresql+psycopg://", "postgresql://"))
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    build = conn.execute("SELECT build_id FROM shopping_lists WHERE status = 'active' GROUP BY build_id "
                         "ORDER BY count(*) DESC LIMIT 1").fetchone()
    if build is None:
        sys.exit("no active build in this database (run bench_scale.py --database-url first)")
    where = f"list_id IN (SELECT id FROM shopping_lists WHERE build_id = {int(build[0])})"
    buffer = io.BytesIO()
    with conn.cursor().copy(f"COPY (SELECT {COLUMNS} FROM shopping_list_lines WHERE {where} "
                            "ORDER BY list_id, line_no) TO STDOUT") as copy:
        for chunk in copy:
            buffer.write(chunk)
    data = buffer.getvalue()
    n = data.count(b"\n")
    conn.commit()
    print(f"build {build[0]}: {n:,} lines, {len(data) / n:.0f} bytes each as COPY text; "
          f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    conn.execute(f"DELETE FROM shopping_list_lines WHERE {where}")
    real = timed_copy(conn, pid, "shopping_list_lines", data)
    conn.rollback()
    conn.execute(f"CREATE TEMP TABLE bare AS SELECT {COLUMNS} FROM shopping_list_lines WITH NO DATA")
    conn.execute("ALTER TABLE bare ADD COLUMN id bigserial PRIMARY KEY")
    bare = timed_copy(conn, pid, "bare", data)
    conn.rollback()
    for label, (cpu, wall) in (("shopping_list_lines (4 indexes, 2 foreign keys, JSON)", real),
                               ("bare table, bigserial key only", bare)):
        print(f"{label}: backend CPU {cpu:.1f} s = {cpu / n * 1e6:.1f} us/line ({n / cpu:,.0f} lines per CPU-s); "
              f"wall {wall:.1f} s ({n / wall:,.0f} lines/s)")
    print(f"CPU ratio shopping_list_lines / bare: {real[0] / bare[0]:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
