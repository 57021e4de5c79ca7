// Blu Markets operator console (issue 15). Plain JavaScript, no dependencies, no inline
// handlers: served under a strict Content-Security-Policy. Text from the server is only ever
// set as textContent (never parsed as HTML). The session is an HttpOnly cookie; every request
// that changes something carries the session's CSRF token in X-CSRF-Token.
"use strict";

const state = { who: null, csrf: null, locale: "en-US", tab: null, overview: null };

const $ = (id) => document.getElementById(id);

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function num(value, digits) {
  if (value === undefined || value === null || value === "") return "";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return new Intl.NumberFormat(state.locale, { maximumFractionDigits: digits ?? 8 }).format(n);
}

function when(text) {
  if (!text) return "";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return text;
  return new Intl.DateTimeFormat(state.locale, {
    dateStyle: "short", timeStyle: "medium", timeZone: "UTC",
  }).format(d) + " UTC";
}

// A table cell: numbers are right-aligned, keep their raw value, and isolate their direction.
function cell(value, kind) {
  if (kind === "num" || kind === "irr") {
    const td = el("td", num(value, kind === "irr" ? 0 : 8), { class: "num", "data-raw": value ?? "" });
    return td;
  }
  if (kind === "when") return el("td", when(value), { "data-raw": value ?? "" });
  if (kind === "name") {
    const td = el("td");
    td.appendChild(el("bdi", value, { dir: "auto" }));
    return td;
  }
  return el("td", value ?? "");
}

function row(cells, attrs) {
  const tr = el("tr", null, attrs);
  for (const c of cells) tr.appendChild(c);
  return tr;
}

function fill(tableId, rows) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows);
}

function pairs(tableId, entries) {
  fill(tableId, entries.map(([label, value, kind, key]) =>
    row([el("th", label), cell(value, kind)], key ? { "data-key": key } : {})));
}

function flash(message, bad) {
  const f = $("flash");
  f.textContent = message;
  f.classList.toggle("bad", !!bad);
  f.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { f.hidden = true; }, 6000);
}

async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["x-csrf-token"] = state.csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || response.statusText);
    error.status = response.status;
    error.code = data && data.error && data.error.code;
    throw error;
  }
  return data;
}

function can(permission) {
  return !!state.who && state.who.permissions.includes(permission);
}

// ---- session ----------------------------------------------------------------------------

function showLogin() {
  state.who = null;
  state.csrf = null;
  $("login").hidden = false;
  $("who").hidden = true;
  $("tabs").hidden = true;
  for (const t of document.querySelectorAll(".tab")) t.hidden = true;
}

function showApp(who) {
  state.who = who;
  state.csrf = who.csrfToken || null;
  $("login").hidden = true;
  $("who").hidden = false;
  $("who-name").textContent = who.name;
  $("who-role").textContent = who.role;
  $("tabs").hidden = false;
  for (const node of document.querySelectorAll("[data-perm]")) {
    node.hidden = !can(node.getAttribute("data-perm"));
  }
  const first = document.querySelector(".tabs button:not([hidden])");
  if (first) openTab(first.getAttribute("data-tab"));
}

async function boot() {
  try {
    showApp(await api("GET", "/admin/v1/session"));
  } catch (e) {
    showLogin();
  }
}

async function login(event) {
  event.preventDefault();
  const method = document.querySelector("input[name=method]:checked").value;
  const body = { name: $("login-name").value };
  body[method === "code" ? "code" : "password"] = $("login-secret").value;
  $("login-error").textContent = "";
  try {
    const who = await api("POST", "/console/session", body);
    $("login-secret").value = "";
    showApp(who);
  } catch (e) {
    $("login-error").textContent = e.message;
  }
}

async function logout() {
  try { await api("DELETE", "/admin/v1/session"); } catch (e) { /* already gone */ }
  showLogin();
}

// ---- tabs -------------------------------------------------------------------------------

const loaders = {
  service: loadOverview,
  customer: async () => {},
  audit: loadAudit,
  operators: loadOperators,
  account: async () => {},
};

