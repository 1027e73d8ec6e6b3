"""Execution order inside the painter's order.

Groups ``(layer, level)`` are painted in lexicographic order (far to near, coarse
to fine in each layer). Inside a group the order is chosen to cut pen-up travel:
greedy nearest neighbour over both ends of every stroke (a stroke may be painted
backwards; round brushes don't mind), the heuristic of vpype's ``linesort``, but
applied per group so the painter's order is never broken.

Paint is opaque, so two strokes that share a pixel do not commute. By default the
reordering keeps every such pair in its original relative order (a precedence graph
built from the strokes' painted footprints with shapely), so the reordered plan
renders *exactly* like the original: the travel saving costs no image quality.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["greedy_order", "order_groups", "overlap_pairs", "travel_length"]


def travel_length(polylines: Sequence[np.ndarray]) -> float:
    """Pen-up travel through ``polylines`` in order: sum of |end_i -> start_{i+1}|."""
    if len(polylines) < 2:
        return 0.0
    ends = np.array([p[-1] for p in polylines[:-1]], np.float64)
    starts = np.array([p[0] for p in polylines[1:]], np.float64)
    return float(np.linalg.norm(starts - ends, axis=1).sum())


def greedy_order(polylines: Sequence[np.ndarray], start: np.ndarray | None = None) -> tuple[list[int], list[bool]]:
    """Greedy nearest-neighbour order of polylines, allowing reversal.

    Args:
        polylines: each a float ``(n_i, 2)`` array.
        start: ``(2,)`` pen position before the first stroke (default: the first
            polyline's start).

    Returns:
        ``(order, reversed)``: indices into ``polylines`` and, for each index in
        ``order``, whether to paint it backwards.
    """
    n = len(polylines)
    if n == 0:
        return [], []
    firsts = np.array([p[0] for p in polylines], np.float64)
    lasts = np.array([p[-1] for p in polylines], np.float64)
    # endpoint 2i is the start of polyline i, 2i+1 its end
    ends = np.empty((2 * n, 2), np.float64)
    ends[0::2] = firsts
    ends[1::2] = lasts
    tree = cKDTree(ends)
    used = np.zeros(n, bool)
    pos = firsts[0] if start is None else np.asarray(start, np.float64)
    order: list[int] = []
    flips: list[bool] = []
    for _ in range(n):
        k = 8
        pick = -1
        while pick < 0:
            kk = min(k, 2 * n)
            _, idx = tree.query(pos, k=kk)
            idx = np.atleast_1d(idx)
            for e in idx:
                if not used[e // 2]:
                    pick = int(e)
                    break
            if pick < 0:
                if kk == 2 * n:  # cannot happen while strokes remain
                    raise RuntimeError("no stroke left to order")
                k *= 4
        i = pick // 2
        flip = bool(pick % 2)  # nearest end is the stroke's end: paint it backwards
        used[i] = True
        order.append(i)
        flips.append(flip)
        pos = firsts[i] if flip else lasts[i]
    return order, flips


def overlap_pairs(polylines: Sequence[np.ndarray], radii: Sequence[float]) -> np.ndarray:
    """Pairs of strokes whose painted footprints may share a pixel.

    Args:
        polylines: float ``(n_i, 2)`` arrays.
        radii: footprint radius of each stroke (half the width plus the
            anti-aliasing fringe), same units as the points.

    Returns:
        int64 ``(m, 2)`` array of index pairs ``(i, j)`` with ``i < j``.
    """
    import shapely

    if len(polylines) < 2:
        return np.zeros((0, 2), np.int64)
    geoms = [shapely.LineString(p) if len(p) > 1 and np.ptp(p, axis=0).any() else shapely.Point(p[0]) for p in polylines]
    shapes = shapely.buffer(np.array(geoms, dtype=object), np.asarray(radii, np.float64), quad_segs=4)
    tree = shapely.STRtree(shapes)
    a, b = tree.query(shapes, predicate="intersects")
    keep = a < b
    return np.stack([a[keep], b[keep]], axis=1).astype(np.int64)


def _constrained_greedy(polylines: Sequence[np.ndarray], pairs: np.ndarray, start: np.ndarray | None) -> tuple[list[int], list[bool]]:
    """Greedy nearest neighbour that paints ``i`` before ``j`` for every pair ``(i, j)``."""
    n = len(polylines)
    firsts = np.array([p[0] for p in polylines], np.float64)
    lasts = np.array([p[-1] for p in polylines], np.float64)
    indeg = np.zeros(n, np.int64)
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, j in pairs:
        succ[i].append(int(j))
        indeg[j] += 1
    ready = indeg == 0
    done = np.zeros(n, bool)
    pos = firsts[0] if start is None else np.asarray(start, np.float64)
    order: list[int] = []
    flips: list[bool] = []
    for _ in range(n):
        cand = np.flatnonzero(ready & ~done)
        d_first = np.einsum("ij,ij->i", firsts[cand] - pos, firsts[cand] - pos)
        d_last = np.einsum("ij,ij->i", lasts[cand] - pos, lasts[cand] - pos)
        bf, bl = int(np.argmin(d_first)), int(np.argmin(d_last))
        if d_last[bl] < d_first[bf]:
            i, flip = int(cand[bl]), True
        else:
            i, flip = int(cand[bf]), False
        done[i] = True
        order.append(i)
        flips.append(flip)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                ready[j] = True
        pos = firsts[i] if flip else lasts[i]
    return order, flips


def order_groups(
    polylines: Sequence[np.ndarray],
    groups: Sequence[tuple[int, int]],
    radii: Sequence[float] | None = None,
    start: np.ndarray | None = None,
) -> tuple[list[int], list[bool]]:
    """Order strokes group by group (groups sorted), cutting travel inside each group.

    Args:
        polylines: the strokes' points, ``(n_i, 2)`` each, in their current order.
        groups: the ``(layer, level)`` of each stroke.
        radii: footprint radius of each stroke (see :func:`overlap_pairs`). Given, the
            order keeps overlapping strokes in their current relative order, so the
            plan renders identically; ``None`` orders each group freely.
        start: pen position before the first stroke.

    Returns:
        ``(order, reversed)`` over all strokes: groups in lexicographic order, strokes
        inside a group in travel-cutting order.
    """
    keys = sorted(set(groups))
    order: list[int] = []
    flips: list[bool] = []
    pos = None if start is None else np.asarray(start, np.float64)
    for key in keys:
        members = [i for i, g in enumerate(groups) if g == key]
        lines = [polylines[i] for i in members]
        if radii is None:
            sub, sub_flip = greedy_order(lines, pos)
        else:
            pairs = overlap_pairs(lines, [radii[i] for i in members])
            sub, sub_flip = _constrained_greedy(lines, pairs, pos)
        for j, f in zip(sub, sub_flip):
            order.append(members[j])
            flips.append(f)
        last = polylines[order[-1]]
        pos = last[0] if flips[-1] else last[-1]
    return order, flips
