"""What the bot asks for when a server invites it: OAuth2 scopes and a permission integer."""

from __future__ import annotations

import discord

SCOPES = ("bot", "applications.commands")


def required_permissions(*, scheduled_events: bool = False) -> discord.Permissions:
    """Only what the adapter uses: read and post in channels and threads, embeds, files,
    native polls and slash commands; managing events only for the Scheduled Events mirror."""
    permissions = discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        use_application_commands=True,
        send_polls=True,
    )
    if scheduled_events:
        permissions.update(create_events=True, manage_events=True)
    return permissions


def invite_url(application_id: int, *, scheduled_events: bool = False) -> str:
    """The URL a server admin opens to add the bot with exactly these scopes and permissions."""
    return discord.utils.oauth_url(application_id, permissions=required_permissions(
        scheduled_events=scheduled_events), scopes=SCOPES)
