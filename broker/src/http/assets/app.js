// The live view: renders the snapshots (topics, groups) and the group events the broker streams
// at /api/events (Server-Sent Events). No framework and no build step: the broker serves this
// file as it is. Elements are updated in place, keyed by group, member and partition, so a
// partition that changes owner is the same element moving (and flashing) to its new member.
"use strict";

const status = document.getElementById("status");
const topicsEl = document.getElementById("topics");
const groupsEl = document.getElementById("groups");
const timelineEl = document.getElementById("timeline");

// What each state means, in plain words (shown on hover and focus).
const STATES = {
  Empty: "No members. Committed offsets are kept for when consumers come back.",
  PreparingRebalance: "A rebalance: waiting for every member to (re)join before partitions are handed out again.",
  CompletingRebalance: "Everyone has joined; waiting for the leader to send who gets which partition.",
  Stable: "Every member has its partitions and is consuming.",
  Dead: "The group was deleted.",
  Assigning: "The broker is computing a new target assignment for the members.",
  Reconciling: "Members are moving to the new assignment: some give partitions up, others wait to receive them.",
  STABLE: "This member owns exactly what the target assignment gives it.",
  UNREVOKED_PARTITIONS: "This member must give up partitions before it can get new ones.",
  UNRELEASED_PARTITIONS: "This member waits for partitions another member has not released yet.",
  UNKNOWN: "The coordinator does not know where this member stands; it must rejoin.",
};
const KINDS = {
  classic: "Classic protocol: members rejoin (JoinGroup) at each rebalance and the leader member assigns partitions.",
  consumer: "Consumer protocol (KIP-848): the broker assigns partitions and each member moves to its share step by step, without stopping the others.",
};
// What each event means, in plain words.
const EVENTS = {
  member_joined: "A consumer asked to be part of the group; the group will rebalance to give it partitions.",
  member_left: "The consumer left cleanly (it said goodbye); its partitions go to the others.",
  session_timeout: "No heartbeat from this consumer within its session timeout: the coordinator presumes it dead and removes it.",
  rebalance_timeout: "The member did not rejoin or give up its partitions within its rebalance timeout, so it was removed.",
  rebalance_started: "The group works out again who owns which partition.",
  generation_completed: "Everyone rejoined and the leader's assignment was handed out: a new generation, consuming resumes.",
  target_assignment: "The broker computed who should own which partition (a new group epoch); members now move towards it.",
  partitions_revoked: "This member gave up partitions so another member can take them.",
  partitions_assigned: "This member received partitions and starts consuming them from the committed offsets.",
  offsets_committed: "Consumers recorded how far they got, so a restart resumes there.",
};

const members = new Map(); // member id -> client id, for naming members in events
let lastSeq = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function tps(list) {
  return (list || []).flatMap((t) => t.partitions.map((p) => t.topic + "-" + p));
}

function who(memberId) {
  const client = members.get(memberId);
  return client ? client + " (" + memberId + ")" : memberId;
}

function renderTopics(topics) {
  const tables = topics.map((t) => {
    const table = el("table", { "data-topic": t.name, class: t.internal ? "internal" : "" },
      el("caption", {}, t.name));
    const head = el("tr");
    for (const h of ["Partition", "Log start", "End offset", "Size", "Records/s in"]) {
      head.append(el("th", { scope: "col" }, h));
    }
    table.append(head);
    for (const p of t.partitions) {
      table.append(el("tr", { "data-partition": String(p.partition) },
        el("td", {}, String(p.partition)), el("td", {}, String(p.log_start_offset)),
        el("td", {}, String(p.end_offset)), el("td", {}, bytes(p.size_bytes)),
        el("td", {}, p.records_in_per_sec.toFixed(1))));
    }
    return table;
  });
  topicsEl.replaceChildren(...tables);
}

// Per group: its section, member elements by id and partition chips by "topic-partition".
const groupViews = new Map();

function groupView(g) {
  let v = groupViews.get(g.group_id);
  if (v) return v;
  const section = el("section", { class: "group", "data-group": g.group_id, tabIndex: 0 });
  section.setAttribute("aria-label", "group " + g.group_id);
  const facts = el("dl", { class: "facts" });
  const membersEl = el("div", { class: "members" });
  const offsets = el("table", { class: "offsets" });
  section.append(el("h3", {}, g.group_id), facts, membersEl, offsets);
  v = { section, facts, membersEl, offsets, memberEls: new Map(), chips: new Map() };
  groupViews.set(g.group_id, v);
  return v;
}