async function openTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll(".tabs button")) {
    b.classList.toggle("active", b.getAttribute("data-tab") === name);
  }
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== "tab-" + name;
  try {
    await loaders[name]();
  } catch (e) {
    if (e.status === 401) return showLogin();
    flash(e.message, true);
  }
}

// ---- service ----------------------------------------------------------------------------

function statusCell(text) {
  const ok = text === "ok" || text === "ready" || text === "succeeded" || text === "live";
  return el("td", text, { class: ok ? "status-ok" : "status-bad" });
}

async function loadOverview() {
  const o = await api("GET", "/admin/v1/console/overview");
  state.overview = o;
  renderOverview();
}

function renderOverview() {
  const o = state.overview;
  if (!o) return;
  $("now").textContent = when(o.now);
  const checks = [["status", o.ready.status], ["database", o.ready.checks.database]];
  if (o.ready.checks.redis) checks.push(["redis", o.ready.checks.redis]);
  checks.push(["prices", o.ready.prices]);
  fill("ready", checks.map(([k, v]) => row([el("th", k), statusCell(v)], { "data-check": k })));
  pairs("outbox", [
    ["Pending", o.outbox.pending, "num", "pending"],
    ["Oldest due", o.outbox.oldestDueAt, "when", "oldestDueAt"],
  ]);
  fill("loans", o.loanBands.map((b) => row([cell(b.band), cell(b.count, "num"), cell(b.principalIrr, "irr")], { "data-band": b.band })));
  fill("expiring", o.expiringProtections.map((p) => row([cell(p.assetId), cell(p.expiresAt, "when"), cell(p.notionalIrr, "irr")])));
  fill("jobs", o.jobs.map((j) => {
    const action = el("td");
    if (can("runJobs")) {
      const b = el("button", "Run now", { type: "button", "data-job": j.name });
      b.addEventListener("click", () => runJob(j.name, b));
      action.appendChild(b);
    }
    return row([
      cell(j.name), cell(j.schedule), cell(j.lastRunAt, "when"),
      j.lastStatus ? statusCell(j.lastStatus) : cell(""),
      cell(j.nextRunAt, "when"), cell(j.failures24h, "num"), cell(j.lagSeconds, "num"), action,
    ], { "data-job": j.name });
  }));
  $("fx").textContent = o.fx
    ? `USD/IRR ${num(o.fx.usdIrr, 0)} · ${o.fx.source} · ${num(o.fx.ageSeconds)} s old`
    : "No FX rate";
  fill("prices", o.prices.map((p) => row([
    cell(p.assetId), cell(p.priceUsd, "num"), cell(p.priceIrr, "irr"), cell(p.source),
    cell(p.ageSeconds, "num"), el("td", p.overridden ? "pinned" : "", { class: p.overridden ? "yes" : "" }),
  ], { "data-asset": p.assetId })));
  const select = $("override-asset");
  if (!select.options.length) {
    for (const p of o.prices) select.appendChild(el("option", p.assetId, { value: p.assetId }));
  }
}

async function runJob(name, button) {
  button.disabled = true;
  try {
    const run = await api("POST", `/admin/v1/jobs/${encodeURIComponent(name)}/run`);
    flash(`${name}: ${run.status}`);
  } catch (e) {
    flash(`${name}: ${e.message}`, true);
  } finally {
    button.disabled = false;
    await loadOverview();
  }
}

async function pinPrice(event) {
  event.preventDefault();
  const asset = $("override-asset").value;
  const body = { priceUsd: Number($("override-price").value) };
  if ($("override-reason").value.trim()) body.reason = $("override-reason").value.trim();
  try {
    await api("PUT", `/admin/v1/overrides/prices/${encodeURIComponent(asset)}`, body);
    flash(`${asset} pinned at ${num(body.priceUsd)} USD`);
  } catch (e) {
    flash(e.message, true);
  }
  await loadOverview();
}

