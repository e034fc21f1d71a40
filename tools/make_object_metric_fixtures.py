#!/usr/bin/python3
"""Reference numbers for the GlaS object metrics and the ISBI 2012 scores.

    /usr/bin/python3 tools/make_object_metric_fixtures.py   # writes test/fixtures/metrics/

Needs Debian's python3-scipy and python3-skimage. An independent
implementation of src/metrics/objects.ts and src/metrics/rand.ts, written
from the challenges' own code rather than from ours:
- GlaS: the MATLAB evaluation (F1score.m, ObjectDice.m, ObjectHausdorff.m)
  object by object, with boolean masks; partners by the mode of the
  overlapping labels; the Hausdorff distance by scipy's directed_hausdorff
  over all pixel coordinates; the nearest object for an object without
  overlap by trying every object (no pruning). Objects: skimage.measure.label
  with 8-connectivity. Pooled over a set as S. Graham's compute_stats.py.
- ISBI: Fiji's foreground-restricted Rand and information-theoretic F-scores
  (RandError / VariationOfInformation), with 4-connected regions.

Inputs are real masks (three GlaS training masks, three ISBI membrane masks
from data/membrane) and predictions made from them by a seeded perturbation
(shifts, dilation and erosion, a removed object, specks, a cut), written as
PNGs beside the expected scores, so the test reads exactly these pixels.
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial.distance import directed_hausdorff
from skimage.measure import label

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "metrics"
GLAS = Path("/work/shared/datasets/glas-train/masks")
MEMBRANE = ROOT / "data" / "membrane" / "train" / "masks"


# ---------------------------------------------------------------- GlaS

def objects(mask, connectivity):
    """Instance labels when the mask has several nonzero values, else connected components."""
    values = np.unique(mask[mask > 0])
    if len(values) > 1:
        return mask.astype(np.int64)
    return label(mask > 0, connectivity=connectivity)


def mode_nonzero(values):
    values = values[values > 0]
    if values.size == 0:
        return 0
    labels, counts = np.unique(values, return_counts=True)
    return int(labels[np.argmax(counts)])  # first maximum: the smallest label, as MATLAB's mode


def hausdorff(a, b):
    pa, pb = np.argwhere(a), np.argwhere(b)
    return max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])


def glas_sums(S, G):
    sums = dict(images=1, tp=0, fp=0, fn=0, diceS=0.0, areaS=0.0, diceG=0.0, areaG=0.0,
                hausdorffS=0.0, pairedAreaS=0.0, hausdorffG=0.0, pairedAreaG=0.0, unpaired=0)
    listS = [int(v) for v in np.unique(S) if v != 0]
    listG = [int(v) for v in np.unique(G) if v != 0]
    # F1score.m
    for s in listS:
        g = mode_nonzero(G[S == s])
        if g != 0 and np.logical_and(S == s, G == g).sum() / (G == g).sum() > 0.5:
            sums["tp"] += 1
        else:
            sums["fp"] += 1
    sums["fn"] = len(listG) - sums["tp"]

    def dice(a, b):
        return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())

    # ObjectDice.m, without its per-image normalisation (pooled later)
    for s in listS:
        Si = S == s
        g = mode_nonzero(G[Si])
        sums["areaS"] += Si.sum()
        if g != 0:
            sums["diceS"] += Si.sum() * dice(Si, G == g)
    for g in listG:
        Gi = G == g
        s = mode_nonzero(S[Gi])
        sums["areaG"] += Gi.sum()
        if s != 0:
            sums["diceG"] += Gi.sum() * dice(Gi, S == s)

    # ObjectHausdorff.m
    if not listS or not listG:
        sums["unpaired"] = len(listS) + len(listG)
        return sums
    for own, other, key, area in ((S, G, "hausdorffS", "pairedAreaS"), (G, S, "hausdorffG", "pairedAreaG")):
        others = [int(v) for v in np.unique(other) if v != 0]
        for k in [int(v) for v in np.unique(own) if v != 0]:
            Oi = own == k
            partner = mode_nonzero(other[Oi])
            if partner == 0:
                distances = [hausdorff(other == m, Oi) for m in others]
                partner = others[int(np.argmin(distances))]
            sums[key] += Oi.sum() * hausdorff(other == partner, Oi)
            sums[area] += Oi.sum()
    return sums


def glas_scores(sums):
    tp, fp, fn = sums["tp"], sums["fp"], sums["fn"]
    no_objects = sums["areaS"] == 0 and sums["areaG"] == 0
    one_sided = (sums["areaS"] == 0) != (sums["areaG"] == 0)
    if no_objects:
        dice = 1.0
    elif one_sided:
        dice = 0.0
    else:
        dice = 0.5 * (sums["diceS"] / sums["areaS"] + sums["diceG"] / sums["areaG"])
    if no_objects:
        haus = 0.0
    elif sums["pairedAreaS"] > 0 and sums["pairedAreaG"] > 0:
        haus = 0.5 * (sums["hausdorffS"] / sums["pairedAreaS"] + sums["hausdorffG"] / sums["pairedAreaG"])
    else:
        haus = None
    return dict(
        f1=1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn),
        precision=(1.0 if fn == 0 else 0.0) if tp + fp == 0 else tp / (tp + fp),
        recall=(1.0 if fp == 0 else 0.0) if tp + fn == 0 else tp / (tp + fn),
        tp=tp, fp=fp, fn=fn, objectDice=float(dice), objectHausdorff=None if haus is None else float(haus),
        unpaired=sums["unpaired"],
    )


# ---------------------------------------------------------------- ISBI

def isbi_image(S, T):
    """Fiji's foreground-restricted Rand pair sums and information F-score; S, T labelled (0 = membrane)."""
    inside = T > 0
    n = int(inside.sum())
    t, s = T[inside], S[inside]
    singletons = int((s == 0).sum())
    _, a = np.unique(t, return_counts=True)
    _, b = np.unique(s[s > 0], return_counts=True)
    pairs = np.stack([t[s > 0], s[s > 0]])
    _, nij = np.unique(pairs, axis=1, return_counts=True) if pairs.size else (None, np.zeros(0, np.int64))
    a, b, nij = a.astype(np.float64), b.astype(np.float64), nij.astype(np.float64)
    sums = dict(ab=float(nij @ nij + singletons), a=float(a @ a), b=float(b @ b + singletons))
    if n == 0:
        return sums, n, float("nan")
    # VariationOfInformation.foregroundRestrictedFscore, in its own terms
    pa, pb, pij = a / n, b / n, nij / n
    aux = singletons / n
    sumA = float(np.sum(pa * np.log(pa)))
    sumB = float(np.sum(pb * np.log(pb))) - aux * np.log(n)
    sumAB = float(np.sum(pij * np.log(pij))) - aux * np.log(n)
    ha, hb = -sumA, -sumB
    hab, hba = sumB - sumAB, sumA - sumAB
    if ha == 0:  # one true region: Fiji sets precision 0, recall 1
        prec, rec = 0.0, 1.0
    elif hb == 0:  # one predicted region: precision 1, recall 0
        prec, rec = 1.0, 0.0
    else:
        prec, rec = (ha - hab) / ha, (hb - hba) / hb
    f = 0.0 if prec * rec == 0 else 2 * prec * rec / (prec + rec)
    return sums, n, f


