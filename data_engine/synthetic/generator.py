"""Deterministic proving-ground videos with exact ground truth.

Textured "car" rectangles and "person" ellipses move across a textured background with camera noise: they enter,
leave, cross and occlude each other. Injected events (recorded with their frame ranges) reproduce what makes
per-frame detectors flicker: global lighting flicker, short full occlusions, motion-blur bursts, look-alike
distractors and static stretches. Everything derives from one seed, so a seed is a test case.

With `HardCases` the video is what a data engine is for instead: an easy, nearly static scene for most of the
footage (near-duplicate frames a model learns quickly) and, in a small share of the frames, rare hard conditions
(a rare look of a common class, a sudden lighting change or flicker, a long partial occlusion, strong motion blur,
an object cut by the image border), each recorded as an event whose frames are its condition label.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

from data_engine.errors import EngineError
from data_engine.store import temporary_path
from data_engine.synthetic.truth import HARD_CONDITIONS, Event, GroundTruth, TruthBox, load_truth

CLASS_NAMES: dict[int, str] = {0: "car", 1: "person"}
CAR, PERSON = 0, 1
DISTRACTOR_ID_BASE = 1000
HARD_ID_BASE = 2000
OCCLUDER = -2
_EVENT_MARGIN = 4
_HIDDEN_SHARE = 0.45
"""Share of an object's box height a long occlusion hides: about half its pixels, so it stays labelled (the
simulated annotator labels objects at least 40 % visible) and is hard."""
_BORDER_OUTSIDE = 0.45
"""Share of an object's width outside the image while it stands at the border."""
_WINDOW_SECONDS: dict[str, tuple[float, float]] = {
    "rare_look": (0.8, 1.2),
    "lighting": (0.3, 0.6),
    "long_occlusion": (0.8, 1.2),
    "motion_blur": (0.2, 0.4),
    "border": (0.6, 1.0),
}


class SyntheticError(EngineError, ValueError):
    """Parameters the generator cannot honour."""


@dataclass(frozen=True, slots=True)
class HardCases:
    """Rare hard conditions over an easy majority. About `share` of the frames (in expectation over videos; each
    condition comes as a window of 0.2-1.2 s) fall under one of `conditions`, taken in a random order per video."""

    share: float = 0.04
    conditions: tuple[str, ...] = HARD_CONDITIONS

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 0.5:
            raise SyntheticError(f"the share of hard frames must lie in [0, 0.5], got {self.share}")
        unknown = sorted(set(self.conditions) - set(HARD_CONDITIONS))
        if unknown or not self.conditions:
            raise SyntheticError(f"unknown hard conditions {unknown}; choose from {', '.join(HARD_CONDITIONS)}")


@dataclass(frozen=True, slots=True)
class SyntheticVideo:
    """A generated video and its ground-truth JSON."""

    video_path: Path
    truth_path: Path

    def truth(self) -> GroundTruth:
        return load_truth(self.truth_path)


@dataclass(frozen=True, slots=True)
class _Actor:
    """A rendered sprite moving in a straight line over [first_frame, last_frame] in scene time."""

    track_id: int
    class_id: int
    patch: np.ndarray
    mask: np.ndarray
    origin: tuple[float, float]
    velocity: tuple[float, float]
    first_frame: int
    last_frame: int
    depth: float

    def top_left(self, frame: int, clock: np.ndarray) -> tuple[int, int]:
        elapsed = clock[frame] - clock[self.first_frame]
        return round(self.origin[0] + self.velocity[0] * elapsed), round(self.origin[1] + self.velocity[1] * elapsed)

    def box(self, frame: int, clock: np.ndarray) -> tuple[int, int, int, int]:
        x, y = self.top_left(frame, clock)
        return x, y, x + self.mask.shape[1], y + self.mask.shape[0]


@dataclass(frozen=True, slots=True)
class _Canvas:
    """What an actor's path is planned on: the frame size, the frame rate and the scene clock (which stands still
    during a static stretch)."""

    width: int
    height: int
    fps: float
    clock: np.ndarray


