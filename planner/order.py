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

import math
from typing import Sequence

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["greedy_order", "order_groups", "overlap_pairs", "precedence_greedy", "travel_length"]


#: default weight of :func:`structure_lead` (measured on astronaut, chelsea, coffee,
#: landscape at 256 px / 2,000 strokes: see bench/bench_process.py)
STRUCTURE_WEIGHT = 1.25


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


def precedence_greedy(
    firsts: np.ndarray,
    lasts: np.ndarray,
    pairs: np.ndarray,
    pos: np.ndarray,
    tools: np.ndarray | None = None,
    tool: int = -1,
    switch_mm: float = 0.0,
    lead: np.ndarray | None = None,
) -> tuple[list[int], list[bool]]:
    """Greedy nearest-neighbour order under precedence constraints, optionally tool-aware.

    Hand-written: vpype's ``linesort`` and the usual TSP heuristics know neither
    precedence (``i`` before ``j``) nor tool changes, and both are what keeps a
    painter's plan render-exact and cheap to execute.

    Args:
        firsts: float ``(n, 2)`` start point of each stroke, mm.
        lasts: float ``(n, 2)`` end point of each stroke, mm.
        pairs: int ``(m, 2)``; each row ``(i, j)`` means stroke ``i`` is painted before
            ``j``. Must be acyclic (e.g. ``i < j`` for every row).
        pos: float ``(2,)`` pen position before the first stroke, mm.
        tools: int ``(n,)`` tool key (paint and brush) of each stroke; ``None``: one tool.
        tool: the tool in hand before the first stroke (-1: none).
        switch_mm: what a tool change is worth in pen-up travel, mm. ``<= 0`` ignores
            tools: always the nearest stroke end. Otherwise the current tool is kept
            while one of its strokes is ready, unless that stroke is more than
            ``switch_mm`` farther than the nearest other one; then the tool that can
            paint the most strokes in a row is taken.
        lead: float ``(n,)`` mm, travel-only mode: how much farther than the nearest a
            stroke may be and still be taken first (the next stroke is the ready one
            of least ``distance - lead``); ``None``: nearest first.

    Returns:
        ``(order, reversed)``: indices into the strokes and, for each, whether it is
        painted backwards (from ``lasts`` to ``firsts``).
    """
    firsts = np.asarray(firsts, np.float64)
    lasts = np.asarray(lasts, np.float64)
    n = len(firsts)
    tools = np.zeros(n, np.int64) if tools is None else np.asarray(tools, np.int64)
    pos = np.asarray(pos, np.float64)
    indeg = np.zeros(n, np.int64)
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, j in pairs:
        succ[int(i)].append(int(j))
        indeg[j] += 1
    ready = indeg == 0
    order: list[int] = []
    flips: list[bool] = []
    for _ in range(n):
        cand = np.flatnonzero(ready)
        df = np.einsum("ij,ij->i", firsts[cand] - pos, firsts[cand] - pos)
        dl = np.einsum("ij,ij->i", lasts[cand] - pos, lasts[cand] - pos)
        if switch_mm <= 0 and lead is not None:  # travel, less each stroke's lead
            dmin = np.sqrt(np.minimum(df, dl))
            j = int(np.argmin(dmin - lead[cand]))
            flip = bool(dl[j] < df[j])
        elif switch_mm <= 0:  # travel only: the nearest stroke end, whatever its tool
            bf, bl = int(np.argmin(df)), int(np.argmin(dl))
            j, flip = (bl, True) if dl[bl] < df[bf] else (bf, False)
        else:
            j = _tool_pick(cand, np.minimum(df, dl), tools, tool, switch_mm, succ, indeg)
            flip = bool(dl[j] < df[j])
        i = int(cand[j])
        tool = int(tools[i])
        ready[i] = False
        order.append(i)
        flips.append(flip)
        for s in succ[i]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready[s] = True
        pos = firsts[i] if flip else lasts[i]
    return order, flips


