"""Conversations: a chat's assistant messages in, previews at one URL out."""

from previewd.conversations.service import Conversations

__all__ = ["Conversations"]
