// Kabar's web client: the chat protocol over a WebSocket (one request line per frame,
// one JSON reply or event per frame). Every message is rendered as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  socket: null,
  pending: [],          // reply handlers, in request order
  token: localStorage.getItem("kabar.token"),
  username: localStorage.getItem("kabar.username"),
  open: null,           // the username of the open conversation
  oldestShown: null,    // the lowest message id shown there
  shownIDs: new Set(),
  conversations: new Map(),
  online: new Map(),
  retryDelay: 500,
  subscribed: false,
};

// MARK: - Connection

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws`);
  state.socket = socket;
  setStatus("connecting…", true);
  socket.onopen = () => {
    state.retryDelay = 500;
    setStatus("connected", false);
    if (state.token) startSession(); else showLogin();
  };
  socket.onmessage = (frame) => receive(JSON.parse(frame.data));
  socket.onclose = () => {
    state.subscribed = false;
    for (const handler of state.pending.splice(0)) handler({ status: "ERROR", message: "server unreachable" });
    setStatus(`server unreachable, reconnecting in ${Math.round(state.retryDelay / 100) / 10} s…`, true);
    setTimeout(connect, state.retryDelay);
    state.retryDelay = Math.min(state.retryDelay * 2, 8000);
  };
}

/** Sends one request line; resolves with its reply. */
function request(line) {
  return new Promise((resolve) => {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
      resolve({ status: "ERROR", message: "server unreachable" });
      return;
    }
    state.pending.push(resolve);
    state.socket.send(line);
  });
}

function receive(frame) {
  if (frame.event) return onEvent(frame);
  const handler = state.pending.shift();
  if (handler) handler(frame);
}

function setStatus(text, isOffline) {
  $("status").textContent = text;
  $("status").classList.toggle("offline", isOffline);
}

/** A word as the protocol reads it: no spaces. */
const word = (text) => text.trim().replace(/\s+/g, "");

// MARK: - Session

async function startSession() {
  const reply = await request(`subscribe ${state.token} presence`);
  if (reply.status !== "OK") {
    if (reply.message === "Session Tidak Ditemukan") forgetSession();
    else setStatus(reply.message, true);
    return showLogin();
  }
  state.subscribed = true;
  showChat();
  await Promise.all([refreshOnline(), refreshConversations()]);
  if (state.open) await openConversation(state.open);
}

function forgetSession() {
  state.token = null;
  localStorage.removeItem("kabar.token");
}

async function logIn(event) {
  event.preventDefault();
  const username = word($("login-username").value).toLowerCase();
  const reply = await request(`auth ${username} ${word($("login-password").value)}`);
  const errors = { "Password Salah": "Wrong password.", "User Tidak Ada": "No such user.",
    "Terlalu Banyak Percobaan": "Too many failed attempts: wait a minute and try again." };
  if (reply.status !== "OK") {
    $("login-error").textContent = errors[reply.message] || reply.message;
    return;
  }
  $("login-error").textContent = "";
  $("login-password").value = "";
  state.token = reply.tokenid;
  state.username = username;
  localStorage.setItem("kabar.token", state.token);
  localStorage.setItem("kabar.username", username);
  await startSession();
}

async function register(event) {
  event.preventDefault();
  const quoted = (text) => `"${text.trim().replace(/"/g, "'")}"`;
  const username = word($("register-username").value);
  const password = word($("register-password").value);
  const reply = await request(`register ${username} ${password} ${quoted($("register-name").value)} ${quoted($("register-country").value)}`);
  if (reply.status !== "OK") {
    $("register-error").textContent = reply.message;
    return;
  }
  $("register-error").textContent = "";
  $("login-username").value = username.toLowerCase();
  $("login-password").value = password;
  $("login-form").requestSubmit();
}

async function logOut() {
  await request(`logout ${state.token}`);
  forgetSession();
  state.open = null;
  showLogin();
}

// MARK: - Views

function showLogin() {
  $("login-view").hidden = false;
  $("chat-view").hidden = true;
  $("logout").hidden = true;
  $("me").hidden = true;
}

function showChat() {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("logout").hidden = false;
  $("me").hidden = false;
  $("me").textContent = state.username;
}

async function refreshOnline() {
  const reply = await request(`show ${state.token}`);
  if (reply.status !== "OK") return;
  state.online = new Map(reply.message.map((user) => [user.username, user]));
  renderOnline();
}

function renderOnline() {
  const list = $("online");
  list.replaceChildren(...[...state.online.values()].map((user) => {
    const item = document.createElement("li");
    item.tabIndex = 0;
    item.textContent = `${user.name} (${user.username})`;
    item.dataset.username = user.username;
    item.onclick = () => openConversation(user.username);
    item.onkeydown = (event) => { if (event.key === "Enter") openConversation(user.username); };
    return item;
  }));
}

async function refreshConversations() {
  const reply = await request(`conversations ${state.token}`);
  if (reply.status !== "OK") return;
  state.conversations = new Map(reply.conversations.map((entry) => [entry.username, entry]));
  renderConversations();
}

