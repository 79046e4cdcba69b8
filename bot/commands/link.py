"""One attendee across platforms: /link, /link CODE, /link keep PLATFORM and /unlink.

``/link`` gives a one-time code, privately; ``/link CODE`` sent from an account on another
platform joins that account to the person of the one that asked (``bot.identities``). The
store decides everything (``store.links``): a code is kept as its SHA-256 only, works once,
for ten minutes, and joins only its issuer; three wrong codes in a row lock /link for an
account for ten minutes, across restarts and processes.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

from bot.commands.router import CommandSpec, Param, ParsedCommand, PerPerson, Router
from bot.context import Context
from bot.errors import AdapterUnavailable, DeliveryFailed, UsageError, UserError
from bot.i18n import LANGUAGES, N_, Translator, translator
from bot.identities import (
    LINK_CODE_MINUTES,
    LINK_LOCK_AFTER,
    LINK_LOCK_MINUTES,
    Difference,
    platform_name,
    recipient,
)
from bot.models import Button, Delivery, Outgoing, UserRef, UserSettings, platform_of
from bot.ports import Capability, LinkResult, LinkStatus
from bot.reminders.commands import format_minutes
from bot.timeutil import format_duration

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I/L to misread: 8 of these are 40 bits, against 3 tries per 10 minutes."""
CODE_LENGTH = 8
LIMIT = PerPerson(5, timedelta(minutes=1))


def new_code() -> str:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{code[:4]}-{code[4:]}"


def code_hash(typed: str) -> str:
    """What is stored of a code: typed in any case, with or without its dash or spaces."""
    normal = "".join(typed.split()).replace("-", "").upper()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def _ts(when: datetime) -> int:
    return int(when.timestamp())


def _platforms(accounts: tuple[str, ...] | list[str]) -> str:
    return ", ".join(platform_name(platform_of(a)) for a in accounts)


def where_reminders_go(settings: UserSettings, accounts: tuple[str, ...], _: Translator) -> str:
    to = platform_name(platform_of(recipient(settings, accounts)))
    if settings.delivery is Delivery.CHANNEL and settings.delivery_chat:
        return _("in your shared chat on {platform}", platform=to)
    return _("by private message on {platform}", platform=to)


async def link(ctx: Context, cmd: ParsedCommand) -> None:
    word = cmd.args.get("code", "")
    if word.lower() == "keep":
        await keep(ctx, cmd.args.get("platform", ""))
        return
    if cmd.args.get("platform"):
        raise UsageError(N_("Usage: {usage}"), usage="/link [CODE|keep PLATFORM]")
    until = await ctx.services.store.links.locked_until(ctx.user.id, _ts(ctx.now))
    if until is not None:
        raise _locked(ctx, until)
    if word:
        await redeem(ctx, word)
    else:
        await issue(ctx)


def _locked(ctx: Context, until: int) -> UserError:
    local = datetime.fromtimestamp(until, UTC).astimezone(ctx.timezone)
    return UserError(N_("Too many wrong codes: /link is locked for this account until {time}."),
                     time=f"{local:%H:%M}")


async def issue(ctx: Context) -> None:
    _ = ctx._
    if not ctx.chat.is_private and not ctx.services.messenger.can(ctx.user.id, Capability.DIRECT_MESSAGES):
        raise UserError(N_("Send /link in a private chat with me: a link code is for your eyes only."))
    code = new_code()
    now = _ts(ctx.now)
    await ctx.services.store.links.issue_code(ctx.user.id, code_hash(code), now + LINK_CODE_MINUTES * 60, now)
    log.info("%s asked for a link code", ctx.user.id)
    text = _("Your link code is {code}. Within {minutes} minutes, send /link {code} to me from your account on "
             "another platform, and the two will be one attendee. It works once; do not share it.",
             code=code, minutes=LINK_CODE_MINUTES)
    await ctx.reply_in_private(text, fallback=_("Send /link in a private chat with me: a link code is for "
                                                "your eyes only."))
    if not ctx.chat.is_private:
        await ctx.reply(_("I sent you a link code privately."))


