"""Shots: matting frames as a shot (the previous matte carried along the optical flow, a memory
of earlier confident frames) against matting each alone.

No video with ground truth is at hand, so sequences are made from the shared photographs
(../shared/data/icm58-dev, read in place, never copied): one photo per category group, at most
0.49 MP; its subject, cut by its true alpha, moves over the photo's own background (where the
subject was, the background is inpainted and blurred) while the camera pans into another
photo the reference never showed; the subject drifts, grows or shrinks, rotates a little,
turns (squeezes sideways), is relit (dimmer or brighter, a colour cast) and is crossed by an
occluder (a strip of another photo) — all reproducible from ``--seed``.  Each frame is
composited as a camera records it, αF + (1 − α)B, with F the subject's own colours estimated
once per photo from the photo and its true alpha (``icm_core.refine.estimate_foreground``):
the photo's own edge pixels still hold its old background, which compositing the photo
itself blends in a second time, so the edge's colours would not follow the alpha they are
scored against (``--photo-colours`` composites the photo itself, as this benchmark first did).
Frame 0 with its true alpha ≥ 0.5 is the user's reference (the protocol of
../shared/data/README.md); frames 1… are the targets.  Scores: MSE per frame (whole frame)
and dtSSD over the targets (temporal stability, :func:`icm_core.metrics.dtssd`), per
sequence and mean; CPU and wall seconds.
Then, apart, the procedural shot of :func:`icm_core.synthetic.turning_frame`, where the
subject and background swap looks so that the first frame alone teaches the opposite.

    python benchmarks/lite_sequence.py [--quick] [--frames 24] [--memory 0,3] [--no-carry]
                                       [--tune] [--preset balanced] [--seed 0] [--photo-colours]
                                       [--json PATH]

``--memory`` lists the shot's memory sizes to run (frames joining the references; every frame
is also matted alone); ``--no-carry`` runs them without the carried matte; ``--tune`` (sizes
0, 1 and 3 unless given) prints, per sequence, the figures with the size chosen on all the
*other* sequences (leave-one-sequence-out) beside the in-sample choice.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MANIFEST = (ROOT / ".." / "shared" / "data" / "icm58-dev" / "manifest.json").resolve()
LONG_SIDE = 700  # frames of at most 0.49 MP
PAN = 0.6  # share of the frame's width the camera pans by over the shot
# the light by the last frame: the subject's gain (into shade or into a bright light; the scene
# gets its square root) and a colour cast per channel
DIM, BRIGHT, CAST = (0.25, 0.4), (1.5, 1.8), 0.4
TARGET_RATIO = 0.7  # the shot must lower mean MSE and mean dtSSD by ≥ 30 %


@dataclass
class Sequence:
    name: str
    frames: list[np.ndarray]  # H×W×3 float32
    alphas: list[np.ndarray]  # true alpha per frame


def _fit(image: np.ndarray, long_side: int) -> np.ndarray:
    scale = long_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _clean_background(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The photo without its subject: inpainted at low resolution, blurred, pasted in."""
    height, width = alpha.shape
    grow = max(3, round(0.02 * max(height, width)))
    hole = cv2.dilate((alpha > 0.02).astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    small = (max(1, width // 4), max(1, height // 4))
    low = cv2.inpaint((cv2.resize(image, small, interpolation=cv2.INTER_AREA) * 255).astype(np.uint8),
                      cv2.resize(hole, small, interpolation=cv2.INTER_NEAREST), 5, cv2.INPAINT_TELEA)
    filled = cv2.GaussianBlur(cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
                              .astype(np.float32) / 255, (0, 0), grow / 2)
    soft = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), grow / 2)[..., None]
    return (soft * filled + (1 - soft) * image).astype(np.float32)


def make_sequence(name: str, image: np.ndarray, alpha: np.ndarray, beyond: np.ndarray,
                  occluder: np.ndarray, count: int, rng: np.random.Generator,
                  foreground: bool = True) -> Sequence:
    from icm_core.refine import estimate_foreground

    image, alpha = _fit(image, LONG_SIDE), _fit(alpha, LONG_SIDE)
    colour = estimate_foreground(image, image, alpha) if foreground else image
    height, width = alpha.shape
    # the camera pans over the photo's own background into another photo (``beyond``), which
    # the reference never showed: by the last frame PAN of the frame is new background
    beyond = cv2.resize(beyond, (max(1, round(beyond.shape[1] * height / beyond.shape[0])), height),
                        interpolation=cv2.INTER_AREA)
    panorama = np.concatenate([_clean_background(image, alpha), beyond], axis=1)
    ys, xs = np.nonzero(alpha > 0.5)
    centre = (float(xs.mean()), float(ys.mean()))
    # where the motion goes by the last frame: drift by up to a fifth of the frame, scale,
    # rotate, turn (squeeze sideways), relight
    drift = rng.uniform(-0.2, 0.2, 2) * (width, height)
    scale_end = rng.choice([rng.uniform(0.65, 0.8), rng.uniform(1.15, 1.3)])
    angle_end = rng.uniform(8, 15) * rng.choice([-1, 1])
    turn_end = rng.uniform(0.55, 0.7)
    gain_end = rng.choice([rng.uniform(*DIM), rng.uniform(*BRIGHT)])
    cast_end = rng.uniform(-CAST, CAST, 3).astype(np.float32)
    strip = cv2.resize(_fit(occluder, LONG_SIDE), (max(8, width // 7), height))
    occluded = (count // 3, 2 * count // 3)  # frames the occluder crosses the subject in
    frames, alphas = [], []
    for t in range(count):
        s = t / max(1, count - 1)
        ease = 0.5 - 0.5 * np.cos(np.pi * s)
        move = cv2.getRotationMatrix2D(centre, angle_end * np.sin(np.pi * s / 2),
                                       1 + (scale_end - 1) * ease)
        squeeze = np.array([[1 + (turn_end - 1) * s, 0, centre[0] * (1 - turn_end) * s],
                            [0, 1, 0], [0, 0, 1]])
        move = (np.vstack([move, [0, 0, 1]]) @ squeeze)[:2]
        move[:, 2] += drift * ease
        warp = dict(dsize=(width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        subject = cv2.warpAffine(colour, move, **warp)
        cover = cv2.warpAffine(alpha, move, **warp)
        light = (1 + (gain_end - 1) * ease) * (1 + cast_end * ease)
        subject = np.clip(subject * light, 0, 1)
        pan = np.float32([[1, 0, -PAN * width * ease], [0, 1, 0]])
        background = cv2.warpAffine(panorama, pan, (width, height), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT)
        scene = np.clip(background * (1 + (np.sqrt(gain_end) - 1) * ease), 0, 1)
        frame = cover[..., None] * subject + (1 - cover[..., None]) * scene
        truth = cover
        if occluded[0] <= t < occluded[1]:
            travel = (t - occluded[0]) / max(1, occluded[1] - occluded[0] - 1)
            left = int(np.clip(centre[0] + drift[0] * ease - 0.3 * width
                               + travel * 0.6 * width, 0, width - strip.shape[1]))
            wall = np.zeros((height, width), np.float32)
            wall[:, left:left + strip.shape[1]] = 1
            wall = cv2.GaussianBlur(wall, (0, 0), 1.0)
            painted = np.zeros_like(frame)
            painted[:, left:left + strip.shape[1]] = strip
            frame = wall[..., None] * painted + (1 - wall[..., None]) * frame
            truth = cover * (1 - wall)
        frame = frame + rng.normal(0, 0.01, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 1).astype(np.float32))
        alphas.append(np.clip(truth, 0, 1).astype(np.float32))
    return Sequence(name, frames, alphas)


def make_sequences(count: int, limit: int | None, seed: int,
                   foreground: bool = True) -> list[Sequence]:
    from icm_core.datasets import load_manifest

    groups = load_manifest(MANIFEST).groups[:limit]
    members = [group.reference for group in groups]
    sequences = []
    for number, member in enumerate(members):
        rng = np.random.default_rng([seed, number])
        beyond, occluder = (members[(number + step) % len(members)].load_image() for step in (1, 2))
        sequences.append(make_sequence(member.id, member.load_image(), member.load_alpha(),
                                       beyond, occluder, count, rng, foreground))
    return sequences


def procedural_sequence(count: int) -> Sequence:
    """The procedural shot whose subject and background swap looks (``turning_frame``): what a
    memory is for, shown apart from the photo sequences and not in their mean."""
    from icm_core.synthetic import turning_frame

    scenes = [turning_frame(t, count) for t in range(count)]
    return Sequence("turning (proc.)", [s.image for s in scenes], [s.alpha for s in scenes])


def run(engine, sequence: Sequence, memory_frames: int, carry: bool) -> dict:
    """Matte frames 1… in order from frame 0's reference with a memory of ``memory_frames``
    and, with ``carry``, the previous matte carried (frame 0 is the reference's picture)."""
    from icm_core import metrics
    from icm_core.sequence import ShotMemory

    wall, cpu = time.perf_counter(), time.process_time()
    mask = (sequence.alphas[0] >= 0.5).astype(np.float32)
    shot = ShotMemory(engine, engine.encode_reference(sequence.frames[0], mask), memory_frames,
                      start=(sequence.frames[0], mask), carry=carry)
    preds = [shot.matte(frame).alpha for frame in sequence.frames[1:]]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    truths = sequence.alphas[1:]
    mses = [metrics.mse(pred, truth) for pred, truth in zip(preds, truths)]
    return {"mse": float(np.mean(mses)), "dtssd": metrics.dtssd(preds, truths),
            "mse_per_frame": [round(m, 5) for m in mses], "cpu_s": cpu, "wall_s": wall,
            "frames": len(preds)}


def leave_one_out(scores: dict[str, dict[str, dict]]) -> dict[str, str]:
    """For each sequence, the mode with the lowest mean MSE on all the others."""
    names = list(next(iter(scores.values())))
    chosen = {}
    for left_out in names:
        others = [n for n in names if n != left_out]
        chosen[left_out] = min(scores, key=lambda k: np.mean([scores[k][n]["mse"] for n in others]))
    return chosen


def main() -> int:
    from icm_core.engines import get_engine
    from icm_core.sequence import MEMORY_FRAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 sequences of 12 frames")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--sequences", type=int, default=None, help="at most this many sequences")
    parser.add_argument("--memory", default=None,
                        help=f"the shot's memory sizes to compare, comma-separated "
                             f"(default {MEMORY_FRAMES}; with --tune 0,1,3)")
    parser.add_argument("--no-carry", action="store_true",
                        help="the shot without the previous matte carried along the flow")
    parser.add_argument("--tune", action="store_true", help="leave-one-out over the memory sizes")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photo-colours", action="store_true",
                        help="composite the photo itself, not its estimated subject colours")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not MANIFEST.is_file():
        print(f"skipped: {MANIFEST} not found (the shared evaluation data)")
        return 0
    frames, limit = (12, 3) if args.quick else (args.frames, args.sequences)
    sizes = args.memory or ("0,1,3" if args.tune else str(MEMORY_FRAMES))
    sizes = sorted({int(k) for k in sizes.split(",")})
    carry = not args.no_carry
    label = "shot" if carry else "memory"  # the shot mode, with or without the carried matte
    modes = {"alone": (0, False)} | {f"{label} {k}": (k, carry) for k in sizes}
    engine = get_engine("lite", quality=args.preset)
    sequences = make_sequences(frames, limit, args.seed, foreground=not args.photo_colours)
    print(f"{len(sequences)} sequences of {frames} frames "
          f"({sequences[0].frames[0].shape[1]}×{sequences[0].frames[0].shape[0]} px and alike), "
          f"lite {args.preset}, modes: {', '.join(modes)}", flush=True)
    scores: dict[str, dict[str, dict]] = {mode: {} for mode in modes}
    for sequence in sequences:
        for mode, (k, carried) in modes.items():
            scores[mode][sequence.name] = run(engine, sequence, k, carried)
            engine.forget()
            s = scores[mode][sequence.name]
            print(f"  {sequence.name:<14} {mode:<8}: MSE {s['mse']:.5f}  dtSSD {s['dtssd']:.5f}  "
                  f"{s['cpu_s']:.1f} CPU s  {s['wall_s']:.1f} wall s", flush=True)

    shots = [mode for mode in modes if mode != "alone"]
    chosen = leave_one_out({mode: scores[mode] for mode in shots}) if args.tune else None
    shown = f"{label} {MEMORY_FRAMES}" if MEMORY_FRAMES in sizes else shots[-1]
    print(f"\n{'sequence':<14} {'MSE alone':>10} {'MSE shot':>9} {'ratio':>6} "
          f"{'dtSSD alone':>12} {'dtSSD shot':>10} {'ratio':>6} {'s alone':>8} {'s shot':>8}"
          f"   ({shown}: wall s, CPU s in the JSON)")
    rows = []
    for sequence in sequences:
        alone, shot = scores["alone"][sequence.name], scores[shown][sequence.name]
        rows.append((alone, shot))
        print(f"{sequence.name:<14} {alone['mse']:>10.5f} {shot['mse']:>9.5f} "
              f"{shot['mse'] / alone['mse']:>6.2f} {alone['dtssd']:>12.5f} "
              f"{shot['dtssd']:>10.5f} {shot['dtssd'] / alone['dtssd']:>6.2f} "
              f"{alone['wall_s']:>8.1f} {shot['wall_s']:>8.1f}")
    mean = {key: {mode: float(np.mean([row[i][key] for row in rows])) for i, mode in
                  enumerate(("alone", "shot"))} for key in ("mse", "dtssd", "cpu_s", "wall_s")}
    ratios = {key: mean[key]["shot"] / mean[key]["alone"] for key in ("mse", "dtssd")}
    print(f"{'mean':<14} {mean['mse']['alone']:>10.5f} {mean['mse']['shot']:>9.5f} "
          f"{ratios['mse']:>6.2f} {mean['dtssd']['alone']:>12.5f} {mean['dtssd']['shot']:>10.5f} "
          f"{ratios['dtssd']:>6.2f} {mean['wall_s']['alone']:>8.1f} {mean['wall_s']['shot']:>8.1f}")
    count = sum(row[0]["frames"] for row in rows)
    extra = (mean["cpu_s"]["shot"] - mean["cpu_s"]["alone"]) * len(rows) / count
    print(f"CPU s per sequence: alone {mean['cpu_s']['alone']:.1f}, "
          f"shot {mean['cpu_s']['shot']:.1f} ({extra:+.2f} per frame)")
    met = all(ratio <= TARGET_RATIO for ratio in ratios.values())
    print(f"target (shot ≤ {TARGET_RATIO:.2f} × alone in MSE and dtSSD): "
          f"{'met' if met else 'NOT met'}")
    turning = procedural_sequence(frames)
    alone, shot = run(engine, turning, 0, False), run(engine, turning, *modes[shown])
    print(f"\nprocedural shot, not in the mean: {turning.name} {alone['mse']:.5f} → "
          f"{shot['mse']:.5f} MSE, {alone['dtssd']:.5f} → {shot['dtssd']:.5f} dtSSD "
          f"({shown}; {alone['wall_s']:.1f} / {shot['wall_s']:.1f} wall s)")
    if chosen:
        print("\nleave-one-sequence-out (memory size chosen on the other sequences by MSE):")
        in_sample = min(shots, key=lambda k: np.mean([scores[k][n]["mse"] for n in chosen]))
        for name, k in chosen.items():
            print(f"  {name:<14} chosen {k}: MSE {scores[k][name]['mse']:.5f}  "
                  f"dtSSD {scores[k][name]['dtssd']:.5f}")
        print(f"  left-out mean MSE {np.mean([scores[k][n]['mse'] for n, k in chosen.items()]):.5f}"
              f", dtSSD {np.mean([scores[k][n]['dtssd'] for n, k in chosen.items()]):.5f}; "
              f"in-sample choice {in_sample}: MSE "
              f"{np.mean([scores[in_sample][n]['mse'] for n in chosen]):.5f}")
        for k in modes:
            print(f"  {k:<8}: mean MSE {np.mean([s['mse'] for s in scores[k].values()]):.5f}"
                  f"  dtSSD {np.mean([s['dtssd'] for s in scores[k].values()]):.5f}"
                  f"  wall s {np.mean([s['wall_s'] for s in scores[k].values()]):.1f}")
    if args.json:
        args.json.write_text(json.dumps({"scores": scores, "mean": mean, "ratios": ratios,
                                         "chosen": chosen,
                                         "procedural": {"alone": alone, "shot": shot}},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