function renderConversations() {
  const entries = [...state.conversations.values()].sort((a, b) => b.last.id - a.last.id);
  $("conversations").replaceChildren(...entries.map((entry) => {
    const item = document.createElement("li");
    item.tabIndex = 0;
    item.dataset.username = entry.username;
    item.classList.toggle("open", entry.username === state.open);
    const text = document.createElement("div");
    const name = document.createElement("div");
    name.textContent = entry.name;
    const last = document.createElement("div");
    last.className = "last";
    last.textContent = entry.last.msg;
    text.append(name, last);
    item.append(text);
    if (entry.unread > 0 && entry.username !== state.open) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = String(entry.unread);
      item.append(badge);
    }
    item.onclick = () => openConversation(entry.username);
    item.onkeydown = (event) => { if (event.key === "Enter") openConversation(entry.username); };
    return item;
  }));
}

// MARK: - A conversation

async function openConversation(username) {
  state.open = username;
  state.oldestShown = null;
  state.shownIDs = new Set();
  $("message-list").replaceChildren();
  $("chat-view").classList.add("reading");
  $("compose-to").value = username;
  const peer = state.conversations.get(username) || state.online.get(username);
  $("peer-title").textContent = peer ? `${peer.name} (${username})` : username;
  await loadHistory();
  const entry = state.conversations.get(username);
  if (entry) entry.unread = 0;
  renderConversations();
  $("compose-text").focus();
}

/** Loads the page of history before the oldest message shown (the newest first). */
async function loadHistory() {
  const username = state.open;
  const before = state.oldestShown ? ` 50 ${state.oldestShown}` : " 50";
  const reply = await request(`history ${state.token} ${username}${before}`);
  if (reply.status !== "OK" || username !== state.open) return;
  const list = $("message-list");
  const container = $("messages");
  const previousHeight = container.scrollHeight;
  const items = reply.messages.filter((message) => !state.shownIDs.has(message.id)).map(messageItem);
  list.prepend(...items);
  if (reply.messages.length > 0) state.oldestShown = reply.messages[0].id;
  $("older").hidden = reply.messages.length < 50;
  container.scrollTop = state.oldestShown && before !== " 50" ? container.scrollHeight - previousHeight : container.scrollHeight;
  const unread = reply.messages.filter((message) => message.to === state.username && !message.read).map((message) => message.id);
  if (unread.length > 0) await request(`ack ${state.token} ${unread.join(",")}`);
}

function messageItem(message) {
  state.shownIDs.add(message.id);
  const item = document.createElement("li");
  item.dataset.id = String(message.id);
  item.classList.toggle("mine", message.from === state.username);
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${message.msg_from} · ${new Date(message.time).toLocaleString()}`;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.msg;
  item.append(meta, text);
  return item;
}

function showLive(message) {
  if (state.shownIDs.has(message.id)) return;
  const container = $("messages");
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  $("message-list").append(messageItem(message));
  if (atBottom || message.from === state.username) container.scrollTop = container.scrollHeight;
}

async function send(event) {
  event.preventDefault();
  const recipients = $("compose-to").value.split(",").map(word).filter(Boolean).join(",");
  const text = $("compose-text").value.replace(/[\r\n]+/g, " ").trim();
  if (!recipients || !text) return;
  const errors = { "User Tidak Ditemukan": "No such user.", "Terlalu Banyak Penerima": "Too many recipients (100 at most)." };
  const reply = await request(`send ${state.token} ${recipients} ${text}`);
  if (reply.status !== "OK") {
    $("compose-error").textContent = errors[reply.message] || reply.message;
    return;
  }
  $("compose-error").textContent = "";
  $("compose-text").value = "";
  // The sender's own connection gets no event for it: show it from history's view.
  const sentTo = recipients.split(",");
  if (sentTo.includes(state.open)) await catchUp();
  await refreshConversations();
}

/** Shows the messages of the open conversation newer than those shown. */
async function catchUp() {
  const username = state.open;
  const reply = await request(`history ${state.token} ${username} 50`);
  if (reply.status !== "OK" || username !== state.open) return;
  for (const message of reply.messages) showLive(message);
}

// MARK: - Events

async function onEvent(frame) {
  if (frame.event === "presence") {
    if (frame.online) state.online.set(frame.username, frame);
    else state.online.delete(frame.username);
    renderOnline();
    return;
  }
  const message = frame.message;
  const peer = message.from === state.username ? message.to : message.from;
  const entry = state.conversations.get(peer) || { username: peer, name: message.from === state.username ? message.msg_to : message.msg_from, unread: 0 };
  entry.last = message;
  state.conversations.set(peer, entry);
  if (peer === state.open) {
    showLive(message);
    if (frame.event === "message") request(`ack ${state.token} ${message.id}`);
  } else if (frame.event === "message") {
    entry.unread = (entry.unread || 0) + 1;
  }
  renderConversations();
}

// MARK: - Start

$("login-form").addEventListener("submit", logIn);
$("register-form").addEventListener("submit", register);
$("logout").addEventListener("click", logOut);
$("compose").addEventListener("submit", send);
$("older").addEventListener("click", loadHistory);
$("back").addEventListener("click", () => $("chat-view").classList.remove("reading"));
$("messages").addEventListener("scroll", () => {
  if ($("messages").scrollTop === 0 && !$("older").hidden) loadHistory();
});
connect();
