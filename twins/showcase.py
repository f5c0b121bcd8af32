"""A twin's showcase: the key figure (a thumbnail) and the skill figures on the hub's front page.

A twin declares ``showcase: package.module:function`` in its manifest; the function runs a small
real computation (the same model and data its notebook uses) and returns a :class:`Showcase`:
one matplotlib figure and a few :class:`Skill` values, each judged against an independent
reference (observations, an exact solution, a published curve, a definition). Rendering is done
once, at build time (``make data`` runs ``python -m twinhub.twins.showcase``), into the data
folder, so the front page only reads small files and never runs a model while a person waits.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from twinhub.twins.manifest import TwinManifest, discover, load_manifest, resolve_entry_point

SHOWCASE_DIR = "showcase"
"""Folder under the data folder that holds ``<twin>.png`` and ``<twin>.json``."""
THUMBNAIL_DPI = 80


@dataclass(frozen=True)
class Skill:
    """One skill figure: a value the twin computed and what it is judged against."""

    label: str
    value: float
    reference: str
    unit: str = ""
    digits: int = 2

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"skill {self.label!r}: value {self.value!r} is not a finite number")

    @property
    def text(self) -> str:
        value = f"{self.value:.{self.digits}f}"
        return f"{value} {self.unit}".strip()


@dataclass
class Showcase:
    """What a twin's ``showcase`` entry point returns."""

    figure: Any  # matplotlib.figure.Figure
    skills: list[Skill] = field(default_factory=list)
    caption: str = ""


def showcase_dir(data_dir: Path) -> Path:
    return Path(data_dir) / SHOWCASE_DIR


def render(manifest: TwinManifest, out_dir: Path) -> Path:
    """Run the twin's showcase and write ``<name>.png`` and ``<name>.json`` (whole or nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not manifest.showcase:
        raise ValueError(f"twin {manifest.name!r} declares no showcase in its manifest")
    result = resolve_entry_point(manifest.showcase)()
    if not isinstance(result, Showcase):
        raise TypeError(f"{manifest.showcase} returned {type(result).__name__}, not a Showcase")
    out_dir.mkdir(parents=True, exist_ok=True)
    png, meta = out_dir / f"{manifest.name}.png", out_dir / f"{manifest.name}.json"
    tmp_png, tmp_meta = png.with_suffix(".png.tmp"), meta.with_suffix(".json.tmp")
    try:
        result.figure.savefig(tmp_png, dpi=THUMBNAIL_DPI, bbox_inches="tight", format="png")
        payload = {
            "twin": manifest.name,
            "version": manifest.version,
            "caption": result.caption,
            "skills": [{**asdict(s), "text": s.text} for s in result.skills],
        }
        tmp_meta.write_text(json.dumps(payload, indent=2))
        tmp_png.replace(png)
        tmp_meta.replace(meta)
    finally:
        plt.close(result.figure)
        tmp_png.unlink(missing_ok=True)
        tmp_meta.unlink(missing_ok=True)
    return png


def read(data_dir: Path, name: str) -> dict[str, Any] | None:
    """The rendered showcase of a twin (skills, caption), or None if not rendered yet."""
    meta = showcase_dir(data_dir) / f"{name}.json"
    png = showcase_dir(data_dir) / f"{name}.png"
    if not (meta.is_file() and png.is_file()):
        return None
    try:
        return json.loads(meta.read_text())
    except ValueError:
        return None


def up_to_date(manifest: TwinManifest, out_dir: Path) -> bool:
    meta = out_dir / f"{manifest.name}.json"
    if not meta.is_file() or not (out_dir / f"{manifest.name}.png").is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("version") == manifest.version
    except ValueError:
        return False


def build_all(data_dir: Path, force: bool = False, only: list[str] | None = None) -> list[str]:
    """Render the showcase of every discovered twin that declares one; names rendered."""
    out = showcase_dir(data_dir)
    done = []
    for path in discover():
        manifest = load_manifest(path)
        if not manifest.showcase or (only and manifest.name not in only):
            continue
        if not force and up_to_date(manifest, out):
            continue
        print(f"showcase of {manifest.name} ...", flush=True)
        render(manifest, out)
        done.append(manifest.name)
    return done


def main(argv: list[str] | None = None) -> int:
    from twinhub.catalogs.location import data_dir
    from twinhub.twins import showcase  # the importable module, not __main__ (its Showcase)

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("twins", nargs="*", help="only these twins (default: all)")
    parser.add_argument("--force", action="store_true", help="render even if up to date")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: the data folder")
    args = parser.parse_args(argv)
    done = showcase.build_all(
        args.data_dir or data_dir(), force=args.force, only=args.twins or None
    )
    print(f"showcases rendered: {', '.join(done) or 'none (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
