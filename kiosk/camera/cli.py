"""``otklik camera``: run the counter once on a video or a camera and print what it counted."""

from __future__ import annotations

import json

import click

from otklik.command import command


@command("camera")
@click.option("--video", type=click.Path(dir_okay=False), help="Count the people in this video file.")
@click.option("--device", type=int, help="Count from this V4L2 camera (/dev/videoN).")
@click.option("--picamera", is_flag=True, help="Count from the Raspberry Pi camera (Picamera2).")
@click.option(
    "--seconds", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds (cameras: default 30)."
)
@click.option("--detector", type=click.Choice(["auto", "blazeface", "haar"]), default="auto", show_default=True,
              help="Face detector; auto is BlazeFace with Haar as the fallback.")  # fmt: skip
@click.option("--width", type=click.IntRange(16, 4096), default=320, show_default=True,
              help="Process frames at this width.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def camera(
    video: str | None,
    device: int | None,
    picamera: bool,
    seconds: float | None,
    detector: str,
    width: int,
    as_json: bool,
) -> None:
    """Count visitors and smiling visitors once, the way the kiosk does, and print the result.

    Nothing is sent or stored: this is the technician's check of a camera's
    placement (are passers-by seen, at what frame rate?) and a way to test the
    counter on any video.

    \b
    Example:
        otklik camera --video shop-door.avi
        otklik camera --device 0 --seconds 60 --json
        otklik camera --picamera --seconds 20
    """
    import cv2

    from kiosk.camera.counter import count_source
    from kiosk.camera.detect import make_detector
    from kiosk.camera.models import ModelNotFound
    from kiosk.camera.sources import CameraUnavailable, open_source

    chosen = [name for name, given in (("--video", video), ("--device", device is not None), ("--picamera", picamera))
              if given]  # fmt: skip
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --video FILE, --device N or --picamera")
    cv2.setNumThreads(1)  # as on the kiosk, so the frame rate printed is the kiosk's
    try:
        faces = make_detector(detector)
        if video:
            source = open_source("file", video=video)
        elif picamera:
            source = open_source("picamera", width=width, height=width * 3 // 4)
        else:
            source = open_source("device", device=device or 0, width=width, height=width * 3 // 4)
    except ModelNotFound as err:
        err.hint = "install the camera extra: pip install 'otklik[camera]'"
        raise
    except CameraUnavailable as err:
        err.hint = "check the path or `v4l2-ctl --list-devices`"
        raise
    if seconds is None and not video:
        seconds = 30.0
    try:
        summary = count_source(source, faces, width=width, seconds=seconds)
    finally:
        source.close()
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
        return
    click.echo(f"source:           {summary.source}")
    click.echo(f"detector:         {summary.detector}")
    click.echo(f"visitors:         {summary.visitors}")
    click.echo(f"smiling visitors: {summary.smiling}")
    click.echo(f"frames:           {summary.frames} over {summary.seconds:.1f} s")
    click.echo(f"frames/second:    {summary.fps:.1f}")


COMMANDS = [camera]
