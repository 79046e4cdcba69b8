"""A certificate of attendance, as a self-contained HTML page (prints to one A4 landscape
page). Social workers file these with their regulator as evidence of CPD, so it names the
person, the session, its date in the session's own zone, the hours and the facilitator.

Every value from the programme or the person is HTML-escaped.
"""

from __future__ import annotations

import hashlib
from html import escape

from bot.i18n import Translator
from bot.live.session import cpd_hours, format_hours
from bot.models import Checkin, Occurrence
from bot.timeutil import format_when, local, zone

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


def certificate_html(occurrence: Occurrence, checkin: Checkin, _: Translator, *, name: str) -> str:
    tz = zone(occurrence.timezone or "UTC")
    when = format_when(occurrence.start, tz, _, all_day=occurrence.all_day, start_date=occurrence.start_date)
    if not occurrence.all_day:
        end = local(occurrence.end, tz)
        when += f"–{end:%H:%M}"
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
    reference = certificate_id(occurrence, checkin)
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
