"""The printable QR sheet: the code, the branch's name, a short instruction, as PNG or PDF.

Drawn with Pillow for both formats (a PDF is the same page saved at 300 dpi): Pillow's
text layout (libraqm: HarfBuzz and FriBiDi) joins Persian letters and orders right-to-left
lines correctly, which reportlab does not do without extra shaping packages. The code
itself is segno's (already the bootstrap QR's library), at error correction M: a sheet
behind a till gets scratched.
"""

from __future__ import annotations

import io
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont, features

from hub.provisioning import ProvisionError
from otklik.shopper_texts import TEXTS

DPI = 300
# A5 portrait: fits a table stand or the side of a kiosk.
PAGE_MM = (148, 210)
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian/Ubuntu fonts-dejavu-core: Latin, Cyrillic, Arabic
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
FORMATS = (".png", ".pdf")


def _px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


def find_font(given: str | Path | None = None) -> Path:
    for candidate in [given] if given else FONTS:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ProvisionError(
        f"no font with Persian and Cyrillic letters at {given or ', '.join(FONTS)}",
        hint="install fonts-dejavu-core (apt) or give --font FILE.ttf",
        field="--font",
    )


def render(url: str, *, name: str, language: str, footer: str, font: str | Path | None = None) -> Image.Image:
    """The sheet as an image: ``name`` (the branch's, as its shoppers know it) in ``language``."""
    if not features.check("raqm"):
        # Without it Persian would print as separate letters in the wrong order.
        raise ProvisionError(
            "this Pillow has no complex text layout (libraqm)",
            hint="install libfribidi0 (apt), which the layout loads at run time, or a Pillow built with libraqm",
        )
    path = find_font(font)
    texts = TEXTS[language]
    rtl = language == "fa"
    width, height = _px(PAGE_MM[0]), _px(PAGE_MM[1])
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    margin = _px(12)

    def line(text: str, y: int, size: int, colour: str = "black") -> int:
        """Draw ``text`` centred from ``y``, wrapped to the page; returns the y below it."""
        face = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)
        options = {"direction": "rtl", "language": "fa"} if rtl else {"language": language}
        for row in _wrap(draw, text, face, width - 2 * margin, options):
            draw.text((width // 2, y), row, font=face, fill=colour, anchor="ma", **options)  # type: ignore[arg-type]
            y += round(size * 1.35)
        return y

    y = line(texts["sheet_title"], _px(16), _px(9))
    y = line(name, y + _px(2), _px(7), "#333333")
    qr = segno.make(url, error="m")
    side = _px(95)
    scale = max(1, side // qr.symbol_size(border=0)[0])
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=0)
    code = Image.open(buffer).convert("RGB")
    top = y + _px(8)
    page.paste(code, ((width - code.width) // 2, top))
    y = line(texts["sheet_hint"], top + code.width + _px(10), _px(4.5))
    # For whoever revokes it later: which code this is (ids are Latin in every language).
    face = ImageFont.truetype(str(path), _px(3), layout_engine=ImageFont.Layout.RAQM)
    draw.text((width // 2, height - _px(10)), footer, font=face, fill="#777777", anchor="ms")
    return page


def _wrap(draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont, room: int, options: dict) -> list[str]:
    rows: list[str] = []
    for word in text.split():
        candidate = f"{rows[-1]} {word}" if rows else word
        if rows and draw.textlength(candidate, font=face, **options) <= room:
            rows[-1] = candidate
        else:
            rows.append(word)
    return rows


def save(page: Image.Image, out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ProvisionError(f"--out {out} must end in .png or .pdf", field="--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".pdf":
        page.save(out, "PDF", resolution=DPI)
    else:
        page.save(out, "PNG", dpi=(DPI, DPI))
