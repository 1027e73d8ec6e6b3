"""Machine ordering: the order a machine paints a plan in, inside the painter's groups."""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np

from animatepainter.planner.order import overlap_pairs, precedence_greedy
from animatepainter.planner.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

__all__ = ["order_for_machine", "group_runs"]


# -- ordering --------------------------------------------------------------------------


def group_runs(keys: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``[start, stop)`` of maximal runs of equal keys."""
    out = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i))
            start = i
    return out


def _or_opt(
    order: list[int],
    flips: list[bool],
    firsts: np.ndarray,
    lasts: np.ndarray,
    tools: np.ndarray,
    pairs: np.ndarray,
    pos0: np.ndarray,
    switch_mm: float,
    passes: int = 3,
) -> tuple[list[int], list[bool]]:
    """Improve a run's order by moving single strokes (Or-opt), either way round.

    The cost of going from stroke ``a`` to ``b`` is the pen-up distance plus
    ``switch_mm`` when their tools differ; a stroke only moves between the last of
    the strokes that must precede it and the first that must follow it (``pairs``), so
    the render stays exact.
    """
    n = len(order)
    if n < 3:
        return order, flips
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for i, j in pairs:
        preds[int(j)].append(int(i))
        succs[int(i)].append(int(j))
    seq = np.array(order, np.int64)
    flp = np.array(flips, bool)
    w = switch_mm if math.isfinite(switch_mm) else 1e9  # inf: a tool change is never worth it

    def ends(q: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = np.where(f[:, None], lasts[q], firsts[q])
        en = np.where(f[:, None], firsts[q], lasts[q])
        return st, en

    for _ in range(passes):
        improved = 0
        for s in list(seq):
            pos = np.empty(n, np.int64)
            pos[seq] = np.arange(n)
            k = int(pos[s])
            st, en = ends(seq, flp)
            prev_end = en[k - 1] if k > 0 else pos0
            has_next = k < n - 1
            gain = float(np.hypot(*(st[k] - prev_end))) + (w if k > 0 and tools[seq[k - 1]] != tools[s] else 0.0)
            if has_next:
                gain += float(np.hypot(*(st[k + 1] - en[k]))) + (w if tools[seq[k + 1]] != tools[s] else 0.0)
                gain -= float(np.hypot(*(st[k + 1] - prev_end))) + (w if k > 0 and tools[seq[k - 1]] != tools[seq[k + 1]] else 0.0)
            # the sequence without s, and where s may go back in: slot t = before rest[t]
            rest = np.delete(seq, k)
            rflp = np.delete(flp, k)
            rst, ren = np.delete(st, k, axis=0), np.delete(en, k, axis=0)
            rpos = np.empty(n, np.int64)
            rpos[rest] = np.arange(n - 1)
            lo = max((int(rpos[p]) + 1 for p in preds[s]), default=0)
            hi = min((int(rpos[q]) for q in succs[s]), default=n - 1)
            if hi < lo:
                continue
            slots = np.arange(lo, hi + 1)
            a_end = np.where(slots[:, None] > 0, ren[np.maximum(slots - 1, 0)], pos0)
            a_tool = np.where(slots > 0, tools[rest[np.maximum(slots - 1, 0)]], -1)
            nxt = slots < n - 1
            b_st = rst[np.minimum(slots, n - 2)]
            b_tool = tools[rest[np.minimum(slots, n - 2)]]
            base = np.where(nxt, np.hypot(*(b_st - a_end).T) + np.where((a_tool >= 0) & (a_tool != b_tool), w, 0.0), 0.0)
            best = None
            for f in (False, True):
                s_st = lasts[s] if f else firsts[s]
                s_en = firsts[s] if f else lasts[s]
                add = np.hypot(*(s_st - a_end).T) + np.where((a_tool >= 0) & (a_tool != tools[s]), w, 0.0)
                add = add + np.where(nxt, np.hypot(*(b_st - s_en).T) + np.where(b_tool != tools[s], w, 0.0), 0.0) - base
                j = int(np.argmin(add))
                if best is None or add[j] < best[0]:
                    best = (float(add[j]), int(slots[j]), f)
            if best is not None and best[0] < gain - 1e-6:
                seq = np.insert(rest, best[1], s)
                flp = np.insert(rflp, best[1], best[2])
                improved += 1
        if not improved:
            break
    return seq.tolist(), flp.tolist()


def order_for_machine(
    polylines: Sequence[np.ndarray],
    widths: Sequence[float],
    colors: np.ndarray,
    tools: np.ndarray,
    runs: Sequence[tuple[int, int]],
    fringe_mm: float,
    switch_mm: float = math.inf,
    start: np.ndarray | None = None,
    progress: Progress = NULL_PROGRESS,
    fragile: np.ndarray | None = None,
) -> tuple[list[int], list[bool]]:
    """Order strokes inside each run, keeping the render exact.

    Args:
        polylines: float ``(n_i, 2)`` points, mm, in their current order.
        widths: stroke widths, mm.
        colors: uint8 ``(n, 3)`` colours; overlapping strokes of *different* colour
            keep their relative order.
        tools: int ``(n,)`` tool key (paint and brush) of each stroke.
        runs: ``[start, stop)`` index ranges reordered independently, in sequence.
        fringe_mm: anti-aliasing fringe added to each stroke's radius, mm (half a
            pixel of the finest render that must stay identical, plus margin).
        switch_mm: a tool change is worth this much pen-up travel, mm (``inf``: keep
            the tool whenever possible; 0: ignore tools, travel only).
        start: pen position before the first stroke, mm.
        fragile: bool ``(n,)``: strokes that show little of themselves; overlapping
            strokes of the same colour keep their relative order too where one of them
            is fragile (swapped, it could end hidden under the other).

    Returns:
        ``(order, reversed)``: indices into ``polylines`` and whether each is painted
        backwards.
    """
    colors = np.asarray(colors).reshape(-1, 3)
    tools = np.asarray(tools, np.int64)
    order: list[int] = []
    flips: list[bool] = []
    pos = np.asarray(start, np.float64) if start is not None else (polylines[0][0] if len(polylines) else np.zeros(2))
    tool = int(tools[0]) if len(tools) else -1
    # buffer polygons are inscribed in the true circles: grow the radius to cover them
    grow = 1.0 / math.cos(math.pi / 16.0)
    with progress.stage("machine order", len(runs)) as st:
        for a, b in runs:
            idx = np.arange(a, b)
            lines = [np.asarray(polylines[i], np.float64) for i in idx]
            radii = [(widths[i] / 2.0 + fringe_mm) * grow for i in idx]
            pairs = overlap_pairs(lines, radii)
            if len(pairs):
                c = colors[idx]
                keep = (c[pairs[:, 0]] != c[pairs[:, 1]]).any(axis=1)
                if fragile is not None:
                    fr = np.asarray(fragile, bool)[idx]
                    keep |= fr[pairs[:, 0]] | fr[pairs[:, 1]]
                pairs = pairs[keep]
            firsts = np.array([p[0] for p in lines])
            lasts = np.array([p[-1] for p in lines])
            sub, sub_flip = precedence_greedy(firsts, lasts, pairs, pos, tools[idx], tool, switch_mm)
            sub, sub_flip = _or_opt(sub, sub_flip, firsts, lasts, tools[idx], pairs, pos, switch_mm)
            for j, f in zip(sub, sub_flip):
                order.append(int(idx[j]))
                flips.append(f)
            last = lines[sub[-1]]
            pos = last[0] if sub_flip[-1] else last[-1]
            tool = int(tools[order[-1]])
            st.advance(1)
    return order, flips


