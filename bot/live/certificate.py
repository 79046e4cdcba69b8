"""A certificate of attendance: as a PDF (chat and ``eventbot certificate``) and as a
self-contained HTML page (the web). Social workers file these with their regulator as evidence
of CPD, so it names the person, the session, its date in the session's own zone, the hours and
the organiser, and carries a verification code that anyone can check (``verify_certificate``).

A code is random (``secrets``), 12 characters from an alphabet without look-alikes (no 0/O,
1/I/L, U): about 59 bits, so codes cannot be guessed or enumerated. Each person and session
keeps one code; a re-issue prints the same code and updates what the store says it certifies.

Every value from the programme or the person is HTML-escaped in the page; the PDF is set in
Source Serif Pro (shipped by the ``font-source-serif-pro`` package), which has Welsh's ŵ and ŷ.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import UTC, datetime, time
from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path

from bot.config import Config
from bot.i18n import Translator
from bot.live.session import cpd_hours, format_hours
from bot.models import CertificateRecord, Checkin, Occurrence
from bot.ports import Store, VerifiedCertificate
from bot.timeutil import format_when, local, zone

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12


def new_code() -> str:
    """A fresh, unguessable verification code in canonical form."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def canonical_code(text: str) -> str | None:
    """A code as a person may type it (``abcd-efgh-jkmn``, spaces) in canonical form, or None
    if it cannot be one."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -")
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def display_code(code: str) -> str:
    """``ABCDEFGHJKMN`` -> ``ABCD-EFGH-JKMN``, easier to read out and type."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def organiser_of(occurrence: Occurrence) -> str:
    """Who the certificate says ran the session: its facilitator or organiser, else the programme."""
    return occurrence.facilitator or occurrence.calendar


def verify_url(config: Config, record: CertificateRecord) -> str:
    """Where the web confirms this certificate (``…/verify/<code>``), or "" without a web address."""
    base = config.web_base_url.rstrip("/")
    return f"{base}/verify/{record.code}" if base else ""


async def issue_certificate(store: Store, occurrence: Occurrence, checkin: Checkin, *, name: str,
                            now: datetime) -> CertificateRecord:
    """Record a certificate for a person who checked in, and return it with its code (the same
    code as any earlier certificate of theirs for this session)."""
    tz = zone(occurrence.timezone or "UTC")
    day = occurrence.start_date if occurrence.all_day and occurrence.start_date else local(occurrence.start, tz).date()
    record = CertificateRecord(code=new_code(), occurrence_id=occurrence.id, name=name, session=occurrence.title,
                               date=day, hours=cpd_hours(occurrence), organiser=organiser_of(occurrence),
                               issued_at=now)
    return await store.certificates.issue(record, checkin.user_id)


async def verify_certificate(store: Store, code: str) -> CertificateRecord | None:
    """The certificate a code belongs to, or None: what ``/verify/<code>`` shows. ``code`` may
    be typed in any case, with dashes or spaces."""
    canonical = canonical_code(code)
    if canonical is None:
        return None
    return await store.certificates.by_code(canonical)

async def verified(store: Store, code: str) -> VerifiedCertificate | None:
    """What ``/verify/<code>`` shows of a certificate, or None for a code the bot never issued."""
    record = await verify_certificate(store, code)
    if record is None:
        return None
    occurrence = await store.calendars.get_occurrence(record.occurrence_id)
    if occurrence is not None:
        start, tz = occurrence.start, occurrence.timezone
    else:  # the calendar has gone since; the certificate stands, on its date
        start, tz = datetime.combine(record.date, time(12), UTC), ""
    return VerifiedCertificate(code=display_code(record.code), name=record.name, title=record.session,
                               start=start, timezone=tz, cpd_hours=record.hours, organiser=record.organiser)


