"""User-facing errors.

A :class:`UserError` is a mistake in what the user asked for (a bad spec string, a malformed MDP file,
an estimator that makes no sense with a baseline).  The CLI prints its message on one line and exits
with status 2 -- no traceback -- because the message, not the stack, is what the user needs.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input; the message names the field and what is allowed."""
