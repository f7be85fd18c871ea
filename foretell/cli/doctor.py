"""``foretell doctor``: can this machine render MuJoCo headless, and how to fix it if not."""

from __future__ import annotations

import os

import typer

from ._common import fail


def doctor() -> None:
    """Check that MuJoCo can render headless (EGL) and say how to fix it if not."""
    import ctypes.util

    backend = os.environ.get("MUJOCO_GL", "")
    typer.echo(f"MUJOCO_GL={backend}")
    if backend == "egl" and ctypes.util.find_library("EGL") is None:
        fail("libEGL was not found. On Debian/Ubuntu: sudo apt-get install libegl1 libegl-mesa0 "
             "libgl1-mesa-dri (Mesa llvmpipe renders on the CPU; an NVIDIA driver provides its own EGL).")
    try:
        import mujoco

        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1 1 .1' type='plane'/>"
                                               "</worldbody></mujoco>")
        with mujoco.Renderer(model, 32, 32) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
    except Exception as exc:  # noqa: BLE001 - report any GL failure with the fix
        fail(f"MuJoCo could not render with MUJOCO_GL={backend}: {exc}. Install the EGL/Mesa packages "
             "(libegl1 libegl-mesa0 libgl1-mesa-dri) or set MUJOCO_GL to a backend this machine has.")
    typer.echo(f"ok: mujoco {mujoco.__version__} renders offscreen")
