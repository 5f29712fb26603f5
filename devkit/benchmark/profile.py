"""Pure summary of a py-spy profile in collapsed-stack form ("frame;frame;...;leaf COUNT" per line).

py-spy's `--format raw` writes this form; frames read "function (file)" or "function (file:line)". The summary gives,
per frame, the samples where it was the leaf (self time: where the CPU actually went) and the samples where it was
anywhere on the stack (inclusive time, counted once per stack even under recursion).

Failure modes: a line whose last field is not a count raises ProfileError naming the line; blank lines and stacks
without a Python frame are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass


class ProfileError(ValueError):
    """The text is not in collapsed-stack form; the message names the line."""


@dataclass(frozen=True)
class FrameShare:
    frame: str
    samples: int
    share: float  # of all samples, 0..1


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    self_top: tuple[FrameShare, ...]
    inclusive_top: tuple[FrameShare, ...]

    def as_json(self) -> dict[str, object]:
        def rows(shares: tuple[FrameShare, ...]) -> list[dict[str, object]]:
            return [{"frame": s.frame, "samples": s.samples, "pct": round(100 * s.share, 1)} for s in shares]

        return {"samples": self.samples, "self": rows(self.self_top), "inclusive": rows(self.inclusive_top)}


def _is_bookkeeping(frame: str) -> bool:
    # py-spy prefixes stacks with "process ..." and, with --threads, "thread (...)" pseudo-frames.
    return frame.startswith(("process ", "thread ("))


def summarize_collapsed(text: str, top: int = 15) -> ProfileSummary:
    total = 0
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stack, _, count_text = line.strip().rpartition(" ")
        if not count_text.isdigit():
            raise ProfileError(f"profile line {number}: expected 'frame;frame;... COUNT', got {line[:120]!r}")
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not _is_bookkeeping(f)]
        if not frames:
            continue  # py-spy caught a thread with no Python frame on its stack
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def ranked(table: dict[str, int]) -> tuple[FrameShare, ...]:
        best = sorted(table.items(), key=lambda item: (-item[1], item[0]))[:top]
        return tuple(FrameShare(frame, samples, samples / total if total else 0.0) for frame, samples in best)

    return ProfileSummary(total, ranked(own), ranked(inclusive))
