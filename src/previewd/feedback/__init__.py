"""Feedback: what went wrong with a preview, condensed into one chat-ready message per problem.

    fingerprint.py  what makes two sightings the same problem (survives rebuilds)
    condense.py     facts of a build error, crash, 5xx or browser error → Problem (≤ 1 KB text)
    book.py         FeedbackBook: sources in, dedup, counts, resolution, list and stream out
    webhooks.py     signed (HMAC-SHA256) deliveries with bounded retries
    inject.py       the page script put into HTML documents the edge serves
    edge.py         the edge's /__previewd/* (script, reports, live reload) and 5xx hook
    bootstrap.js    the inline part of the page script (catches errors from the first line)
    client.js       the deferred part (sends reports, follows live reload)

See docs/feedback.md.
"""

from previewd.feedback.book import FeedbackBook
from previewd.feedback.condense import Problem
from previewd.feedback.edge import EdgeFeedback
from previewd.feedback.inject import Injector
from previewd.feedback.webhooks import Webhooks, sign, verify

__all__ = ["EdgeFeedback", "FeedbackBook", "Injector", "Problem", "Webhooks", "sign", "verify"]