function fact(label, value, title, cls, state) {
  const dd = el("dd", { title: title || "", class: cls || "", "data-state": state });
  dd.textContent = value;
  return [el("dt", {}, label), dd];
}

function renderGroup(g) {
  const v = groupView(g);
  const epochTitle = g.kind === "classic"
    ? "The generation: it goes up by one at every completed rebalance."
    : "The group epoch: it goes up whenever membership or subscriptions change.";
  const f = [
    ...fact("kind", g.kind, KINDS[g.kind]),
    ...fact("state", g.state, STATES[g.state], "state", g.state),
    ...fact(g.kind === "classic" ? "generation" : "group epoch", String(g.group_epoch), epochTitle),
  ];
  if (g.assignment_epoch !== null && g.assignment_epoch !== undefined) {
    f.push(...fact("assignment epoch", String(g.assignment_epoch),
      "The group epoch the current target assignment was computed for."));
  }
  f.push(...fact(g.kind === "classic" ? "protocol" : "assignor", g.protocol || "–",
    "The strategy that decides which member gets which partition."));
  f.push(...fact("rebalances", String(g.rebalances), "Rebalances started since the broker started."));
  v.facts.replaceChildren(...f);

  // Members, in place.
  const seen = new Set();
  for (const m of g.members) {
    members.set(m.member_id, m.client_id);
    seen.add(m.member_id);
    let me = v.memberEls.get(m.member_id);
    if (!me) {
      me = { box: el("div", { class: "member", tabIndex: 0, "data-member": m.member_id }),
        head: el("div", { class: "who" }), meta: el("div", { class: "meta" }), owned: el("div", { class: "owned" }) };
      me.box.append(me.head, me.meta, me.owned);
      v.memberEls.set(m.member_id, me);
      v.membersEl.append(me.box);
    }
    me.box.dataset.client = m.client_id;
    me.head.textContent = m.client_id || m.member_id;
    const bits = ["id " + m.member_id, "host " + m.client_host];
    if (m.instance_id) bits.push("instance " + m.instance_id);
    if (m.state) bits.push("state " + m.state);
    me.meta.textContent = bits.join(" · ");
    me.box.title = "A member of the group: one consumer process." + (m.state ? " " + STATES[m.state] : "");
  }
  for (const [id, me] of v.memberEls) {
    if (!seen.has(id)) { me.box.remove(); v.memberEls.delete(id); }
  }
  // Partition chips: the same element moves from member to member.
  const owned = new Set();
  for (const m of g.members) {
    const me = v.memberEls.get(m.member_id);
    const revoking = new Set(tps(m.pending_revocation));
    for (const tp of tps(m.assigned)) {
      owned.add(tp);
      let chip = v.chips.get(tp);
      if (!chip) {
        chip = el("span", { class: "partition", tabIndex: 0, "data-tp": tp }, tp);
        v.chips.set(tp, chip);
      }
      if (chip.parentElement !== me.owned) {
        const moved = chip.dataset.owner !== undefined && chip.dataset.owner !== m.member_id;
        me.owned.append(chip);
        chip.dataset.owner = m.member_id;
        if (moved) {
          chip.classList.remove("moved");
          void chip.offsetWidth; // restart the animation
          chip.classList.add("moved");
        }
      }
      chip.classList.toggle("revoking", revoking.has(tp));
      chip.title = tp + " is owned by " + who(m.member_id) + (revoking.has(tp) ? "; it is giving it up." : ".");
    }
  }
  for (const [tp, chip] of v.chips) {
    if (!owned.has(tp)) { chip.remove(); delete chip.dataset.owner; }
  }
  // Offsets and lag.
  const head = el("tr");
  for (const [h, t] of [["Partition", ""], ["Owner", "The member consuming it now."],
    ["Committed", "The offset the group will resume from."], ["End offset", "The offset the next record will get."],
    ["Lag", "Records not yet committed by the group: end offset minus committed offset."]]) {
    head.append(el("th", { scope: "col", title: t }, h));
  }
  const rows = g.offsets.map((o) => el("tr", { "data-tp": o.topic + "-" + o.partition },
    el("td", {}, o.topic + "-" + o.partition),
    el("td", { title: o.member_id ? who(o.member_id) : "No member owns it now." }, o.member_id || "–"),
    el("td", { class: "committed" }, o.committed_offset === null ? "–" : String(o.committed_offset)),
    el("td", {}, o.end_offset === null ? "–" : String(o.end_offset)),
    el("td", { class: "lag" }, o.lag === null ? "–" : String(o.lag))));
  v.offsets.replaceChildren(el("caption", {}, "Committed offsets and lag"), head, ...rows);
  return v.section;
}

