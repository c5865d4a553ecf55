// The live view: renders each snapshot the broker streams at /api/events (Server-Sent Events).
// No framework and no build step: the broker serves this file as it is.
"use strict";

const status = document.getElementById("status");
const topicsEl = document.getElementById("topics");

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function renderTopics(topics) {
  const tables = topics.map((t) => {
    const table = document.createElement("table");
    table.dataset.topic = t.name;
    if (t.internal) table.classList.add("internal");
    table.append(cell("caption", t.name));
    const head = document.createElement("tr");
    for (const h of ["Partition", "Log start", "End offset", "Size", "Records/s in"]) {
      const th = cell("th", h);
      th.scope = "col";
      head.append(th);
    }
    table.append(head);
    for (const p of t.partitions) {
      const row = document.createElement("tr");
      row.dataset.partition = String(p.partition);
      row.append(cell("td", String(p.partition)), cell("td", String(p.log_start_offset)),
        cell("td", String(p.end_offset)), cell("td", bytes(p.size_bytes)),
        cell("td", p.records_in_per_sec.toFixed(1)));
      table.append(row);
    }
    return table;
  });
  topicsEl.replaceChildren(...tables);
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("snapshot", (e) => {
    const snapshot = JSON.parse(e.data);
    renderTopics(snapshot.topics);
    status.textContent = "live, updated " + new Date(snapshot.taken_ms).toLocaleTimeString();
  });
  events.onerror = () => { status.textContent = "disconnected: retrying…"; };
}

connect();
