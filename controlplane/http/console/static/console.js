// The Pub/Sub operators' console: a single page over the control plane's
// REST API (the same calls as curl) and the brokers' HTTPS edge (SSE and
// HTTP publish). No framework and no build step. The sign-in (API token,
// or email + global key) lives in this tab's sessionStorage only.
"use strict";

const API = "/client/v4";
const AUTH_KEY = "pubsub.console.auth";
const PER_PAGE = 50;
const CLIENTS_REFRESH = 2000; // ms: the nodes report every 2 s

// ---------- small DOM helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

function flash(text, kind) {
  const f = $("flash");
  f.textContent = text || "";
  f.className = kind || "";
}

function when(s) {
  if (!s) return "never";
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

function splitList(s) {
  return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const t = h("textarea", {}, text);
    document.body.append(t);
    t.select();
    document.execCommand("copy");
    t.remove();
  }
  flash("Copied to the clipboard.", "ok");
}

function copyButton(text, label) {
  return h("button", { class: "small copy", type: "button", title: "Copy", "data-copy": text, onclick: () => copy(text) }, label || "Copy");
}

function confirmBox(text, okLabel) {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel || "Confirm";
  d.returnValue = "";
  d.showModal();
  return new Promise((resolve) => d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true }));
}

function download(name, data) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2) + "\n"], { type: "application/json" }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------- sign-in and the API ----------

function auth() {
  try {
    return JSON.parse(sessionStorage.getItem(AUTH_KEY));
  } catch {
    return null;
  }
}

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// api calls the REST API as the signed-in account and returns the
// envelope; a refusal throws an APIError with the server's message.
async function api(method, path, opts = {}) {
  const a = auth();
  if (!a) throw new APIError(0, 10000, "Sign in first.");
  const url = new URL(`${API}/accounts/${encodeURIComponent(a.account)}/pubsub${path}`, location.origin);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = {};
  if (a.token) headers.Authorization = "Bearer " + a.token;
  else {
    headers["X-Auth-Email"] = a.email;
    headers["X-Auth-Key"] = a.key;
  }
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new APIError(0, 0, `The control plane did not answer (${e.message}). Check that it is running and reachable.`);
  }
  let env;
  try {
    env = await res.json();
  } catch {
    throw new APIError(res.status, 0, `The control plane answered ${res.status} without a JSON envelope; is ${location.origin} the control plane?`);
  }
  if (!env.success) {
    const e = (env.errors && env.errors[0]) || {};
    throw new APIError(res.status, e.code, e.message || `request failed with status ${res.status}`);
  }
  return env;
}

// Authentication refusals (10000 unauthenticated, 10001 bad credentials,
// 10002 another account) end the session: the key was revoked or rotated.
const AUTH_CODES = new Set([10000, 10001, 10002]);

function fail(err) {
  if (err instanceof APIError && AUTH_CODES.has(err.code)) {
    sessionStorage.removeItem(AUTH_KEY);
    renderSignIn(`Signed out: ${err.message}. Sign in again with a valid API token or global key.`);
    return;
  }
  flash(err.message || String(err), "error");
}

// guard runs an action, reporting its error; it returns the action's result.
async function guard(fn) {
  try {
    return await fn();
  } catch (err) {
    fail(err);
    return undefined;
  }
}

function signOut() {
  sessionStorage.removeItem(AUTH_KEY);
  location.hash = "#/";
  renderSignIn("Signed out.");
}

function renderSignIn(message) {
  cleanup();
  $("signout").hidden = true;
  $("who").textContent = "";
  $("crumbs").replaceChildren();
  flash(message || "", message && !message.startsWith("Signed out.") ? "error" : "");
  const method = h("div", { class: "row" },
    h("label", { class: "inline" }, h("input", { type: "radio", name: "method", value: "token", id: "m-token", checked: true }), "API token"),
    h("label", { class: "inline" }, h("input", { type: "radio", name: "method", value: "key", id: "m-key" }), "Email + global API key"));
  const tokenBox = h("div", { id: "token-fields" },
    h("label", { for: "token" }, "API token"), h("input", { id: "token", type: "password", autocomplete: "off" }));
  const keyBox = h("div", { id: "key-fields", hidden: true },
    h("label", { for: "email" }, "Email"), h("input", { id: "email", type: "email", autocomplete: "username" }),
    h("label", { for: "apikey" }, "Global API key"), h("input", { id: "apikey", type: "password", autocomplete: "off" }));
  const form = h("form", { id: "signin-form" },
    h("label", { for: "account" }, "Account ID"),
    h("input", { id: "account", required: true, autocomplete: "off", placeholder: "CF_ACCOUNT_ID in .pubsub/env" }),
    method, tokenBox, keyBox,
    h("div", { class: "row" }, h("button", { class: "primary", id: "signin" }, "Sign in")),
    h("p", { class: "muted" }, "Your credentials stay in this tab (sessionStorage) and are sent only to this control plane's API. `pubsub dev` writes them to .pubsub/env."));
  method.addEventListener("change", () => {
    const tok = $("m-token").checked;
    tokenBox.hidden = !tok;
    keyBox.hidden = tok;
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const a = { account: $("account").value.trim() };
    if ($("m-token").checked) a.token = $("token").value.trim();
    else {
      a.email = $("email").value.trim();
      a.key = $("apikey").value.trim();
    }
    if (!a.account || (!a.token && !(a.email && a.key))) {
      flash("Fill in the account ID and an API token, or an email and a global API key.", "error");
      return;
    }
    sessionStorage.setItem(AUTH_KEY, JSON.stringify(a));
    try {
      await api("GET", "/namespaces", { query: { per_page: 1 } });
    } catch (err) {
      sessionStorage.removeItem(AUTH_KEY);
      flash(`Sign-in refused: ${err.message}`, "error");
      return;
    }
    flash("");
    if (location.hash === "" || location.hash === "#/") route();
    else location.hash = "#/";
  });
  $("main").replaceChildren(h("section", { class: "card signin" }, h("h1", {}, "Sign in"), form));
}

// ---------- routing ----------

let cleanups = [];

function cleanup() {
  for (const f of cleanups) f();
  cleanups = [];
}

function crumbs(...links) {
  const out = [h("a", { href: "#/" }, "Namespaces")];
  for (const [text, href] of links) out.push(" / ", h("a", { href }, text));
  $("crumbs").replaceChildren(...out);
}

