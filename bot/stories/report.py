"""Prints story results: one line per story, the failing step with the bot's actual replies, and a
summary per category."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from bot.stories.runner import StoryResult


def story_line(result: StoryResult) -> str:
    mark = "PASS" if result.passed else "FAIL"
    return f"{mark}  {result.story.category:<20} {result.story.id}  ({result.seconds:.2f} s)"


def failure_detail(result: StoryResult) -> str:
    """Where and why a story failed, then the conversation up to that point."""
    step = next((s for s in result.story.steps if s.index == result.failed_step), None)
    where = f"step {result.failed_step} ({step.describe()})" if step else "setup"
    lines = [f"      {where}: {result.failure}", "      conversation:"]
    lines.append(result.transcript() or "        (nothing was said)")
    return "\n".join(lines)


def summary(results: list[StoryResult]) -> str:
    by_category: dict[str, list[StoryResult]] = defaultdict(list)
    for result in results:
        by_category[result.story.category].append(result)
    lines = ["", f"{'category':<22}{'passed':>8}{'total':>8}"]
    for category in sorted(by_category):
        items = by_category[category]
        lines.append(f"{category:<22}{sum(r.passed for r in items):>8}{len(items):>8}")
    passed = sum(r.passed for r in results)
    seconds = sum(r.seconds for r in results)
    lines.append(f"{'all':<22}{passed:>8}{len(results):>8}   ({seconds:.1f} s)")
    return "\n".join(lines)


def print_results(results: list[StoryResult], echo: Callable[[str], None] = print) -> None:
    for result in results:
        echo(story_line(result))
        if not result.passed:
            echo(failure_detail(result))
    echo(summary(results))
