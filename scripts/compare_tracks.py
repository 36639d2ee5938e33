#!/usr/bin/env python3
"""Compare two tracker outputs frame by frame (python3 standard library only).

Both files are MOT-style CSV with a header line: frame,id,x1,y1,x2,y2,score,class
(as written by plugins/traffic-vision/examples/track_replay.rs and
benches/reference/boxmot_replay.py).

    scripts/compare_tracks.py OURS.csv REFERENCE.csv [--iou 0.5] [--diverge N]

Figures, taking REFERENCE as the ground truth:

- IDF1 (Ristani et al. 2016, as py-motmetrics computes it): for every pair (reference ID,
  our ID), IDTP is the number of frames in which both boxes exist with IoU >= --iou. A global
  one-to-one mapping between reference IDs and our IDs maximising the summed IDTP is found
  with the Hungarian algorithm (run per connected component of the sparse pair graph, so it
  stays fast for hundreds of IDs). IDF1 = 2 IDTP / (reference boxes + our boxes).
- Distinct IDs of each tracker.
- Boxes per frame: frames where both report the same number of boxes; a per-frame one-to-one
  box matching (Hungarian on IoU, pairs with IoU >= --iou) gives box recall (matched /
  reference boxes), precision (matched / our boxes), the mean IoU of matched boxes, the
  largest coordinate difference between matched boxes, and how often their scores and
  classes agree; and how many mapped ID pairs carry the same number.
- Divergence: a frame diverges when a box is unmatched in it or a matched pair's IDs are not
  mapped to each other globally. --diverge N prints the first N such frames with both sides'
  rows.

The last line is: idf1=X ours_ids=N ref_ids=M
"""

import argparse
import csv
import sys
from collections import defaultdict


def read_tracks(path):
    """{frame: [(id, (x1, y1, x2, y2), score, class)]}"""
    frames = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            box = tuple(float(row[k]) for k in ("x1", "y1", "x2", "y2"))
            frames[int(row["frame"])].append(
                (int(row["id"]), box, float(row["score"]), int(float(row["class"])))
            )
    return frames


def iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def hungarian_max(weights):
    """Maximum-weight assignment of a dense n x m matrix (lists), any shape.

    Returns [(row, col)] for every row when n <= m (every column otherwise); pairs of
    weight 0 may be included, the caller filters them. Classic O(n^2 m) shortest
    augmenting path with potentials, on costs = -weights.
    """
    n = len(weights)
    m = len(weights[0]) if n else 0
    if n == 0 or m == 0:
        return []
    transposed = n > m
    if transposed:
        weights = [list(col) for col in zip(*weights)]
        n, m = m, n
    inf = float("inf")
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)  # p[j]: row (1-based) assigned to column j
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            row = weights[i0 - 1]
            ui0 = u[i0]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = -row[j - 1] - ui0 - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    pairs = [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j] != 0]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return pairs


def max_weight_matching_sparse(edges):
    """edges: {(a, b): weight > 0}. Maximum-weight one-to-one matching, solved per
    connected component. Returns {a: b}."""
    adj = defaultdict(set)
    for a, b in edges:
        adj[("a", a)].add(("b", b))
        adj[("b", b)].add(("a", a))
    seen = set()
    mapping = {}
    for start in list(adj):
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            node = stack.pop()
            comp.append(node)
            for nxt in adj[node]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        left = sorted(x for s, x in comp if s == "a")
        right = sorted(x for s, x in comp if s == "b")
        w = [[edges.get((a, b), 0) for b in right] for a in left]
        for r, c in hungarian_max(w):
            if w[r][c] > 0:
                mapping[left[r]] = right[c]
    return mapping