function nsPath(ns) {
  return `/namespaces/${encodeURIComponent(ns)}`;
}

function brokerPath(ns, b) {
  return `${nsPath(ns)}/brokers/${encodeURIComponent(b)}`;
}

function brokerHash(ns, b, tab) {
  return `#/ns/${encodeURIComponent(ns)}/b/${encodeURIComponent(b)}${tab ? "/" + tab : ""}`;
}

const VIEWS = {};

let carried = null;

// navigate shows the page at hash, keeping the current message.
function navigate(hash) {
  carried = { text: $("flash").textContent, kind: $("flash").className };
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  cleanup();
  // A message outlives the navigation its action caused (navigate), not
  // the next one.
  if (carried) flash(carried.text, carried.kind);
  else flash("");
  carried = null;
  const a = auth();
  if (!a) return renderSignIn();
  $("signout").hidden = false;
  $("who").textContent = a.token ? `account ${a.account} (API token)` : `${a.email} · account ${a.account}`;
  const p = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  // Each page renders into an element of its own: a page whose answers
  // come after the operator moved on renders into a detached element.
  const main = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  $("main").replaceChildren(main);
  let view;
  if (p.length === 0) view = () => VIEWS.namespaces(main);
  else if (p[0] === "ns" && p.length === 2) view = () => VIEWS.namespace(main, p[1]);
  else if (p[0] === "ns" && p[2] === "b" && p.length <= 5) view = () => VIEWS.broker(main, p[1], p[3], p[4] || "settings");
  else view = () => main.replaceChildren(h("div", { class: "empty" }, "No such page. ", h("a", { href: "#/" }, "Back to the namespaces")));
  await guard(view);
  document.body.dataset.view = p.length === 0 ? "namespaces" : p.length === 2 ? "namespace" : p[4] || "settings";
}

// pagedTable renders one page of a list with a pager; load(page) returns
// the envelope, row(item) a <tr>. It returns a function that reloads.
function pagedTable(container, { head, load, row, empty, id }) {
  let page = 1;
  async function show() {
    const env = await load(page);
    const items = env.result || [];
    const info = env.result_info || { page, per_page: items.length, count: items.length, total_count: items.length };
    if (items.length === 0 && page > 1) {
      page--;
      return show();
    }
    if (items.length === 0) {
      container.replaceChildren(h("div", { class: "empty", id: id + "-empty" }, empty));
      return;
    }
    const pages = Math.max(1, Math.ceil(info.total_count / info.per_page));
    const table = h("table", { id }, h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))), h("tbody", {}, items.map(row)));
    const pager = h("div", { class: "pager" },
      h("span", { class: "muted" }, `${info.total_count} in all · page ${page} of ${pages}`),
      h("button", { class: "small", disabled: page <= 1, onclick: () => { page--; guard(show); } }, "Previous"),
      h("button", { class: "small", disabled: page >= pages, onclick: () => { page++; guard(show); } }, "Next"));
    container.replaceChildren(table, pager);
  }
  return show;
}

// ---------- namespaces ----------

VIEWS.namespaces = async (main) => {
  crumbs();
  const list = h("div", {});
  const reload = pagedTable(list, {
    id: "namespaces",
    head: ["Name", "Description", "Created", ""],
    empty: "No namespaces yet. Create the first one below; brokers live in namespaces.",
    load: (page) => api("GET", "/namespaces", { query: { page, per_page: PER_PAGE } }),
    row: (ns) => h("tr", {},
      h("td", {}, h("a", { href: `#/ns/${encodeURIComponent(ns.name)}` }, ns.name)),
      h("td", {}, ns.description),
      h("td", {}, when(ns.created_on)),
      h("td", {}, h("button", { class: "small danger", onclick: () => deleteNamespace(ns.name, reload) }, "Delete"))),
  });
  const form = h("form", { id: "create-namespace" },
    h("div", { class: "grid" },
      h("div", {}, h("label", { for: "ns-name" }, "Name"), h("input", { id: "ns-name", required: true, placeholder: "my-namespace" })),
      h("div", {}, h("label", { for: "ns-desc" }, "Description"), h("input", { id: "ns-desc" }))),
    h("div", { class: "row" }, h("button", { class: "primary" }, "Create namespace")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const env = await api("POST", "/namespaces", { body: { name: $("ns-name").value.trim(), description: $("ns-desc").value } });
      flash(`Created namespace ${env.result.name}.`, "ok");
      form.reset();
      await reload();
    });
  });
  main.replaceChildren(h("h1", {}, "Namespaces"), list, h("h2", {}, "Create a namespace"), h("section", { class: "card" }, form));
  await reload();
};

async function deleteNamespace(name, after) {
  if (!(await confirmBox(`Delete namespace ${name}? It must have no brokers left.`, "Delete namespace"))) return;
  await guard(async () => {
    await api("DELETE", nsPath(name));
    flash(`Deleted namespace ${name}.`, "ok");
    await after();
  });
}

// ---------- brokers of a namespace ----------

function expirationField(id, value) {
  return h("input", { id, type: "number", min: "1", step: "1", placeholder: "none", value: value ?? undefined });
}

