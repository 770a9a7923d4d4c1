"""One exception type for problems the user can fix (bad input, bad config, missing files).

Entry points catch it and print its message as one line instead of a traceback.
"""


class TextlabError(Exception):
    """A user-facing error: the message names what is wrong and what to do."""
