"""Which passwords an account may have: none of the ~30,000 most common passwords of the leaked
corpora zxcvbn ships (offline: the list is inside the package, nothing is fetched at run
time), and none zxcvbn judges easy to guess (dictionary words with digits, keyboard walks,
dates, the person's own email or username)."""

from __future__ import annotations

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

_BREACHED = frozenset(FREQUENCY_LISTS["passwords"])
# zxcvbn looks at the first 72 characters only, as bcrypt does: the cost stays bounded.
_MAX_CHECKED = 72


def password_problem(password: str, *, min_score: int, user_inputs: list[str]) -> str | None:
    """Why `password` is refused, or None. CPU-bound (~10-20 ms): call it off the event loop."""
    if password.lower() in _BREACHED or password.strip().lower() in _BREACHED:
        return "is one of the most common passwords found in breaches; choose another"
    result = zxcvbn(password[:_MAX_CHECKED], user_inputs=user_inputs)
    if int(result["score"]) < min_score:
        warning = str(result["feedback"].get("warning") or "").rstrip(".")
        hint = f" ({warning})" if warning else ""
        return f"is too easy to guess{hint}; a few unrelated words make a strong one"
    return None
