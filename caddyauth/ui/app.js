// The rest_auth policy explorer: reads GET /rest-auth/ (the live
// policies), asks POST /rest-auth/check (what a request would get) and
// reads /metrics (denials by reason). Nothing here writes anything.
"use strict";

const $ = (sel) => document.querySelector(sel);
let handlers = [];
let current = null;

// el builds an element with text (never HTML) and children.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// covers reports whether permission p (a role's) grants q: the same, or
// an ancestor in the tree.
function covers(p, q) {
  if (p === q) return true;
  const base = p.endsWith("/") ? p : p + "/";
  return q.startsWith(base);
}

async function load() {
  const resp = await fetch("../", { headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error("GET /rest-auth/: " + resp.status);
  handlers = (await resp.json()).handlers || [];
  const sel = $("#handler");
  sel.replaceChildren(...handlers.map((h, i) => el("option", { value: String(i) }, h.name || "(unnamed)")));
  sel.onchange = () => show(handlers[Number(sel.value)]);
  if (handlers.length) show(handlers[0]);
  else $("#status").textContent = "no rest_auth handler is live";
}

function show(h) {
  current = h;
  $("#status").textContent = `${h.rules.length} rules, ${h.roles.length} roles, ${h.users.length} users`;
  $("#try input[name=tenant]").hidden = !(h.tenants && h.tenants.length);
  renderRules(h);
  renderTree(h);
  renderRoles(h);
  renderUsers(h);
  $("#decision").replaceChildren();
  refreshDenials();
}

function renderRules(h) {
  const byRule = new Map();
  for (const f of h.findings || []) {
    if (!f.rule) continue;
    if (!byRule.has(f.rule)) byRule.set(f.rule, []);
    byRule.get(f.rule).push(f);
  }
  const filter = $("#rule-filter").value.toLowerCase();
  const rows = [];
  for (const r of h.rules) {
    const needs = [...(r.permissions || []), ...(r.scopes || []).map((s) => "scope " + s)].join(", ");
    const text = [r.context, r.methods.join(","), needs].join(" ").toLowerCase();
    if (filter && !text.includes(filter)) continue;
    const findings = (byRule.get(r.index) || []).map((f) =>
      el("span", { class: "finding " + f.level, title: f.message }, `${f.code}: ${f.message}`));
    rows.push(el("tr", { id: "rule-" + r.index },
      el("td", {}, r.index),
      el("td", { class: "mono" }, r.context, r.glob ? el("span", { class: "muted" }, " (path pattern)") : null),
      el("td", {}, r.methods.join(", ")),
      el("td", {}, r.secured ? "yes" : "no"),
      el("td", { class: "mono" }, needs || (r.secured ? "any signed-in caller" : "")),
      el("td", {}, (r.auth_handlers || []).join(", ") || "all"),
      el("td", { class: "mono" }, r.source),
      el("td", {}, ...findings)));
  }
  $("#rules tbody").replaceChildren(...rows);
  $("#rule-count").textContent = `(${h.rules.length}, in match order)`;
}

// renderTree draws every permission the roles and rules name, as a tree;
// each node lists the roles that grant it (directly or through an
// ancestor) and the users holding them.
function renderTree(h) {
  const paths = new Set();
  for (const r of h.roles) for (const p of r.permissions) if (p !== "none") paths.add(p);
  for (const r of h.rules) for (const p of r.permissions || []) if (p !== "none") paths.add(p);
  const root = { name: "", path: "", kids: new Map() };
  for (const p of paths) {
    let node = root;
    let acc = "";
    for (const seg of p.split("/").filter(Boolean)) {
      acc += "/" + seg;
      if (!node.kids.has(seg)) node.kids.set(seg, { name: seg, path: acc, kids: new Map() });
      node = node.kids.get(seg);
    }
  }
  const usersOf = (role) => h.users.filter((u) => u.roles.includes(role)).map((u) => u.username);
  const draw = (node, depth) => {
    const roles = h.roles.filter((r) => r.permissions.some((p) => covers(p, node.path))).map((r) => r.name);
    const users = [...new Set(roles.flatMap(usersOf))];
    const kids = [...node.kids.values()].sort((a, b) => a.name.localeCompare(b.name));
    const open = depth < 2;
    const toggle = el("span", { class: "toggle" }, kids.length ? (open ? "\u25be" : "\u25b8") : "");
    const holders = el("span", { class: "holders" },
      roles.length ? `roles: ${roles.join(", ")}` : "no role", users.length ? ` \u2014 users: ${users.slice(0, 20).join(", ")}${users.length > 20 ? ", \u2026" : ""}` : "");
    const sub = el("ul", {}, ...kids.map((k) => draw(k, depth + 1)));
    sub.hidden = !open;
    toggle.onclick = () => {
      sub.hidden = !sub.hidden;
      toggle.textContent = sub.hidden ? "\u25b8" : "\u25be";
    };
    return el("li", { dataset: { path: node.path } }, toggle, el("code", { class: "node" }, node.path), holders, kids.length ? sub : null);
  };
  const top = [...root.kids.values()].map((k) => draw(k, 0));
  $("#tree").replaceChildren(top.length ? el("ul", { class: "tree" }, ...top) : el("p", { class: "muted" }, "no permissions"));
}

function renderRoles(h) {
  $("#roles tbody").replaceChildren(...h.roles.map((r) =>
    el("tr", {}, el("td", {}, r.name), el("td", { class: "mono" }, r.permissions.join(", ")), el("td", { class: "mono" }, r.scopes.join(" ")))));
}

function renderUsers(h) {
  const filter = $("#user-filter").value.toLowerCase();
  const shown = h.users.filter((u) => !filter || u.username.toLowerCase().includes(filter) || u.roles.join(" ").toLowerCase().includes(filter));
  $("#users tbody").replaceChildren(...shown.slice(0, 200).map((u) =>
    el("tr", {}, el("td", {}, u.username), el("td", {}, u.roles.join(", ")), el("td", { class: "mono" }, u.source))));
  $("#user-count").textContent = `(${shown.length > 200 ? "first 200 of " : ""}${shown.length})`;
  const store = (h.settings && h.settings.user_store) || null;
  $("#store-note").textContent = store && store.store && store.store !== "file"
    ? `Accounts also come from a ${store.store} store (not listed here): ${JSON.stringify(store)}` : "";
}

// explain says why: which of the caller's roles grants each required
// permission, or which permissions nothing the caller holds grants.
function explain(h, q, d) {
  const out = [];
  const req = d.requires;
  if (!req) return out;
  let roles = [...q.roles];
  const u = h.users.find((x) => x.username === q.user);
  if (u) roles = roles.concat(u.roles);
  const held = h.roles.filter((r) => roles.includes(r.name));
  if (q.auth_method === "bearer" && req.scopes.length) {
    for (const s of req.scopes) out.push(q.scopes.includes(s) ? `the token holds scope ${s}` : `missing scope ${s} (the token's scopes: ${q.scopes.join(" ") || "none"})`);
    return out;
  }
  for (const p of req.permissions) {
    if (p === "none") { out.push("none: any signed-in caller"); continue; }
    const g = held.find((r) => r.permissions.some((x) => covers(x, p)));
    if (g) {
      const via = g.permissions.find((x) => covers(x, p));
      out.push(`role ${g.name} grants ${p}` + (via !== p ? ` through ${via}` : ""));
    } else {
      out.push(`missing ${p}: none of ${roles.length ? roles.join(", ") : "the caller's roles (none)"} holds it or an ancestor`);
    }
  }
  if (!req.permissions.length && req.scopes.length) {
    for (const s of req.scopes) {
      const g = held.find((r) => r.scopes.includes(s));
      out.push(g ? `role ${g.name} holds scope ${s}` : `missing scope ${s} among the roles' scopes`);
    }
  }
  return out;
}

async function tryRequest(ev) {
  ev.preventDefault();
  const f = new FormData($("#try"));
  const split = (s, sep) => String(s || "").split(sep).map((x) => x.trim()).filter(Boolean);
  const q = {
    handler: current.name, method: f.get("method"), path: f.get("path"), user: f.get("user") || "",
    roles: split(f.get("roles"), ","), scopes: split(f.get("scopes"), /\s+/), auth_method: f.get("auth_method") || "",
  };
  if (f.get("tenant")) q.tenant = f.get("tenant");
  const resp = await fetch("../check", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(q) });
  const d = await resp.json();
  document.querySelectorAll("#rules tr.hit").forEach((tr) => tr.classList.remove("hit"));
  const box = $("#decision");
  if (!resp.ok) {
    box.replaceChildren(el("p", { class: "refused" }, d.error || `error ${resp.status}`));
    return;
  }
  const lines = [el("p", {},
    el("span", { class: d.allowed ? "granted" : "refused", id: "verdict" }, `${d.status} ${d.allowed ? "allowed" : "refused"}`),
    ` \u2014 ${d.reason}: ${d.detail}`)];
  if (d.path) lines.push(el("p", {}, "canonical path: ", el("code", {}, d.path)));
  if (d.tenant) lines.push(el("p", {}, `tenant: ${d.tenant}` + (d.user_tenant ? `, the caller's: ${d.user_tenant}` : "")));
  if (d.rule) {
    lines.push(el("p", {}, `matched rule ${d.rule.index}: `, el("code", {}, d.rule.context), ` at `, el("code", { id: "matched-source" }, d.rule.source)));
    const row = document.getElementById("rule-" + d.rule.index);
    if (row) {
      row.classList.add("hit");
      row.scrollIntoView({ block: "nearest" });
    }
  }
  const why = explain(current, q, d);
  if (why.length) lines.push(el("ul", { class: "why" }, ...why.map((w) => el("li", {}, w))));
  box.replaceChildren(...lines);
}

// refreshDenials reads the decision counters of the current handler.
async function refreshDenials() {
  if (!current) return;
  let text;
  try {
    const resp = await fetch("/metrics");
    if (!resp.ok) return;
    text = await resp.text();
  } catch (e) {
    return;
  }
  const counts = new Map();
  for (const line of text.split("\n")) {
    if (!line.startsWith("caddy_rest_auth_decisions_total{")) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (labels.outcome !== "denied" || labels.handler !== current.name) continue;
    const n = Number(line.slice(line.lastIndexOf(" ") + 1));
    counts.set(labels.reason, (counts.get(labels.reason) || 0) + n);
  }
  const rows = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([r, n]) => el("tr", {}, el("td", {}, r), el("td", { class: "count" }, n)));
  $("#denials tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "muted" }, "no denials yet"), el("td", {}, ""))]));
}

$("#try").addEventListener("submit", (ev) => tryRequest(ev).catch((e) => { $("#decision").textContent = String(e); }));
$("#rule-filter").addEventListener("input", () => current && renderRules(current));
$("#user-filter").addEventListener("input", () => current && renderUsers(current));
setInterval(refreshDenials, 5000);
load().catch((e) => { $("#status").textContent = String(e); });