function renderGroups(groups) {
  if (groups.length === 0) {
    groupsEl.replaceChildren(el("p", { class: "empty" }, "No groups yet."));
    groupViews.clear();
    return;
  }
  const keep = new Set(groups.map((g) => g.group_id));
  for (const id of groupViews.keys()) if (!keep.has(id)) groupViews.delete(id);
  const sections = groups.map(renderGroup);
  // Only re-order when needed, so elements (and their animations) stay put.
  const current = Array.from(groupsEl.children);
  if (current.length !== sections.length || current.some((c, i) => c !== sections[i])) {
    groupsEl.replaceChildren(...sections);
  }
}

function assignmentText(assignment) {
  return assignment.map((m) => who(m.member_id) + ": " + (tps(m.partitions).join(", ") || "nothing")).join("; ");
}

function describe(e) {
  switch (e.type) {
    case "member_joined":
      members.set(e.member_id, e.client_id);
      return who(e.member_id) + " joined from " + e.client_host;
    case "member_left": return who(e.member_id) + " left";
    case "session_timeout": return who(e.member_id) + " timed out: no heartbeat for " + e.session_timeout_ms + " ms";
    case "rebalance_timeout": return who(e.member_id) + " removed: rebalance timeout of " + e.rebalance_timeout_ms + " ms";
    case "rebalance_started": return "rebalance started: " + e.reason;
    case "generation_completed": return "generation " + e.generation + " (" + (e.protocol || "?") + "): " + assignmentText(e.assignment);
    case "target_assignment": return "new target assignment, epoch " + e.group_epoch + " (" + e.assignor + "): " + assignmentText(e.assignment);
    case "partitions_revoked": return who(e.member_id) + " gave up " + tps(e.partitions).join(", ") + " (epoch " + e.member_epoch + ")";
    case "partitions_assigned": return who(e.member_id) + " received " + tps(e.partitions).join(", ") + " (epoch " + e.member_epoch + ")";
    case "offsets_committed": return e.partitions + " offsets committed (" + e.per_second.toFixed(1) + "/s)";
    default: return e.type;
  }
}

function addEvent(e) {
  if (e.seq <= lastSeq) return; // already shown (a reconnect replays the history)
  lastSeq = e.seq;
  const time = new Date(e.time_ms);
  const when = time.toLocaleTimeString([], { hour12: false }) + "." + String(time.getMilliseconds()).padStart(3, "0");
  const li = el("li", { tabIndex: 0, title: EVENTS[e.type] || "", "data-type": e.type, "data-group": e.group_id, "data-seq": String(e.seq) },
    el("span", { class: "when" }, when), el("span", { class: "group-id" }, e.group_id + ": "),
    el("span", { class: "what" }, describe(e)), el("span", { class: "why" }, EVENTS[e.type] || ""));
  const atBottom = timelineEl.scrollTop + timelineEl.clientHeight >= timelineEl.scrollHeight - 4;
  timelineEl.append(li);
  while (timelineEl.children.length > 1000) timelineEl.firstElementChild.remove();
  if (atBottom) timelineEl.scrollTop = timelineEl.scrollHeight;
}

// A group event means the groups changed: fetch them now rather than at the next snapshot.
let refreshPending = false;
function refreshGroupsSoon() {
  if (refreshPending) return;
  refreshPending = true;
  setTimeout(() => {
    fetch("/api/groups").then((r) => r.json()).then(renderGroups).catch(() => {})
      .finally(() => { refreshPending = false; });
  }, 100);
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("snapshot", (e) => {
    const snapshot = JSON.parse(e.data);
    renderTopics(snapshot.topics);
    renderGroups(snapshot.groups || []);
    status.textContent = "live, updated " + new Date(snapshot.taken_ms).toLocaleTimeString();
  });
  events.addEventListener("group_event", (e) => {
    const ev = JSON.parse(e.data);
    addEvent(ev);
    if (ev.type !== "offsets_committed") refreshGroupsSoon();
  });
  events.onerror = () => { status.textContent = "disconnected: retrying…"; };
}

connect();