async function clearPrice() {
  const asset = $("override-asset").value;
  try {
    await api("DELETE", `/admin/v1/overrides/prices/${encodeURIComponent(asset)}`);
    flash(`${asset} override cleared`);
  } catch (e) {
    flash(e.message, true);
  }
  await loadOverview();
}

// ---- customer ---------------------------------------------------------------------------

async function lookup(event) {
  event.preventDefault();
  $("lookup-error").textContent = "";
  $("customer").hidden = true;
  const body = { phone: $("lookup-phone").value.trim(), revealPhone: $("lookup-reveal").checked };
  try {
    state.customer = await api("POST", "/admin/v1/customers/lookup", body);
    renderCustomer();
  } catch (e) {
    if (e.status === 401) return showLogin();
    $("lookup-error").textContent = e.message;
  }
}

function renderCustomer() {
  const c = state.customer;
  if (!c) return;
  const p = c.portfolio || {};
  pairs("c-summary", [
    ["Phone", c.phone, "text", "phone"],
    ["Customer since", c.createdAt, "when", "createdAt"],
    ["Total value (IRR)", p.totalValueIrr, "irr", "totalValueIrr"],
    ["Holdings value (IRR)", p.holdingsValueIrr, "irr", "holdingsValueIrr"],
    ["Cash (IRR)", p.cashIrr, "irr", "cashIrr"],
    ["Outstanding loans (IRR)", p.outstandingLoanIrr, "irr", "outstandingLoanIrr"],
    ["Net value (IRR)", p.netValueIrr, "irr", "netValueIrr"],
    ["Status", p.status, "text", "status"],
    ["Risk tier", p.riskTier, "text", "riskTier"],
  ]);
  const v = c.verification;
  pairs("c-verify", v ? [
    ["Chain valid", v.chain.valid ? "yes" : "no", "text", "chainValid"],
    ["Replay matches", v.replay.matches ? "yes" : "no", "text", "replayMatches"],
    ["Entries", v.entryCount, "num", "entryCount"],
  ] : [["Ledger", "no portfolio"]]);
  fill("c-holdings", c.holdings.map((h) => row([
    cell(h.assetId), cell(h.layer), cell(h.quantity, "num"), cell(h.valueIrr, "irr"), cell(h.frozen ? "yes" : ""),
  ], { "data-asset": h.assetId })));
  fill("c-loans", ((c.loans && c.loans.loans) || []).map((l) => row([
    cell(l.collateralAssetId), cell(l.principalIrr, "irr"), cell(l.status), cell(l.currentLtv ?? l.ltv, "num"), cell(l.dueDate, "when"),
  ])));
  fill("c-protections", ((c.protections && c.protections.protections) || []).map((x) => row([
    cell(x.assetId), cell(x.status), cell(x.notionalIrr, "irr"), cell(x.expiresAt, "when"),
  ])));
  fill("c-ledger", ((c.recentLedger && c.recentLedger.entries) || []).map((e) => row([
    cell(e.sequenceNumber, "num"), cell(e.entryType), cell(e.amountIrr, "irr"), cell(e.createdAt, "when"), cell(e.message, "name"),
  ])));
  $("customer").hidden = false;
}

// ---- audit ------------------------------------------------------------------------------

function auditQuery() {
  const q = new URLSearchParams();
  if ($("audit-actor").value.trim()) q.set("actor", $("audit-actor").value.trim());
  if ($("audit-action").value.trim()) q.set("action", $("audit-action").value.trim());
  return q;
}

async function loadAudit(event) {
  if (event) event.preventDefault();
  const q = auditQuery();
  $("audit-export").setAttribute("href", "/admin/v1/audit/export?" + q.toString());
  q.set("limit", "100");
  const page = await api("GET", "/admin/v1/audit?" + q.toString());
  fill("audit", page.entries.map((e) => row([
    cell(e.seq, "num"), cell(e.at, "when"), cell(e.actor, "name"), cell(e.role || e.actorKind),
    cell(e.action), cell(e.target, "name"), el("td", e.allowed ? "yes" : "refused", { class: e.allowed ? "yes" : "no" }),
    cell([e.before, e.after].filter((x) => x !== undefined).map((x) => JSON.stringify(x)).join(" → ")),
  ], { "data-seq": e.seq, "data-action": e.action })));
}