function readExpiration(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

VIEWS.namespace = async (main, ns) => {
  crumbs([ns, `#/ns/${encodeURIComponent(ns)}`]);
  const list = h("div", {});
  const reload = pagedTable(list, {
    id: "brokers",
    head: ["Broker", "Auth", "Endpoint", "Created", ""],
    empty: "No brokers in this namespace yet. Create one below, then mint credentials for its clients.",
    load: (page) => api("GET", `${nsPath(ns)}/brokers`, { query: { page, per_page: PER_PAGE } }),
    row: (b) => h("tr", {},
      h("td", {}, h("a", { href: brokerHash(ns, b.name) }, b.name), b.description ? h("div", { class: "muted" }, b.description) : null),
      h("td", {}, b.authType),
      h("td", { class: "mono" }, b.endpoint, copyButton(b.endpoint)),
      h("td", {}, when(b.created_on)),
      h("td", {}, h("button", { class: "small danger", onclick: () => deleteBroker(ns, b.name, reload) }, "Delete"))),
  });
  const form = h("form", { id: "create-broker" },
    h("div", { class: "grid" },
      h("div", {}, h("label", { for: "b-name" }, "Name"), h("input", { id: "b-name", required: true, placeholder: "example-broker" })),
      h("div", {}, h("label", { for: "b-desc" }, "Description"), h("input", { id: "b-desc" })),
      h("div", {}, h("label", { for: "b-exp" }, "Token expiration (seconds)"), expirationField("b-exp")),
      h("div", {}, h("label", { for: "b-hook" }, "On-publish webhook URL"), h("input", { id: "b-hook", type: "url", placeholder: "https://…" }))),
    h("div", { class: "row" }, h("button", { class: "primary" }, "Create broker")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const body = { name: $("b-name").value.trim(), authType: "TOKEN", description: $("b-desc").value, expiration: readExpiration("b-exp") };
      if ($("b-hook").value.trim()) body.on_publish = { url: $("b-hook").value.trim() };
      const env = await api("POST", `${nsPath(ns)}/brokers`, { body });
      flash(`Created broker ${env.result.name}: ${env.result.endpoint}`, "ok");
      form.reset();
      await reload();
    });
  });
  main.replaceChildren(
    h("h1", {}, `Namespace ${ns}`),
    list,
    h("h2", {}, "Create a broker"), h("section", { class: "card" }, form),
    h("div", { class: "row" }, h("button", { class: "danger", onclick: () => deleteNamespace(ns, async () => navigate("#/")) }, "Delete this namespace")));
  await reload();
};

async function deleteBroker(ns, name, after) {
  if (!(await confirmBox(`Delete broker ${name}? Its credentials stop working and its connected clients are disconnected (0x98).`, "Delete broker"))) return;
  await guard(async () => {
    await api("DELETE", brokerPath(ns, name));
    flash(`Deleted broker ${name}.`, "ok");
    await after();
  });
}

// ---------- one broker ----------

const TABS = [["settings", "Settings"], ["overview", "Overview"], ["credentials", "Credentials"], ["keys", "Keys"], ["clients", "Clients"], ["live", "Live topics"], ["retained", "Retained"]];

// edgeURL is the broker's HTTPS edge: every TLS port of a node answers
// HTTPS as well as MQTT, so the endpoint's host and port serve SSE.
function edgeURL(endpoint) {
  return endpoint.replace(/^mqtts:\/\//, "https://");
}

VIEWS.broker = async (main, ns, name, tab) => {
  crumbs([ns, `#/ns/${encodeURIComponent(ns)}`], [name, brokerHash(ns, name)]);
  const b = (await api("GET", brokerPath(ns, name))).result;
  const tabs = h("nav", { class: "tabs" }, TABS.map(([t, label]) => h("a", { href: brokerHash(ns, name, t === "settings" ? "" : t), class: t === tab ? "active" : "", id: "tab-" + t }, label)));
  const body = h("div", {});
  main.replaceChildren(h("h1", {}, `Broker ${name}`), tabs, body);
  const view = BROKER_TABS[tab];
  if (!view) {
    body.replaceChildren(h("div", { class: "empty" }, "No such tab."));
    return;
  }
  await view(body, ns, b);
};

const BROKER_TABS = {};

BROKER_TABS.settings = async (body, ns, b) => {
  const edge = edgeURL(b.endpoint);
  const ws = edge.replace(/^https:/, "wss:") + "/mqtt";
  const endpoints = h("table", { id: "endpoints" }, h("tbody", {},
    [["MQTT over TLS", b.endpoint], ["SSE and HTTP publish", edge + "/events"], ["MQTT over WebSocket", ws]].map(([k, v]) =>
      h("tr", {}, h("th", {}, k), h("td", { class: "mono" }, v, copyButton(v))))));
  const details = h("table", {}, h("tbody", {},
    h("tr", {}, h("th", {}, "ID"), h("td", { class: "mono" }, b.id)),
    h("tr", {}, h("th", {}, "Auth type"), h("td", {}, b.authType)),
    h("tr", {}, h("th", {}, "Created"), h("td", {}, when(b.created_on))),
    h("tr", {}, h("th", {}, "Modified"), h("td", {}, when(b.modified_on)))));
  const form = h("form", { id: "edit-broker" },
    h("div", { class: "grid" },
      h("div", {}, h("label", { for: "e-desc" }, "Description"), h("input", { id: "e-desc", value: b.description })),
      h("div", {}, h("label", { for: "e-exp" }, "Token expiration (seconds; empty for none)"), expirationField("e-exp", b.expiration)),
      h("div", {}, h("label", { for: "e-hook" }, "On-publish webhook URL (empty for none)"), h("input", { id: "e-hook", type: "url", value: b.on_publish ? b.on_publish.url : "" }))),
    h("div", { class: "row" }, h("button", { class: "primary" }, "Save")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const hook = $("e-hook").value.trim();
      await api("PATCH", brokerPath(ns, b.name), { body: { description: $("e-desc").value, expiration: readExpiration("e-exp"), on_publish: hook ? { url: hook } : null } });
      flash(`Saved broker ${b.name}.`, "ok");
      navigate(location.hash);
    });
  });
  body.replaceChildren(
    h("h2", {}, "Endpoints"), endpoints,
    h("h2", {}, "Details"), details,
    h("h2", {}, "Edit"), h("section", { class: "card" }, form),
    h("div", { class: "row" }, h("button", { class: "danger", id: "delete-broker", onclick: () => deleteBroker(ns, b.name, async () => navigate(`#/ns/${encodeURIComponent(ns)}`)) }, "Delete this broker")));
};

// allPages loads every page of a list, up to max items.
async function allPages(path, max) {
  const out = [];
  for (let page = 1; out.length < max; page++) {
    const env = await api("GET", path, { query: { page, per_page: 100 } });
    out.push(...env.result);
    if (env.result.length < 100 || out.length >= env.result_info.total_count) break;
  }
  return out;
}