async def redeem(ctx: Context, typed: str) -> None:
    _ = ctx._
    store = ctx.services.store
    result = await store.links.redeem(ctx.user.id, code_hash(typed), _ts(ctx.now),
                                      lock_after=LINK_LOCK_AFTER, lock_seconds=LINK_LOCK_MINUTES * 60)
    status = result.status
    if status is LinkStatus.LOCKED:
        log.warning("%s gave %d wrong link codes in a row: /link locked", ctx.user.id, LINK_LOCK_AFTER)
        assert result.locked_until is not None
        raise _locked(ctx, result.locked_until)
    if status is LinkStatus.WRONG:
        raise UserError(N_("That code is not right, or it has expired or been used. Tries left before /link "
                           "is locked for {minutes} minutes: {n}."), minutes=LINK_LOCK_MINUTES, n=result.tries_left)
    if status is LinkStatus.NOT_FOR_YOU:
        raise UserError(N_("That code is not for this account: send it from your account on another platform. "
                           "Tries left before /link is locked for {minutes} minutes: {n}."),
                        minutes=LINK_LOCK_MINUTES, n=result.tries_left)
    if status is LinkStatus.OWN_CODE:
        raise UserError(N_("That is this account's own code: send it from your account on another platform."))
    if status is LinkStatus.ALREADY_LINKED:
        raise UserError(N_("These accounts are already linked."))
    if status is LinkStatus.LINKED_ELSEWHERE:
        raise UserError(N_("This account is already linked to another: send /unlink here first."))
    log.info("%s linked to %s", ctx.user.id, result.person)
    await ctx.services.person_changed(ctx.user.id)
    settings = await store.people.get_settings(ctx.user.id)
    lines = [_("Linked: your {platforms} accounts are now one attendee, with one set of subscriptions, "
               "check-ins and CPD hours. You are reminded once, {where}.",
               platforms=_platforms(result.accounts), where=where_reminders_go(settings, result.accounts, _))]
    if recipient(settings, result.accounts) != ctx.user.id:
        lines.append(_("To get reminders here instead, send /delivery dm here."))
    buttons: tuple[tuple[Button, ...], ...] = ()
    if result.differences:
        lines += _question(ctx, result)
        if ctx.services.messenger.can(ctx.chat.id, Capability.BUTTONS):
            sides = (platform_of(result.person), ctx.user.platform)
            buttons = (tuple(Button(_("Keep {platform}", platform=platform_name(p)), f"link:keep:{p}")
                             for p in sides),)
    await ctx.reply("\n".join(lines), buttons=buttons)
    await _tell_others(ctx, result.accounts, N_(
        "Your {platform} account {name} is now linked to this one. If that was not you, send /unlink from it, "
        "or /unlink here."))


def _question(ctx: Context, result: LinkResult) -> list[str]:
    _ = ctx._
    kept, other = platform_of(result.person), ctx.user.platform
    lines = [_("Your accounts had different settings. Until you choose, the {platform} ones stand:",
               platform=platform_name(kept))]
    for d in result.differences:
        lines.append(_("• {setting}: {kept} on {platform}, {other} on {other_platform}",
                       setting=_setting_name(d.name, _), kept=_describe(d, d.kept, _),
                       platform=platform_name(kept), other=_describe(d, d.other, _),
                       other_platform=platform_name(other)))
    lines.append(_("Which should I keep? Answer /link keep {one} or /link keep {other}.", one=kept, other=other))
    return lines


def _setting_name(name: str, _: Translator) -> str:
    names = {"timezone": N_("time zone"), "language": N_("language"), "offsets": N_("reminder times"),
             "quiet": N_("quiet hours"), "delivery": N_("where reminders go")}
    return _(names[name])


