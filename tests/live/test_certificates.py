"""Certificates as PDF, with verification codes that anyone can check and nobody can guess."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from bot.cli import main
from bot.clock import FakeClock
from bot.live.certificate import CODE_ALPHABET, CODE_LENGTH, display_code, new_code, verify_certificate
from bot.models import CertificateRecord, Incoming, UserRef
from bot.store.sql import SqlStore
from tests.databases import database_for
from tests.harness import START, Harness, make_occurrence
from tests.live.conftest import SESSION, NativePollAdapter, go_live


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    # A4 landscape: 297 x 210 mm in points.
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)
    return page.extract_text()


async def certificate_of(h: Harness, user: str, *args: str) -> bytes:
    await h.say(user, " ".join(("/certificate", *args)))
    sent = h.adapter.to(user)[-1]
    assert sent.attachment is not None, sent.text
    assert sent.attachment.mime_type == "application/pdf"
    assert sent.attachment.filename == f"certificate-{SESSION.id}.pdf"
    assert sent.attachment.content.startswith(b"%PDF-")
    return sent.attachment.content


def code_in(text: str) -> str:
    line = next(line for line in text.splitlines() if ":" in line and "-" in line.rpartition(":")[2])
    return line.rpartition(":")[2].strip().replace("-", "")


async def test_certificate_pdf_names_everything_and_verifies(tmp_path: Path) -> None:
    async with Harness.open(tmp_path, adapter=NativePollAdapter(),
                            web_base_url="https://events.example.org/") as h:
        await go_live(h)
        await h.say("alice", "/checkin")
        text = pdf_text(await certificate_of(h, "alice"))
        for expected in ("Certificate of attendance", "alice", "Safeguarding adults",
                         "Mon 17 Mar 2025, 08:00 GMT–09:30", "1.5", "Dr Megan Rhys", "Verification code: "):
            assert expected in text, (expected, text)
        code = code_in(text)
        assert f"https://events.example.org/verify/{code}" in text
        record = await verify_certificate(h.app.store, code)
        assert record == CertificateRecord(code=code, occurrence_id="ev1", name="alice", session="Safeguarding adults",
                                           date=date(2025, 3, 17), hours=1.5, organiser="Dr Megan Rhys",
                                           issued_at=START)
        # Typed by a person reading it off the page: any case, dashes or spaces.
        assert await verify_certificate(h.app.store, display_code(code).lower()) == record
        assert await verify_certificate(h.app.store, " ".join(display_code(code).split("-"))) == record


async def test_reissue_keeps_the_code_and_others_get_their_own(tmp_path: Path) -> None:
    async with Harness.open(tmp_path, adapter=NativePollAdapter()) as h:
        await go_live(h)
        await h.say("alice", "/checkin")
        await h.say("bob", "/checkin")
        first = code_in(pdf_text(await certificate_of(h, "alice")))
        await h.advance(timedelta(days=30))
        await h.say("alice", "/certificate ev1")
        again = code_in(pdf_text(h.adapter.to("alice")[-1].attachment.content))  # type: ignore[union-attr]
        assert again == first
        record = await verify_certificate(h.app.store, first)
        assert record is not None and record.issued_at == START + timedelta(days=30)
        assert code_in(pdf_text(await certificate_of(h, "bob"))) != first


@pytest.mark.parametrize("guess", ["", "ABCD", "0000-0000-0000", "OOOO-IIII-LLLL", "x" * 500,
                                   "'; DROP TABLE certificates; --", "ABCD-EFGH-JKM\u0307N"])
async def test_a_guessed_or_malformed_code_verifies_nothing(tmp_path: Path, guess: str) -> None:
    store = await SqlStore.open(database_for(tmp_path), FakeClock(START))
    try:
        assert await verify_certificate(store, guess) is None
        assert await verify_certificate(store, new_code()) is None
    finally:
        await store.close()


def test_codes_are_random_and_long() -> None:
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == CODE_LENGTH >= 10 and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert len(CODE_ALPHABET) ** CODE_LENGTH > 2**58


async def test_two_processes_issuing_at_once_agree_on_one_code(backend: Path | str) -> None:
    one = await SqlStore.open(backend, FakeClock(START))
    two = await SqlStore.open(backend, FakeClock(START))
    try:
        record = CertificateRecord(code=new_code(), occurrence_id="ev1", name="Siân", session="S",
                                   date=date(2025, 3, 17), hours=1.5, organiser="O", issued_at=START)
        issued = await asyncio.gather(*(store.certificates.issue(replace(record, code=new_code()), "fake:sian")
                                        for store in (one, two, one, two)))
        assert len({r.code for r in issued}) == 1
        assert await one.certificates.by_code(issued[0].code) == issued[0]
    finally:
        await one.close()
        await two.close()


async def test_welsh_certificate_with_welsh_letters(tmp_path: Path) -> None:
    welsh = make_occurrence("Gwaith ieuenctid ac ŵyr: ŷd, tân a dŵr", START, 60, id="ev1", cpd_hours=1.0,
                            facilitator="Gwenllïan Ŵyn")
    async with Harness.open(tmp_path, adapter=NativePollAdapter()) as h:
        await go_live(h, welsh)
        await h.say("dafydd", "/language cy")
        # A display name with a combining circumflex, an emoji and a line break in it.
        dafydd = UserRef("fake:dafydd", "Dafydd W\u0302ynne 🎓\nJones", username="dafydd")
        for command in ("/checkin", "/certificate"):
            await h.adapter.push(Incoming(user=dafydd, chat=h.adapter.room, text=command))
        sent = h.adapter.to("dafydd")[-1]
        assert sent.attachment is not None
        text = pdf_text(sent.attachment.content)
        for expected in ("Tystysgrif presenoldeb", "Mae hyn yn tystio bod", "Gwaith ieuenctid ac ŵyr: ŷd, tân a dŵr",
                         "Gwenllïan Ŵyn", "TREFNYDD", "ORIAU DPP", "Llun 17 Maw 2025", "Cod dilysu: "):
            assert expected in text, (expected, text)
        assert "Dafydd Ŵynne Jones" in text and "🎓" not in text


async def test_no_certificate_without_a_checkin_or_for_someone_else(tmp_path: Path) -> None:
    async with Harness.open(tmp_path, adapter=NativePollAdapter()) as h:
        await go_live(h)
        assert (await h.say("alice", "/certificate")) == [
            "You did not check in to “Safeguarding adults”, so there is no certificate for it."]
        await h.say("bob", "/checkin")
        assert (await h.say("alice", "/certificate ev1"))[0].startswith("You did not check in")
        assert not [m for m in h.adapter.to("alice") if m.attachment is not None]


def _prepared_db(tmp_path: Path) -> Path | str:
    db = database_for(tmp_path)

    async def scenario() -> None:
        async with Harness.open(tmp_path, db=db) as h:
            await go_live(h)
            await h.say("alice", "/checkin")
            await h.say("bob", "/language cy")
            await h.say("bob", "/checkin")

    asyncio.run(scenario())
    return db


def test_certificate_cli_writes_a_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _prepared_db(tmp_path)
    out = tmp_path / "cert.pdf"
    assert main(["--db", str(db), "certificate", "--event", SESSION.id, "--user", "fake:alice",
                 "--out", str(out)]) == 0
    text = pdf_text(out.read_bytes())
    assert "alice" in text and "Safeguarding adults" in text and "Dr Megan Rhys" in text and "1.5" in text
    code = code_in(text)
    assert f"verification code {code}" in capsys.readouterr().err
    # Again, and as the web's HTML page: the same code.
    assert main(["--db", str(db), "certificate", "--event", SESSION.id, "--user", "fake:alice",
                 "--out", str(out), "--html"]) == 0
    assert display_code(code) in out.read_text(encoding="utf-8")
    # Bob chose Welsh.
    assert main(["--db", str(db), "certificate", "--event", SESSION.id, "--user", "fake:bob",
                 "--out", str(out)]) == 0
    assert "Tystysgrif presenoldeb" in pdf_text(out.read_bytes())
    assert main(["--db", str(db), "certificate", "--event", SESSION.id, "--user", "fake:nobody"]) == 1
    assert "did not check in" in capsys.readouterr().err