BROKER_TABS.credentials = async (body, ns, b) => {
  const bp = brokerPath(ns, b.name);
  const minted = h("div", { id: "minted" });
  const form = h("form", { id: "mint" },
    h("div", { class: "grid" },
      h("div", {}, h("label", { for: "c-number" }, "Number"), h("input", { id: "c-number", type: "number", min: "1", max: "100", value: "1" })),
      h("div", {}, h("label", { for: "c-exp" }, "Expiration (seconds)"), h("input", { id: "c-exp", type: "number", min: "-1", placeholder: b.expiration ? `broker's: ${b.expiration}` : "none" })),
      h("div", {}, h("label", { for: "c-ids" }, "Client ids (optional, comma-separated)"), h("input", { id: "c-ids" }))),
    h("div", { class: "grid" },
      h("div", {}, h("label", { for: "c-topic" }, "Topic ACL"), h("input", { id: "c-topic", value: "#" })),
      h("div", {}, h("label", { for: "c-pub" }, "Publish ACL (narrows)"), h("input", { id: "c-pub" })),
      h("div", {}, h("label", { for: "c-sub" }, "Subscribe ACL (narrows)"), h("input", { id: "c-sub" }))),
    h("div", { class: "row" }, h("button", { class: "primary" }, "Mint credentials")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const ids = splitList($("c-ids").value);
      const query = { type: "TOKEN", topicAcl: splitList($("c-topic").value), publishAcl: splitList($("c-pub").value), subscribeAcl: splitList($("c-sub").value), expiration: $("c-exp").value.trim() };
      if (ids.length) query.clientid = ids;
      else query.number = $("c-number").value;
      const env = await api("POST", `${bp}/credentials`, { query });
      const tokens = env.result;
      const n = Object.keys(tokens).length;
      minted.replaceChildren(
        h("p", {}, `Minted ${n} credential${n === 1 ? "" : "s"}. The tokens are shown once: copy or download them now.`),
        h("table", { id: "minted-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Client id"), h("th", {}, "Token"))),
          h("tbody", {}, Object.entries(tokens).map(([id, tok]) => h("tr", {}, h("td", { class: "mono" }, id), h("td", { class: "mono" }, tok.slice(0, 40) + "…", copyButton(tok)))))),
        h("div", { class: "row" }, h("button", { id: "download", onclick: () => download(`${b.name}-credentials.json`, tokens) }, "Download JSON")));
      flash(`Minted ${n} credential${n === 1 ? "" : "s"}.`, "ok");
      await reload();
    });
  });
  const issued = h("div", {});
  const revoked = h("div", {});
  let revokedSet = new Set();
  const act = (verb, jti) => guard(async () => {
    await api(verb === "revoke" ? "POST" : "DELETE", `${bp}/revocations`, { query: { jti } });
    flash(verb === "revoke" ? `Revoked ${jti}: its clients are disconnected (0x87).` : `Unrevoked ${jti}.`, "ok");
    await reload();
  });
  function rowOf(c) {
    const r = revokedSet.has(c.jti);
    const acl = [`topic: ${c.topic_acl.join(", ")}`, c.publish_acl && `publish: ${c.publish_acl.join(", ")}`, c.subscribe_acl && `subscribe: ${c.subscribe_acl.join(", ")}`].filter(Boolean).join("; ");
    return h("tr", { "data-jti": c.jti },
      h("td", { class: "mono" }, c.jti), h("td", { class: "mono" }, c.client_id), h("td", { class: "mono" }, c.kid),
      h("td", {}, when(c.issued_at)), h("td", {}, when(c.expires_at)), h("td", { class: "mono" }, acl),
      h("td", {}, h("span", { class: r ? "badge revoked" : "badge" }, r ? "revoked" : "valid")),
      h("td", {}, h("button", { class: r ? "small" : "small danger", onclick: () => act(r ? "unrevoke" : "revoke", c.jti) }, r ? "Unrevoke" : "Revoke")));
  }
  const showIssued = pagedTable(issued, {
    id: "credentials",
    head: ["jti", "Client id", "Key", "Issued", "Expires", "ACLs", "Status", ""],
    empty: "No credentials yet. Mint some above.",
    load: (page) => api("GET", `${bp}/credentials/list`, { query: { page, per_page: PER_PAGE } }),
    row: rowOf,
  });
  const showRevoked = pagedTable(revoked, {
    id: "revocations",
    head: ["jti", "Revoked", "Expires", ""],
    empty: "No revoked credentials.",
    load: (page) => api("GET", `${bp}/revocations`, { query: { page, per_page: PER_PAGE } }),
    row: (r) => h("tr", {}, h("td", { class: "mono" }, r.jti), h("td", {}, when(r.revoked_at)), h("td", {}, when(r.expires_at)),
      h("td", {}, h("button", { class: "small", onclick: () => act("unrevoke", r.jti) }, "Unrevoke"))),
  });
  async function reload() {
    revokedSet = new Set((await allPages(`${bp}/revocations`, 10000)).map((r) => r.jti));
    found.replaceChildren();
    await Promise.all([showIssued(), showRevoked()]);
  }
  const found = h("div", { id: "found" });
  const find = h("form", { id: "find-credential", class: "row" },
    h("input", { id: "find-jti", placeholder: "jti", required: true }), h("button", {}, "Find by jti"));
  find.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const c = (await api("GET", `${bp}/credentials/${encodeURIComponent($("find-jti").value.trim())}`)).result;
      found.replaceChildren(h("table", { id: "found-table" }, h("tbody", {}, rowOf(c))));
    });
  });
  body.replaceChildren(
    h("h2", {}, "Mint credentials"), h("section", { class: "card" }, form, minted),
    h("h2", {}, "Issued credentials"), find, found, issued,
    h("h2", {}, "Revocation list"), revoked);
  await reload();
};

