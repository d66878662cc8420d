// MovieBot's web chat: Rasa's socket.io events, shown as a conversation.
//
// The session id the server gives is kept in localStorage, so that a reloaded
// page speaks as the same person and shows the conversation so far (from the
// server's history route). Choices come as buttons; recommendations as data
// ({text, movies: [{title, genres, url, site, predicted?}]}) shown as a list.
(() => {
  "use strict";

  const settings = JSON.parse(document.body.dataset.settings);
  const STORAGE_KEY = "moviebot.session";
  // How long "MovieBot is typing" shows without an answer; then the page offers
  // to send the message again (a server may have stopped and come back).
  const ANSWER_TIMEOUT_MS = settings.answerTimeoutMs || 60000;
  const OFFLINE_TEXT =
    "Can't reach the MovieBot server. Retrying… (your conversation is kept on " +
    "the server; nothing is lost)";

  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const send = document.getElementById("send");
  const status = document.getElementById("status");

  let sessionId = readSession();
  let online = false;
  let historyShown = false;
  let typingTimer = null;
  let unanswered = null; // the last message sent, until an answer comes

  function readSession() {
    try {
      return localStorage.getItem(STORAGE_KEY);
    } catch (error) {
      return null; // storage blocked: the conversation lasts as long as the page
    }
  }

  function keepSession(id) {
    try {
      localStorage.setItem(STORAGE_KEY, id);
    } catch (error) {
      // as above
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function showStatus(text) {
    status.textContent = text || "";
    status.hidden = !text;
  }

  function setOnline(value) {
    online = value;
    send.disabled = !value;
    if (value) showStatus("");
  }

  // --- the conversation ---------------------------------------------------

  function addEntry(from, content) {
    const entry = element("li", `message message--${from}`);
    entry.append(content);
    log.append(entry);
    scrollDown();
    return entry;
  }

  function showUser(text) {
    // An answer closes the question: its buttons go.
    for (const choices of log.querySelectorAll(".choices")) choices.remove();
    addEntry("user", element("p", "bubble", text));
  }

  function lastUserText() {
    const said = log.querySelectorAll(".message--user");
    return said.length ? said[said.length - 1].textContent : null;
  }

  // True when the log ends with the person's ``text`` and no answer yet.
  function endsWithUnanswered(text) {
    const entries = log.querySelectorAll(".message:not(.message--typing)");
    const last = entries[entries.length - 1];
    return Boolean(last && last.classList.contains("message--user") && last.textContent === text);
  }

  function showBot(message) {
    stopTyping();
    unanswered = null;
    for (const notice of log.querySelectorAll(".message--unanswered")) notice.remove();
    if (!message || typeof message !== "object") return;
    let entry = null;
    if (Array.isArray(message.movies)) {
      entry = addEntry("bot", movieList(message));
    } else if (message.text) {
      entry = addEntry("bot", element("p", "bubble", message.text));
    }
    const buttons = message.quick_replies || message.buttons;
    if (Array.isArray(buttons) && buttons.length) {
      entry = entry || addEntry("bot", element("p", "bubble", ""));
      entry.append(choiceButtons(buttons));
      scrollDown();
    }
  }

  function movieList(message) {
    const box = element("div", "bubble recommendations");
    if (message.text) box.append(element("p", "recommendations__intro", message.text));
    const list = element("ol", "movies");
    for (const movie of message.movies) {
      const item = element("li", "movie");
      const safe = typeof movie.url === "string" && movie.url.startsWith("https://");
      const title = element(safe ? "a" : "span", "movie__title", movie.title);
      if (safe) {
        title.href = movie.url;
        title.target = "_blank";
        title.rel = "noopener noreferrer";
        title.title = `${movie.title} on ${movie.site}`;
      }
      item.append(title);
      const details = element("div", "movie__details");
      if (Array.isArray(movie.genres) && movie.genres.length) {
        details.append(element("span", "movie__genres", movie.genres.join(" · ")));
      }
      if (typeof movie.predicted === "number") {
        details.append(
          element("span", "movie__predicted", `predicted ${movie.predicted.toFixed(1)}★`)
        );
      }
      if (safe && movie.site) details.append(element("span", "movie__site", movie.site));
      item.append(details);
      list.append(item);
    }
    box.append(list);
    return box;
  }

  function choiceButtons(buttons) {
    const bar = element("div", "choices");
    for (const button of buttons) {
      const choice = element("button", "choice", button.title);
      choice.type = "button";
      choice.addEventListener("click", () => {
        if (online) say(button.payload, button.title);
        else showStatus(OFFLINE_TEXT);
      });
      bar.append(choice);
    }
    return bar;
  }

  function startTyping() {
    stopTyping();
    const dots = element("p", "bubble typing", "MovieBot is typing…");
    addEntry("bot", dots).classList.add("message--typing");
    typingTimer = setTimeout(noAnswer, ANSWER_TIMEOUT_MS);
  }

  function noAnswer() {
    stopTyping();
    if (!unanswered) return;
    const message = unanswered;
    const said = message.shown || message.text;
    const box = element("p", "bubble notice", `No answer came to “${said}”. `);
    const again = element("button", "choice", "Send it again");
    again.type = "button";
    again.addEventListener("click", () => {
      if (!online) return showStatus(OFFLINE_TEXT);
      entry.remove();
      say(message.text, message.shown, { repeat: true });
    });
    box.append(again);
    const entry = addEntry("bot", box);
    entry.classList.add("message--unanswered");
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    for (const typing of log.querySelectorAll(".message--typing")) typing.remove();
  }

  // --- talking to the server ----------------------------------------------

  // `shown` is how the person's message appears: a button's title rather than
  // its payload. The server keeps it, so that the history shows it the same way.
  function say(text, shown, { repeat = false } = {}) {
    socket.emit(settings.userEvent, {
      message: text,
      session_id: sessionId,
      metadata: shown ? { shown } : {},
    });
    // Sent again: shown again only where the page lost it (a reconnection
    // reloads what the server kept, which a lost message is not in).
    if (!repeat || lastUserText() !== (shown || text)) showUser(shown || text);
    unanswered = { text, shown };
    startTyping();
  }

  async function showHistory() {
    const response = await fetch(`history/${encodeURIComponent(sessionId)}`, {
      cache: "no-store",
    });
    if (response.status === 404) return; // no conversation of the web chat's
    if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
    const { messages } = await response.json();
    const waiting = unanswered;
    log.replaceChildren();
    for (const message of messages) {
      if (message.from === "user") showUser(message.text);
      else showBot(message);
    }
    // A message sent just before the connection dropped: answered if the
    // server's copy ends with it and an answer.
    const last = messages.findLastIndex((m) => m.from === "user");
    const said = waiting && (waiting.shown || waiting.text);
    const answered =
      last >= 0 && messages[last].text === said && last < messages.length - 1;
    unanswered = waiting && !answered ? waiting : null;
  }

  const socket = io({ path: settings.socketPath });

  socket.on("connect", () => {
    // Every connection asks for the session again: a reconnected socket is a
    // new one to the server.
    socket.emit("session_request", { session_id: sessionId });
  });

  socket.on("session_confirm", async (id) => {
    const known = id === sessionId || historyShown;
    sessionId = id;
    keepSession(id);
    historyShown = true;
    let loaded = true;
    if (known) {
      // After a reload, or a reconnection (answers sent while the connection was
      // down reached no one): the server's copy of the conversation.
      try {
        await showHistory();
      } catch (error) {
        loaded = false;
      }
    }
    setOnline(true);
    if (!loaded) showStatus("The conversation so far could not be loaded.");
    else if (unanswered) noAnswer();
    input.focus();
  });

  socket.on(settings.botEvent, showBot);
  // What the person said in another tab of the same conversation.
  socket.on("user_echo", (message) => {
    if (!message || typeof message.text !== "string") return;
    // The same message sent again because no answer came shows once.
    if (!endsWithUnanswered(message.text)) showUser(message.text);
  });

  socket.on("disconnect", () => {
    setOnline(false);
    stopTyping();
    showStatus(OFFLINE_TEXT);
  });

  socket.on("connect_error", () => {
    setOnline(false);
    showStatus(OFFLINE_TEXT);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (!online) {
      showStatus(OFFLINE_TEXT);
      return;
    }
    say(text);
    input.value = "";
  });
})();
