"""Offscreen rendering (RGB, metric depth, object segmentation) and mp4 writing."""

from __future__ import annotations

import os
from pathlib import Path

import mujoco
import numpy as np


class SceneRenderer:
    """Renders one compiled model from its named cameras at one square size.

    MuJoCo needs an OpenGL context: set ``MUJOCO_GL=egl`` on headless machines.
    """

    def __init__(self, model: mujoco.MjModel, size: int, geom_to_object: np.ndarray) -> None:
        if size < 8:
            raise ValueError(f"image size must be >= 8, got size={size}")
        self.size = size
        self._renderer = mujoco.Renderer(model, size, size)
        # geom id -> object index; the table, gripper and anything else map to -1 (background).
        self._lut = np.where(geom_to_object >= 0, geom_to_object, -1).astype(np.int32)

    def rgb(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """RGB image ``(S, S, 3)`` uint8."""
        self._renderer.update_scene(data, camera)
        return self._renderer.render().copy()

    def depth(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """Metric depth ``(S, S)`` float32 (metres along the camera axis)."""
        self._renderer.enable_depth_rendering()
        try:
            self._renderer.update_scene(data, camera)
            return self._renderer.render().astype(np.float32, copy=True)
        finally:
            self._renderer.disable_depth_rendering()

    def segmentation(self, data: mujoco.MjData, camera: str) -> np.ndarray:
        """Object index per pixel ``(S, S)`` int32; -1 for table, gripper and background."""
        self._renderer.enable_segmentation_rendering()
        try:
            self._renderer.update_scene(data, camera)
            raw = self._renderer.render()  # (S, S, 2): id, object type
        finally:
            self._renderer.disable_segmentation_rendering()
        is_geom = raw[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)
        return np.where(is_geom, self._lut[np.maximum(raw[..., 0], 0)], -1).astype(np.int32)

    def close(self) -> None:
        self._renderer.close()


class RendererCache:
    """One ``SceneRenderer`` per image size for the current model, made on first use.

    A renderer is tied to the compiled model it was made for; asking with another model (a new
    episode, an intervention, a break rebuilt the scene) closes the old renderers first, so no
    caller has to remember to. ``close()`` frees them (the env's ``close`` does).
    """

    def __init__(self) -> None:
        self._by_size: dict[int, SceneRenderer] = {}
        self._model: mujoco.MjModel | None = None

    def get(self, model: mujoco.MjModel, size: int, geom_to_object: np.ndarray) -> SceneRenderer:
        if model is not self._model:
            self.close()
            self._model = model
        if size not in self._by_size:
            self._by_size[size] = SceneRenderer(model, size, geom_to_object)
        return self._by_size[size]

    @property
    def open(self) -> int:
        """How many renderers are open (each holds an OpenGL context and its buffers)."""
        return len(self._by_size)

    def close(self) -> None:
        for renderer in self._by_size.values():
            renderer.close()
        self._by_size, self._model = {}, None


def write_video(frames: list[np.ndarray] | np.ndarray, path: str | os.PathLike, fps: int = 25) -> Path:
    """Write RGB frames ``(T, H, W, 3)`` uint8 to an mp4 (OpenCV, mp4v), atomically."""
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a video writer for {tmp}")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(tmp, path)
    return path


def caption_frames(frames: list[np.ndarray], text: str) -> list[np.ndarray]:
    """Draw ``text`` (wrapped) on a dark band at the top of each frame (OpenCV)."""
    import textwrap

    import cv2

    if not frames:
        return frames
    width = frames[0].shape[1]
    scale = max(0.3, width / 900)
    lines = textwrap.wrap(text, width=max(20, int(width / (16 * scale))))
    band = int((len(lines) + 0.6) * 26 * scale)
    out = []
    for frame in frames:
        frame = frame.copy()
        frame[:band] = (frame[:band] * 0.35).astype(np.uint8)
        for k, line in enumerate(lines):
            cv2.putText(frame, line, (6, int((k + 1) * 24 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), 1, cv2.LINE_AA)
        out.append(frame)
    return out
