"""Poll results as a PNG bar chart, for chats that can show images.

Pillow draws it (with its bundled font, so no system fonts are needed). If Pillow is not
installed the chart is skipped and the text chart alone carries the results.
"""

from __future__ import annotations

import io
import logging

from bot.models import Attachment, Poll, PollTally

log = logging.getLogger(__name__)

WIDTH = 800
ROW = 46
PAD = 24
BAR_COLOUR = (46, 110, 170)
CORRECT_COLOUR = (40, 150, 80)
TRACK_COLOUR = (230, 234, 240)
TEXT_COLOUR = (30, 30, 30)


def results_png(poll: Poll, tally: PollTally, *, final: bool, footer: str) -> Attachment | None:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        log.info("Pillow is not installed: results go out as text only")
        return None
    title_font = ImageFont.load_default(size=22)
    font = ImageFont.load_default(size=17)
    height = PAD * 2 + 40 + ROW * len(poll.options) + 30
    image = Image.new("RGB", (WIDTH, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), _clip(draw, poll.question, title_font, WIDTH - 2 * PAD), fill=TEXT_COLOUR,
              font=title_font)
    label_width = 260
    track = WIDTH - 2 * PAD - label_width - 110
    top = PAD + 44
    for i, (text, votes) in enumerate(zip(poll.options, tally.votes, strict=True)):
        y = top + i * ROW
        share = votes / tally.voters if tally.voters else 0.0
        draw.text((PAD, y + 6), _clip(draw, f"{i + 1}. {text}", font, label_width - 10), fill=TEXT_COLOUR,
                  font=font)
        x0 = PAD + label_width
        draw.rectangle((x0, y + 4, x0 + track, y + ROW - 12), fill=TRACK_COLOUR)
        colour = CORRECT_COLOUR if final and poll.correct == i else BAR_COLOUR
        if share > 0:
            draw.rectangle((x0, y + 4, x0 + max(2, round(track * share)), y + ROW - 12), fill=colour)
        pct = round(100 * share)
        draw.text((x0 + track + 10, y + 6), f"{votes} ({pct}%)", fill=TEXT_COLOUR, font=font)
    draw.text((PAD, height - PAD - 18), footer, fill=(110, 110, 110), font=font)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return Attachment(filename=f"poll-{poll.id}-results.png", content=out.getvalue(), mime_type="image/png")


def _clip(draw: object, text: str, font: object, width: int) -> str:
    measure = draw.textlength  # type: ignore[attr-defined]
    if measure(text, font=font) <= width:
        return text
    while text and measure(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
