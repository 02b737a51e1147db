// The agent desktop beyond the call itself: consult (start, transfer, conference, cancel),
// who is ready where (to choose a transfer target), the agent's figures today against the
// agents' targets, and their replies and callbacks. Hooks into desk.js (window.VCC_DESK).
"use strict";
(() => {
  const D = window.VCC_DESK;
  const $ = (id) => document.getElementById(id);
  const t = D.t;
  let consult = null;   // { call_id, phase, peer }
  let rwCall = "";      // the call whose ready-where table was read
  let rwProvince = true;  // it came from the hub's board (else this site's own)
  let day = null;       // the last /api/my-day
  let orders = null;    // the last /api/callbacks
  let recent = { call_id: "", calls: [] };  // the popped caller's earlier calls

  async function get(path) {
    const r = await fetch(path, { credentials: "same-origin" });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(data.detail || ""), { code: data.error || "internal", detail: data.detail || "", field: "" });
    return data;
  }
  const act = async (fn) => { try { await fn(); } catch (err) { D.fail(err); } };
  const cell = (text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; };
  const secs = (ms) => `${Math.round(ms / 1000)} ${t("seconds")}`;

  // -- consult ---------------------------------------------------------------------------
  function target() {
    return {
      call_id: D.call.call_id, site_id: $("t-site").value, business_id: $("t-business").value,
      agent_id: $("t-agent").value.trim(), note: $("t-note").value
    };
  }

  async function startConsult() {
    if (!D.call) return;
    const body = target();
    const r = await D.api("/api/consult", body);
    if (r.outcome !== "accepted") { $("error").textContent = t("n_consult_refused") + r.reason; return; }
    // the stream may have told its steps (requested, even connected) before this answer
    const phase = consult && consult.call_id === body.call_id ? consult.phase : "requested";
    consult = { call_id: body.call_id, phase, peer: r.agent_id || body.agent_id, site: r.site_id };
    D.render();
  }

  async function endConsult(mode) {
    if (!consult) return;
    const ev = await D.api(`/api/consult/${mode}`, { call_id: consult.call_id });
    if (mode === "cancel") consult = null;
    D.render();
    return ev;
  }

  function onConsult(ev) {
    if (ev.type !== "consult") return;
    if (!consult || consult.call_id !== ev.call_id) {
      if (ev.phase !== "requested") return;  // (also: this agent's own, before its answer)
      consult = { call_id: ev.call_id, phase: ev.phase, peer: ev.peer_agent_id, site: ev.peer_site_id, incoming: true };
    }
    consult.phase = ev.phase;
    if (ev.peer_agent_id) consult.peer = ev.peer_agent_id;
    if (["refused", "cancelled", "transferred"].includes(ev.phase)) {
      if (ev.phase === "refused") $("error").textContent = t("n_consult_refused") + ev.reason;
      consult = null;
    }
  }

  function renderConsult() {
    if (consult && !D.call) consult = null;
    const mine = consult && !consult.incoming;
    $("consult-bar").hidden = !mine;
    if (!mine) return;
    $("consult-state").textContent = `${t("consulting")} ${consult.peer || ""} · ${t("cp_" + consult.phase)}`;
    const connected = consult.phase === "connected";
    $("consult-transfer").disabled = !connected;
    $("consult-conference").disabled = !connected;
    $("consult-cancel").disabled = !["requested", "connected"].includes(consult.phase);
  }

  // -- who is ready where ------------------------------------------------------------------
  async function readyWhere() {
    const r = await get("/api/ready-where");
    rwProvince = r.province;
    $("rw-note").textContent = r.province ? "" : t("rw_local");
    $("rw-rows").replaceChildren(...r.rows.map((x) => {
      const tr = document.createElement("tr");
      tr.id = `rw-${x.site_id}-${x.business_id}`;
      tr.dataset.site = x.site_id; tr.dataset.business = x.business_id;
      const stale = r.stale.includes(x.site_id) ? t("rw_stale") : "";
      tr.append(cell(D.siteName(x.site_id) + stale), cell(D.businessName(x.business_id)),
        cell(String(x.ready), "ready" + (x.ready ? " some" : "")), cell(String(x.waiting), "waiting"));
      return tr;
    }));
  }

  function chooseRow(e) {
    const tr = e.target.closest("tr[data-site]");
    if (!tr) return;
    $("t-site").value = tr.dataset.site;
    $("t-site").dispatchEvent(new Event("change"));
    $("t-business").value = tr.dataset.business;
  }

  // -- my figures today ------------------------------------------------------------------
  async function myDay() {
    day = await get("/api/my-day");
    renderDay();
  }

  function renderDay() {
    if (!day) return;
    const k = D.meta.kpi || {}, n = day.answered;
    const avg = (ms, count) => (count ? ms / count : 0);
    const rows = [
      ["answered", String(n), "", true],
      ["ring", secs(avg(day.ring_ms, n)), `≤ ${k.ring_s} ${t("seconds")}`, avg(day.ring_ms, n) <= k.ring_s * 1000],
      ["talk", secs(avg(day.talk_ms, n)), `≤ ${k.talk_s} ${t("seconds")}`, avg(day.talk_ms, n) <= k.talk_s * 1000],
      ["acw", secs(avg(day.wrap_up_ms, day.wrap_ups)), `≤ ${k.acw_s} ${t("seconds")}`, avg(day.wrap_up_ms, day.wrap_ups) <= k.acw_s * 1000],
      ["transfer", `${n ? Math.round((1000 * day.transferred) / n) / 10 : 0}%`, `≤ ${k.transfer_pct}%`, !n || (100 * day.transferred) / n <= k.transfer_pct]
    ];
    $("md-date").textContent = day.day;
    $("md-rows").replaceChildren(...rows.map(([key, value, goal, ok]) => {
      const tr = document.createElement("tr");
      tr.id = "md-" + key;
      const th = document.createElement("th"); th.textContent = t("md_" + key);
      tr.append(th, cell(value, "value " + (ok ? "ok" : "bad")), cell(goal ? `${t("md_target")} ${goal}` : "", "goal"));
      return tr;
    }));
  }

  // -- replies and callbacks ----------------------------------------------------------------
  async function callbacks() {
    orders = (await get("/api/callbacks")).orders;
    renderCallbacks();
  }

  function renderCallbacks() {
    if (!orders) return;
    const list = $("callbacks");
    if (!orders.length) { const li = document.createElement("li"); li.textContent = t("cb_none"); list.replaceChildren(li); return; }
    list.replaceChildren(...orders.map((o) => {
      const li = document.createElement("li");
      li.dataset.order = o.order_id;
      const due = o.due_ms ? ` · ${t("cb_due")} ${new Date(o.due_ms).toLocaleString()}` : "";
      li.textContent = `${t("cb_" + o.kind)} · ${o.order_id} · ${D.businessName(o.business_id)} · ${o.caller}${o.result ? " · " + o.result : ""}${due}`;
      return li;
    }));
  }

  // -- the caller's recent calls (in the pop) ---------------------------------------------
  async function recentCalls(callId) {
    recent = { call_id: callId, calls: [] };
    const r = await get(`/api/recent-calls?call_id=${encodeURIComponent(callId)}`);
    if (recent.call_id === callId) { recent.calls = r.calls; renderRecent(); }
  }

  function renderRecent() {
    $("recent-box").hidden = !recent.calls.length;
    $("recent").replaceChildren(...recent.calls.map((x) => {
      const li = document.createElement("li");
      li.dataset.call = x.call_id;
      const outcome = x.disposition && (t("d_" + x.disposition) !== "d_" + x.disposition ? t("d_" + x.disposition) : x.disposition);
      const what = [x.agent_id, outcome, x.notes].filter(Boolean).join(" · ");
      li.textContent = `${new Date(x.arrival_at_ms).toLocaleString()} · ${D.businessName(x.business_id)}${what ? " · " + what : ""}`;
      return li;
    }));
  }

  // -- wiring --------------------------------------------------------------------------------
  D.hooks.event.push((ev) => {
    onConsult(ev);
    if (ev.type === "agent" && ev.state === "ready" && day) act(myDay);  // a call done
  });
  D.hooks.render.push(() => {
    renderConsult();
    renderDay();
    renderCallbacks();
    $("rw-note").textContent = rwProvince ? "" : t("rw_local");
    if (D.call && recent.call_id !== D.call.call_id) act(() => recentCalls(D.call.call_id));
    if (D.call) renderRecent();
    const talking = D.call && D.call.state === "connected";
    if (talking && rwCall !== D.call.call_id) { rwCall = D.call.call_id; act(readyWhere); }
  });
  D.hooks.signedIn.push(() => { act(myDay); act(callbacks); });
  D.hooks.signedOut.push(() => { consult = null; day = null; orders = null; rwCall = ""; recent = { call_id: "", calls: [] }; });

  $("consult").addEventListener("click", () => act(startConsult));
  $("consult-transfer").addEventListener("click", () => act(() => endConsult("transfer")));
  $("consult-conference").addEventListener("click", () => act(() => endConsult("conference")));
  $("consult-cancel").addEventListener("click", () => act(() => endConsult("cancel")));
  $("rw-refresh").addEventListener("click", () => act(readyWhere));
  $("rw-rows").addEventListener("click", chooseRow);
  $("md-refresh").addEventListener("click", () => act(myDay));
  $("cb-refresh").addEventListener("click", () => act(callbacks));
})();