BROKER_TABS.keys = async (body, ns, b) => {
  const bp = brokerPath(ns, b.name);
  const state = h("div", { id: "rotation" });
  async function show() {
    const jwks = (await api("GET", `${bp}/publickeys`)).result;
    const raw = JSON.stringify(jwks, null, 2);
    table.replaceChildren(
      h("thead", {}, h("tr", {}, ["kid", "Type", "Public key (x)", ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, jwks.keys.map((k) => h("tr", {}, h("td", { class: "mono" }, k.kid), h("td", {}, `${k.kty} ${k.crv || ""}`), h("td", { class: "mono" }, k.x),
        h("td", {}, h("button", { class: "small danger", onclick: () => deleteKey(k.kid) }, "Delete"))))));
    jwksBox.replaceChildren(h("pre", { class: "mono" }, raw), copyButton(raw, "Copy JWKS"));
  }
  async function deleteKey(kid) {
    if (!(await confirmBox(`Delete key ${kid}? Tokens it signed stop working and their clients are disconnected. The current and next keys cannot be deleted.`, "Delete key"))) return;
    await guard(async () => {
      await api("DELETE", `${bp}/publickeys/${encodeURIComponent(kid)}`);
      flash(`Deleted key ${kid}.`, "ok");
      await show();
    });
  }
  const table = h("table", { id: "keys" });
  const jwksBox = h("div", {});
  const rotate = h("button", { id: "rotate", onclick: async () => {
    if (!(await confirmBox("Rotate the signing keys? The next key becomes current, a new next key is made, and the old current key is retired (its tokens keep working until you delete it).", "Rotate"))) return;
    await guard(async () => {
      const r = (await api("POST", `${bp}/publickeys/rotate`)).result;
      state.replaceChildren(h("p", {}, `Current: ${r.current}. Next: ${r.next}. Retired: ${r.retired.join(", ") || "none"}.`));
      flash("Rotated the signing keys.", "ok");
      await show();
    });
  } }, "Rotate keys");
  body.replaceChildren(h("h2", {}, "Public keys (JWKS)"), table, h("div", { class: "row" }, rotate), state, h("h2", {}, "JWKS document"), jwksBox);
  await show();
};

// every calls fn every ms while the tab is visible, never twice at once
// (a slow answer delays the next call rather than piling calls up), and
// returns the function that stops it.
function every(ms, fn) {
  let busy = false;
  const id = setInterval(async () => {
    if (busy || document.visibilityState !== "visible") return;
    busy = true;
    try {
      await guard(fn);
    } finally {
      busy = false;
    }
  }, ms);
  return () => clearInterval(id);
}

// ---------- overview: counters and charts ----------

// loadUPlot loads the vendored charting library on first use, so that
// the other pages do not pay for it.
let uplotLoading = null;
function loadUPlot() {
  uplotLoading ??= new Promise((resolve, reject) => {
    document.head.append(h("link", { rel: "stylesheet", href: "vendor/uplot/uPlot.min.css" }));
    const sc = h("script", { src: "vendor/uplot/uPlot.iife.min.js" });
    sc.onload = () => resolve(window.uPlot);
    sc.onerror = () => { uplotLoading = null; reject(new Error("could not load the charting library")); };
    document.head.append(sc);
  });
  return uplotLoading;
}

// rates turns one node's counter samples into [times, per-second rates]
// of field (a sample's field name, or a function of the sample); a
// counter that went down (the node restarted) counts as 0.
function rates(samples, field) {
  const get = typeof field === "function" ? field : (x) => x[field];
  const xs = [], ys = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (Date.parse(samples[i].time) - Date.parse(samples[i - 1].time)) / 1000;
    if (dt <= 0) continue;
    xs.push(Date.parse(samples[i].time) / 1000);
    ys.push(Math.max(0, get(samples[i]) - get(samples[i - 1])) / dt);
  }
  return [xs, ys];
}

// The on-publish hook's counters of a sample (0 when it has no hook):
// requests, those that failed, and messages by what became of them.
const hookOf = {
  requests: (x) => (x.hook ? Object.values(x.hook.requests).reduce((a, b) => a + b, 0) : 0),
  failed: (x) => (x.hook ? Object.entries(x.hook.requests).reduce((a, [o, n]) => a + (o === "ok" ? 0 : n), 0) : 0),
  passed: (x) => (x.hook ? x.hook.passed + x.hook.passed_on_failure : 0),
  changed: (x) => (x.hook ? x.hook.changed : 0),
  dropped: (x) => (x.hook ? x.hook.dropped_by_hook + x.hook.dropped_on_failure : 0),
};

const COLORS = ["#1a5fb4", "#c64600", "#26a269", "#813d9c", "#a51d2d", "#986a44"];

BROKER_TABS.overview = async (body, ns, b) => {
  const bp = brokerPath(ns, b.name);
  const summary = h("div", { id: "overview-summary" });
  const charts = h("div", { id: "charts" });
  const nodes = h("div", {});
  const hooks = h("div", {});
  const plots = {};
  body.replaceChildren(summary, charts, h("h2", {}, "By node"), nodes, hooks);
  const uPlot = await loadUPlot();

  // chart draws or updates one chart: series is [[label, [xs, ys]], ...].
  function chart(id, title, series) {
    const data = uPlot.join(series.map(([, d]) => d));
    const key = series.map(([l]) => l).join("|");
    // Two charts a row: the gap (16 px), and each box's padding and border.
    const width = Math.max(320, Math.floor((charts.clientWidth - 16) / 2) - 16);
    if (plots[id] && plots[id].key === key) {
      plots[id].u.setData(data);
      return;
    }
    if (plots[id]) plots[id].u.destroy();
    const box = $(id) || h("div", { id, class: "chart" });
    if (!box.parentNode) charts.append(box);
    const u = new uPlot({
      title, width, height: 220,
      series: [{}, ...series.map(([label], i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
      axes: [{}, { size: 60 }],
      scales: {
        // The last 5 minutes, what the control plane keeps.
        x: { time: true, range: () => { const now = Date.now() / 1000; return [now - 300, now]; } },
        y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
      },
    }, data, box);
    plots[id] = { u, key };
  }

  async function show() {
    const st = (await api("GET", `${bp}/stats`)).result;
    if (st.nodes.length === 0) {
      summary.replaceChildren(h("div", { class: "empty", id: "overview-empty" },
        "No node has reported this broker's counters in the last seconds. A broker's server starts on a node with its first client; connect one with a credential of this broker."));
      nodes.replaceChildren();
      hooks.replaceChildren();
      return;
    }
    const latest = st.nodes.map((n) => ({ node: n.node, s: n.samples[n.samples.length - 1], r: (f) => { const [, ys] = rates(n.samples, f); return ys.length ? ys[ys.length - 1] : 0; } }));
    const sum = (f) => latest.reduce((acc, n) => acc + f(n), 0);
    const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
    const card = (label, value) => h("div", { class: "stat" }, h("div", { class: "stat-value" }, value), h("div", { class: "muted" }, label));
    const hooked = latest.filter((n) => n.s.hook);
    summary.replaceChildren(h("div", { class: "stats" },
      card("connections", sum((n) => n.s.connections)),
      card("messages in / s", fmt(sum((n) => n.r("messages_in")))),
      card("messages out / s", fmt(sum((n) => n.r("messages_out")))),
      card("dropped / s", fmt(sum((n) => n.r("dropped")))),
      card("refused connects / s", fmt(sum((n) => n.r("refused")))),
      card("ACL denials / s", fmt(sum((n) => n.r("denied")))),
      hooked.length ? card("hook requests / s", fmt(sum((n) => n.r(hookOf.requests)))) : null,
      hooked.length ? card("hook failures / s", fmt(sum((n) => n.r(hookOf.failed)))) : null));
    nodes.replaceChildren(h("table", { id: "overview-nodes" },
      h("thead", {}, h("tr", {}, ["Node", "Connections", "Messages in", "Messages out", "Dropped", "Refused connects", "ACL denials", "Reported"].map((x) => h("th", {}, x)))),
      h("tbody", {}, latest.map((n) => h("tr", {}, h("td", {}, n.node), h("td", {}, n.s.connections), h("td", {}, n.s.messages_in), h("td", {}, n.s.messages_out),
        h("td", {}, n.s.dropped), h("td", {}, n.s.refused), h("td", {}, n.s.denied), h("td", {}, when(n.s.time)))))));
    // The on-publish hook, on the nodes where the broker has one: its
    // requests by outcome and what became of the messages, since the
    // broker's server started on the node.
    hooks.replaceChildren(...(hooked.length === 0 ? [] : [
      h("h2", {}, "On-publish hook"),
      h("table", { id: "overview-hook" },
        h("thead", {}, h("tr", {}, ["Node", "Requests by outcome", "Passed", "Changed", "Dropped by the hook", "Dropped on failure", "Passed on failure", "Retries", "In flight", "Queued"].map((x) => h("th", {}, x)))),
        h("tbody", {}, hooked.map((n) => {
          const k = n.s.hook;
          const outcomes = Object.entries(k.requests).sort(([a], [b]) => (a === "ok" ? -1 : b === "ok" ? 1 : a.localeCompare(b)));
          return h("tr", { "data-node": n.node }, h("td", {}, n.node),
            h("td", {}, outcomes.map(([o, c], i) => h("span", { class: o === "ok" ? "badge live" : "badge revoked", "data-outcome": o, title: `requests that ended ${o}` }, `${o} ${c}`, i < outcomes.length - 1 ? " " : ""))),
            h("td", {}, k.passed), h("td", {}, k.changed), h("td", {}, k.dropped_by_hook), h("td", {}, k.dropped_on_failure),
            h("td", {}, k.passed_on_failure), h("td", {}, k.retries), h("td", {}, k.in_flight), h("td", {}, k.queued));
        })))]));
    const multi = st.nodes.length > 1;
    const label = (n, what) => (multi ? `${n.node} ${what}` : what);
    chart("chart-connections", "Connections", st.nodes.map((n) => [label(n, "connections"), [n.samples.map((x) => Date.parse(x.time) / 1000), n.samples.map((x) => x.connections)]]));
    chart("chart-messages", "Messages per second", st.nodes.flatMap((n) => [[label(n, "in"), rates(n.samples, "messages_in")], [label(n, "out"), rates(n.samples, "messages_out")]]));
    chart("chart-problems", "Drops, refusals and denials per second", st.nodes.flatMap((n) => [[label(n, "dropped"), rates(n.samples, "dropped")], [label(n, "refused"), rates(n.samples, "refused")], [label(n, "denied"), rates(n.samples, "denied")]]));
    const withHook = st.nodes.filter((n) => n.samples.some((x) => x.hook));
    if (withHook.length) {
      chart("chart-hook", "On-publish hook: messages per second", withHook.flatMap((n) => [[label(n, "passed"), rates(n.samples, hookOf.passed)], [label(n, "changed"), rates(n.samples, hookOf.changed)], [label(n, "dropped"), rates(n.samples, hookOf.dropped)], [label(n, "failed requests"), rates(n.samples, hookOf.failed)]]));
    } else if (plots["chart-hook"]) {
      plots["chart-hook"].u.destroy();
      delete plots["chart-hook"];
      $("chart-hook")?.remove();
    }
  }
  const tick = every(CLIENTS_REFRESH, show);
  cleanups.push(() => { tick(); for (const p of Object.values(plots)) p.u.destroy(); });
  await show();
};

// ---------- connected clients ----------


BROKER_TABS.clients = async (body, ns, b) => {
  const bp = brokerPath(ns, b.name);
  const search = h("input", { id: "client-search", type: "search", placeholder: "client id, jti, address or node" });
  const list = h("div", {});
  const updated = h("span", { class: "muted", id: "clients-updated" });
  const act = async (what, c) => {
    const text = what === "disconnect"
      ? `Disconnect ${c.client_id}? It gets DISCONNECT 0x98 and may connect again; revoke its token to keep it out.`
      : `Revoke the token ${c.jti} of ${c.client_id}? Every session using it is disconnected (0x87) and cannot connect again until you unrevoke it.`;
    if (!(await confirmBox(text, what === "disconnect" ? "Disconnect" : "Revoke token"))) return;
    await guard(async () => {
      if (what === "disconnect") {
        await api("POST", `${bp}/clients/disconnect`, { body: { client_id: c.client_id } });
        flash(`Asked the nodes to disconnect ${c.client_id}; it leaves the list at their next report.`, "ok");
      } else {
        await api("POST", `${bp}/revocations`, { query: { jti: c.jti } });
        flash(`Revoked ${c.jti}: ${c.client_id} is disconnected (0x87).`, "ok");
      }
      await show();
    });
  };
  const show = pagedTable(list, {
    id: "clients",
    head: ["Client id", "jti", "Node", "Transport", "Remote address", "Connected since", "Subscriptions", "Messages in / out", "In flight", ""],
    empty: "No client of this broker is connected right now (nodes report every 2 s). Connect one with a credential of this broker.",
    load: async (page) => {
      const env = await api("GET", `${bp}/clients`, { query: { page, per_page: PER_PAGE, search: search.value.trim() } });
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      return env;
    },
    row: (c) => h("tr", { "data-client": c.client_id },
      h("td", { class: "mono" }, c.client_id), h("td", { class: "mono" }, c.jti), h("td", {}, c.node), h("td", {}, c.transport),
      h("td", { class: "mono" }, c.remote_addr), h("td", {}, when(c.connected_at)),
      h("td", { class: "mono" }, c.subscriptions.join(", "), c.subscribed > c.subscriptions.length ? ` … (${c.subscribed} in all)` : ""),
      // SSE streams are not counted per stream.
      h("td", { class: "counters", title: "PUBLISH packets received from and sent to the client since it connected" },
        c.messages_in == null ? "–" : `${c.messages_in} / ${c.messages_out}`),
      h("td", {}, c.inflight),
      h("td", {},
        // A disconnection ends MQTT sessions; an SSE stream ends with its token.
        c.transport === "sse" ? null : h("button", { class: "small", "data-action": "disconnect", onclick: () => act("disconnect", c) }, "Disconnect"), " ",
        h("button", { class: "small danger", "data-action": "revoke", onclick: () => act("revoke", c) }, "Revoke token"))),
  });
  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => guard(show), 250);
  });
  // Refresh while the page is shown, but not under an open dialog.
  const tick = every(CLIENTS_REFRESH, () => ($("confirm").open ? undefined : show()));
  cleanups.push(() => { tick(); clearTimeout(timer); });
  body.replaceChildren(
    h("div", { class: "grid" }, h("div", {}, h("label", { for: "client-search" }, "Search"), search)),
    h("h2", {}, "Connected clients ", updated), list);
  await show();
};

// ---------- live topic view ----------

const MAX_MESSAGES = 500;
const SHOW_BYTES = 2048;
const CONSOLE_TOKEN_TTL = 600; // seconds: the console's own credentials are short-lived

// mintOwn mints the console a short-lived credential with exactly the
// rights one action needs; it is kept in memory, never stored.
async function mintOwn(bp, acl) {
  const id = "console-" + crypto.getRandomValues(new Uint32Array(2)).join("");
  const env = await api("POST", `${bp}/credentials`, { query: { type: "TOKEN", clientid: id, expiration: CONSOLE_TOKEN_TTL, ...acl } });
  return { token: env.result[id], expires: Date.now() + (CONSOLE_TOKEN_TTL - 30) * 1000 };
}

function hex(bytes) {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function formatPayload(bytes, fmt) {
  const shown = bytes.subarray(0, SHOW_BYTES);
  const more = bytes.length > SHOW_BYTES ? `\n… ${bytes.length - SHOW_BYTES} more bytes` : "";
  if (fmt === "hex") return hex(shown) + more;
  const text = new TextDecoder().decode(shown);
  if (fmt === "json" && !more) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text + "\n(not JSON)";
    }
  }
  return text + more;
}

