"""Conversations: a chat's assistant messages in, previews at one URL out.

:class:`Conversations` (``service.py``) creates them and applies the messages
posted to them; ``replies.py`` builds what they answer and reads what a chat
sent; ``queries.py`` holds their store queries. See ``docs/conversations.md``.
"""

from previewd.conversations.service import Conversations

__all__ = ["Conversations"]
