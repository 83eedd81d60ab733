//! `/`: one self-contained page (inline CSS and JavaScript, no external
//! requests) that polls `/api/jobs` and `/api/workers` every second and
//! shows a selected job's stages, failures and, once it succeeded, its
//! result tables.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};

use super::auth::{authorized, refused};
use super::HttpState;

pub async fn page(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        return refused(true);
    }
    Html(PAGE).into_response()
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rwclip coordinator</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .6em}h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}tr.job{cursor:pointer}tr.job:hover,tr.selected{background:#eef4ff}
.bar{display:inline-block;width:9em;height:.8em;background:#eee;vertical-align:middle;margin-right:.4em}
.bar span{display:block;height:100%;background:#3a7}
.state-running{color:#06c}.state-succeeded{color:#080}.state-failed,.state-cancelled{color:#b00}
#updated{color:#888;font-size:.9em}pre{background:#f7f7f7;padding:.6em;overflow:auto}
</style></head><body>
<h1>rwclip coordinator <span id="updated"></span></h1>
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>job</th><th>name</th><th>state</th><th>progress</th><th>committed</th><th>running</th><th>failed</th></tr></thead><tbody></tbody></table>
<h2>Workers</h2>
<table id="workers"><thead><tr><th>worker</th><th>device</th><th>capacity</th><th>shards held</th><th>last heartbeat</th></tr></thead><tbody></tbody></table>
<div id="detail"></div>
<ol id="seen" hidden></ol>
<script>
"use strict";
let selected = null, shown = "";
const text = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
const cell = s => text(s).replace(/\*\*(.+?)\*\*/g, "<b>$1</b>");
const bar = (done, total) => `<span class="bar"><span style="width:${total ? 100 * done / total : 0}%"></span></span>${done}/${total}`;
// results.md's pipe tables as HTML tables, everything else as text.
function markdown(md) {
  let html = "", rows = [];
  const flush = () => {
    if (!rows.length) return;
    const cells = r => r.replace(/^\||\|$/g, "").split("|").map(c => c.trim());
    const head = cells(rows[0]), body = rows.slice(2).map(cells);
    html += "<table class=\"results\"><thead><tr>" + head.map(c => `<th>${cell(c)}</th>`).join("") + "</tr></thead><tbody>" +
      body.map(r => "<tr>" + r.map(c => `<td>${cell(c)}</td>`).join("") + "</tr>").join("") + "</tbody></table>";
    rows = [];
  };
  for (const line of md.split("\n")) {
    if (line.startsWith("|")) { rows.push(line); continue; }
    flush();
    if (line.startsWith("#")) html += `<h3>${text(line.replace(/^#+\s*/, ""))}</h3>`;
    else if (line.trim()) html += `<p>${text(line)}</p>`;
  }
  flush();
  return html;
}
async function get(path) {
  const r = await fetch(path, {credentials: "same-origin"});
  if (r.status === 401) { location.href = "/login"; throw new Error("login needed"); }
  return r.json();
}
async function refresh() {
  const [jobs, workers] = await Promise.all([get("/api/jobs"), get("/api/workers")]);
  document.querySelector("#jobs tbody").innerHTML = jobs.jobs.map(j =>
    `<tr class="job${j.id === selected ? " selected" : ""}" data-id="${text(j.id)}"><td>${text(j.id)}</td><td>${text(j.name)}</td>` +
    `<td class="state-${j.state}">${j.state}</td><td>${bar(j.shards.committed, j.shards.total)}</td>` +
    `<td>${j.shards.committed}</td><td>${j.shards.running}</td><td>${j.shards.failed}</td></tr>`).join("");
  for (const row of document.querySelectorAll("tr.job")) row.onclick = () => { selected = row.dataset.id; refresh(); };
  document.querySelector("#workers tbody").innerHTML = workers.workers.map(w =>
    `<tr><td>${text(w.name)}</td><td>${text(w.device)}</td><td>${w.capacity}</td><td>${w.shards.length ? w.shards.map(text).join(", ") : "-"}</td>` +
    `<td>${w.last_heartbeat_s.toFixed(1)} s ago</td></tr>`).join("");
  if (!selected && jobs.jobs.length) selected = jobs.jobs[jobs.jobs.length - 1].id;
  if (selected) {
    const j = await get("/api/jobs/" + encodeURIComponent(selected));
    let html = `<h2 id="job-title">Job ${text(j.id)} (${text(j.name)}): <span class="state-${j.state}" id="job-state">${j.state}</span></h2>`;
    if (j.reason) html += `<p>${text(j.reason)}</p>`;
    if (j.store) html += `<p id="store-trouble" class="state-failed">${text(j.store)}</p>`;
    html += "<table id=\"stages\"><thead><tr><th>stage</th><th>progress</th><th>running</th><th>failed</th></tr></thead><tbody>" +
      j.stages.map(s => `<tr><td>${s.kind}</td><td>${bar(s.committed, s.total)}${s.kind === "score" && s.items_done ? ` <span class="items">${s.items_done} images and frames scored</span>` : ""}</td><td>${s.running}</td><td>${s.failed}</td></tr>`).join("") + "</tbody></table>";
    if (j.failures.length) html += "<h2>Failed shards</h2><table id=\"failures\"><thead><tr><th>shard</th><th>stage</th><th>attempts</th><th>class</th><th>reason</th></tr></thead><tbody>" +
      j.failures.map(f => `<tr><td>${text(f.shard)}</td><td>${f.kind}</td><td>${f.attempts}</td><td>${text(f.class || "")}</td><td>${text(f.reason)}</td></tr>`).join("") + "</tbody></table>";
    if (j.results) {
      html += `<h2>Results</h2><p>${text(j.results.uri)}</p><div id="results">${markdown(j.results.markdown)}</div>`;
      html += "<div id=\"figures\">" + j.results.plots.map(p =>
        `<figure><img alt="${text(p)}" src="/api/jobs/${encodeURIComponent(j.id)}/figures/${encodeURIComponent(p)}" onload="this.dataset.loaded=1" style="max-width:100%"></figure>`).join("") + "</div>";
    }
    // Redrawn only when something changed, so figures load once.
    const key = JSON.stringify([j.id, j.state, j.stages, j.failures.length]);
    if (key !== shown) {
      document.getElementById("detail").innerHTML = html;
      shown = key;
    }
  }
  // Each distinct view of the selected job, in order: what this page has
  // watched happen without a reload (tests read it too).
  const seen = document.getElementById("seen"), now = document.getElementById("job-state");
  if (now) {
    const entry = `${selected} ${now.textContent} ${document.querySelector("tr.selected td:nth-child(5)")?.textContent ?? ""}`;
    if (seen.lastElementChild?.textContent !== entry) seen.insertAdjacentHTML("beforeend", `<li>${text(entry)}</li>`);
  }
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}
refresh();
setInterval(() => refresh().catch(() => {}), 1000);
</script></body></html>
"##;