def rand_scores(sums):
    return dict(vRand=2 * sums["ab"] / (sums["a"] + sums["b"]), vRandSplit=sums["ab"] / sums["a"], vRandMerge=sums["ab"] / sums["b"])


# ---------------------------------------------------------------- inputs

def perturb_glands(mask, rng):
    """A plausible imperfect prediction: shifted, one gland dropped, one cut in two, specks, a ragged edge."""
    fg = mask > 0
    pred = np.roll(fg, (int(rng.integers(-4, 5)), int(rng.integers(-4, 5))), axis=(0, 1))
    pred = ndimage.binary_dilation(pred, iterations=int(rng.integers(0, 3)))
    lab = label(pred, connectivity=2)
    ids = np.unique(lab[lab > 0])
    if len(ids) > 2:
        pred[lab == ids[int(rng.integers(len(ids)))]] = False  # a missed gland
        big = ids[np.argmax([np.sum(lab == i) for i in ids])]
        ys, xs = np.nonzero(lab == big)
        pred[:, int(np.median(xs)) - 2:int(np.median(xs)) + 2] &= ~(lab == big)[:, int(np.median(xs)) - 2:int(np.median(xs)) + 2]  # a cut
    specks = rng.random(mask.shape) < 0.00003
    pred |= ndimage.binary_dilation(specks, iterations=2)
    pred &= ~(rng.random(mask.shape) < 0.02)  # ragged: single-pixel holes
    return pred.astype(np.uint8) * 255