BROKER_TABS.live = async (body, ns, b) => {
  const bp = brokerPath(ns, b.name);
  const edge = edgeURL(b.endpoint);
  const messages = [];
  let source = null;
  let paused = false;
  let missed = 0;
  const status = h("div", { id: "live-status", class: "muted" }, "Not watching.");
  const tbody = h("tbody", {});
  const list = h("div", { id: "messages" }, h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Topic filter", "Size", "Payload"].map((x) => h("th", {}, x)))), tbody));
  const fmt = h("select", { id: "format" }, h("option", { value: "text" }, "text"), h("option", { value: "json" }, "JSON"), h("option", { value: "hex" }, "hex"));
  const filter = h("input", { id: "filter", value: "#" });

  function row(m) {
    return h("tr", {}, h("td", {}, m.time.toLocaleTimeString()), h("td", { class: "mono" }, m.filter), h("td", {}, `${m.bytes.length} B`),
      h("td", {}, h("pre", { class: "mono" }, formatPayload(m.bytes, fmt.value))));
  }
  function render() {
    tbody.replaceChildren(...messages.map(row));
  }
  fmt.addEventListener("change", render);
  function add(f, bytes) {
    if (paused) {
      missed++;
      status.textContent = `Paused: ${missed} message${missed === 1 ? "" : "s"} not shown.`;
      return;
    }
    const m = { time: new Date(), filter: f, bytes };
    messages.unshift(m);
    tbody.prepend(row(m));
    while (messages.length > MAX_MESSAGES) {
      messages.pop();
      tbody.lastChild.remove();
    }
  }
  function stop(text) {
    if (source) source.close();
    source = null;
    startBtn.disabled = false;
    stopBtn.disabled = true;
    pauseBtn.disabled = true;
    status.textContent = text || "Not watching.";
  }
  let left = false; // the operator left the page: open no stream any more
  cleanups.push(() => {
    left = true;
    stop();
  });

  async function start() {
    const f = filter.value.trim();
    if (!f) {
      flash("Enter a topic filter, such as sensors/# or #.", "error");
      return;
    }
    stop("Minting a short-lived credential…");
    startBtn.disabled = true;
    const own = await guard(() => mintOwn(bp, { topicAcl: f, subscribeAcl: f }));
    if (left) return;
    if (!own) {
      stop();
      return;
    }
    const url = `${edge}/events?${new URLSearchParams({ topic: f, auth: own.token })}`;
    const es = new EventSource(url);
    source = es;
    stopBtn.disabled = false;
    status.textContent = `Connecting to ${edge}…`;
    es.addEventListener("stream-open", () => {
      pauseBtn.disabled = false;
      status.textContent = `Watching ${f} on ${edge}.`;
      status.className = "";
    });
    es.addEventListener("message", (e) => add(f, new TextEncoder().encode(e.data)));
    es.addEventListener("message-base64", (e) => add(f, Uint8Array.from(atob(e.data), (c) => c.charCodeAt(0))));
    es.addEventListener("stream-error", (e) => {
      let env = {};
      try { env = JSON.parse(e.data); } catch { /* keep the default */ }
      const err = (env.errors && env.errors[0]) || { message: "the stream ended" };
      es.close();
      // The console's credential expired: mint a fresh one and go on.
      if (err.code === 20043 && source === es) {
        start();
        return;
      }
      stop(`Stream ended: ${err.message}`);
      status.className = "error-text";
    });
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED || source !== es) return;
      stop(`Could not open the SSE stream at ${edge}. Check that a node serves ${b.name}, and that this browser trusts the node's certificate (with pubsub dev: open ${edge}/ once, or trust the CA in PUBSUB_CA_FILE).`);
      status.className = "error-text";
    };
  }
  const startBtn = h("button", { class: "primary", id: "watch", onclick: start }, "Watch");
  const stopBtn = h("button", { id: "stop", disabled: true, onclick: () => stop() }, "Stop");
  const pauseBtn = h("button", { id: "pause", disabled: true, onclick: () => {
    paused = !paused;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      missed = 0;
      status.textContent = `Watching ${filter.value.trim()} on ${edge}.`;
    }
  } }, "Pause");
  const clearBtn = h("button", { id: "clear", onclick: () => { messages.length = 0; render(); } }, "Clear");

  let pubToken = null;
  const pubForm = h("form", { id: "publish" },
    h("div", { class: "grid" },
      h("div", {}, h("label", { for: "pub-topic" }, "Topic"), h("input", { id: "pub-topic", required: true, value: "console/test" })),
      h("div", {}, h("label", { for: "pub-payload" }, "Payload"), h("input", { id: "pub-payload", value: "hello from the console" }))),
    h("div", { class: "row" }, h("label", { class: "inline" }, h("input", { type: "checkbox", id: "pub-retain" }), "retain"), h("button", { class: "primary" }, "Publish")),
    h("div", { id: "pub-status", class: "muted" }));
  pubForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(async () => {
      const topic = $("pub-topic").value.trim();
      if (!pubToken || pubToken.topic !== topic || pubToken.expires < Date.now()) {
        pubToken = { topic, ...(await mintOwn(bp, { topicAcl: topic, publishAcl: topic })) };
      }
      const q = new URLSearchParams({ topic });
      if ($("pub-retain").checked) q.set("retain", "true");
      const result = await edgeCall(edge, `/events?${q}`, pubToken.token, { method: "POST", headers: { "Content-Type": "text/plain; charset=utf-8" }, body: $("pub-payload").value });
      $("pub-status").textContent = `Published ${result.bytes} bytes to ${result.topic} (id ${result.id}).`;
    });
  });

  body.replaceChildren(
    h("section", { class: "card" },
      h("div", { class: "grid" }, h("div", {}, h("label", { for: "filter" }, "Topic filter (+ and # allowed)"), filter), h("div", {}, h("label", { for: "format" }, "Show payloads as"), fmt)),
      h("div", { class: "row" }, startBtn, pauseBtn, stopBtn, clearBtn),
      h("p", {}, status),
      h("p", { class: "muted" }, `The console mints itself a credential valid ${CONSOLE_TOKEN_TTL / 60} minutes that may only subscribe to the filter, and streams with SSE from ${edge}. SSE events do not carry the topic name: the filter is shown.`)),
    list,
    h("h2", {}, "Publish a test message"), h("section", { class: "card" }, pubForm));
};

