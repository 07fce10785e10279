// The live homepage: choose a user, follow their homepage over server-sent
// events, and send a click event when a card is clicked. No build step.
"use strict";

const CARDS = 12;
const state = {
  userId: null,
  token: "",
  auth: false,
  stream: null,
  pendingClick: null, // {eventId, itemId, sentAt} until the homepage it caused arrives
};

const $ = (id) => document.getElementById(id);

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setConnection(kind, text) {
  const badge = $("connection");
  badge.dataset.state = kind;
  badge.textContent = text;
}

async function loadConfig() {
  const response = await fetch("/v1/config");
  const config = await response.json();
  state.auth = config.auth;
  $("token-input").hidden = !config.auth;
}

async function loadUsers() {
  const select = $("user-select");
  if (state.auth) {
    select.hidden = true; // user listing is off when tokens are required
    return;
  }
  const response = await fetch("/v1/users?limit=50");
  if (!response.ok) return;
  const { users } = await response.json();
  const current = select.value;
  select.replaceChildren(new Option("— recent users —", ""));
  for (const userId of users) select.add(new Option(userId, userId));
  if (users.includes(current)) select.value = current;
}

function describeSource(view) {
  if (view.source === "trending") return view.note;
  const event = view.source_event || {};
  const what = event.type ? `last moved by a ${event.type}` : "personal ranking";
  const moved = event.item_id ? ` on “${titleOf(event.item_id)}”` : "";
  return `${what}${moved} · model ${view.model_version}`;
}

const knownTitles = new Map();
function titleOf(itemId) {
  return knownTitles.get(itemId) || itemId;
}

function renderCard(item, rank) {
  const card = document.createElement("li");
  card.className = "card";
  card.dataset.itemId = item.item_id;
  card.dataset.category = item.category || "";
  card.dataset.rank = String(rank);
  card.tabIndex = 0;
  card.setAttribute("role", "button");

  const category = document.createElement("span");
  category.className = "category";
  category.textContent = item.category || "uncategorized";
  const title = document.createElement("h3");
  title.className = "title";
  title.textContent = item.title;
  const reason = document.createElement("p");
  reason.className = "reason";
  reason.textContent = item.reason;
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = `#${rank} · score ${item.score.toFixed(3)}`;

  // "More like this" lists the item's neighbours in the card; it is not a click.
  const more = document.createElement("button");
  more.type = "button";
  more.className = "more-like";
  more.textContent = "more like this";
  const similar = document.createElement("ul");
  similar.className = "similar";
  similar.hidden = true;
  more.addEventListener("click", (event) => {
    event.stopPropagation();
    showSimilar(item, similar);
  });
  more.addEventListener("keydown", (event) => event.stopPropagation());

  card.append(category, title, reason, score, more, similar);
  card.addEventListener("click", () => sendClick(item, card));
  card.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      sendClick(item, card);
    }
  });
  return card;
}

async function showSimilar(item, list) {
  const response = await fetch(`/v1/items/${encodeURIComponent(item.item_id)}/similar?limit=4`);
  const body = await response.json();
  if (!response.ok) {
    list.replaceChildren(Object.assign(document.createElement("li"), { textContent: body.detail }));
  } else {
    list.dataset.modelVersion = body.model_version;
    list.replaceChildren(...body.items.map((neighbour) => {
      const entry = document.createElement("li");
      entry.dataset.itemId = neighbour.item_id;
      entry.textContent = neighbour.category
        ? `${neighbour.title} · ${neighbour.category}`
        : neighbour.title;
      return entry;
    }));
  }
  list.hidden = false;
}

function render(view) {
  for (const item of view.items) knownTitles.set(item.item_id, item.title);
  const section = $("homepage");
  section.dataset.userId = view.user_id;
  section.dataset.source = view.source;
  section.dataset.sourceEventId = (view.source_event && view.source_event.event_id) || "";
  section.dataset.generatedAt = String(view.generated_at || "");
  $("headline").textContent = view.source === "trending"
    ? `Trending for ${view.user_id}`
    : `Homepage of user ${view.user_id}`;
  $("explain").textContent = describeSource(view);
  $("cards").replaceChildren(...view.items.map((item, i) => renderCard(item, i + 1)));

  settleClick();
}

// The new homepage can arrive before the POST that caused it has answered (a
// fast pipeline on a slow machine), so both sides call this.
function settleClick() {
  const section = $("homepage");
  const pending = state.pendingClick;
  if (pending && section.dataset.sourceEventId === pending.eventId) {
    const ms = Math.round(performance.now() - pending.sentAt);
    section.dataset.clickToUpdateMs = String(ms);
    $("latency").textContent =
      `Updated ${(ms / 1000).toFixed(2)} s after your click on “${titleOf(pending.itemId)}”.`;
    state.pendingClick = null;
  }
}

async function sendClick(item, card) {
  if (!state.userId) return;
  card.classList.add("clicked");
  const sentAt = performance.now();
  const response = await fetch("/v1/events", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify({ user_id: state.userId, type: "click", item_id: item.item_id }),
  });
  const body = await response.json();
  if (!response.ok) {
    card.classList.remove("clicked");
    showError(`Click not recorded: ${body.detail}`);
    return;
  }
  showError("");
  state.pendingClick = { eventId: body.event_id, itemId: item.item_id, sentAt };
  $("latency").textContent = `Clicked “${item.title}”; waiting for the new homepage…`;
  settleClick();
  $("homepage").dataset.lastClickEventId = body.event_id;
}

function follow(userId) {
  if (state.stream) state.stream.close();
  state.userId = userId;
  state.pendingClick = null;
  $("latency").textContent = "";
  showError("");
  const params = new URLSearchParams({ limit: String(CARDS) });
  if (state.token) params.set("token", state.token); // EventSource cannot send headers
  const url = `/v1/homepage/${encodeURIComponent(userId)}/live?${params}`;
  setConnection("connecting", "connecting…");
  const stream = new EventSource(url);
  stream.addEventListener("homepage", (message) => {
    setConnection("live", "live");
    render(JSON.parse(message.data));
  });
  stream.addEventListener("error", async () => {
    setConnection("down", "reconnecting…");
    // EventSource hides the status; ask once so a 4xx gets a readable message.
    const probe = await fetch(`/v1/homepage/${encodeURIComponent(userId)}?limit=1`,
                              { headers: authHeaders() });
    if (!probe.ok) {
      stream.close();
      setConnection("down", "not connected");
      showError((await probe.json()).detail);
    }
  });
  state.stream = stream;
  const url_ = new URL(window.location);
  url_.searchParams.set("user", userId);
  history.replaceState(null, "", url_);
}

function choose(event) {
  event.preventDefault();
  const typed = $("user-input").value.trim();
  const userId = typed || $("user-select").value;
  state.token = $("token-input").value.trim();
  if (userId) follow(userId);
}

async function start() {
  await loadConfig();
  await loadUsers();
  $("chooser").addEventListener("submit", choose);
  $("user-select").addEventListener("change", (event) => {
    $("user-input").value = "";
    if (event.target.value) follow(event.target.value);
  });
  $("user-select").addEventListener("focus", loadUsers);
  const initial = new URLSearchParams(window.location.search).get("user");
  if (initial) {
    $("user-input").value = initial;
    follow(initial);
  }
  document.body.dataset.started = "true";
}

start().catch((error) => showError(`Could not start: ${error}`));
