"""The web chat page as people use it: both real servers (as `make serve` runs
them), the page they serve, and a real headless Chromium (Debian's, driven by
Playwright) clicking and typing in it.

Writes a phone-sized screenshot of a conversation to reports/webchat.png.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.test_e2e import Bot, signal_action_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("CHROMIUM") or "/usr/bin/chromium")
SCREENSHOT = ROOT / "reports" / "webchat.png"
# The first answers load the models; later ones take a second or two.
ANSWER_MS = 60_000
LINK = re.compile(
    r"^https://(www\.imdb\.com/title/tt\d+/|www\.themoviedb\.org/movie/\d+"
    r"|movielens\.org/movies/\d+)$"
)
PHONE = {"width": 375, "height": 667}


@pytest.fixture(scope="module")
def bot(real_artifacts, tmp_path_factory):
    bot = Bot(real_artifacts, tmp_path_factory.mktemp("webchat"))
    bot.start()
    yield bot
    bot.stop()
    log = bot.log.read_text()
    assert "Traceback" not in log, log[-5000:]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make install` (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def url(bot) -> str:
    # 127.0.0.1 rather than localhost: the socket.io client notices a lost
    # network only away from "localhost".
    return f"http://127.0.0.1:{bot.rasa_port}/webhooks/webchat/"


def open_chat(browser, url: str, **context_options):
    from playwright.sync_api import expect

    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Every file the page asks for is there (its icon too).
    page.on(
        "response",
        lambda answer: (
            answer.status >= 400 and errors.append(f"{answer.status} {answer.url}")
        ),
    )
    page.goto(url)
    expect(page.locator("#send")).to_be_enabled(timeout=ANSWER_MS)
    return context, page, errors


def say(page, text: str, answer: str):
    """Type ``text``, send it, and wait for a bot message holding ``answer``:
    one in the turn's last message, so that the next turn starts after it."""
    from playwright.sync_api import expect

    page.locator("#message").fill(text)
    page.locator("#message").press("Enter")
    expect(page.locator(".message--user").last).to_have_text(text)
    # A pattern matches case-sensitively: "Watch next" is not "…watch next?".
    reply = page.locator(".message--bot", has_text=re.compile(re.escape(answer))).last
    expect(reply).to_be_visible(timeout=ANSWER_MS)
    return reply


def session(page) -> str:
    return page.evaluate("localStorage.getItem('moviebot.session')")


def movies(listing) -> list[dict]:
    """Each recommended movie as the page shows it."""
    return listing.locator(".movie").evaluate_all(
        """items => items.map(item => ({
            title: item.querySelector(".movie__title").textContent,
            url: item.querySelector("a.movie__title")?.href,
            genres: item.querySelector(".movie__genres")?.textContent || "",
            predicted: item.querySelector(".movie__predicted")?.textContent || "",
        }))"""
    )


def check_list(listing, seen: list[str], predicted: bool = False) -> list[dict]:
    shown = movies(listing)
    assert len(shown) >= 5
    for movie in shown:
        assert re.search(r" \((18|19|20)\d\d\)$", movie["title"]), movie
        assert movie["genres"], movie
        assert LINK.match(movie["url"] or ""), movie
        assert not any(title in movie["title"] for title in seen), movie
        assert bool(movie["predicted"]) is predicted, movie
    return shown