// ---------- retained messages ----------

// edgeCall sends a request to the broker's HTTPS edge with one of the
// console's own tokens and returns the envelope's result.
async function edgeCall(edge, path, token, init = {}) {
  let res;
  try {
    res = await fetch(edge + path, { ...init, credentials: "omit", headers: { ...(init.headers || {}), Authorization: "Bearer " + token } });
  } catch (e) {
    throw new Error(`Could not reach ${edge} (${e.message}). Check that a node serves this broker and that this browser trusts its certificate (with pubsub dev: trust PUBSUB_CA_FILE, or open ${edge}/ once).`);
  }
  const env = await res.json().catch(() => ({}));
  if (!res.ok || !env.success) throw new Error(`The node refused: ${(env.errors && env.errors[0] && env.errors[0].message) || res.status}`);
  return env.result;
}

BROKER_TABS.retained = async (body, ns, b) => {
  const bp = brokerPath(ns, b.name);
  const edge = edgeURL(b.endpoint);
  const filter = h("input", { id: "retained-filter", value: "#" });
  const fmt = h("select", { id: "retained-format" }, h("option", { value: "text" }, "text"), h("option", { value: "json" }, "JSON"), h("option", { value: "hex" }, "hex"));
  const list = h("div", { id: "retained-list" }, h("div", { class: "empty" }, "Pick a topic filter and list the retained messages it matches."));
  let shown = [];
  function render(truncated) {
    if (shown.length === 0) {
      list.replaceChildren(h("div", { class: "empty", id: "retained-empty" }, `No retained message matches ${filter.value.trim()}.`));
      return;
    }
    list.replaceChildren(...[
      truncated && h("p", { class: "error-text" }, "Only the first 1,000 are shown: narrow the filter to see the others."),
      h("table", { id: "retained" },
        h("thead", {}, h("tr", {}, ["Topic", "Size", "Type", "Expires", "Payload", ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, shown.map((m) => h("tr", { "data-topic": m.topic },
          h("td", { class: "mono" }, m.topic), h("td", {}, `${m.bytes} B`), h("td", {}, m.content_type || ""), h("td", {}, when(m.expires_at)),
          h("td", {}, h("pre", { class: "mono" }, formatPayload(m.payload, fmt.value))),
          h("td", {}, h("button", { class: "small danger", onclick: () => remove(m.topic) }, "Delete")))))),
    ].filter(Boolean));
  }
  let truncatedLast = false;
  fmt.addEventListener("change", () => render(truncatedLast));
  async function load() {
    const f = filter.value.trim();
    if (!f) throw new Error("Enter a topic filter, such as sensors/# or #.");
    const own = await mintOwn(bp, { topicAcl: f, subscribeAcl: f });
    const r = await edgeCall(edge, `/retained?${new URLSearchParams({ topic: f })}`, own.token);
    shown = r.messages.map((m) => ({ ...m, payload: Uint8Array.from(atob(m.payload || ""), (c) => c.charCodeAt(0)) }));
    truncatedLast = r.truncated;
    render(r.truncated);
  }
  async function remove(topic) {
    if (!(await confirmBox(`Delete the retained message of ${topic}? New subscribers will no longer receive it.`, "Delete"))) return;
    await guard(async () => {
      const own = await mintOwn(bp, { topicAcl: topic, publishAcl: topic });
      await edgeCall(edge, `/events?${new URLSearchParams({ topic, retain: "true" })}`, own.token, { method: "POST", body: "" });
      flash(`Deleted the retained message of ${topic}.`, "ok");
      await load();
    });
  }
  const form = h("form", { id: "retained-form" },
    h("div", { class: "grid" }, h("div", {}, h("label", { for: "retained-filter" }, "Topic filter (+ and # allowed)"), filter), h("div", {}, h("label", { for: "retained-format" }, "Show payloads as"), fmt)),
    h("div", { class: "row" }, h("button", { class: "primary" }, "List retained messages")),
    h("p", { class: "muted" }, `The console mints itself a credential valid ${CONSOLE_TOKEN_TTL / 60} minutes for the filter and asks ${edge}/retained; deleting publishes an empty retained message.`));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guard(load);
  });
  body.replaceChildren(h("section", { class: "card" }, form), list);
};

// ---------- start ----------

$("signout").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route();
