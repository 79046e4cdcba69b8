"""Table definitions (SQLAlchemy Core), shared by the migrations and the repositories.

Times are stored as integer UTC epoch seconds: portable across SQLite and PostgreSQL,
cheap to compare and index, and free of driver time-zone quirks. Dates are ISO strings.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)

calendars = sa.Table(
    "calendars", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("timezone", sa.String(64), nullable=False, server_default=""),
    sa.Column("etag", sa.Text, nullable=False, server_default=""),
    sa.Column("last_modified", sa.Text, nullable=False, server_default=""),
    sa.Column("content_hash", sa.String(64), nullable=False, server_default=""),
    sa.Column("last_sync", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("refresh_minutes", sa.Integer, nullable=True),
    # A refresh held back because it would cancel too much (migration 10).
    sa.Column("held_since", sa.BigInteger, nullable=True),
    sa.Column("held_cancels", sa.Integer, nullable=False, server_default="0"),
    sa.Column("held_upcoming", sa.Integer, nullable=False, server_default="0"),
    sa.Column("held_hash", sa.String(64), nullable=False, server_default=""),
)

series = sa.Table(
    "series", metadata,
    sa.Column("series_id", sa.String(16), primary_key=True),
    sa.Column("calendar", sa.String(200), nullable=False, index=True),
    sa.Column("uid", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("ical", sa.Text, nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("recurring", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("content_hash", sa.String(64), nullable=False, server_default=""),
    sa.UniqueConstraint("calendar", "uid", name="uq_series_calendar_uid"),
)

occurrences = sa.Table(
    "occurrences", metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("calendar", sa.String(200), nullable=False),
    sa.Column("uid", sa.Text, nullable=False),
    sa.Column("recurrence_id", sa.String(32), nullable=False, server_default=""),
    sa.Column("series_id", sa.String(16), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("start_ts", sa.BigInteger, nullable=False),
    sa.Column("end_ts", sa.BigInteger, nullable=False),
    sa.Column("all_day", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("start_date", sa.String(10), nullable=True),
    sa.Column("end_date", sa.String(10), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("status", sa.String(16), nullable=False, server_default="confirmed"),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("location", sa.Text, nullable=False, server_default=""),
    sa.Column("url", sa.Text, nullable=False, server_default=""),
    sa.Column("facilitator", sa.Text, nullable=False, server_default=""),
    sa.Column("cpd_hours", sa.Float, nullable=True),
    sa.UniqueConstraint("calendar", "uid", "recurrence_id", name="uq_occurrence_identity"),
    sa.Index("ix_occurrences_start", "start_ts"),
    sa.Index("ix_occurrences_calendar_start", "calendar", "start_ts"),
)

users = sa.Table(
    "users", metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("display_name", sa.Text, nullable=True),
    sa.Column("timezone", sa.String(64), nullable=True),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("offsets", sa.Text, nullable=True),
    sa.Column("delivery", sa.String(16), nullable=False, server_default="dm"),
    sa.Column("delivery_chat", sa.String(200), nullable=True),
    sa.Column("quiet_start", sa.Integer, nullable=True),
    sa.Column("quiet_end", sa.Integer, nullable=True),
    # Migration 12: the platform's unique handle, the only name a grant may be made by.
    sa.Column("username", sa.String(200), nullable=True),
    # Migration 22: of a person's linked accounts, the one that gets their private reminders
    # (set by /delivery dm); None means the person's own id.
    sa.Column("delivery_user", sa.String(200), nullable=True),
    sa.Index("ix_users_display_name", sa.func.lower(sa.column("display_name"))),
)

chats = sa.Table(
    "chats", metadata,
    sa.Column("chat_id", sa.String(200), primary_key=True),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("updated_ts", sa.BigInteger, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions", metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(16), primary_key=True),
    sa.Column("calendar", sa.String(200), primary_key=True),
    sa.Index("ix_subscriptions_target", "scope", "target"),
)

facilitators = sa.Table(
    "facilitators", metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("event", sa.String(16), primary_key=True),
    sa.Column("granted_by", sa.String(200), nullable=False, server_default=""),
)

# --- reminders (migration 2) ------------------------------------------------------------

reminders = sa.Table(
    "reminders", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("occurrence_id", sa.String(16), nullable=False),
    sa.Column("offset_s", sa.Integer, nullable=False),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("start_ts", sa.BigInteger, nullable=False),
    # When it is meant to arrive, and when it may next be tried (due, or later after a retry).
    sa.Column("due_ts", sa.BigInteger, nullable=False),
    sa.Column("ready_ts", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("claim", sa.String(32), nullable=True),
    sa.Column("claimed_at", sa.BigInteger, nullable=True),
    # Migration 8: the worker whose claim it is (``workers.id``). Deliberately no foreign key:
    # a claim whose worker row is gone must stay visible as orphaned, to go back to pending.
    sa.Column("claimed_by", sa.Integer, nullable=True),
    sa.Column("sent_ts", sa.BigInteger, nullable=True),
    sa.Column("updated_ts", sa.BigInteger, nullable=False, server_default="0"),
    # Migration 7: programme-change notices share the outbox (claims, limits, retries, the
    # organisers' view). A notice's ``detail`` is what it tells, as JSON; its ``offset_s`` is
    # its refresh's number, negated, which keeps (person, session, offset) unique; its
    # ``start_ts`` is when the sessions it tells of are over.
    sa.Column("kind", sa.String(16), nullable=False, server_default="reminder"),
    sa.Column("detail", sa.Text, nullable=True),
    sa.UniqueConstraint("user_id", "occurrence_id", "offset_s", name="uq_reminder_key"),
    # Migration 25: ``id`` breaks ties, so a claim takes reminders ready at one instant in the
    # order they were planned, and a dead worker's batch, returned, goes first again.
    sa.Index("ix_reminders_status_ready_id", "status", "ready_ts", "id"),
    # Migration 5: lets a claim's ``id IN (…) AND status = 'pending'`` look its rows up by id
    # (SQLite would otherwise walk every pending row through the index above), and replaces
    # an index on ``claim`` that nothing needed: rows being sent are found by status.
    sa.Index("ix_reminders_status_id", "status", "id"),
    sa.Index("ix_reminders_occurrence", "occurrence_id"),
    sa.Index("ix_reminders_updated", "updated_ts"),
)

reminder_unreachable = sa.Table(
    "reminder_unreachable", metadata,
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("since_ts", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("told", sa.Boolean, nullable=False, server_default=sa.false()),
)

reminder_meta = sa.Table(
    "reminder_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False, server_default=""),

)

# --- workers (migration 8) ---------------------------------------------------------------
# One row per running process on this database. Claims belong to a live worker: one whose
# heartbeat is recent, or that is known alive. A process removes its row on a clean stop.

workers = sa.Table(
    "workers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    # What tells this process from a later one given the same pid (boot id and process start
    # time on Linux); empty where the system does not say.
    sa.Column("process_start", sa.String(100), nullable=False, server_default=""),
    sa.Column("started_ts", sa.BigInteger, nullable=False),
    sa.Column("heartbeat_ts", sa.BigInteger, nullable=False),
    # Ids are never reused (SQLite would otherwise hand a removed worker's id to the next one,
    # which would then take the removed worker's orphaned claims for its own).
    sqlite_autoincrement=True,
)

# --- live sessions (migration 4) ---------------------------------------------------------
# Anonymous votes, upvotes and askers are stored under a keyed hash (HMAC of the person's id
# with a random per-poll or per-session salt), never the id in clear. When a poll or a Q&A
# round closes its salt is erased and its keys replaced by random tokens (bot.store.anonymity).

live_bindings = sa.Table(
    "live_bindings", metadata,
    sa.Column("chat_id", sa.String(200), primary_key=True),
    sa.Column("occurrence_id", sa.String(16), primary_key=True),
    sa.Column("bound_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("bound_at", sa.BigInteger, nullable=False),
    sa.Column("ended_at", sa.BigInteger, nullable=True),
    sa.Index("ix_live_bindings_occurrence", "occurrence_id"),
)

live_sessions = sa.Table(
    "live_sessions", metadata,
    sa.Column("occurrence_id", sa.String(16), primary_key=True),
    sa.Column("qa_open", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("moderated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("checkin_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("question_counter", sa.Integer, nullable=False, server_default="0"),
    # NULL once Q&A has closed (migration 12 let it be): a new round makes a new one.
    sa.Column("salt", sa.String(64), nullable=True),
    # The question the projector points at (its number), moved by the facilitator's page.
    sa.Column("focus_question", sa.Integer, nullable=True),
)

polls = sa.Table(
    "polls", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("occurrence_id", sa.String(16), nullable=False, index=True),
    sa.Column("chat_id", sa.String(200), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("multi", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("correct", sa.Integer, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("closes_at", sa.BigInteger, nullable=True),
    sa.Column("closed_at", sa.BigInteger, nullable=True),
    sa.Column("message_id", sa.String(100), nullable=True),
    sa.Column("poll_ref", sa.String(100), nullable=True, unique=True),
    sa.Column("salt", sa.String(64), nullable=True),
    # The final counts of a native poll whose platform gives counts only (migration 9).
    sa.Column("platform_tally", sa.Text, nullable=True),
    sa.Index("ix_polls_chat_open", "chat_id", "closed_at"),
)

poll_votes = sa.Table(
    "poll_votes", metadata,
    sa.Column("poll_id", sa.Integer, sa.ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("voter", sa.String(200), primary_key=True),
    sa.Column("option", sa.Integer, primary_key=True),
)

questions = sa.Table(
    "questions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("occurrence_id", sa.String(16), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("author_key", sa.String(64), nullable=False),
    sa.Column("author_id", sa.String(200), nullable=True),
    sa.Column("author_name", sa.Text, nullable=True),
    sa.Column("asked_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("occurrence_id", "number", name="uq_questions_number"),
    sa.Index("ix_questions_author", "occurrence_id", "author_key", "asked_at"),
)

question_upvotes = sa.Table(
    "question_upvotes", metadata,
    sa.Column("question_id", sa.Integer, sa.ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("voter_key", sa.String(64), primary_key=True),
)

checkins = sa.Table(
    "checkins", metadata,
    sa.Column("occurrence_id", sa.String(16), primary_key=True),
    sa.Column("user_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("checked_in_at", sa.BigInteger, nullable=False),
    sa.Index("ix_checkins_user", "user_id"),
)


# The platforms' rate limits as one budget for every process sending through a bot account:
# each bucket (a platform, a chat, a group chat) keeps the instant its next send may go out.
rate_slots = sa.Table(
    "rate_slots", metadata,
    sa.Column("bucket", sa.String(300), primary_key=True),
    sa.Column("next_free", sa.Double, nullable=True),  # epoch seconds
)


# Named leases held by one live worker at a time: "scheduler" is the process that runs the jobs
# that must run once across processes (feed refreshes, replanning, the digest, auto-closing...).
leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("worker_id", sa.Integer, nullable=True),
    sa.Column("expires_ts", sa.BigInteger, nullable=False, server_default="0"),
)


# --- one attendee across platforms (migration 22) ------------------------------------------
# A person is named by one of their accounts (the canonical id: the account that issued the
# first /link code). Every other account of theirs has a row here pointing at it; an account
# with no row is a person of its own. Rows stay keyed by the account that wrote them
# (subscriptions, check-ins), and reads gather the person's accounts, so /unlink leaves each
# account what was done from it. Settings live in the person's ``users`` row; a linked
# account's own row keeps only its names, and the settings it had, for /link keep.

identity_links = sa.Table(
    "identity_links", metadata,
    sa.Column("identity", sa.String(200), primary_key=True),
    sa.Column("person", sa.String(200), nullable=False, index=True),
    sa.Column("linked_at", sa.BigInteger, nullable=False),
    # Settings differed when it was linked, and the person has not yet said which to keep.
    sa.Column("choice_pending", sa.Boolean, nullable=False, server_default=sa.false()),
)

# One live code per issuing account: only its SHA-256 is stored, so the database cannot be
# read for a code to hijack.
link_codes = sa.Table(
    "link_codes", metadata,
    sa.Column("issuer", sa.String(200), primary_key=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("expires_ts", sa.BigInteger, nullable=False),
)

# Wrong codes in a row per account, and until when /link is locked for it.
link_attempts = sa.Table(
    "link_attempts", metadata,
    sa.Column("identity", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.BigInteger, nullable=True),
)


# --- adapter state (migration 20) --------------------------------------------------------
# Small pieces an adapter must keep across restarts, by adapter: Matrix's sync position, its
# login, the direct rooms it made with each person, the reactions its messages take.
adapter_state = sa.Table(
    "adapter_state", metadata,
    sa.Column("adapter", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# Certificates of attendance issued (migration 18): what each said, under its verification
# code. One per person and session, so a re-issue keeps the code.
certificates = sa.Table(
    "certificates", metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("occurrence_id", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(200), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("session", sa.Text, nullable=False),
    sa.Column("session_date", sa.String(10), nullable=False),
    sa.Column("hours", sa.Float, nullable=False),
    sa.Column("organiser", sa.Text, nullable=False, server_default=""),
    sa.Column("issued_ts", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("occurrence_id", "user_id", name="uq_certificates_person_session"),
)