def _tool_pick(
    cand: np.ndarray, d: np.ndarray, tools: np.ndarray, tool: int, switch_mm: float, succ: list[list[int]], indeg: np.ndarray
) -> int:
    """Index into ``cand`` of the next stroke for :func:`precedence_greedy`'s tool mode
    (``d``: squared distance to each candidate's nearer end)."""
    ct = tools[cand]
    same = ct == tool
    use_same = bool(same.any())
    if use_same and not same.all():
        use_same = math.sqrt(float(d[same].min())) <= math.sqrt(float(d[~same].min())) + switch_mm
    if use_same:
        pick_mask = same
    else:
        pool = ~same if same.any() else np.ones(len(cand), bool)
        vals = np.unique(ct[pool])
        # one-step look-ahead: how many strokes each tool could paint in a row
        # (its ready strokes and those they unlock), the longest run wins
        lengths = np.array([_chain_length(int(t), cand, tools, succ, indeg) for t in vals])
        best = vals[lengths == lengths.max()]
        if len(best) > 1:  # tie: the tool of the nearest ready stroke among them
            m = np.isin(ct, best) & pool
            best = [ct[m][int(np.argmin(d[m]))]]
        pick_mask = ct == int(best[0])
    k = np.flatnonzero(pick_mask)
    return int(k[np.argmin(d[k])])


def _chain_length(tool: int, cand: np.ndarray, tools: np.ndarray, succ: list[list[int]], indeg: np.ndarray) -> int:
    """Strokes of ``tool`` paintable in a row from now: its ready strokes and, in
    turn, those of its strokes they unlock."""
    stack = [int(i) for i in cand if tools[i] == tool]
    deg: dict[int, int] = {}
    n = 0
    while stack:
        i = stack.pop()
        n += 1
        for j in succ[i]:
            left = deg.get(j, int(indeg[j])) - 1
            deg[j] = left
            if left == 0 and tools[j] == tool:
                stack.append(j)
    return n


def structure_lead(polylines: Sequence[np.ndarray], weight: float = STRUCTURE_WEIGHT) -> np.ndarray:
    """The lead (mm, see :func:`precedence_greedy`) of each stroke of a group: structure
    first. A stroke's lead is ``weight`` times the group's median stroke length times its
    length's rank in the group (0 for the shortest, 1 for the longest), so a long,
    structural stroke is taken before a nearer short one unless the short one is nearer
    by more than that (people lay their long strokes first: in Quick, Draw!'s timed
    drawings, Spearman(stroke index, length) is -0.37)."""
    lengths = np.array([float(np.hypot(*np.diff(p, axis=0).T).sum()) if len(p) > 1 else 0.0 for p in polylines])
    if len(lengths) < 2:
        return np.zeros(len(lengths))
    ranks = np.argsort(np.argsort(lengths, kind="stable"), kind="stable") / (len(lengths) - 1)
    return weight * float(np.median(lengths)) * ranks


def order_groups(
    polylines: Sequence[np.ndarray],
    groups: Sequence[tuple[int, int]],
    radii: Sequence[float] | None = None,
    start: np.ndarray | None = None,
    structure: float = STRUCTURE_WEIGHT,
) -> tuple[list[int], list[bool]]:
    """Order strokes group by group (groups sorted), cutting travel inside each group.

    Args:
        polylines: the strokes' points, ``(n_i, 2)`` each, in their current order.
        groups: the ``(layer, level)`` of each stroke.
        radii: footprint radius of each stroke (see :func:`overlap_pairs`). Given, the
            order keeps overlapping strokes in their current relative order, so the
            plan renders identically; ``None`` orders each group freely.
        start: pen position before the first stroke.
        structure: structure first: the weight of :func:`structure_lead` (0: travel
            only, nearest stroke first).

    Returns:
        ``(order, reversed)`` over all strokes: groups in lexicographic order, strokes
        inside a group in travel-cutting order, long strokes leading.
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
            firsts = np.array([p[0] for p in lines], np.float64)
            lasts = np.array([p[-1] for p in lines], np.float64)
            lead = structure_lead(lines, structure) if structure > 0 else None
            sub, sub_flip = precedence_greedy(firsts, lasts, pairs, firsts[0] if pos is None else pos, lead=lead)
        for j, f in zip(sub, sub_flip):
            order.append(members[j])
            flips.append(f)
        last = polylines[order[-1]]
        pos = last[0] if flips[-1] else last[-1]
    return order, flips