_STYLE = """
@page { size: A4 landscape; margin: 0; }
* { box-sizing: border-box; }
body { margin: 0; background: #eef1f5; font-family: Georgia, 'Times New Roman', serif; color: #1d2733; }
.sheet { width: 297mm; min-height: 210mm; margin: 0 auto; padding: 14mm; background: #fff; }
.frame { border: 3px solid #1f4e79; outline: 1px solid #1f4e79; outline-offset: -9px; min-height: 182mm;
         padding: 16mm 20mm; text-align: center; display: flex; flex-direction: column; }
.kicker { font: 600 11pt/1.2 'Helvetica Neue', Arial, sans-serif; letter-spacing: .25em;
          text-transform: uppercase; color: #1f4e79; }
h1 { font-size: 30pt; font-weight: normal; margin: 6mm 0 2mm; }
.lead { font-size: 13pt; color: #4a5663; margin: 0; }
.name { font-size: 28pt; margin: 8mm auto 2mm; padding: 0 12mm 2mm; border-bottom: 1px solid #9fb3c8;
        display: inline-block; }
.title { font-size: 19pt; font-style: italic; margin: 4mm 0 8mm; }
dl { display: grid; grid-template-columns: repeat(3, 1fr); gap: 4mm 10mm; margin: 0 auto; max-width: 220mm;
     font-family: 'Helvetica Neue', Arial, sans-serif; }
dt { font-size: 9pt; letter-spacing: .12em; text-transform: uppercase; color: #6b7785; }
dd { margin: 1mm 0 0; font-size: 13pt; }
footer { margin-top: auto; padding-top: 10mm; font: 9pt/1.4 'Helvetica Neue', Arial, sans-serif;
         color: #6b7785; }
@media print { body { background: #fff; } .sheet { margin: 0; } }
"""


def certificate_id(occurrence: Occurrence, checkin: Checkin) -> str:
    """A short reference that identifies this certificate without revealing the user id."""
    digest = hashlib.sha256(f"{occurrence.id}|{checkin.user_id}|{checkin.checked_in_at.isoformat()}".encode())
    return digest.hexdigest()[:12].upper()


def _when(occurrence: Occurrence, _: Translator) -> str:
    tz = zone(occurrence.timezone or "UTC")
    when = format_when(occurrence.start, tz, _, all_day=occurrence.all_day, start_date=occurrence.start_date)
    if not occurrence.all_day:
        end = local(occurrence.end, tz)
        when += f"–{end:%H:%M}"
    return when


def certificate_html(occurrence: Occurrence, checkin: Checkin, _: Translator, *, name: str,
                     code: str | None = None) -> str:
    """The page; with ``code`` (from ``issue_certificate``) it shows the verification code
    instead of the older hashed reference."""
    tz = zone(occurrence.timezone or "UTC")
    when = _when(occurrence, _)
    hours = format_hours(cpd_hours(occurrence))
    checked_in = local(checkin.checked_in_at, tz)
    fields = [
        (_("Date"), when),
        (_("CPD hours"), hours),
        (_("Facilitator"), occurrence.facilitator or _("The organising team")),
    ]
    if occurrence.location:
        fields.append((_("Location"), occurrence.location))
    fields.append((_("Programme"), occurrence.calendar))
    fields.append((_("Checked in"), f"{checked_in:%Y-%m-%d %H:%M} {checked_in.tzname() or ''}".rstrip()))
    items = "\n".join(f"      <div><dt>{escape(label)}</dt><dd>{escape(value)}</dd></div>" for label, value in fields)
    reference = display_code(code) if code else certificate_id(occurrence, checkin)
    return f"""<!DOCTYPE html>
<html lang="{escape(_.language)}">
<head>
<meta charset="utf-8">
<title>{escape(_("Certificate of attendance"))} — {escape(occurrence.title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main class="sheet">
  <div class="frame">
    <div class="kicker">{escape(_("Continuing professional development"))}</div>
    <h1>{escape(_("Certificate of attendance"))}</h1>
    <p class="lead">{escape(_("This is to certify that"))}</p>
    <div><span class="name">{escape(name)}</span></div>
    <p class="lead">{escape(_("attended the session"))}</p>
    <p class="title">{escape(occurrence.title)}</p>
    <dl>
{items}
    </dl>
    <footer>
      {escape(_("Attendance was recorded by check-in during the session."))}
      {escape(_("Certificate reference {ref} · session {id}", ref=reference, id=occurrence.id))}
    </footer>
  </div>
</main>
</body>
</html>
"""


# -- PDF ---------------------------------------------------------------------------------