// ---- operators --------------------------------------------------------------------------

async function loadOperators() {
  const { operators } = await api("GET", "/admin/v1/operators");
  fill("operators", operators.map((o) => {
    const role = el("select", null, { "aria-label": "role" });
    for (const r of ["viewer", "support", "risk", "admin"]) {
      const opt = el("option", r, { value: r });
      if (r === o.role) opt.selected = true;
      role.appendChild(opt);
    }
    role.addEventListener("change", () => updateOperator(o.name, { role: role.value }));
    const actions = el("td");
    const toggle = el("button", o.disabled ? "Enable" : "Disable", { type: "button", class: "secondary" });
    toggle.addEventListener("click", () => updateOperator(o.name, { disabled: !o.disabled }));
    const code = el("button", "New code", { type: "button", class: "secondary" });
    code.addEventListener("click", () => newCode(o.name));
    actions.append(toggle, " ", code);
    const roleCell = el("td");
    roleCell.appendChild(role);
    return row([cell(o.name, "name"), roleCell, cell(o.disabled ? "disabled" : "active"), cell(o.hasPassword ? "set" : "not set"), actions], { "data-operator": o.name });
  }));
}

function showCode(issued) {
  const p = $("operator-code");
  p.replaceChildren(
    "One-time code for ", el("bdi", issued.operator.name, { dir: "auto" }), ": ",
    el("span", issued.oneTimeCode, { id: "issued-code" }),
    ` (valid until ${when(issued.codeExpiresAt)}, shown once)`,
  );
  p.hidden = false;
}

async function addOperator(event) {
  event.preventDefault();
  try {
    showCode(await api("POST", "/admin/v1/operators", { name: $("operator-name").value, role: $("operator-role").value }));
    $("operator-name").value = "";
  } catch (e) {
    flash(e.message, true);
  }
  await loadOperators();
}

async function updateOperator(name, change) {
  try {
    await api("PATCH", `/admin/v1/operators/${encodeURIComponent(name)}`, change);
    flash(`${name} updated`);
  } catch (e) {
    flash(e.message, true);
  }
  await loadOperators();
}

async function newCode(name) {
  try {
    showCode(await api("POST", `/admin/v1/operators/${encodeURIComponent(name)}/code`));
  } catch (e) {
    flash(e.message, true);
  }
}

async function setPassword(event) {
  event.preventDefault();
  const body = { newPassword: $("pw-new").value };
  if ($("pw-current").value) body.currentPassword = $("pw-current").value;
  try {
    await api("PUT", "/admin/v1/session/password", body);
    flash("Password set");
    $("pw-new").value = "";
    $("pw-current").value = "";
  } catch (e) {
    flash(e.message, true);
  }
}

// ---- wiring -----------------------------------------------------------------------------

function toggleDigits() {
  state.locale = state.locale === "en-US" ? "fa-IR" : "en-US";
  document.documentElement.setAttribute("data-digits", state.locale);
  renderOverview();
  renderCustomer();
  if (state.tab === "audit") loadAudit();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  for (const radio of document.querySelectorAll("input[name=method]")) {
    radio.addEventListener("change", () => {
      const code = radio.value === "code" && radio.checked;
      if (radio.checked) {
        $("secret-label").textContent = code ? "One-time code" : "Password";
        $("login-secret").type = code ? "text" : "password";
      }
    });
  }
  $("logout").addEventListener("click", logout);
  $("digits").addEventListener("click", toggleDigits);
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => openTab(b.getAttribute("data-tab")));
  }
  $("override-form").addEventListener("submit", pinPrice);
  $("override-clear").addEventListener("click", clearPrice);
  $("lookup-form").addEventListener("submit", lookup);
  $("audit-form").addEventListener("submit", (e) => loadAudit(e).catch((x) => flash(x.message, true)));
  $("operator-form").addEventListener("submit", addOperator);
  $("password-form").addEventListener("submit", setPassword);
  boot();
});