def _describe(d: Difference, value: object, _: Translator) -> str:
    if d.name == "language" and isinstance(value, str):
        return LANGUAGES.get(value, value)
    if d.name == "offsets" and isinstance(value, tuple):
        return ", ".join(format_duration(o, _) for o in value)
    if d.name == "quiet" and isinstance(value, tuple):
        return f"{format_minutes(value[0])}–{format_minutes(value[1])}"
    if d.name == "delivery" and isinstance(value, tuple):
        return _("in a shared chat on {platform}", platform=platform_name(platform_of(str(value[1]))))
    return str(value)


async def keep(ctx: Context, platform: str) -> None:
    _ = ctx._
    platform = platform.strip().lower()
    if not platform:
        raise UsageError(N_("Usage: {usage}"), usage="/link keep PLATFORM")
    people = ctx.services.store.people
    try:
        accounts = await ctx.services.store.links.choose_settings(ctx.user.id, platform)
    except LookupError:
        mine = await people.accounts_of(ctx.user.id)
        raise UserError(N_("None of your linked accounts is on {platform}. Choose one of: {platforms}."),
                        platform=platform[:40], platforms=", ".join(platform_of(a) for a in mine)) from None
    if accounts is None:
        raise UserError(N_("There is no choice of settings waiting: your accounts share one set already."))
    await ctx.services.person_changed(ctx.user.id)
    settings = await people.get_settings(ctx.user.id)
    await ctx.reply(_("Kept the settings of your {platform} account. You are reminded {where}; /mine shows the "
                      "rest.", platform=platform_name(platform), where=where_reminders_go(settings, accounts, _)))


async def keep_button(ctx: Context, parts: list[str]) -> None:
    if len(parts) != 2 or parts[0] != "keep":
        raise UserError(N_("That button is no longer valid."))
    await keep(ctx, parts[1])


async def unlink(ctx: Context, cmd: ParsedCommand) -> None:
    _ = ctx._
    result = await ctx.services.store.links.unlink(ctx.user.id)
    if result is None:
        raise UserError(N_("This account is not linked to another."))
    log.info("%s unlinked from %s", ctx.user.id, result.person)
    await ctx.services.person_changed(result.account)
    await ctx.services.person_changed(result.person)
    await ctx.reply(_.plural(
        "Unlinked: this {platform} account is an attendee of its own again. It keeps the subscriptions and "
        "check-ins made from it and a copy of your settings, and its reminders come here. Your {others} account "
        "keeps what was made from it.",
        "Unlinked: this {platform} account is an attendee of its own again. It keeps the subscriptions and "
        "check-ins made from it and a copy of your settings, and its reminders come here. Your {others} accounts "
        "stay linked and keep what was made from them.",
        len(result.others), platform=platform_name(ctx.user.platform), others=_platforms(result.others)))
    await _tell_others(ctx, result.others, N_("Your {platform} account {name} is no longer linked to this one."))


async def _tell_others(ctx: Context, accounts: tuple[str, ...], msgid: str) -> None:
    """Tell the person's other accounts, privately, what this one just did: a code seen over a
    shoulder is no way to take over someone's record unnoticed."""
    settings = await ctx.services.store.people.get_many_settings([a for a in accounts if a != ctx.user.id])
    for account, s in settings.items():
        _ = translator(s.language or ctx.services.config.language)
        text = _(msgid, platform=platform_name(ctx.user.platform), name=ctx.user.display)
        try:
            await ctx.services.messenger.send(Outgoing(text=text, user=UserRef(account, s.display_name),
                                                       kind="private"))
        except (DeliveryFailed, AdapterUnavailable) as exc:
            log.info("could not tell %s about a link change: %s", account, exc)


def register(router: Router) -> None:
    router.add(CommandSpec(
        "link", N_("Make your accounts on several platforms one attendee: /link, then /link CODE on the "
                   "other."), link,
        params=(Param("code", N_("A code from /link, or keep"), required=False),
                Param("platform", N_("With keep: the platform whose settings to keep"), required=False,
                      max_length=40)),
        usage_hint="[CODE|keep PLATFORM]", limit=LIMIT))
    router.add(CommandSpec(
        "unlink", N_("Split this account from the others you linked."), unlink, limit=LIMIT))
    router.action("link", counts_as="link")(keep_button)
