"""Every word of the desk exists in Polish and in English, and no two areas of the desk claim a word."""

from __future__ import annotations

from newsroom_feed.web import desk  # noqa: F401  (imports every area, which registers its words)
from newsroom_feed.web.desk.words import areas, words


def test_every_area_has_the_same_words_in_polish_and_english() -> None:
    for area in areas():
        assert set(area["pl"]) == set(area["en"]), set(area["pl"]) ^ set(area["en"])


def test_no_two_areas_define_the_same_word() -> None:
    seen: dict[str, int] = {}
    for number, area in enumerate(areas()):
        for key in area["pl"]:
            assert key not in seen, f"{key!r} is defined by area {seen[key]} and area {number}"
            seen[key] = number


def test_the_english_switch_changes_every_word_the_frame_uses() -> None:
    polish, english = words("pl"), words("en")
    assert polish["sign_in"] == "Zaloguj" and english["sign_in"] == "Sign in"
    assert set(polish) == set(english)