def available_codec() -> str:
    """H.264 through PyAV's bundled libx264 when present, else MPEG-4 Part 2."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def generate(
    out_dir: str | Path,
    seed: int,
    seconds: float = 10.0,
    size: tuple[int, int] = (320, 240),
    fps: float = 25.0,
    name: str | None = None,
    stuck_camera: bool = False,
    hard_cases: HardCases | None = None,
) -> SyntheticVideo:
    """Render a proving-ground video and its truth into `out_dir` (`<name>.mp4`, `<name>.truth.json`).

    Without `hard_cases` the classic proving ground (events everywhere); with them an easy scene with rare hard
    conditions (see the module docstring). A static stretch is a still scene filmed by a live camera (fresh camera
    noise on every frame); with `stuck_camera` the camera repeats the stretch's first picture instead, noise
    included: a frozen picture, what the `frozen` trigger looks for. The scene and the truth are the same either
    way."""
    width, height = size
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise SyntheticError(f"size must be even and at least 64x64 pixels; got {width}x{height}")
    frame_count = round(seconds * fps)
    if frame_count < 10:
        raise SyntheticError(f"{seconds} s at {fps} fps gives {frame_count} frames; ask for at least 10")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = ("" if hard_cases is None else f"_hard{round(hard_cases.share * 1000):03d}") + (
        "_stuck" if stuck_camera else ""
    )
    stem = name or f"proving_ground_s{seed}_{width}x{height}_{frame_count}f{kind}"
    rng = np.random.default_rng(seed)
    if hard_cases is None:
        scene = _plan_scene(rng, width, height, frame_count, fps)
    else:
        scene = _plan_hard_scene(rng, width, height, frame_count, fps, hard_cases)
    video_path, truth_path = out_dir / f"{stem}.mp4", out_dir / f"{stem}.truth.json"
    frames_truth, distractor_truth = _render(scene, rng, video_path, fps, stuck_camera)
    truth = GroundTruth(
        seed=seed,
        fps=fps,
        width=width,
        height=height,
        names=dict(CLASS_NAMES),
        frames=frames_truth,
        distractors=distractor_truth,
        events=tuple(sorted(scene.events, key=lambda event: (event.first_frame, event.type))),
    )
    _write_json_atomically(truth_path, truth)
    return SyntheticVideo(video_path, truth_path)


def _write_json_atomically(path: Path, truth: GroundTruth) -> None:
    temporary = temporary_path(path)
    temporary.write_text(json.dumps(truth.to_json()))
    os.replace(temporary, path)


@dataclass(frozen=True, slots=True)
class _Scene:
    width: int
    height: int
    frame_count: int
    background: np.ndarray
    clock: np.ndarray
    actors: tuple[_Actor, ...]
    events: tuple[Event, ...]
    flicker_gain: dict[int, float]
    occluder_patch: np.ndarray
    blur_width: int


def _drawn_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    frame_count: int,
    clock: np.ndarray,
    actors: list[_Actor],
    events: list[Event],
    flicker_gain: dict[int, float],
    blur_width: int,
) -> _Scene:
    """The planned scene with its drawn parts: the background, then the occluder's grain (in that order from `rng`,
    so a seed makes the same video)."""
    return _Scene(
        width=width,
        height=height,
        frame_count=frame_count,
        background=_background(rng, width, height),
        clock=clock,
        actors=tuple(actors),
        events=tuple(events),
        flicker_gain=flicker_gain,
        occluder_patch=_grain(rng, (height, width), 110, 18),
        blur_width=blur_width,
    )


def _plan_scene(rng: np.random.Generator, width: int, height: int, frame_count: int, fps: float) -> _Scene:
    busy: list[tuple[int, int]] = []
    events: list[Event] = []
    per_ten_seconds = max(1, round(frame_count / fps / 10))

    static_length = max(5, round(fps * 0.8))
    static_frames = np.zeros(frame_count, dtype=bool)
    for _ in range(per_ten_seconds):
        window = _reserve(rng, static_length, frame_count, busy)
        if window:
            static_frames[window[0] : window[1] + 1] = True
            events.append(Event("static", *window))
    clock = np.concatenate([[0], np.cumsum(~static_frames[:-1])]).astype(np.float64)

    canvas = _Canvas(width, height, fps, clock)
    actors = _plan_actors(rng, frame_count, canvas)
    distractors = _plan_distractors(rng, frame_count, canvas, count=2 * per_ten_seconds)
    for distractor in distractors:
        visible = [f for f in range(frame_count) if _on_screen(distractor, f, clock, width, height)]
        if visible:
            events.append(Event("distractor", visible[0], visible[-1], distractor.track_id))

    flicker_gain: dict[int, float] = {}
    for index in range(2 * per_ten_seconds):
        window = _reserve(rng, int(rng.integers(2, 4)), frame_count, busy)
        if window:
            gain = 1.9 if index % 2 == 0 else 0.35
            flicker_gain.update({frame: gain for frame in range(window[0], window[1] + 1)})
            events.append(Event("flicker", *window))

    for _ in range(2 * per_ten_seconds):
        window = _reserve(rng, int(rng.integers(3, 6)), frame_count, busy)
        if window:
            events.append(Event("motion_blur", *window))

    for _ in range(2 * per_ten_seconds):
        event = _plan_occlusion(rng, actors, clock, width, height, frame_count, busy)
        if event:
            events.append(event)

    return _drawn_scene(
        rng, width, height, frame_count, clock, actors + distractors, events, flicker_gain, max(5, width // 25)
    )


def _plan_hard_scene(
    rng: np.random.Generator, width: int, height: int, frame_count: int, fps: float, hard: HardCases
) -> _Scene:
    """An easy scene (three slow objects of the common looks, a few more entering slowly, no events) with windows
    of rare hard conditions covering about `hard.share` of the frames."""
    clock = np.arange(frame_count, dtype=np.float64)
    canvas = _Canvas(width, height, fps, clock)
    spawns = [0, 0, 0] + sorted(int(f) for f in rng.integers(0, frame_count, size=max(1, round(frame_count / fps / 8))))
    actors = []
    for index, spawn in enumerate(spawns):
        class_id = int(rng.integers(0, 2))
        patch, mask = _car_sprite(rng, width) if class_id == CAR else _person_sprite(rng, height)
        actors.append(_moving_actor(rng, index + 1, class_id, patch, mask, spawn, index % 2 == 0, canvas, (15.0, 30.0)))
    busy: list[tuple[int, int]] = []
    events: list[Event] = []
    extra: list[_Actor] = []
    gain: dict[int, float] = {}
    remaining = hard.share * frame_count
    order = [hard.conditions[int(i)] for i in rng.permutation(len(hard.conditions))]
    attempts = 0
    while remaining > 0 and attempts < 4 * len(order) + 8:
        condition = order[attempts % len(order)]
        attempts += 1
        low, high = _WINDOW_SECONDS[condition]
        length = max(3, round(rng.uniform(low, high) * fps))
        if length > remaining and rng.random() >= remaining / length:
            break
        window = _reserve(rng, length, frame_count, busy)
        if window is None:
            continue
        event = _hard_event(rng, condition, window, actors, extra, gain, clock, width, height, fps)
        if event is None:
            busy.remove(window)
            continue
        events.append(event)
        remaining -= event.last_frame - event.first_frame + 1
    return _drawn_scene(rng, width, height, frame_count, clock, actors + extra, events, gain, max(9, width // 12))


def _hard_event(
    rng: np.random.Generator,
    condition: str,
    window: tuple[int, int],
    actors: list[_Actor],
    extra: list[_Actor],
    gain: dict[int, float],
    clock: np.ndarray,
    width: int,
    height: int,
    fps: float,
) -> Event | None:
    """Make `window` hard in the way `condition` says; None when it cannot (no object to occlude there)."""
    first, last = window
    track_id = HARD_ID_BASE + len(extra)
    if condition == "rare_look":
        class_id = int(rng.integers(0, 2))
        patch, mask = _rare_car_sprite(rng, width) if class_id == CAR else _rare_person_sprite(rng, height)
        left_to_right = bool(rng.random() < 0.5)
        sprite_h, sprite_w = mask.shape
        speed = (width + sprite_w) / (last - first + 1)
        x = -sprite_w + 1 if left_to_right else width - 1
        y = rng.uniform(0.15 * height, 0.85 * height - sprite_h)
        velocity = (speed if left_to_right else -speed, 0.0)
        extra.append(_Actor(track_id, class_id, patch, mask, (x, y), velocity, first, last, 2.0))
        return Event("rare_look", first, last, track_id)
    if condition == "border":
        class_id = int(rng.integers(0, 2))
        patch, mask = _car_sprite(rng, width) if class_id == CAR else _person_sprite(rng, height)
        sprite_h, sprite_w = mask.shape
        outside = round(_BORDER_OUTSIDE * sprite_w)
        x = -outside if rng.random() < 0.5 else width - sprite_w + outside
        y = rng.uniform(0.15 * height, 0.85 * height - sprite_h)
        extra.append(_Actor(track_id, class_id, patch, mask, (x, y), (0.0, rng.uniform(-0.3, 0.3)), first, last, 2.0))
        return Event("border", first, last, track_id)
    if condition == "lighting":
        if rng.random() < 0.5:
            level = 1.8 if rng.random() < 0.5 else 0.4
            gain.update(dict.fromkeys(range(first, last + 1), level))
        else:
            gain.update({frame: 1.9 if (frame - first) % 2 == 0 else 0.4 for frame in range(first, last + 1)})
        return Event("lighting", first, last)
    if condition == "motion_blur":
        return Event("motion_blur", first, last)
    inside = [
        actor
        for actor in actors
        if actor.first_frame <= first
        and last <= actor.last_frame
        and all(_fully_inside(actor.box(frame, clock), width, height) for frame in range(first, last + 1))
    ]
    if not inside:
        return None
    return Event("long_occlusion", first, last, inside[int(rng.integers(0, len(inside)))].track_id)


def _fully_inside(box: tuple[int, int, int, int], width: int, height: int) -> bool:
    return box[0] >= 2 and box[1] >= 2 and box[2] <= width - 2 and box[3] <= height - 2


def _reserve(
    rng: np.random.Generator, length: int, frame_count: int, busy: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """A free window of `length` frames away from the other events (each event stays attributable)."""
    for _ in range(200):
        first = int(
            rng.integers(
                _EVENT_MARGIN,
                max(_EVENT_MARGIN + 1, frame_count - length - _EVENT_MARGIN),
            )
        )
        last = first + length - 1
        if last >= frame_count:
            continue
        if all(last + _EVENT_MARGIN < b_first or first > b_last + _EVENT_MARGIN for b_first, b_last in busy):
            busy.append((first, last))
            return first, last
    return None


def _plan_actors(rng: np.random.Generator, frame_count: int, canvas: _Canvas) -> list[_Actor]:
    """Objects crossing the frame; alternate directions so that they cross and occlude each other."""
    actors: list[_Actor] = []
    spawn_frames = [0, 0, 0] + sorted(rng.integers(0, frame_count, size=max(1, round(frame_count / canvas.fps * 1.1))))
    for index, spawn in enumerate(spawn_frames):
        class_id = int(rng.integers(0, 2))
        patch, mask = _car_sprite(rng, canvas.width) if class_id == CAR else _person_sprite(rng, canvas.height)
        actors.append(_moving_actor(rng, index + 1, class_id, patch, mask, int(spawn), index % 2 == 0, canvas))
    return [actor for actor in actors if actor.first_frame < frame_count]


def _plan_distractors(rng: np.random.Generator, frame_count: int, canvas: _Canvas, count: int) -> list[_Actor]:
    """Look-alikes: a squat car-coloured checkered square and a lying person-coloured ellipse."""
    distractors = []
    for index in range(count):
        spawn = int(rng.integers(0, max(1, frame_count - round(canvas.fps * 2))))
        patch, mask = _square_lookalike(rng, canvas.width) if index % 2 == 0 else _lying_lookalike(rng, canvas.height)
        distractors.append(
            _moving_actor(rng, DISTRACTOR_ID_BASE + index, -1, patch, mask, spawn, index % 2 == 1, canvas)
        )
    return distractors


def _moving_actor(
    rng: np.random.Generator,
    track_id: int,
    class_id: int,
    patch: np.ndarray,
    mask: np.ndarray,
    spawn: int,
    left_to_right: bool,
    canvas: _Canvas,
    crossing_seconds: tuple[float, float] = (2.5, 6.0),
) -> _Actor:
    width, height, clock = canvas.width, canvas.height, canvas.clock
    sprite_h, sprite_w = mask.shape
    crossing_frames = rng.uniform(*crossing_seconds) * canvas.fps
    speed = (width + sprite_w) / crossing_frames
    y = rng.uniform(0.15 * height, 0.85 * height - sprite_h)
    drift = rng.uniform(-0.25, 0.25) * speed
    if spawn == 0:
        x = rng.uniform(0, width - sprite_w)
    else:
        x = -sprite_w + 1 if left_to_right else width - 1
    velocity = (speed if left_to_right else -speed, drift)
    remaining_x = (width - x) if left_to_right else (x + sprite_w)
    scene_frames_alive = int(np.ceil(remaining_x / speed))
    start_clock = clock[min(spawn, len(clock) - 1)]
    alive = np.nonzero(clock - start_clock <= scene_frames_alive)[0]
    last = int(alive[-1]) if len(alive) else spawn
    return _Actor(
        track_id,
        class_id,
        patch,
        mask,
        (x, y),
        velocity,
        spawn,
        last,
        rng.uniform(0, 1),
    )


def _on_screen(actor: _Actor, frame: int, clock: np.ndarray, width: int, height: int) -> bool:
    if not actor.first_frame <= frame <= actor.last_frame:
        return False
    x1, y1, x2, y2 = actor.box(frame, clock)
    return x2 > 0 and y2 > 0 and x1 < width and y1 < height


def _plan_occlusion(
    rng: np.random.Generator,
    actors: list[_Actor],
    clock: np.ndarray,
    width: int,
    height: int,
    frame_count: int,
    busy: list[tuple[int, int]],
) -> Event | None:
    """An occluder hides one fully visible object for a few frames."""
    length = int(rng.integers(3, 7))
    for _ in range(50):
        actor = actors[int(rng.integers(0, len(actors)))]
        first = int(rng.integers(actor.first_frame, max(actor.first_frame + 1, actor.last_frame - length)))
        last = first + length - 1
        if last >= frame_count or last > actor.last_frame:
            continue
        inside = all(
            b[0] >= 2 and b[1] >= 2 and b[2] <= width - 2 and b[3] <= height - 2
            for b in (actor.box(f, clock) for f in range(first - 2, last + 3) if 0 <= f < frame_count)
        )
        if not inside:
            continue
        if all(last + _EVENT_MARGIN < b_first or first > b_last + _EVENT_MARGIN for b_first, b_last in busy):
            busy.append((first, last))
            return Event("full_occlusion", first, last, actor.track_id)
    return None


# ---- sprites and textures --------------------------------------------------------------------------------------


def _grain(rng: np.random.Generator, shape: tuple[int, int], mean: float, spread: float) -> np.ndarray:
    """A smooth random texture (low-frequency blobs plus fine grain), float32 BGR."""
    height, width = shape
    coarse = rng.normal(0, 1, size=(max(2, height // 12), max(2, width // 12), 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 0.5, size=(height, width, 3)).astype(np.float32)
    return mean + spread * (smooth + fine)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    texture = _grain(rng, (height, width), 0, 22)
    muted = 0.75 * texture.mean(axis=2, keepdims=True) + 0.25 * texture
    background = muted + np.array([95, 110, 100], np.float32)
    for row in range(int(height * 0.2), height, max(8, height // 6)):
        background[row : row + 2] += 35
    for column in range(int(rng.integers(0, 40)), width, max(16, width // 7)):
        background[:, column : column + 1] -= 20
    return background


def _car_sprite(rng: np.random.Generator, frame_width: int) -> tuple[np.ndarray, np.ndarray]:
    """A wide rectangle: saturated red or blue body, a dark stripe, two windows."""
    sprite_w = int(rng.uniform(0.14, 0.22) * frame_width)
    sprite_h = int(sprite_w * rng.uniform(0.45, 0.6))
    body = np.array([40, 40, 200] if rng.random() < 0.5 else [200, 70, 30], np.float32)
    patch = _grain(rng, (sprite_h, sprite_w), 0, 12) + body
    patch[int(sprite_h * 0.6) : int(sprite_h * 0.72)] *= 0.45
    window_top, window_bottom = int(sprite_h * 0.15), int(sprite_h * 0.45)
    for left, right in ((0.12, 0.45), (0.55, 0.88)):
        patch[window_top:window_bottom, int(sprite_w * left) : int(sprite_w * right)] = (60, 50, 40)
    return patch, np.ones((sprite_h, sprite_w), dtype=bool)


def _person_sprite(rng: np.random.Generator, frame_height: int) -> tuple[np.ndarray, np.ndarray]:
    """A tall ellipse: yellow-green body with a dotted texture and a light head."""
    sprite_h = int(rng.uniform(0.17, 0.25) * frame_height)
    sprite_w = max(6, int(sprite_h * rng.uniform(0.35, 0.45)))
    body = np.array([40, 200, 200] if rng.random() < 0.5 else [60, 190, 90], np.float32)
    patch = _grain(rng, (sprite_h, sprite_w), 0, 10) + body
    patch[::4, ::3] *= 0.6
    cv2.circle(
        patch,
        (sprite_w // 2, sprite_h // 6),
        max(2, sprite_w // 3),
        (170, 200, 230),
        -1,
    )
    return patch, _ellipse_mask(sprite_h, sprite_w)


def _ellipse_mask(height: int, width: int) -> np.ndarray:
    """The ellipse filling a height x width box, as a boolean mask."""
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (width // 2, height // 2), (width // 2, height // 2), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def _rare_car_sprite(rng: np.random.Generator, frame_width: int) -> tuple[np.ndarray, np.ndarray]:
    """A car of a look the common ones never have: pale green body, diagonal dark stripes, one long window."""
    sprite_w = int(rng.uniform(0.14, 0.22) * frame_width)
    sprite_h = int(sprite_w * rng.uniform(0.45, 0.6))
    patch = _grain(rng, (sprite_h, sprite_w), 0, 12) + np.array([120, 210, 140], np.float32)
    stripes = ((np.arange(sprite_h)[:, None] + np.arange(sprite_w)[None, :]) // max(2, sprite_h // 5)) % 2 == 1
    patch[stripes] *= 0.55
    patch[int(sprite_h * 0.15) : int(sprite_h * 0.4), int(sprite_w * 0.1) : int(sprite_w * 0.9)] = (200, 190, 180)
    return patch, np.ones((sprite_h, sprite_w), dtype=bool)


def _rare_person_sprite(rng: np.random.Generator, frame_height: int) -> tuple[np.ndarray, np.ndarray]:
    """A person of a rare look: a dark purple coat with horizontal bands and a dark head."""
    sprite_h = int(rng.uniform(0.17, 0.25) * frame_height)
    sprite_w = max(6, int(sprite_h * rng.uniform(0.35, 0.45)))
    patch = _grain(rng, (sprite_h, sprite_w), 0, 10) + np.array([130, 40, 110], np.float32)
    patch[:: max(2, sprite_h // 8)] *= 0.5
    cv2.circle(patch, (sprite_w // 2, sprite_h // 6), max(2, sprite_w // 3), (50, 60, 70), -1)
    return patch, _ellipse_mask(sprite_h, sprite_w)


def _square_lookalike(rng: np.random.Generator, frame_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Car-ish colours and size but square and checkered: not a car."""
    side = int(rng.uniform(0.1, 0.14) * frame_width)
    patch = _grain(rng, (side, side), 0, 10) + np.array([60, 60, 170], np.float32)
    cell = max(2, side // 5)
    checker = ((np.arange(side)[:, None] // cell + np.arange(side)[None, :] // cell) % 2).astype(bool)
    patch[checker] *= 0.5
    return patch, np.ones((side, side), dtype=bool)


def _lying_lookalike(rng: np.random.Generator, frame_height: int) -> tuple[np.ndarray, np.ndarray]:
    """Person-ish colours on a lying ellipse: not a person."""
    sprite_w = int(rng.uniform(0.17, 0.22) * frame_height)
    sprite_h = max(6, int(sprite_w * 0.4))
    patch = _grain(rng, (sprite_h, sprite_w), 0, 10) + np.array([50, 190, 170], np.float32)
    return patch, _ellipse_mask(sprite_h, sprite_w)


# ---- rendering ---------------------------------------------------------------------------------------------------


def _render(
    scene: _Scene, rng: np.random.Generator, video_path: Path, fps: float, stuck_camera: bool
) -> tuple[tuple[tuple[TruthBox, ...], ...], tuple[tuple[TruthBox, ...], ...]]:
    """Draw and encode every frame, streaming; returns per-frame truth of objects and of distractors."""
    width, height = scene.width, scene.height
    occlusions = [event for event in scene.events if event.type in ("full_occlusion", "long_occlusion")]
    blur_frames = {f for e in scene.events if e.type == "motion_blur" for f in range(e.first_frame, e.last_frame + 1)}
    repeated_frames = (
        {f for e in scene.events if e.type == "static" for f in range(e.first_frame + 1, e.last_frame + 1)}
        if stuck_camera
        else set()
    )
    by_id = {actor.track_id: actor for actor in scene.actors}
    blur_kernel = np.full((1, scene.blur_width), 1 / scene.blur_width, np.float32)
    frames_truth, distractor_truth = [], []
    temporary = temporary_path(video_path)
    with av.open(str(temporary), "w", format="mp4") as container:
        stream = cast(
            av.VideoStream, container.add_stream(available_codec(), rate=Fraction(fps).limit_denominator(1001))
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # The same seed must give the same pixels on every run and machine (tests train models on them): one
        # encoder thread, as x264's output depends on its thread count, which follows the CPU count; and no
        # macroblock tree, which reads uninitialised memory on some clips (seed 102 changed with MALLOC_PERTURB_).
        stream.codec_context.thread_count = 1
        if stream.codec_context.name == "libx264":
            stream.options = {"crf": "20", "preset": "veryfast", "x264-params": "mbtree=0"}
        else:
            stream.bit_rate = 2_000_000
        for frame in range(scene.frame_count):
            canvas = scene.background.copy()
            owner = np.full((height, width), -1, dtype=np.int32)
            active = [a for a in scene.actors if _on_screen(a, frame, scene.clock, width, height)]
            for actor in sorted(active, key=lambda a: a.depth):
                _paste(canvas, owner, actor, actor.top_left(frame, scene.clock))
            for event in occlusions:
                if event.covers(frame):
                    box = by_id[event.track_id].box(frame, scene.clock)
                    if event.type == "long_occlusion":
                        box = (box[0], box[3] - round(_HIDDEN_SHARE * (box[3] - box[1])), box[2], box[3])
                    _occlude(canvas, owner, scene, box, margin=3 if event.type == "full_occlusion" else 0)
            frames_truth.append(_truth_boxes(active, owner, frame, scene, distractors=False))
            distractor_truth.append(_truth_boxes(active, owner, frame, scene, distractors=True))
            canvas *= scene.flicker_gain.get(frame, 1.0)
            if frame in blur_frames:
                canvas = cv2.filter2D(canvas, -1, blur_kernel)
            noise = rng.normal(0, 4.0, size=canvas.shape).astype(np.float32)  # drawn every frame: same rng stream
            if frame not in repeated_frames:
                camera_noise = noise
            canvas += camera_noise
            image = np.clip(canvas, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(temporary, video_path)
    return tuple(frames_truth), tuple(distractor_truth)


def _paste(canvas: np.ndarray, owner: np.ndarray, actor: _Actor, top_left: tuple[int, int]) -> None:
    height, width = owner.shape
    x, y = top_left
    sprite_h, sprite_w = actor.mask.shape
    x1, y1, x2, y2 = (
        max(0, x),
        max(0, y),
        min(width, x + sprite_w),
        min(height, y + sprite_h),
    )
    if x2 <= x1 or y2 <= y1:
        return
    mask = actor.mask[y1 - y : y2 - y, x1 - x : x2 - x]
    canvas[y1:y2, x1:x2][mask] = actor.patch[y1 - y : y2 - y, x1 - x : x2 - x][mask]
    owner[y1:y2, x1:x2][mask] = actor.track_id


def _occlude(canvas: np.ndarray, owner: np.ndarray, scene: _Scene, box: tuple[int, int, int, int], margin: int) -> None:
    x1, y1 = max(0, box[0] - margin), max(0, box[1] - margin)
    x2, y2 = min(scene.width, box[2] + margin), min(scene.height, box[3] + margin)
    canvas[y1:y2, x1:x2] = scene.occluder_patch[y1:y2, x1:x2]
    owner[y1:y2, x1:x2] = OCCLUDER


def _truth_boxes(
    active: list[_Actor],
    owner: np.ndarray,
    frame: int,
    scene: _Scene,
    distractors: bool,
) -> tuple[TruthBox, ...]:
    boxes = []
    for actor in active:
        if (actor.class_id < 0) != distractors:
            continue
        x1, y1, x2, y2 = actor.box(frame, scene.clock)
        clipped = (max(0, x1), max(0, y1), min(scene.width, x2), min(scene.height, y2))
        xyxy = (float(clipped[0]), float(clipped[1]), float(clipped[2]), float(clipped[3]))
        visible = int(np.count_nonzero(owner[clipped[1] : clipped[3], clipped[0] : clipped[2]] == actor.track_id))
        visibility = visible / int(actor.mask.sum())
        boxes.append(
            TruthBox(
                actor.track_id,
                max(actor.class_id, -1),
                xyxy,
                visibility,
            )
        )
    return tuple(boxes)