def test_a_conversation_with_buttons_and_lists_survives_a_reload(browser, url):
    from playwright.sync_api import expect

    context, page, errors = open_chat(browser, url)
    me = session(page)
    assert re.fullmatch(r"[0-9a-f]{32}", me)

    say(page, "I loved The Matrix, Heat was ok", "You have 2 movies")
    log = page.locator("#log")
    expect(log).to_contain_text("The Matrix (1999): loved (5★)")
    expect(log).to_contain_text("Heat (1995): ok (3★)")

    question = say(page, "I really liked Sabrina", "Which “Sabrina” did you mean?")
    choices = question.locator(".choice")
    expect(choices).to_have_text(["Sabrina (1954)", "Sabrina (1995)", "None of these"])
    choices.nth(1).click()
    # The person's side shows the button's title, not its payload.
    expect(page.locator(".message--user").last).to_have_text("Sabrina (1995)")
    expect(page.locator(".message--bot", has_text="You have 3 movies")).to_be_visible(
        timeout=ANSWER_MS
    )
    expect(log).to_contain_text("Sabrina (1995): really liked (4.5★)")
    expect(page.locator(".choices")).to_have_count(0)

    say(page, "Incepton was amazing, I didn't like Titanic", "You have 5 movies")
    expect(log).to_contain_text("Inception (2010): loved (5★)")

    seen = ["The Matrix", "Heat (1995)", "Sabrina (1995)", "Inception", "Titanic"]
    listing = say(page, "what should I watch next?", "Watch next")
    expect(listing.locator(".recommendations__intro")).to_contain_text(
        "GRU sequence model, which reads the order of your 5 movies"
    )
    first = check_list(listing, seen)
    # The list is the answer: no numbered text repeats it.
    assert "1. " not in listing.inner_text().split(first[0]["title"])[0]

    page.reload()
    expect(page.locator("#send")).to_be_enabled(timeout=ANSWER_MS)
    assert session(page) == me
    log = page.locator("#log")
    expect(log).to_contain_text("The Matrix (1999): loved (5★)")
    expect(page.locator(".message--user", has_text="Sabrina (1995)")).to_have_count(1)
    assert "/choose_movie" not in log.inner_text()
    expect(page.locator(".choices")).to_have_count(0)  # answered before the reload
    expect(page.locator(".recommendations")).to_have_count(1)
    assert movies(page.locator(".recommendations")) == first

    # Same person after the reload: the profile still holds the movies.
    profile = say(page, "show my movies", "Your movies")
    expect(profile).to_contain_text("Sabrina (1995): really liked")
    expect(profile).to_contain_text("The Matrix (1999): loved")

    best = say(page, "what is best for me?", "Best for you")
    expect(best).to_contain_text("deep autoencoder, which reads your 5 ratings")
    check_list(best, seen, predicted=True)
    assert errors == []
    context.close()