INK = (29, 39, 51)
ACCENT = (31, 78, 121)
MUTED = (107, 119, 133)
RULE = (159, 179, 200)


@cache
def _font_files() -> tuple[Path, Path]:
    folder = files("font_source_serif_pro") / "files"
    return (Path(str(folder / "SourceSerifPro-Regular.ttf")), Path(str(folder / "SourceSerifPro-Bold.ttf")))


@cache
def _glyphs() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(_font_files()[0], lazy=True) as font:
        return frozenset(font.getBestCmap())


def _printable(text: str) -> str:
    """Text the font can set: composed (``w`` + combining circumflex is ``ŵ``), line breaks
    as spaces; letters and digits the font lacks (other scripts) as ``?`` rather than a
    blank, and symbols it lacks (emoji) left out."""
    glyphs = _glyphs()
    text = unicodedata.normalize("NFC", text)
    kept = "".join(ch if ord(ch) in glyphs else "?" if unicodedata.category(ch)[0] in "LN" else " "
                   for ch in text)
    return " ".join(kept.split())


def certificate_pdf(record: CertificateRecord, occurrence: Occurrence, _: Translator, *,
                    verify_url: str = "") -> bytes:
    """One A4 landscape page, in the reader's language, for a certificate from
    ``issue_certificate``. ``verify_url`` (the web's ``…/verify/<code>``), where there is one,
    is printed under the code. CPU-bound: call it in a thread from async code."""
    from fpdf import FPDF
    from fpdf.enums import Align, XPos, YPos

    regular, bold = _font_files()
    pdf = FPDF(orientation="landscape", unit="mm", format="A4")
    pdf.set_creation_date(record.issued_at)
    pdf.set_title(_printable(f"{_('Certificate of attendance')} — {record.session}"))
    pdf.set_author(_printable(record.organiser))
    pdf.set_creator("eventbot")
    pdf.set_lang(_.language)
    pdf.set_auto_page_break(False)
    pdf.set_margins(30, 24, 30)
    pdf.add_font("serif", "", regular)
    pdf.add_font("serif", "B", bold)
    pdf.add_page()
    width, height = pdf.w, pdf.h
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(1.0)
    pdf.rect(12, 12, width - 24, height - 24)
    pdf.set_line_width(0.3)
    pdf.rect(16, 16, width - 32, height - 32)

    def line(text: str, size: float, *, style: str = "", colour: tuple[int, int, int] = INK,
             gap: float = 0) -> None:
        pdf.set_font("serif", style, size)
        pdf.set_text_color(*colour)
        pdf.multi_cell(0, size * 0.45, _printable(text), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if gap:
            pdf.ln(gap)

    pdf.set_y(30)
    line(_("Continuing professional development").upper(), 11, style="B", colour=ACCENT, gap=4)
    line(_("Certificate of attendance"), 30, gap=4)
    line(_("This is to certify that"), 13, colour=MUTED, gap=3)
    line(record.name, 26, style="B")
    y = pdf.get_y() + 1
    pdf.set_draw_color(*RULE)
    pdf.line(width / 2 - 70, y, width / 2 + 70, y)
    pdf.ln(5)
    line(_("attended the session"), 13, colour=MUTED, gap=2)
    line(record.session, 19, gap=6)
    fields = [(_("Date"), _when(occurrence, _)), (_("CPD hours"), format_hours(record.hours)),
              (_("Organiser"), record.organiser)]
    if occurrence.location:
        fields.append((_("Location"), occurrence.location))
    column = (width - 60) / len(fields)
    top = pdf.get_y()
    for i, (label, value) in enumerate(fields):
        pdf.set_xy(30 + i * column, top)
        pdf.set_font("serif", "B", 9)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(column, 5, _printable(label.upper()), align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font("serif", "", 13)
        pdf.set_text_color(*INK)
        pdf.multi_cell(column, 6, _printable(value), align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(height - 50)
    line(_("Attendance was recorded by check-in during the session."), 9, colour=MUTED, gap=2)
    line(_("Verification code: {code}", code=display_code(record.code)), 12, style="B", colour=ACCENT)
    if verify_url:
        line(_("Check it at {url}", url=verify_url), 9, colour=MUTED)
    return bytes(pdf.output())