def perturb_membranes(mask, rng):
    """A membrane prediction with gaps (merges), spurious walls (splits) and thickness changes."""
    interior = mask > 0
    pred = ndimage.binary_erosion(interior, iterations=1) if rng.random() < 0.5 else ndimage.binary_dilation(interior, iterations=1)
    membrane = ~pred
    gaps = ndimage.binary_dilation(rng.random(mask.shape) < 0.0008, iterations=3)
    pred |= gaps & membrane  # broken membranes merge cells
    h, w = mask.shape
    for _ in range(4):  # spurious walls split cells
        y = int(rng.integers(0, h))
        pred[y:y + 2, :] &= ~(np.arange(w) < int(rng.integers(w // 4, w)))[None, :]
    return pred.astype(np.uint8) * 255


def save(name, array):
    Image.fromarray(array.astype(np.uint8)).save(OUT / name, optimize=True)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2015)
    expected = {"glas": {"connectivity": 8, "images": []}, "isbi": {"connectivity": 4, "images": []}}

    glas_sets = []
    for stem in ("train_1", "train_14", "train_37"):
        truth = np.array(Image.open(GLAS / f"{stem}.png"))
        assert set(np.unique(truth)) <= {0, 255}, f"{stem}: GlaS masks here are binary"
        pred = perturb_glands(truth, rng)
        save(f"glas_{stem}_truth.png", truth)
        save(f"glas_{stem}_pred.png", pred)
        glas_sets.append((f"glas_{stem}", truth, pred))
    # instance labels that touch: two glands sharing an edge count as two objects, not one component
    inst = np.zeros((60, 80), np.uint8)
    inst[10:40, 10:40] = 7
    inst[10:40, 40:70] = 3
    inst[45:55, 5:15] = 9
    pred = np.zeros_like(inst)
    pred[12:38, 12:66] = 255  # merges 7 and 3
    pred[50:58, 60:75] = 255  # a false positive, overlapping nothing
    save("glas_instances_truth.png", inst)
    save("glas_instances_pred.png", pred)
    glas_sets.append(("glas_instances", inst, pred))
    # a prediction with no object: F1 and Dice 0, Hausdorff undefined for the image
    empty_truth = np.zeros((40, 40), np.uint8)
    empty_truth[5:20, 5:20] = 255
    save("glas_nothing_truth.png", empty_truth)
    save("glas_nothing_pred.png", np.zeros_like(empty_truth))
    glas_sets.append(("glas_nothing", empty_truth, np.zeros_like(empty_truth)))

    pooled = None
    for name, truth, pred in glas_sets:
        sums = glas_sums(label(pred > 0, connectivity=2), objects(truth, 2))
        expected["glas"]["images"].append({"name": name, **glas_scores(sums)})
        pooled = sums if pooled is None else {k: pooled[k] + sums[k] for k in sums}
    expected["glas"]["pooled"] = glas_scores(pooled)

    totals = dict(ab=0.0, a=0.0, b=0.0)
    v_info, images = 0.0, 0
    for index in (0, 7, 19):
        truth = np.array(Image.open(MEMBRANE / f"{index}.png"))
        pred = perturb_membranes(truth, rng)
        save(f"isbi_{index}_pred.png", pred)
        sums, n, f = isbi_image(label(pred > 0, connectivity=1), objects(truth, 1))
        expected["isbi"]["images"].append({"name": f"isbi_{index}", "truth": f"data/membrane/train/masks/{index}.png", **rand_scores(sums), "vInfo": f})
        totals = {k: totals[k] + sums[k] for k in totals}
        v_info, images = v_info + f, images + 1
    expected["isbi"]["pooled"] = {**rand_scores(totals), "vInfo": v_info / images, "images": images}

    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(json.dumps({k: v["pooled"] for k, v in expected.items()}, indent=1))


if __name__ == "__main__":
    main()