def test_on_a_phone_the_page_fits_and_shows_the_list(browser, url):
    from playwright.sync_api import expect

    context, page, errors = open_chat(
        browser, url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    say(page, "I loved Toy Story and Up, Heat was ok", "You have 3 movies")
    listing = say(page, "what should I watch next?", "Watch next")
    check_list(listing, ["Toy Story (1995)", "Up (2009)", "Heat (1995)"])

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    for selector in ("#message", "#send"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], selector
    for box in page.locator(".movie, .bubble").evaluate_all(
        "nodes => nodes.map(n => n.getBoundingClientRect().right)"
    ):
        assert box <= PHONE["width"]
    expect(page.locator("#message")).to_be_editable()

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    assert errors == []
    context.close()


def test_a_lost_connection_is_said_and_the_chat_comes_back(browser, url):
    from playwright.sync_api import expect

    context, page, errors = open_chat(browser, url)
    me = session(page)
    status = page.locator("#status")
    expect(status).to_be_hidden()

    context.set_offline(True)
    expect(status).to_be_visible()
    expect(status).to_contain_text("Can't reach the MovieBot server")
    expect(page.locator("#send")).to_be_disabled()

    context.set_offline(False)
    expect(status).to_be_hidden(timeout=30_000)
    expect(page.locator("#send")).to_be_enabled()
    assert session(page) == me
    say(page, "I loved Heat", "You have 1 movie in your profile")
    assert errors == []
    context.close()


def test_every_file_the_page_names_is_served(browser, url):
    # Headless Chromium fetches no icon itself; a browser tab does.
    context, page, errors = open_chat(browser, url)
    names = page.eval_on_selector_all(
        "link[href], script[src]",
        "nodes => nodes.map(n => n.href || n.src)",
    )
    assert any(name.endswith(".svg") for name in names)
    for name in names:
        answer = page.request.get(name)
        assert answer.ok, f"{answer.status} {name}"
    assert errors == []
    context.close()


def test_two_tabs_of_one_conversation_both_show_all_of_it(browser, url):
    from playwright.sync_api import expect

    context, first, errors = open_chat(browser, url)
    second = context.new_page()
    second.goto(url)
    expect(second.locator("#send")).to_be_enabled(timeout=ANSWER_MS)
    assert session(second) == session(first)

    say(second, "I loved Jaws", "You have")
    said = first.locator(".message--user", has_text="I loved Jaws")
    expect(said).to_have_count(1)
    expect(first.locator(".message--bot", has_text="Jaws (1975)")).to_be_visible()
    assert errors == []
    context.close()


def test_a_page_speaks_only_as_the_session_the_server_gave_it(bot, browser, url):
    import json
    import urllib.error
    import urllib.request

    context, page, errors = open_chat(browser, url)
    # A socket that asks for another channel's person ("e2e-person" over REST,
    # "shell-ann" in the terminal) gets a session of its own.
    given = page.evaluate(
        """() => new Promise(resolve => {
            const socket = io({ path: "/socket.io", forceNew: true });
            socket.on("connect", () =>
                socket.emit("session_request", { session_id: "shell-ann" }));
            socket.on("session_confirm", id => { socket.close(); resolve(id); });
        })"""
    )
    assert given != "shell-ann" and re.fullmatch(r"[0-9a-f]{32}", given)

    # The history route shows web chat conversations only.
    rest_sender = "0123456789abcdef0123456789abcdef"
    assert bot.say(rest_sender, "I loved Heat")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}history/{rest_sender}", timeout=10)
    assert refused.value.code == 404
    with urllib.request.urlopen(f"{url}history/{session(page)}", timeout=10) as reply:
        assert json.loads(reply.read()) == {"messages": []}
    assert errors == []
    context.close()


def test_a_message_no_one_answered_can_be_sent_again(real_artifacts, tmp_path, browser):
    from playwright.sync_api import expect

    bot = Bot(real_artifacts, tmp_path)
    bot.env["MOVIEBOT_WEB_ANSWER_TIMEOUT"] = "5"
    bot.start()
    try:
        page_url = f"http://127.0.0.1:{bot.rasa_port}/webhooks/webchat/"
        context, page, errors = open_chat(browser, page_url)
        say(page, "I loved Heat", "You have 1 movie in your profile")
        other = context.new_page()  # the same conversation in another tab
        other.goto(page_url)
        expect(other.locator("#send")).to_be_enabled(timeout=ANSWER_MS)

        signal_action_server(bot.action_port, signal.SIGKILL)
        page.locator("#message").fill("Jaws was ok")
        page.locator("#message").press("Enter")
        notice = page.locator(".message--unanswered")
        expect(notice).to_contain_text(
            "No answer came to “Jaws was ok”.", timeout=ANSWER_MS
        )

        bot.wait_for_log("the action server is back")
        notice.get_by_role("button", name="Send it again").click()
        reply = page.locator(".message--bot", has_text="Jaws (1975): ok (3★)")
        expect(reply).to_be_visible(timeout=ANSWER_MS)
        expect(notice).to_have_count(0)
        # The message shows once, as the person sent it once: here, in the
        # other tab, and after a reload.
        for tab in (page, other):
            said = tab.locator(".message--user", has_text="Jaws was ok")
            expect(said).to_have_count(1)
        expect(other.locator(".message--bot", has_text="Jaws (1975)")).to_have_count(1)
        page.reload()
        expect(page.locator(".message--bot", has_text="Jaws (1975)")).to_be_visible(
            timeout=ANSWER_MS
        )
        expect(page.locator(".message--user", has_text="Jaws was ok")).to_have_count(1)
        assert errors == []
        context.close()
    finally:
        bot.stop()
