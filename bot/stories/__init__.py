"""Conversation stories: end-to-end conversation tests written as data (YAML), run against the real pipeline.

    model.py   the story format: load and validate tests/conversations/stories/*.yml
    media.py   realistic files for `file:` steps (a sharp document photo, a small PDF, a short audio clip)
    world.py   the real parts: one NLU model and dialogue engine shared by all stories, a fresh database each
    runner.py  plays one story: setup, user turns, button clicks, files, staff actions
    expect.py  checks a step's expectations against replies, conversation state, cases and the back office
    report.py  prints results per story and per category

`hajibot test conversations [PATH]` (bot/cli/conversations.py) and tests/conversations/test_stories.py use it.
The format is documented in tests/conversations/README.md.
"""
