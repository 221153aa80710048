"""Line numbers of scans within their basket: the key that makes scan imports idempotent.

A scan line is identified by ``(transaction_id, line_no)``. When the file has no ``line_no``
column, a row's line number is its ordinal among the rows of the same transaction, in file
order (the first row of basket T is line 1, the next row of T anywhere later in the file is
line 2, ...). Re-importing the file, or another export containing the same baskets in the same
order, therefore produces the same keys, and ``ON CONFLICT DO NOTHING`` skips them.

Rows keep their ordinal even when they are rejected, so importing the corrected file later puts
a fixed row in its own slot instead of shifting the lines after it.

Baskets need not be contiguous in the file. Counts of rows seen per basket so far are kept in
two sorted numpy arrays keyed by a 64-bit hash of the transaction id: 16 bytes per distinct
basket (1 million baskets = 16 MB), independent of the chunk size and of the number of lines.
Two ids sharing a hash (odds about n^2 / 2^65) would share a counter: their lines would still
be unique and deterministic, only numbered past each other.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


class BasketLineCounter:
    """Assigns file-order ordinals within each transaction, across chunks."""

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=np.uint64)
        self._counts = np.empty(0, dtype=np.int64)

    @property
    def baskets_seen(self) -> int:
        return len(self._hashes)

    @property
    def nbytes(self) -> int:
        return self._hashes.nbytes + self._counts.nbytes

    def assign(self, transaction_ids: pa.Array) -> np.ndarray:
        """Line numbers (>= 1) for one chunk's rows in file order; 0 where the id is empty."""
        n = len(transaction_ids)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        encoded = pc.dictionary_encode(transaction_ids)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = np.asarray(encoded.indices, dtype=np.int64)
        uniques = encoded.dictionary
        valid = np.asarray(pc.greater(pc.binary_length(uniques), 0), dtype=bool)
        # Ordinal of each row within its basket inside this chunk (a stable "cumcount").
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
        run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
        ordinal = np.empty(n, dtype=np.int64)
        ordinal[order] = np.arange(n) - run_start
        per_basket = np.bincount(codes, minlength=len(uniques)).astype(np.int64)

        hashes = pd.util.hash_array(np.asarray(uniques.to_pylist(), dtype=object))
        position = np.searchsorted(self._hashes, hashes)
        known = position < len(self._hashes)
        known[known] = self._hashes[position[known]] == hashes[known]
        before = np.zeros(len(uniques), dtype=np.int64)
        before[known] = self._counts[position[known]]

        line_no = before[codes] + ordinal + 1
        line_no[~valid[codes]] = 0
        self._remember(hashes, per_basket, position, known, valid)
        return line_no

    def _remember(self, hashes: np.ndarray, per_basket: np.ndarray, position: np.ndarray,
                  known: np.ndarray, valid: np.ndarray) -> None:
        np.add.at(self._counts, position[known & valid], per_basket[known & valid])
        new = ~known & valid
        if new.any():
            new_hashes, new_counts = hashes[new], per_basket[new]
            order = np.argsort(new_hashes, kind="stable")
            new_hashes, new_counts = new_hashes[order], new_counts[order]
            at = np.searchsorted(self._hashes, new_hashes)
            self._hashes = np.insert(self._hashes, at, new_hashes)
            self._counts = np.insert(self._counts, at, new_counts)
