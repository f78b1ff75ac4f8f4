"""Draw the application icon into resources/icons/ (PNG sizes, SVG, Windows .ico, macOS .icns).

    python installer/make_icons.py

A dark-blue rounded square with a white bone laid diagonally and a warm "heat" spot on it (the
Grad-CAM idea). Pure Pillow, no design tools; the outputs are committed, so this only needs to run
when the icon changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

log = logging.getLogger("make_icons")

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "icons"
BG = (23, 59, 104, 255)
BONE = (244, 241, 232, 255)
HEAT = (255, 122, 40)

SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <title>osteo-desktop</title>
  <defs>
    <radialGradient id="heat" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0" stop-color="#ff7a28" stop-opacity="0.95"/>
      <stop offset="1" stop-color="#ff7a28" stop-opacity="0"/>
    </radialGradient>
  </defs>
  <rect x="8" y="8" width="240" height="240" rx="44" fill="#173b68"/>
  <g transform="rotate(-45 128 128)" fill="#f4f1e8">
    <rect x="62" y="114" width="132" height="28" rx="10"/>
    <circle cx="62" cy="112" r="22"/><circle cx="62" cy="144" r="22"/>
    <circle cx="194" cy="112" r="22"/><circle cx="194" cy="144" r="22"/>
  </g>
  <circle cx="146" cy="110" r="34" fill="url(#heat)"/>
</svg>
"""


def draw(size: int) -> Image.Image:
    s = 4 * size  # draw large, downsample for smooth edges
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    m = s * 8 // 256
    d.rounded_rectangle((m, m, s - m, s - m), radius=s * 44 // 256, fill=BG)
    bone = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    b = ImageDraw.Draw(bone)
    u = s / 256
    b.rounded_rectangle((62 * u, 114 * u, 194 * u, 142 * u), radius=10 * u, fill=BONE)
    for cx, cy in ((62, 112), (62, 144), (194, 112), (194, 144)):
        b.ellipse(((cx - 22) * u, (cy - 22) * u, (cx + 22) * u, (cy + 22) * u), fill=BONE)
    bone = bone.rotate(45, resample=Image.BICUBIC, center=(s / 2, s / 2))
    img.alpha_composite(bone)
    heat = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    h = ImageDraw.Draw(heat)
    cx, cy, r = 146 * u, 110 * u, 34 * u
    for i in range(40, 0, -1):
        rr = r * i / 40
        alpha = int(240 * (1 - i / 40) ** 0.8)
        h.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=(*HEAT, alpha))
    heat = heat.filter(ImageFilter.GaussianBlur(radius=2 * u))
    img.alpha_composite(heat)
    return img.resize((size, size), Image.LANCZOS)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw(512)
    big.resize((256, 256), Image.LANCZOS).save(OUT / "osteo-desktop.png", optimize=True)
    for n in (16, 32, 48, 128):
        draw(n).save(OUT / f"osteo-desktop-{n}.png", optimize=True)
    big.save(OUT / "osteo-desktop.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    try:
        big.save(OUT / "osteo-desktop.icns")
    except (OSError, ValueError, KeyError) as e:  # ICNS writing needs a recent Pillow
        log.warning("could not write the .icns (%s); the macOS build then uses PyInstaller's default icon", e)
    (OUT / "osteo-desktop.svg").write_text(SVG, encoding="utf-8")
    log.info("icons written to %s", OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