def match_frame(ours, ref, thr):
    """Per-frame one-to-one box matching maximising IoU: [(i_ours, j_ref, iou)]."""
    if not ours or not ref:
        return []
    w = [[iou(o[1], r[1]) for r in ref] for o in ours]
    # Only pairs at or above the threshold count: zero the rest so they never compete.
    w = [[x if x >= thr else 0.0 for x in row] for row in w]
    return [(i, j, w[i][j]) for i, j in hungarian_max(w) if w[i][j] > 0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ours")
    ap.add_argument("reference")
    ap.add_argument("--iou", type=float, default=0.5, help="IoU of a match (0.5)")
    ap.add_argument("--diverge", type=int, default=0, metavar="N",
                    help="print the first N diverging frames")
    args = ap.parse_args()

    ours = read_tracks(args.ours)
    ref = read_tracks(args.reference)
    frames = sorted(set(ours) | set(ref))
    n_ours = sum(len(v) for v in ours.values())
    n_ref = sum(len(v) for v in ref.values())
    ours_ids = {t[0] for v in ours.values() for t in v}
    ref_ids = {t[0] for v in ref.values() for t in v}

    # IDTP per (our ID, reference ID) pair: frames where their boxes overlap enough.
    co = defaultdict(int)
    for f in frames:
        for o in ours.get(f, ()):
            for r in ref.get(f, ()):
                if iou(o[1], r[1]) >= args.iou:
                    co[(o[0], r[0])] += 1
    mapping = max_weight_matching_sparse(co)  # our ID -> reference ID
    idtp = sum(co[(a, b)] for a, b in mapping.items())
    idf1 = 2 * idtp / (n_ours + n_ref) if n_ours + n_ref else 1.0

    same_count = 0
    matched = 0
    iou_sum = 0.0
    class_same = 0
    score_same = 0
    max_coord_diff = 0.0
    diverging = []
    for f in frames:
        o, r = ours.get(f, []), ref.get(f, [])
        same_count += len(o) == len(r)
        pairs = match_frame(o, r, args.iou)
        matched += len(pairs)
        iou_sum += sum(p[2] for p in pairs)
        class_same += sum(o[i][3] == r[j][3] for i, j, _ in pairs)
        score_same += sum(abs(o[i][2] - r[j][2]) < 1e-3 for i, j, _ in pairs)
        for i, j, _ in pairs:
            max_coord_diff = max(max_coord_diff, *(abs(a - b) for a, b in zip(o[i][1], r[j][1])))
        bad_pair = any(mapping.get(o[i][0]) != r[j][0] for i, j, _ in pairs)
        if len(pairs) != len(o) or len(pairs) != len(r) or bad_pair:
            diverging.append((f, pairs))

    print(f"ours: {args.ours}\nref:  {args.reference}")
    print(f"frames={len(frames)} ours_boxes={n_ours} ref_boxes={n_ref}")
    print(f"same_box_count_frames={same_count}/{len(frames)} ({same_count / max(len(frames), 1):.4f})")
    print(f"box_recall={matched / max(n_ref, 1):.4f} box_precision={matched / max(n_ours, 1):.4f} "
          f"mean_iou={iou_sum / max(matched, 1):.4f} class_agree={class_same / max(matched, 1):.4f} "
          f"score_agree={score_same / max(matched, 1):.4f} max_coord_diff={max_coord_diff:.3f}px")
    same_value = sum(a == b for a, b in mapping.items())
    print(f"id_values_equal={same_value}/{len(mapping)} (mapped pairs whose IDs are the same number)")
    print(f"idtp={idtp} mapped_ids={len(mapping)} diverging_frames={len(diverging)} "
          f"first_diverging={diverging[0][0] if diverging else None}")
    for f, pairs in diverging[: args.diverge]:
        o, r = ours.get(f, []), ref.get(f, [])
        print(f"--- frame {f}: ours {len(o)} boxes, ref {len(r)} boxes")
        paired_o = {i: (j, x) for i, j, x in pairs}
        paired_r = {j for _, j, _ in pairs}
        for i, t in enumerate(o):
            box = ",".join(f"{v:.1f}" for v in t[1])
            if i in paired_o:
                j, x = paired_o[i]
                flag = "" if mapping.get(t[0]) == r[j][0] else "  <-- id not mapped"
                print(f"  ours id={t[0]} [{box}] s={t[2]:.3f} c={t[3]}  ~ ref id={r[j][0]} "
                      f"iou={x:.3f} (ours {t[0]} maps to ref {mapping.get(t[0])}){flag}")
            else:
                print(f"  ours id={t[0]} [{box}] s={t[2]:.3f} c={t[3]}  unmatched")
        for j, t in enumerate(r):
            if j not in paired_r:
                box = ",".join(f"{v:.1f}" for v in t[1])
                print(f"  ref  id={t[0]} [{box}] s={t[2]:.3f} c={t[3]}  unmatched")
    print(f"idf1={idf1:.4f} ours_ids={len(ours_ids)} ref_ids={len(ref_ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
